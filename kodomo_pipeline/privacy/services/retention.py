"""Retention and purge: old snapshots of a feed leave the town once its retention period is over.

APPI art. 61 (hold only what the purpose needs): resources/retention.yaml sets years per feed. `purge`
removes a snapshot (its archived export file and its rows in raw_<feed>, valid_<feed> and quarantine)
whose extract date is older than both the operator's `before` date and the feed's retention, never the
snapshot in force (the newest extract on or before the day of the purge). Each removed snapshot is
recorded in the `purge_log` table: file name, SHA-256, extract date and row counts, never a value.
`ingested_files` keeps its line (no personal data), so the same bytes are not ingested again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import duckdb
from pydantic import BaseModel, ConfigDict, Field

from kodomo_pipeline.config.errors import ConfigError, read_yaml, validate_model
from kodomo_pipeline.config.feeds import load_feeds
from kodomo_pipeline.config.paths import config_root
from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.ingest.archive import archived_snapshot
from kodomo_pipeline.privacy.services.access_log import current_operator
from kodomo_pipeline.privacy.services.file_retention import purge_copies
from kodomo_pipeline.storage.feed_tables import fetch_one, raw_table, valid_table
from kodomo_pipeline.storage.snapshots import has_table
from kodomo_pipeline.storage.town_db import open_town_db

_PURGE_LOG = """
CREATE TABLE IF NOT EXISTS purge_log (
    purged_at TIMESTAMP NOT NULL,
    operator VARCHAR NOT NULL,
    feed VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    sha256 VARCHAR,               -- NULL for an archived file that was never ingested
    extract_date DATE NOT NULL,
    before_date DATE NOT NULL,    -- the operator's --before
    retention_years INTEGER NOT NULL,
    rows_raw INTEGER NOT NULL,
    rows_valid INTEGER NOT NULL,
    rows_quarantine INTEGER NOT NULL,
    archive_file VARCHAR          -- the archived export deleted, if there was one
)
"""


class RetentionFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default_years: int = Field(ge=1, le=150)
    feeds: dict[str, int] = {}
    copies: dict[Literal["out", "failed", "logs", "backtest"], int] = {}  # other copies (file_retention.py)


@dataclass(frozen=True)
class RetentionPolicy:
    """Years to keep each feed's old snapshots; feeds not named get the default."""

    default_years: int
    feeds: dict[str, int]
    source: Path
    copies: dict[str, int] = field(default_factory=dict)

    def copy_years(self, kind: str) -> int:
        return self.copies.get(kind, self.default_years)

    def years(self, feed: str) -> int:
        return self.feeds.get(feed, self.default_years)


def load_retention(path: Path | None = None) -> RetentionPolicy:
    """resources/retention.yaml, schema-checked; errors name the file and the key."""
    path = path or config_root() / "resources" / "retention.yaml"
    data = validate_model(RetentionFile, read_yaml(path), path)
    known = load_feeds()
    for feed, years in data.feeds.items():
        if feed not in known:
            raise ConfigError(path, f"feeds.{feed}", "is not a canonical feed (assets/)")
        if not 1 <= years <= 150:
            raise ConfigError(path, f"feeds.{feed}", "must be a whole number of years from 1 to 150")
    for kind, years in data.copies.items():
        if not 1 <= years <= 150:
            raise ConfigError(path, f"copies.{kind}", "must be a whole number of years from 1 to 150")
    return RetentionPolicy(data.default_years, dict(data.feeds), path, dict(data.copies))


