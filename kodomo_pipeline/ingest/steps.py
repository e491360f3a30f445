"""The two ingestion steps of a feed, as plain functions over a town database (Dagster calls them).

1. `ingest_raw`: take the current snapshot from the inbox, read its bytes once,
   skip it if the same bytes were ingested before, archive exactly those bytes by
   content (ingest/archive.py), decode them by the town's layout, drop the columns
   the contract does not keep, store the text with file, SHA-256 and row number.
   A file that cannot be read moves to failed/ with a report. Older snapshots of
   the feed not ingested yet (a first run, a backlog) are stored first, oldest
   first, as history (`HISTORY`): the name history reads every registry extract.
2. `validate_feed`: apply the contract to the stored rows of those files; valid
   rows go to valid_<feed>, failures to quarantine with a reason.

Crash safety: a file counts as ingested only when step 2 has committed (its valid
rows, quarantine and `ingested_files.rows_valid` in one transaction). A run killed
after step 1 leaves a line without `rows_valid`; the next run discards those rows
and ingests the same bytes again (`tables.discard_unfinished`), so kill -9 at any
point, then a rerun, gives the tables of a clean run. Ingested inbox files are only
read, never moved or changed (the archive keeps the copy); an unreadable one moves to failed/.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from kodomo_pipeline.config.towns import FeedLayout, TownConfig
from kodomo_pipeline.ingest.archive import archive_bytes, archive_link, archive_path
from kodomo_pipeline.ingest.contract import apply_contract
from kodomo_pipeline.ingest.inbox import Snapshot, list_snapshots, newest_snapshot
from kodomo_pipeline.ingest.inbox_scan import STILL_WRITING, wait_until_settled
from kodomo_pipeline.ingest.reader import ROW, RawExport, UnreadableFile, file_sha256, read_bytes
from kodomo_pipeline.ingest.settings import ShrinkRule, ingestion_settings
from kodomo_pipeline.ingest.xlsx_reader import read_inbox_file
from kodomo_pipeline.storage import feed_tables as tables
from kodomo_pipeline.storage.faults import crash_point
from kodomo_pipeline.storage.feed_tables import fetch_one


@dataclass
class TownPaths:
    """Where one run of one town reads and writes, under the data root."""

    inbox: Path
    archive: Path
    failed: Path
    archive_links: bool = False  # the backtest's scratch archive: links to its immutable history files

    @classmethod
    def for_town(cls, town: TownConfig, root: Path, inbox: Path | None = None) -> TownPaths:
        return cls(
            inbox=inbox or town.inbox(root),
            archive=root / "archive" / town.town,
            failed=root / "failed" / town.town,
        )


HISTORY = "history"  # run_feeds outcome of an older snapshot stored in this run (not the current file)
HISTORY_FAILED = "history_failed"  # an older snapshot that could not be read (moved to failed/; night unaffected)


@dataclass
class RawOutcome:
    feed: str
    outcome: str  # ingested / already_ingested / no_file / held
    file_name: str | None = None
    sha256: str | None = None
    rows_read: int = 0
    dropped_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    previously_ingested_as: str | None = None
    warning: str | None = None  # said in the run output, status and Dagster (a shrunk snapshot)
    history: list[str] = field(default_factory=list)  # older snapshots stored in this run, oldest first
    history_failed: list[str] = field(default_factory=list)  # older snapshots moved to failed/ (unreadable)


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


def _umask() -> int:
    """This process's umask (reading it means setting it: there is no getter)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _move_to_failed(snapshot: Snapshot, paths: TownPaths, town: str, cause: str, sha256: str | None) -> Path:
    paths.failed.mkdir(parents=True, exist_ok=True)
    target = paths.failed / snapshot.file_name
    shutil.move(str(snapshot.path), target)
    target.chmod(0o666 & ~_umask())  # the department's file mode is not ours: owner-only (config/paths.py)
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
                "what_to_do": "担当課に取り決めた形式で出力し直してもらい、受信フォルダに置いてください。"
                "次の実行（または受信フォルダの監視）が取り込みます。 / Ask the department for a new export in the "
                "agreed layout, put it in the inbox; the next run (or the inbox sensor) picks it up.",
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    return report


