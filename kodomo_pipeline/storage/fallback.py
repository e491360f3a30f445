"""Feeds that failed in the latest run and the snapshot the judgment used for them instead.

A feed whose new file cannot be read (empty, no header, wrong encoding…) must not stop the alert list: each file
is a full snapshot, so the newest earlier snapshot (already validated) stays the truth at T, as on a night the
department sent nothing. This module only says which one that is, so the run output, the meeting list and the
Dagster metadata can say so. A feed the town marks essential (`essential_feeds:`, jumin) fails the night
instead (orchestration/feed_assets.py). File names and dates only, never a value.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from kodomo_pipeline.storage.feed_tables import fetch_one, latest_run_feeds
from kodomo_pipeline.storage.snapshots import has_table


def last_good_snapshot(con: duckdb.DuckDBPyConnection, feed: str, asof: dt.date | None) -> tuple[str, dt.date] | None:
    """(file name, extract date) of the feed's newest ingested snapshot on or before T (any date without T)."""
    if not has_table(con, "ingested_files"):
        return None
    row = fetch_one(
        con,
        """SELECT file_name, extract_date FROM ingested_files WHERE feed = ? AND (? IS NULL OR extract_date <= ?)
           ORDER BY extract_date DESC, ingested_at DESC LIMIT 1""",
        [feed, asof, asof],
    )
    return (row[0], row[1]) if row else None


def failed_feeds(con: duckdb.DuckDBPyConnection, asof: dt.date | None) -> list[dict]:
    """Per feed that failed in the latest run: the failed file, its cause, and the snapshot judged instead."""
    if not has_table(con, "run_feeds"):
        return []
    result = []
    for feed, outcome, file_name, _, cause in latest_run_feeds(con):
        if outcome != "failed":
            continue
        used = last_good_snapshot(con, feed, asof)
        result.append(
            {
                "feed": feed,
                "file": file_name,
                "cause": cause,
                "judged_from": used[0] if used else None,
                "judged_from_extract_date": used[1].isoformat() if used else None,
            }
        )
    return result


def describe_fallback(entry: dict) -> str:
    """One line for operators, Japanese first."""
    if entry["judged_from"]:
        return (
            f"{entry['feed']}: {entry['file']} は取込に失敗したため、前回の正常なデータ {entry['judged_from']}"
            f"（抽出日 {entry['judged_from_extract_date']}）で判定しました"
            f" (failed file; judged from the last good snapshot)"
        )
    return (
        f"{entry['feed']}: {entry['file']} は取込に失敗し、以前の正常なデータもないため、このデータなしで判定しました"
        f" (failed file and no earlier snapshot: judged without this feed)"
    )
