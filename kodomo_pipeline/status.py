"""What the latest run of a town did, per feed, from the town's own database (counts and names, no values)."""

from __future__ import annotations

from pathlib import Path

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.exports.operator_summary import operator_summary
from kodomo_pipeline.ingest.inbox_scan import ignored_files
from kodomo_pipeline.rules.column_gaps import read_column_gaps
from kodomo_pipeline.storage import ingest_tables as tables
from kodomo_pipeline.storage.fallback import failed_feeds
from kodomo_pipeline.storage.ingest_tables import fetch_one
from kodomo_pipeline.storage.snapshots import has_table
from kodomo_pipeline.storage.town_db import open_town_db


def town_status(town: TownConfig, root: Path, inbox: Path | None = None) -> dict:
    """`{"town", "run_id", "feeds": {feed: {file, sha256, rows_read, rows_valid, rows_quarantined,
    quarantine_reasons, dropped_columns, outcome[, error]}}, "alerts": operator summary of the newest T}`."""
    database = town.database(root)
    status: dict = {"town": town.town, "run_id": None, "feeds": {}}
    # Files of the inbox that are not read, with the reason (odd names, links, uploads in progress).
    status["inbox_ignored"] = [f.as_dict() for f in ignored_files(inbox or town.inbox(root), set(town.feeds))]
    if not database.exists():
        return status
    with open_town_db(database, read_only=True) as con:
        if not has_table(con, "run_feeds"):
            return status
        status["run_id"] = fetch_one(con, "SELECT run_id FROM run_feeds ORDER BY recorded_at DESC LIMIT 1")[0]
        for feed, outcome, file_name, sha256, cause in tables.latest_run_feeds(con):
            entry: dict = {
                "file": file_name,
                "sha256": sha256,
                "rows_read": None,
                "rows_valid": None,
                "rows_quarantined": None,
                "quarantine_reasons": {},
                "dropped_columns": [],
            }
            if outcome in ("ingested", "already_ingested"):
                entry |= tables.file_figures(con, sha256)
                entry.pop("extract_date", None)
            if cause:
                entry["error"] = cause
            entry["outcome"] = outcome
            status["feeds"][feed] = entry
        status["column_gaps"] = read_column_gaps(con)  # columns missing from / unknown in the files judged
        for entry in failed_feeds(con, None):  # the snapshot the judgment used instead of the failed file
            status["feeds"][entry["feed"]] |= {
                "judged_from": entry["judged_from"],
                "judged_from_extract_date": entry["judged_from_extract_date"],
            }
        if has_table(con, "alerts"):
            asof = fetch_one(con, "SELECT max(as_of) FROM alerts")[0]
            status["alerts"] = operator_summary(con, asof) if asof else None
    return status