def years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day `years` earlier (29 February → 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


@dataclass
class PurgedSnapshot:
    feed: str
    file_name: str
    extract_date: dt.date
    sha256: str | None
    retention_years: int
    rows_raw: int = 0
    rows_valid: int = 0
    rows_quarantine: int = 0
    archive_file: Path | None = None

    def as_dict(self) -> dict:
        return {
            "feed": self.feed,
            "file": self.file_name,
            "extract_date": self.extract_date.isoformat(),
            "retention_years": self.retention_years,
            "rows_raw": self.rows_raw,
            "rows_valid": self.rows_valid,
            "rows_quarantine": self.rows_quarantine,
            "archive_file_deleted": self.archive_file is not None,
        }


@dataclass
class PurgeResult:
    town: str
    before: dt.date
    today: dt.date
    dry_run: bool
    purged: list[PurgedSnapshot] = field(default_factory=list)
    kept_in_force: dict[str, str] = field(default_factory=dict)  # feed → file name of the snapshot in force
    files: list[dict] = field(default_factory=list)  # other copies removed (privacy/services/file_retention.py)

    def as_dict(self) -> dict:
        return {
            "town": self.town,
            "before": self.before.isoformat(),
            "today": self.today.isoformat(),
            "dry_run": self.dry_run,
            "purged": [p.as_dict() for p in self.purged],
            "kept_in_force": self.kept_in_force,
            "rows_removed": sum(p.rows_raw + p.rows_valid + p.rows_quarantine for p in self.purged),
            "files_deleted": sum(1 for p in self.purged if p.archive_file is not None),
            "copies_deleted": self.files,
        }


def _in_force(con: duckdb.DuckDBPyConnection, today: dt.date) -> dict[str, tuple[str, str]]:
    """feed → (sha256, file name) of the snapshot in force today."""
    rows = con.execute(
        """SELECT feed, sha256, file_name FROM ingested_files WHERE extract_date <= ?
           QUALIFY row_number() OVER (PARTITION BY feed ORDER BY extract_date DESC, ingested_at DESC) = 1""",
        [today],
    ).fetchall()
    return {feed: (sha, name) for feed, sha, name in rows}


def _count(con: duckdb.DuckDBPyConnection, table: str, column: str, sha256: str) -> int:
    if not has_table(con, table):
        return 0
    return fetch_one(con, f"SELECT count(*) FROM {table} WHERE {column} = ?", [sha256])[0]


def plan_purge(
    con: duckdb.DuckDBPyConnection,
    town: TownConfig,
    archive: Path,
    before: dt.date,
    today: dt.date,
    policy: RetentionPolicy,
) -> PurgeResult:
    """What a purge would remove (no change made): ingested snapshots and archived files past both limits."""
    result = PurgeResult(town.town, before, today, dry_run=True)
    in_force = _in_force(con, today) if has_table(con, "ingested_files") else {}
    result.kept_in_force = {feed: name for feed, (_, name) in sorted(in_force.items())}
    protected_names = {(feed, name) for feed, (_, name) in in_force.items()}
    protected_shas = {sha for sha, _ in in_force.values()}
    seen: set[tuple[str, str]] = set()
    recorded: set[str] = set()  # SHA-256 of every ingested file: their archives go with their database line
    done = (
        {row[0] for row in con.execute("SELECT sha256 FROM purge_log WHERE sha256 IS NOT NULL").fetchall()}
        if has_table(con, "purge_log")
        else set()
    )
    if has_table(con, "ingested_files"):
        rows = con.execute(
            "SELECT feed, file_name, extract_date, sha256, archived_as FROM ingested_files ORDER BY feed, extract_date"
        ).fetchall()
        for feed, name, extract, sha, archived in rows:
            seen.add((feed, name))
            recorded.add(sha)
            years = policy.years(feed)
            if sha in protected_shas or sha in done:  # in force, or purged by an earlier run
                continue
            if not (extract < before and extract < years_before(today, years)):
                continue
            archived_path = Path(archived) if archived else None
            snapshot = PurgedSnapshot(
                feed,
                name,
                extract,
                sha,
                years,
                rows_raw=_count(con, raw_table(feed), "_sha256", sha),
                rows_valid=_count(con, valid_table(feed), "_sha256", sha),
                rows_quarantine=_count(con, "quarantine", "sha256", sha),
                archive_file=archived_path if archived_path and archived_path.is_file() else None,
            )
            result.purged.append(snapshot)
    # Archived files with no database line (an interrupted ingestion): by their name's date.
    for folder in sorted(p for p in archive.glob("*") if p.is_dir()):
        for path in sorted(folder.glob("*.csv")):
            sha, snap = archived_snapshot(path)  # either archive layout (<sha256>_<name> or <name>)
            if snap is None or snap.feed != folder.name:
                continue
            known = sha in recorded if sha else (snap.feed, path.name) in seen | protected_names
            if known:
                continue
            years = policy.years(snap.feed)
            if snap.extract_date < before and snap.extract_date < years_before(today, years):
                result.purged.append(
                    PurgedSnapshot(snap.feed, snap.file_name, snap.extract_date, None, years, archive_file=path)
                )
    return result


def _apply(con: duckdb.DuckDBPyConnection, result: PurgeResult) -> None:
    con.execute(_PURGE_LOG)
    operator = current_operator()
    now = dt.datetime.now().replace(microsecond=0)
    con.begin()
    try:
        for snap in result.purged:
            if snap.sha256:
                for table, column in ((raw_table(snap.feed), "_sha256"), (valid_table(snap.feed), "_sha256")):
                    if has_table(con, table):
                        con.execute(f"DELETE FROM {table} WHERE {column} = ?", [snap.sha256])
                if has_table(con, "quarantine"):
                    con.execute("DELETE FROM quarantine WHERE sha256 = ?", [snap.sha256])
            con.execute(
                "INSERT INTO purge_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    now,
                    operator,
                    snap.feed,
                    snap.file_name,
                    snap.sha256,
                    snap.extract_date,
                    result.before,
                    snap.retention_years,
                    snap.rows_raw,
                    snap.rows_valid,
                    snap.rows_quarantine,
                    str(snap.archive_file) if snap.archive_file else None,
                ],
            )
        con.commit()
    except Exception:
        con.rollback()
        raise
    for snap in result.purged:  # after the commit: a file is never deleted for rows that stayed
        if snap.archive_file is not None:
            snap.archive_file.unlink(missing_ok=True)


