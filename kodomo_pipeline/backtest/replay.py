"""The backtest's scratch database and one replayed date T in it, through the real pipeline code.

The town's own database is never written: the scratch copy lives under `<data root>/backtest/<town>/`.
It is either a copy of the town database (every snapshot the town ingested, with its extract date) or built
from a history inbox of monthly snapshots `<feed>_<YYYYMMDD>.csv`, ingested date by date with the real
`ingest_raw` + `validate_feed` (kept between backtests: a file already ingested is skipped by its SHA-256).

名寄せ per T is the slow step (Splink's u-sampling is ~90 % of it), so the backtest trains the model on the
data of one replayed date and scores the following dates with it (`run_linkage(model_json=…)`), retraining every
`retrain_months`; the model used at T was always trained on data known at or before T. The rest (bands,
twins, decisions up to T, the previous date's links) is the production `run_linkage` unchanged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from kodomo_pipeline.config.feed_roles import linked_feeds
from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.ingest.inbox import list_snapshots
from kodomo_pipeline.ingest.steps import FeedFailed, TownPaths, ingest_raw, validate_feed
from kodomo_pipeline.linkage.assign import Bands
from kodomo_pipeline.linkage.crosswalk import link_attendance, run_linkage
from kodomo_pipeline.sqlmodels.registry import build_registry
from kodomo_pipeline.storage.snapshots import has_table
from kodomo_pipeline.storage.town_db import town_lock

# What one backtest leaves in the scratch database and the next must not inherit. `alert_ids` stays: it only
# names alerts (an HMAC of subject and type), and taio_kekka decisions point at those names.
REPLAY_TABLES = ("alert_history", "alert_fact_history", "alert_runs", "crosswalk", "crosswalk_history",
                 "linkage_models", "attendance_linked")  # fmt: skip
HISTORY_TABLES = ("alert_history", "alert_fact_history", "alert_runs")  # alert_runs: the previous run of `change`
SOURCE_TABLE = "backtest_source"


def scratch_database(town: TownConfig, root: Path, inbox: Path | None) -> Path:
    folder = root / "backtest" / town.town
    return folder / ("history.duckdb" if inbox else "work.duckdb")


def copy_town_database(town: TownConfig, root: Path, target: Path) -> None:
    """A fresh copy of the town's database (under the town lock, so no run writes while it is copied)."""
    source = town.database(root)
    if not source.exists():
        raise FileNotFoundError(f"{town.town} has no database yet ({source}): run the town, or give --inbox")
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in (target, target.with_suffix(target.suffix + ".wal")):
        stale.unlink(missing_ok=True)
    with town_lock(source), duckdb.connect(str(target)) as con:
        con.execute("ATTACH ? AS town_source (READ_ONLY)", [str(source)])
        catalog = con.execute("SELECT current_database()").fetchone()[0]
        con.execute(f'COPY FROM DATABASE town_source TO "{catalog}"')
        con.execute("DETACH town_source")


def _staging_links(inbox: Path, work: Path, town: TownConfig, until: dt.date) -> TownPaths:
    """An inbox of hard links to the history files (a failing file moves the link, never the original) and an
    archive of links (`archive_links`), so that ingestion copies nothing. Hard, not symbolic: the inbox scan
    refuses symlinks (ingest/inbox_scan.py); a copy only where the history is on another file system."""
    paths = TownPaths(inbox=work / "inbox", archive=work / "archive", failed=work / "failed", archive_links=True)
    for snap in list_snapshots(inbox, set(town.feeds)):
        if snap.extract_date > until:
            continue
        link = paths.inbox / snap.file_name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():  # staged by an earlier version of the backtest
            link.unlink()
        if not link.exists():
            try:
                os.link(snap.path, link)
            except OSError:
                shutil.copy2(snap.path, link)
    return paths


