"""The two ingestion steps of a feed, as plain functions over a town database (Dagster calls them).

1. `ingest_raw`: take the current snapshot from the inbox, skip it if the same
   bytes were ingested before, decode it by the town's layout, drop the columns
   the contract does not keep, store the text with file, SHA-256 and row number,
   and archive the file. A file that cannot be read moves to failed/ with a report.
2. `validate_feed`: apply the contract to the stored rows of that file; valid
   rows go to valid_<feed>, failures to quarantine with a reason.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from kodomo_pipeline.config.towns import FeedLayout, TownConfig
from kodomo_pipeline.ingest.contract import apply_contract
from kodomo_pipeline.ingest.inbox import Snapshot, newest_snapshot
from kodomo_pipeline.ingest.inbox_scan import STILL_WRITING, wait_until_settled
from kodomo_pipeline.ingest.reader import ROW, RawExport, UnreadableFile, file_sha256, read_export
from kodomo_pipeline.storage import ingest_tables as tables
from kodomo_pipeline.storage.ingest_tables import fetch_one


@dataclass
class TownPaths:
    """Where one run of one town reads and writes, under the data root."""

    inbox: Path
    archive: Path
    failed: Path
    links_allowed: bool = False  # only the backtest's own staging inbox of links to history files

    @classmethod
    def for_town(cls, town: TownConfig, root: Path, inbox: Path | None = None) -> TownPaths:
        return cls(
            inbox=inbox or town.inbox(root),
            archive=root / "archive" / town.town,
            failed=root / "failed" / town.town,
        )


@dataclass
class RawOutcome:
    feed: str
    outcome: str  # ingested / already_ingested / no_file
    file_name: str | None = None
    sha256: str | None = None
    rows_read: int = 0
    dropped_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    previously_ingested_as: str | None = None


class FeedFailed(Exception):
    """A feed's file could not be read; it was moved to failed/ with a report. Names file and cause only."""

    def __init__(self, feed: str, file_name: str, cause: str, report: Path) -> None:
        self.feed, self.file_name, self.cause, self.report = feed, file_name, cause, report
        super().__init__(f"{feed}: {file_name}: {cause} (moved to {report.parent}, report {report.name})")


def _raw_rows(raw: RawExport, snapshot: Snapshot, spec_columns: list[str]) -> pd.DataFrame:
    frame = raw.frame.copy()
    for name in spec_columns:
        if name not in frame:
            frame[name] = None
    frame["_problem"] = None
    malformed = pd.DataFrame({ROW: list(raw.malformed), "_problem": list(raw.malformed.values())})
    frame = pd.concat([frame, malformed], ignore_index=True) if len(malformed) else frame
    frame["_sha256"] = raw.sha256
    frame["_file"] = raw.file_name
    frame["_extract_date"] = snapshot.extract_date
    return frame.sort_values(ROW, kind="stable")


