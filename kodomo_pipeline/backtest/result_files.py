"""The backtest result folder (`backtest_<town>_<YYYYMMDD>/`): its file names, their columns, and the one reader.

The engine writes these files; the report (metrics.py) and `engine.read_result` read them through `read_manifest`
and `read_table` only, so a file or column missing is the same clear error everywhere (naming file and column),
and a folder written by hand (UTF-8 with or without BOM, extra columns) reads the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

MANIFEST = "backtest.json"
ALERTS, BELOW_C, OUTCOMES, REPLAYS = "alerts.csv", "below_c.csv", "outcomes.csv", "replays.csv"

# What the engine writes (UTF-8 with BOM, CRLF) …
ALERT_COLUMNS = ["rule_set", "as_of", "subject_key", "subject_type", "difficulty_type", "level", "score",
                 "indicators", "economic_only", "known_case", "suppressed"]  # fmt: skip
OUTCOME_FILE_COLUMNS = ["subject_key", "subject_type", "difficulty_type", "outcome_date", "source", "first_seen"]
REPLAY_COLUMNS = ["rule_set", "as_of", "children", "seconds", "rule_set_version", "alerts", "linkage_seconds",
                  "horizon_end", "horizon_complete"]  # fmt: skip
# … and what the report needs at least (a folder from an older engine or written by hand may have no more).
REQUIRED = {
    ALERTS: [*ALERT_COLUMNS[:8], "economic_only"],
    BELOW_C: [*ALERT_COLUMNS[:8], "economic_only"],
    OUTCOMES: OUTCOME_FILE_COLUMNS[:5],
    REPLAYS: REPLAY_COLUMNS[:4],
}


class BacktestFormatError(ValueError):
    """A result folder file is missing or lacks a column the report needs."""


def read_manifest(result_dir: Path) -> dict[str, Any]:
    """backtest.json (with or without BOM)."""
    path = Path(result_dir) / MANIFEST
    if not path.exists():
        raise BacktestFormatError(f"{MANIFEST} is missing in {result_dir}")
    return json.loads(path.read_text(encoding="utf-8-sig"))


def read_table(
    result_dir: Path, name: str, columns: Iterable[str] | None = None, required: bool = True
) -> pd.DataFrame | None:
    """One CSV of the folder as text (no value guessed: keys stay keys); None when optional and absent."""
    path = Path(result_dir) / name
    if not path.exists():
        if required:
            raise BacktestFormatError(f"{name} is missing in {path.parent}")
        return None
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")  # with or without BOM
    missing = [c for c in (REQUIRED.get(name, []) if columns is None else columns) if c not in frame.columns]
    if missing:
        raise BacktestFormatError(f"{name} lacks column(s) {', '.join(missing)}")
    return frame