def ingest_history(
    con: duckdb.DuckDBPyConnection, town: TownConfig, inbox: Path, work: Path, until: dt.date
) -> dict[str, int]:
    """Ingest every snapshot of the history inbox up to `until`, oldest first, the way the nightly job does.

    Returns counts: files ingested, already ingested (skipped), failed (unreadable; the earlier snapshot of
    that feed stays in force, as in production).
    """
    paths = _staging_links(inbox, work, town, until)
    town = town.model_copy(update={"inbox_settle_seconds": 0.0})  # staged files are complete: nothing to wait for
    dates = sorted({snap.extract_date for snap in list_snapshots(paths.inbox, set(town.feeds))})
    counts = {"ingested": 0, "already_ingested": 0, "failed": 0}
    for day in dates:
        run_id = f"backtest-ingest-{day:%Y%m%d}"
        for snap in list_snapshots(paths.inbox, set(town.feeds)):
            if snap.extract_date != day:
                continue
            try:
                outcome = ingest_raw(con, town, snap.feed, paths, run_id, day)
            except FeedFailed:
                counts["failed"] += 1
                continue
            counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
            if outcome.outcome == "ingested":
                validate_feed(con, town, snap.feed, run_id)
    return counts


def mark_source(con: duckdb.DuckDBPyConnection, kind: str, where: str) -> bool:
    """Record what the scratch database was built from; False when it was built from something else."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {SOURCE_TABLE} (kind VARCHAR, location VARCHAR)")
    rows = con.execute(f"SELECT kind, location FROM {SOURCE_TABLE}").fetchall()
    if rows and rows != [(kind, where)]:
        return False
    if not rows:
        con.execute(f"INSERT INTO {SOURCE_TABLE} VALUES (?, ?)", [kind, where])
    return True


def reset_replay_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Forget every earlier replay: no alert history, crosswalk or linkage model of another backtest."""
    names = [row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    for name in names:
        if name in REPLAY_TABLES or name.startswith("bt_"):
            con.execute(f'DROP TABLE IF EXISTS "{name}"')


@contextlib.contextmanager
def history_of(con: duckdb.DuckDBPyConnection, index: int):
    """Give rule set `index` its own alert history while its models run (change, suppression and explain read
    `alert_history`): one rule set's alerts never become another's previous run."""
    for table in HISTORY_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {table}")
        if has_table(con, f"bt_{index}_{table}"):
            con.execute(f"ALTER TABLE bt_{index}_{table} RENAME TO {table}")
    try:
        yield
    finally:
        for table in HISTORY_TABLES:
            if has_table(con, table):
                con.execute(f"ALTER TABLE {table} RENAME TO bt_{index}_{table}")


@dataclass
class LinkageState:
    """The model the replays reuse, and when (at which replayed date) it was trained."""

    retrain_months: int = 12
    model_json: dict | None = None
    trained_at: dt.date | None = None
    trainings: int = 0

    def due(self, asof: dt.date) -> bool:
        if self.model_json is None or self.trained_at is None or asof < self.trained_at:
            return True
        months = (asof.year - self.trained_at.year) * 12 + asof.month - self.trained_at.month
        return months >= self.retrain_months


def replay_linkage(
    con: duckdb.DuckDBPyConnection, asof: dt.date, run_id: str, state: LinkageState, train: bool = True
) -> int:
    """名寄せ at T exactly as the nightly `run_linkage`, with the model trained at an earlier (or this) replayed
    date; with `train` False the existing model is used whatever its age (the answer key after the last T).
    Returns the number of records."""
    reuse = state.model_json is not None and not (train and state.due(asof))
    run = run_linkage(con, asof, run_id, Bands(), model_json=state.model_json if reuse else None)
    if not reuse and not run.persons.empty and not run.records.empty:  # a model trained on nothing is no model
        state.model_json, state.trained_at = run.model_json, asof
        state.trainings += 1
    link_attendance(con, asof)
    return len(run.crosswalk)


def link_at(
    con: duckdb.DuckDBPyConnection,
    town: TownConfig,
    asof: dt.date,
    run_id: str,
    state: LinkageState,
    train: bool = True,
) -> None:
    """The registry at T (the nightly job's registry models: persons, mothers, unknown residents) and, where the
    town has nursery or school feeds, the crosswalk."""
    build_registry(con, asof)
    if any(feed in town.feeds for feed in linked_feeds()):
        replay_linkage(con, asof, run_id, state, train)
