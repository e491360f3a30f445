"""Tables of the ingestion layer: files seen, per-run outcomes, raw and valid rows per feed, quarantine."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pyarrow as pa

from kodomo_pipeline.config.feeds import FeedSpec
from kodomo_pipeline.ingest.reader import ROW
from kodomo_pipeline.ingest.reasons import ALERT_STATE_CHECK

PROVENANCE = ["_sha256", "_file", "_extract_date", ROW]
_SQL_TYPES = {"date": "DATE", "month": "DATE", "int": "INTEGER", "flag": "BOOLEAN"}

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS ingested_files (
    sha256 VARCHAR PRIMARY KEY,
    feed VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    extract_date DATE NOT NULL,
    size_bytes BIGINT NOT NULL,
    ingested_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL,
    rows_read INTEGER NOT NULL,
    rows_valid INTEGER,
    rows_quarantined INTEGER,
    dropped_columns VARCHAR[] NOT NULL,
    missing_columns VARCHAR[] NOT NULL,
    archived_as VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS run_feeds (
    run_id VARCHAR NOT NULL,
    feed VARCHAR NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    outcome VARCHAR NOT NULL,   -- ingested / already_ingested / no_file / failed
    file_name VARCHAR,
    sha256 VARCHAR,
    cause VARCHAR               -- why a file failed; names the file and cause, never a value
);
CREATE TABLE IF NOT EXISTS confirmed_files (
    sha256 VARCHAR PRIMARY KEY, -- a held file (far fewer rows than the feed's previous snapshot) an operator let in
    feed VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    confirmed_at TIMESTAMP NOT NULL,
    operator VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    feed VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    extract_date DATE NOT NULL,
    row_number INTEGER NOT NULL,
    column_name VARCHAR,
    check_name VARCHAR NOT NULL,
    reason VARCHAR NOT NULL
);
"""


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple | None:
    """The first row of a query, fetching the result to the end (DuckDB 2 blocks a connection until then)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def ensure_bookkeeping(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_BOOKKEEPING)


def raw_table(feed: str) -> str:
    return f"raw_{feed}"


def valid_table(feed: str) -> str:
    return f"valid_{feed}"


def ensure_feed_tables(con: duckdb.DuckDBPyConnection, spec: FeedSpec) -> None:
    """raw_<feed> keeps the export's text (kept columns only); valid_<feed> the typed, checked rows."""
    provenance = '"_sha256" VARCHAR NOT NULL, "_file" VARCHAR NOT NULL, "_extract_date" DATE NOT NULL, "_row" INTEGER'
    raw_cols = ", ".join(f'"{name}" VARCHAR' for name in spec.columns)
    typed_cols = ", ".join(f'"{name}" {_SQL_TYPES.get(col.type, "VARCHAR")}' for name, col in spec.columns.items())
    con.execute(f'CREATE TABLE IF NOT EXISTS {raw_table(spec.feed)} ({provenance}, "_problem" VARCHAR, {raw_cols})')
    con.execute(f"CREATE TABLE IF NOT EXISTS {valid_table(spec.feed)} ({provenance}, {typed_cols})")


def file_already_ingested(con: duckdb.DuckDBPyConnection, sha256: str) -> tuple[str, str] | None:
    """(feed, file name) of an earlier, finished ingestion of the same bytes (validated), if any."""
    row = fetch_one(
        con, "SELECT feed, file_name FROM ingested_files WHERE sha256 = ? AND rows_valid IS NOT NULL", [sha256]
    )
    return (row[0], row[1]) if row else None


def discard_unfinished(con: duckdb.DuckDBPyConnection, feed: str) -> int:
    """Remove what an interrupted run left of the feed's files stored but never validated; how many files.

    A file counts as ingested only once validated (`rows_valid` set, in the same transaction as its
    valid rows and quarantine). A run killed in between leaves raw rows and a line without
    `rows_valid`; runs of a town never overlap (town lock), so at the start of a feed's ingestion such
    a line is always a dead run's: it goes, and the same bytes are ingested again from the start.
    """
    rows = con.execute("SELECT sha256 FROM ingested_files WHERE feed = ? AND rows_valid IS NULL", [feed]).fetchall()
    if not rows:
        return 0
    con.begin()
    for (sha256,) in rows:
        for table in (raw_table(feed), valid_table(feed)):
            con.execute(f"DELETE FROM {table} WHERE _sha256 = ?", [sha256])
        con.execute("DELETE FROM quarantine WHERE sha256 = ?", [sha256])
        con.execute("DELETE FROM ingested_files WHERE sha256 = ?", [sha256])
    con.commit()
    return len(rows)


def previous_snapshot(
    con: duckdb.DuckDBPyConnection, feed: str, extract_date: dt.date, sha256: str
) -> tuple[str, int] | None:
    """(file name, rows read) of the feed's snapshot before this one: the newest finished ingestion extracted on
    or before the same date (a corrected re-send of the same day compares with the first send)."""
    row = fetch_one(
        con,
        """SELECT file_name, rows_read FROM ingested_files
           WHERE feed = ? AND extract_date <= ? AND sha256 <> ? AND rows_valid IS NOT NULL
           ORDER BY extract_date DESC, ingested_at DESC LIMIT 1""",
        [feed, extract_date, sha256],
    )
    return (row[0], row[1]) if row else None