def _move_to_failed(snapshot: Snapshot, paths: TownPaths, town: str, cause: str, sha256: str | None) -> Path:
    paths.failed.mkdir(parents=True, exist_ok=True)
    target = paths.failed / snapshot.file_name
    shutil.move(str(snapshot.path), target)
    report = paths.failed / f"{snapshot.file_name}.report.json"
    report.write_text(
        json.dumps(
            {
                "town": town,
                "feed": snapshot.feed,
                "file": snapshot.file_name,
                "sha256": sha256,
                "extract_date": snapshot.extract_date.isoformat(),
                "failed_at": dt.datetime.now().isoformat(timespec="seconds"),
                "cause": cause,
                "what_to_do": "Ask the department for a new export in the agreed layout, put it in the inbox; "
                "the next run (or the inbox sensor) picks it up.",
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    return report


def ingest_raw(
    con: duckdb.DuckDBPyConnection,
    town: TownConfig,
    feed: str,
    paths: TownPaths,
    run_id: str,
    asof: dt.date | None,
) -> RawOutcome:
    """Step 1 for one feed; raises FeedFailed if the current file cannot be read at all."""
    layout: FeedLayout = town.feeds[feed]
    tables.ensure_bookkeeping(con)
    tables.ensure_feed_tables(con, layout.spec)
    snapshot = newest_snapshot(paths.inbox, feed, asof, paths.links_allowed)
    if snapshot is None:
        tables.record_run_feed(con, run_id, feed, "no_file")
        return RawOutcome(feed, "no_file")
    if not wait_until_settled(snapshot.path, town.inbox_settle_seconds):  # still being copied: next run
        tables.record_run_feed(con, run_id, feed, "no_file", snapshot.file_name, None, STILL_WRITING)
        return RawOutcome(feed, "no_file", snapshot.file_name)
    try:
        raw = read_export(snapshot.path, layout)
    except UnreadableFile as exc:
        sha = _sha_of(snapshot.path)
        report = _move_to_failed(snapshot, paths, town.town, exc.cause, sha)
        tables.record_run_feed(con, run_id, feed, "failed", snapshot.file_name, sha, exc.cause)
        raise FeedFailed(feed, snapshot.file_name, exc.cause, report) from None
    earlier = tables.file_already_ingested(con, raw.sha256)
    if earlier is not None:
        tables.record_run_feed(con, run_id, feed, "already_ingested", snapshot.file_name, raw.sha256)
        return RawOutcome(feed, "already_ingested", snapshot.file_name, raw.sha256, previously_ingested_as=earlier[1])
    archived = paths.archive / feed / snapshot.file_name
    archived.parent.mkdir(parents=True, exist_ok=True)
    if not archived.exists():
        shutil.copy2(snapshot.path, archived)
    con.begin()
    tables.insert_frame(con, tables.raw_table(feed), _raw_rows(raw, snapshot, list(layout.spec.columns)))
    con.execute(
        "INSERT INTO ingested_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?)",
        [
            raw.sha256,
            feed,
            snapshot.file_name,
            snapshot.extract_date,
            raw.size_bytes,
            dt.datetime.now(),
            run_id,
            raw.rows_read,
            raw.dropped_columns,
            raw.missing_optional,
            str(archived),
        ],
    )
    tables.record_run_feed(con, run_id, feed, "ingested", snapshot.file_name, raw.sha256)
    con.commit()
    return RawOutcome(
        feed,
        "ingested",
        snapshot.file_name,
        raw.sha256,
        raw.rows_read,
        raw.dropped_columns,
        raw.missing_optional,
    )


def _sha_of(path: Path) -> str | None:
    try:
        return file_sha256(path.read_bytes())
    except OSError:
        return None


@dataclass
class ValidateOutcome:
    feed: str
    outcome: str  # validated / unchanged / no_file
    figures: dict | None = None  # as in `kodomo status`


def _stored_export(con: duckdb.DuckDBPyConnection, feed: str, sha256: str, columns: list[str]) -> RawExport:
    frame = tables.read_frame(con, f"SELECT * FROM {tables.raw_table(feed)} WHERE _sha256 = ? ORDER BY {ROW}", [sha256])
    bad = frame["_problem"].notna()
    malformed = dict(zip(frame.loc[bad, ROW].astype(int), frame.loc[bad, "_problem"], strict=True))
    good = frame.loc[~bad, [*columns, ROW]].reset_index(drop=True)
    meta = fetch_one(con, "SELECT file_name, size_bytes FROM ingested_files WHERE sha256 = ?", [sha256])
    return RawExport(meta[0], sha256, meta[1], good, malformed, dropped_columns=[])


def validate_feed(con: duckdb.DuckDBPyConnection, town: TownConfig, feed: str, run_id: str) -> ValidateOutcome:
    """Step 2 for one feed: contract over the file ingested in this run (if any)."""
    layout = town.feeds[feed]
    tables.ensure_bookkeeping(con)
    tables.ensure_feed_tables(con, layout.spec)
    row = fetch_one(
        con,
        "SELECT outcome, sha256 FROM run_feeds WHERE run_id = ? AND feed = ? ORDER BY recorded_at DESC LIMIT 1",
        [run_id, feed],
    )
    if row is None or row[0] in ("no_file", "failed"):
        return ValidateOutcome(feed, "no_file")
    outcome, sha256 = row
    if outcome == "already_ingested":
        return ValidateOutcome(feed, "unchanged", tables.file_figures(con, sha256))
    raw = _stored_export(con, feed, sha256, list(layout.spec.columns))
    # Text columns the town does not export are absent from the decoded frame, as at ingestion.
    present = [name for name in layout.spec.columns if name in layout.header_to_canonical.values()]
    raw.frame = raw.frame[[*present, ROW]]
    extract = fetch_one(con, "SELECT extract_date FROM ingested_files WHERE sha256 = ?", [sha256])[0]
    result = apply_contract(raw, layout, town.resident_id_pattern, extract)
    valid = result.valid.assign(_sha256=sha256, _file=raw.file_name, _extract_date=extract)
    held = result.quarantine.rename(columns={ROW: "row_number", "column": "column_name", "check": "check_name"})
    held = held.assign(feed=feed, file_name=raw.file_name, sha256=sha256, extract_date=extract)
    con.begin()
    con.execute(f"DELETE FROM {tables.valid_table(feed)} WHERE _sha256 = ?", [sha256])
    con.execute("DELETE FROM quarantine WHERE sha256 = ?", [sha256])
    tables.insert_frame(con, tables.valid_table(feed), valid)
    if len(held):
        tables.insert_frame(con, "quarantine", held)
    con.execute(
        "UPDATE ingested_files SET rows_valid = ?, rows_quarantined = ? WHERE sha256 = ?",
        [len(result.valid), result.rows_quarantined, sha256],
    )
    con.commit()
    return ValidateOutcome(feed, "validated", tables.file_figures(con, sha256))