def purge(
    town: TownConfig,
    root: Path,
    before: dt.date,
    today: dt.date | None = None,
    dry_run: bool = False,
    policy: RetentionPolicy | None = None,
) -> PurgeResult:
    """Remove the town's snapshots older than both `before` and their feed's retention (never the one in force)."""
    today = today or dt.datetime.now(ZoneInfo("Asia/Tokyo")).date()
    policy = policy or load_retention()
    database = town.database(root)
    archive = root / "archive" / town.town
    if not database.exists():
        return PurgeResult(town.town, before, today, dry_run)
    with open_town_db(database) as con:
        result = plan_purge(con, town, archive, before, today, policy)
        result.dry_run = dry_run
        if not dry_run and result.purged:
            _apply(con, result)
        result.files = purge_copies(con, town, root, before, today, policy, dry_run)  # inbox, out, failed, ...
    return result


def read_purge_log(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every purge, newest first: what was removed, by whom, under which retention (no values)."""
    if not has_table(con, "purge_log"):
        return []
    columns = [
        "purged_at",
        "operator",
        "feed",
        "file_name",
        "extract_date",
        "before_date",
        "retention_years",
        "rows_raw",
        "rows_valid",
        "rows_quarantine",
        "archive_file",
    ]
    rows = con.execute(
        f"SELECT {', '.join(columns)} FROM purge_log ORDER BY purged_at DESC, feed, extract_date"
    ).fetchall()
    out = []
    for row in rows:
        entry = dict(zip(columns, row, strict=True))
        entry["purged_at"] = entry["purged_at"].isoformat(timespec="seconds")
        entry["extract_date"] = entry["extract_date"].isoformat()
        entry["before_date"] = entry["before_date"].isoformat()
        entry["archive_file"] = Path(entry["archive_file"]).name if entry["archive_file"] else None
        out.append(entry)
    return out