def is_confirmed(con: duckdb.DuckDBPyConnection, sha256: str) -> bool:
    return fetch_one(con, "SELECT count(*) FROM confirmed_files WHERE sha256 = ?", [sha256])[0] > 0


def confirm_held_file(con: duckdb.DuckDBPyConnection, file_name: str, operator: str) -> tuple[str, str] | None:
    """Let in the held file of that name (its latest hold): (feed, SHA-256), or None if no such file was held."""
    ensure_bookkeeping(con)
    row = fetch_one(
        con,
        """SELECT feed, sha256 FROM run_feeds WHERE outcome = 'held' AND file_name = ?
           ORDER BY recorded_at DESC LIMIT 1""",
        [file_name],
    )
    if row is None:
        return None
    con.execute(
        "INSERT OR REPLACE INTO confirmed_files VALUES (?, ?, ?, ?, ?)",
        [row[1], row[0], file_name, dt.datetime.now(), operator],
    )
    return row[0], row[1]


def record_run_feed(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    feed: str,
    outcome: str,
    file_name: str | None = None,
    sha256: str | None = None,
    cause: str | None = None,
) -> None:
    con.execute(
        "INSERT INTO run_feeds VALUES (?, ?, ?, ?, ?, ?, ?)",
        [run_id, feed, dt.datetime.now(), outcome, file_name, sha256, cause],
    )


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Append a DataFrame whose columns are a subset of the table's, by name (through Arrow: much faster)."""
    # An all-empty object column has no type Arrow could infer: it is text.
    empty = {name: "string" for name in frame.columns if frame[name].dtype == object and frame[name].isna().all()}
    typed = frame.astype(empty) if empty else frame  # astype({}) would still copy every column
    con.register("_incoming", pa.Table.from_pandas(typed, preserve_index=False))
    try:
        names = ", ".join(f'"{name}"' for name in frame.columns)
        con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _incoming")
    finally:
        con.unregister("_incoming")


def quarantine_reasons(con: duckdb.DuckDBPyConnection, sha256: str) -> dict[str, int]:
    """Reason code → rows of the file held in quarantine (a row failing two checks counts once per reason)."""
    rows = con.execute(
        """SELECT reason, count(DISTINCT row_number) FROM quarantine WHERE sha256 = ?
           GROUP BY reason ORDER BY reason""",
        [sha256],
    ).fetchall()
    return dict(rows)


def file_figures(con: duckdb.DuckDBPyConnection, sha256: str) -> dict:
    """The figures of one ingested file, as the operator and `kodomo status` see them (no values)."""
    row = fetch_one(
        con,
        """SELECT feed, file_name, sha256, extract_date, rows_read, rows_valid, rows_quarantined, dropped_columns
           FROM ingested_files WHERE sha256 = ?""",
        [sha256],
    )
    if row is None:
        raise KeyError("file not ingested")
    return {
        "file": row[1],
        "sha256": row[2],
        "extract_date": row[3].isoformat(),
        "rows_read": row[4],
        "rows_valid": row[5],
        "rows_quarantined": row[6],
        "quarantine_reasons": quarantine_reasons(con, sha256),
        "dropped_columns": list(row[7]),
    }


def read_frame(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> pd.DataFrame:
    """Query → DataFrame with Arrow-backed text columns (DuckDB's object-dtype conversion is slow)."""
    text = pd.StringDtype("pyarrow")
    return con.sql(sql, params=params).to_arrow_table().to_pandas(types_mapper={pa.string(): text}.get)


def conservation(con: duckdb.DuckDBPyConnection, feed: str, sha256: str) -> tuple[int, int, int]:
    """(rows read, valid, quarantined) of one file, counted from the stored rows themselves."""
    read = fetch_one(con, f"SELECT count(*) FROM {raw_table(feed)} WHERE _sha256 = ?", [sha256])[0]
    valid = fetch_one(con, f"SELECT count(*) FROM {valid_table(feed)} WHERE _sha256 = ?", [sha256])[0]
    held = fetch_one(
        con,
        "SELECT count(DISTINCT row_number) FROM quarantine WHERE sha256 = ? AND feed = ? AND check_name <> ?",
        [sha256, feed, ALERT_STATE_CHECK],  # held back from suppression, not from the valid table
    )[0]
    return read, valid, held


def latest_run_feeds(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """The per-feed outcomes of the latest run recorded in this town's database."""
    return con.execute(
        """WITH latest AS (SELECT run_id FROM run_feeds ORDER BY recorded_at DESC LIMIT 1)
           SELECT feed, outcome, file_name, sha256, cause FROM run_feeds
           WHERE run_id = (SELECT run_id FROM latest) ORDER BY feed, recorded_at"""
    ).fetchall()
