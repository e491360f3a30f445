"""The snapshot of a feed in force at an as-of date T: the newest file extracted on or before T."""

from __future__ import annotations

import datetime as dt

import duckdb

from kodomo_pipeline.storage.feed_tables import fetch_one, valid_table


def current_rows_sql(feed: str, asof: str = "?") -> str:
    """SQL selecting the valid rows of the feed's snapshot in force at T (`asof`: a `?` parameter by default).

    Each file is a full snapshot, so the newest extract on or before T is the truth at T;
    snapshots extracted after T are never read.
    """
    return f"""
        SELECT * FROM {valid_table(feed)}
        WHERE _sha256 = (
            SELECT sha256 FROM ingested_files
            WHERE feed = '{feed}' AND extract_date <= {asof}
            ORDER BY extract_date DESC, ingested_at DESC LIMIT 1)"""


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(fetch_one(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])[0])


def newest_extract(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The newest extract date ingested so far: T when a run names none (the normal night)."""
    if not has_table(con, "ingested_files"):
        return None
    return fetch_one(con, "SELECT max(extract_date) FROM ingested_files")[0]