def _failed(
    con: duckdb.DuckDBPyConnection,
    snapshot: Snapshot,
    paths: TownPaths,
    town: str,
    run_id: str,
    cause: str,
    sha256: str | None,
) -> FeedFailed:
    """Move an unreadable file to failed/ with its report, record the outcome, and say so (no value)."""
    report = _move_to_failed(snapshot, paths, town, cause, sha256)
    tables.record_run_feed(con, run_id, snapshot.feed, "failed", snapshot.file_name, sha256, cause)
    return FeedFailed(snapshot.feed, snapshot.file_name, cause, report)


def _shrink_warning(con: duckdb.DuckDBPyConnection, rule: ShrinkRule, snapshot: Snapshot, raw: RawExport) -> str | None:
    """The operator's warning when this snapshot has far fewer rows than the feed's previous one (counts only)."""
    previous = tables.previous_snapshot(con, snapshot.feed, snapshot.extract_date, raw.sha256)
    if previous is None or previous[1] < max(rule.min_previous_rows, 1):
        return None
    name, rows = previous
    if raw.rows_read >= rule.threshold * rows:
        return None
    return (
        f"件数が前回より大幅に減少 (far fewer rows than the previous snapshot): {raw.rows_read:,} 件 / "
        f"{name} {rows:,} 件 ({raw.rows_read / rows:.0%}, threshold {rule.threshold:.0%}, resources/ingestion.yaml)"
    )


def pending_history(con: duckdb.DuckDBPyConnection, inbox: Path, current: Snapshot) -> list[Snapshot]:
    """The feed's snapshots extracted before the current one and not stored yet, oldest first.

    A file whose name and size match a finished ingestion of the feed is history already kept: it is not
    read (nor hashed) again each night. A corrected re-send under the same name differs in size and is read.
    A file held as far smaller than its predecessor stays out until an operator confirms it (`confirm-file`).
    """
    kept = set(
        con.execute(
            "SELECT file_name, size_bytes FROM ingested_files WHERE feed = ? AND rows_valid IS NOT NULL", [current.feed]
        ).fetchall()
    )
    held = {
        row[0]
        for row in con.execute(
            """SELECT file_name FROM run_feeds WHERE feed = ? AND outcome = 'held'
               AND sha256 NOT IN (SELECT sha256 FROM confirmed_files)""",
            [current.feed],
        ).fetchall()
    }
    return [
        snap
        for snap in list_snapshots(inbox, {current.feed})
        if snap.extract_date < current.extract_date
        and snap.file_name not in held
        and (snap.file_name, snap.path.stat().st_size) not in kept
    ]


def _archive(paths: TownPaths, snapshot: Snapshot, sha256: str, data: bytes) -> None:
    """Keep the exact bytes read, by content; before the hash is recorded: every recorded SHA-256 has its file."""
    archived = archive_path(paths.archive, snapshot.feed, sha256, snapshot.file_name)
    if paths.archive_links:
        archive_link(archived, snapshot.path)
    else:
        archive_bytes(archived, data)


