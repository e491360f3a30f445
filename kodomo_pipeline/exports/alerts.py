"""alerts_<YYYYMMDD>.csv (spec/outputs.md): the review meeting's list for the case-management system.

Only alerts the meeting should see are exported: an alert suppressed by a 対応不要 decision stays in the
database (and in the operator's counts) but not in the file. Every export is recorded in `access_log`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd

from kodomo_pipeline.exports.csvfile import write_contract_csv
from kodomo_pipeline.privacy.services.access_log import record_access
from kodomo_pipeline.storage.feed_tables import read_frame

ALERT_COLUMNS = [
    "alert_id",
    "subject_resident_id",
    "subject_type",
    "difficulty_type",
    "level",
    "score",
    "indicators",
    "not_linked",
    "known_case",
    "change",
    "rule_set_version",
    "as_of",
]
MEETING_PURPOSE = "要保護児童対策地域協議会の検討資料（アラート検討会議）"

# The alerts the meeting sees at T, and the order it discusses them in (level A first, then the highest score).
EXPORTED_ALERTS = "SELECT * FROM alerts WHERE as_of = ? AND NOT suppressed"
MEETING_ORDER = "level, score DESC, alert_id"


def read_exported_alerts(con: duckdb.DuckDBPyConnection, asof: dt.date) -> pd.DataFrame:
    return read_frame(con, f"{EXPORTED_ALERTS} ORDER BY {MEETING_ORDER}", [asof])


def export_alerts_csv(con: duckdb.DuckDBPyConnection, asof: dt.date, out_dir: Path) -> Path:
    """Write the contract file for T into the town's output folder and record the access."""
    path = write_contract_csv(read_exported_alerts(con, asof), ALERT_COLUMNS, out_dir / f"alerts_{asof:%Y%m%d}.csv")
    record_access(con, path.name, MEETING_PURPOSE)
    return path