def _store(
    con: duckdb.DuckDBPyConnection,
    layout: FeedLayout,
    snapshot: Snapshot,
    paths: TownPaths,
    run_id: str,
    raw: RawExport,
    outcome: str,
    warning: str | None,
) -> None:
    """Store the decoded rows, the file's line and the run's outcome in one transaction (archived before)."""
    archived = archive_path(paths.archive, snapshot.feed, raw.sha256, snapshot.file_name)
    con.begin()
    tables.insert_frame(con, tables.raw_table(snapshot.feed), _raw_rows(raw, snapshot, list(layout.spec.columns)))
    con.execute(
        "INSERT INTO ingested_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?)",
        [
            raw.sha256,
            snapshot.feed,
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
    tables.record_run_feed(con, run_id, snapshot.feed, outcome, snapshot.file_name, raw.sha256, warning)
    con.commit()


def _ingest_history(
    con: duckdb.DuckDBPyConnection, town: TownConfig, snapshot: Snapshot, paths: TownPaths, run_id: str
) -> str | None:
    """Store one older snapshot as history: HISTORY, HISTORY_FAILED, or None when there is nothing to store
    (still being copied, or the same bytes are stored already). No shrink rule: nothing is judged from it."""
    layout = town.feeds[snapshot.feed]
    if not wait_until_settled(snapshot.path, town.inbox_settle_seconds):
        return None  # the next run takes it
    try:
        data = read_bytes(snapshot.path)
        sha256 = file_sha256(data)
        if tables.file_already_ingested(con, sha256) is not None:
            return None
        raw = read_inbox_file(
            snapshot.path, layout, data, sha256, ingestion_settings(town.town, snapshot.feed).max_line_bytes
        )
    except UnreadableFile as exc:
        _move_to_failed(snapshot, paths, town.town, exc.cause, None)
        tables.record_run_feed(con, run_id, snapshot.feed, HISTORY_FAILED, snapshot.file_name, None, exc.cause)
        return HISTORY_FAILED
    _archive(paths, snapshot, sha256, data)
    del data
    _store(con, layout, snapshot, paths, run_id, raw, HISTORY, None)
    return HISTORY


def ingest_raw(
    con: duckdb.DuckDBPyConnection,
    town: TownConfig,
    feed: str,
    paths: TownPaths,
    run_id: str,
    asof: dt.date | None,
) -> RawOutcome:
    """Step 1 for one feed: the older snapshots not stored yet (history), then the current one.

    Raises FeedFailed if the current file cannot be read at all.
    """
    layout: FeedLayout = town.feeds[feed]
    tables.ensure_bookkeeping(con)
    tables.ensure_feed_tables(con, layout.spec)
    tables.discard_unfinished(con, feed)
    settings = ingestion_settings(town.town, feed)
    snapshot = newest_snapshot(paths.inbox, feed, asof)
    if snapshot is None:
        tables.record_run_feed(con, run_id, feed, "no_file")
        return RawOutcome(feed, "no_file")
    history: dict[str, list[str]] = {HISTORY: [], HISTORY_FAILED: []}
    for older in pending_history(con, paths.inbox, snapshot):
        stored = _ingest_history(con, town, older, paths, run_id)
        if stored is not None:
            history[stored].append(older.file_name)
    got = _ingest_current(con, town, snapshot, paths, run_id, settings.shrink, settings.max_line_bytes)
    got.history, got.history_failed = history[HISTORY], history[HISTORY_FAILED]
    return got


def _ingest_current(
    con: duckdb.DuckDBPyConnection,
    town: TownConfig,
    snapshot: Snapshot,
    paths: TownPaths,
    run_id: str,
    shrink: ShrinkRule,
    max_line_bytes: int,
) -> RawOutcome:
    feed, layout = snapshot.feed, town.feeds[snapshot.feed]
    if not wait_until_settled(snapshot.path, town.inbox_settle_seconds):  # still being copied: next run
        tables.record_run_feed(con, run_id, feed, "no_file", snapshot.file_name, None, STILL_WRITING)
        return RawOutcome(feed, "no_file", snapshot.file_name)
    try:
        data = read_bytes(snapshot.path)
    except UnreadableFile as exc:
        raise _failed(con, snapshot, paths, town.town, run_id, exc.cause, None) from None
    sha256 = file_sha256(data)
    earlier = tables.file_already_ingested(con, sha256)
    if earlier is not None:
        tables.record_run_feed(con, run_id, feed, "already_ingested", snapshot.file_name, sha256)
        return RawOutcome(feed, "already_ingested", snapshot.file_name, sha256, previously_ingested_as=earlier[1])
    try:
        raw = read_inbox_file(snapshot.path, layout, data, sha256, max_line_bytes)  # CSV, or staff's XLSX
    except UnreadableFile as exc:
        raise _failed(con, snapshot, paths, town.town, run_id, exc.cause, sha256) from None
    warning = _shrink_warning(con, shrink, snapshot, raw)
    if warning and shrink.action == "hold" and not tables.is_confirmed(con, sha256):
        cause = (
            f"{warning}; 保留中 (held): 前回のスナップショットを使い続けます。確認後 "
            f"`kodomo confirm-file --town {town.town} {snapshot.file_name}` で次回の実行から使います"
        )
        tables.record_run_feed(con, run_id, feed, "held", snapshot.file_name, sha256, cause)
        return RawOutcome(feed, "held", snapshot.file_name, sha256, raw.rows_read, warning=cause)
    _archive(paths, snapshot, sha256, data)
    del data
    _store(con, layout, snapshot, paths, run_id, raw, "ingested", warning)
    crash_point("ingestion", feed)
    return RawOutcome(
        feed,
        "ingested",
        snapshot.file_name,
        raw.sha256,
        raw.rows_read,
        raw.dropped_columns,
        raw.missing_optional,
        warning=warning,
    )


@dataclass
class ValidateOutcome:
    feed: str
    outcome: str  # validated / unchanged / no_file / failed / held
    figures: dict | None = None  # as in `kodomo status`


def _stored_export(con: duckdb.DuckDBPyConnection, feed: str, sha256: str, columns: list[str]) -> RawExport:
    frame = tables.read_frame(con, f"SELECT * FROM {tables.raw_table(feed)} WHERE _sha256 = ? ORDER BY {ROW}", [sha256])
    bad = frame["_problem"].notna()
    malformed = dict(zip(frame.loc[bad, ROW].astype(int), frame.loc[bad, "_problem"], strict=True))
    good = frame.loc[~bad, [*columns, ROW]].reset_index(drop=True)
    meta = fetch_one(con, "SELECT file_name, size_bytes FROM ingested_files WHERE sha256 = ?", [sha256])
    return RawExport(meta[0], sha256, meta[1], good, malformed, dropped_columns=[])


def validate_feed(con: duckdb.DuckDBPyConnection, town: TownConfig, feed: str, run_id: str) -> ValidateOutcome:
    """Step 2 for one feed: contract over the files stored in this run, history first; the outcome is the
    current file's."""
    tables.ensure_bookkeeping(con)
    tables.ensure_feed_tables(con, town.feeds[feed].spec)
    recorded = con.execute(
        "SELECT outcome, sha256 FROM run_feeds WHERE run_id = ? AND feed = ? ORDER BY recorded_at", [run_id, feed]
    ).fetchall()
    for outcome, sha256 in recorded:
        if outcome == HISTORY:
            _validate_file(con, town, feed, sha256)
    current = [(outcome, sha256) for outcome, sha256 in recorded if outcome not in (HISTORY, HISTORY_FAILED)]
    if not current or current[-1][0] in ("no_file", "failed", "held"):
        return ValidateOutcome(feed, current[-1][0] if current else "no_file")
    outcome, sha256 = current[-1]
    if outcome == "already_ingested":
        return ValidateOutcome(feed, "unchanged", tables.file_figures(con, sha256))
    _validate_file(con, town, feed, sha256)
    return ValidateOutcome(feed, "validated", tables.file_figures(con, sha256))


def _validate_file(con: duckdb.DuckDBPyConnection, town: TownConfig, feed: str, sha256: str) -> None:
    """The contract over one stored file: its valid rows, quarantine and figures committed together."""
    layout = town.feeds[feed]
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
    crash_point("validation", feed)  # inside the transaction: the rerun must find nothing of it
    con.execute(
        "UPDATE ingested_files SET rows_valid = ?, rows_quarantined = ? WHERE sha256 = ?",
        [len(result.valid), result.rows_quarantined, sha256],
    )
    con.commit()
