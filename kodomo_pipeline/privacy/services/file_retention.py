"""Purge the copies outside the town database: inbox leftovers, outputs, failed exports, error logs, backtests.

Each of them can hold personal data (meeting lists and explain files name residents, failed exports are
whole department files, error logs may quote values, a backtest holds a full copy of the database), so
`kodomo purge` removes them past their retention like the snapshots: a file goes when its date is before
both the operator's `--before` and `today - years` (resources/retention.yaml `copies:`; inbox files use
their feed's years). A file's date is the `_YYYYMMDD` in its name, else its modification day. The snapshot
in force in the inbox is never removed. Each removal is recorded in `purge_files_log` (path, kind, date).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.ingest.inbox import list_snapshots
from kodomo_pipeline.privacy.services.access_log import current_operator

if TYPE_CHECKING:
    from kodomo_pipeline.privacy.services.retention import RetentionPolicy

_STAMP = re.compile(r"_(\d{8})(?!\d)")
_LOG = """CREATE TABLE IF NOT EXISTS purge_files_log (purged_at TIMESTAMP NOT NULL, operator VARCHAR NOT NULL,
    kind VARCHAR NOT NULL, path VARCHAR NOT NULL, file_date DATE NOT NULL, before_date DATE NOT NULL,
    retention_years INTEGER NOT NULL)"""


def file_date(path: Path) -> dt.date:
    """The `_YYYYMMDD` in the name (T or extract date), else the day the file was last written."""
    for stamp in reversed(_STAMP.findall(path.name)):
        try:
            return dt.datetime.strptime(stamp, "%Y%m%d").date()
        except ValueError:
            continue
    return dt.date.fromtimestamp(path.stat().st_mtime)


def _limit(before: dt.date, today: dt.date, years: int) -> dt.date:
    from kodomo_pipeline.privacy.services.retention import years_before

    return min(before, years_before(today, years))


def plan_copies(town: TownConfig, root: Path, before: dt.date, today: dt.date, policy: RetentionPolicy) -> list:
    """(kind, path, date, years) of every copy past its retention; a backtest folder counts as one copy."""
    found: list[tuple[str, Path, dt.date, int]] = []
    inbox = town.inbox(root)
    snaps = list_snapshots(inbox, set(town.feeds))
    newest = {snap.feed: snap.path for snap in snaps}  # oldest first: the last one per feed is in force
    for snap in snaps:
        years = policy.years(snap.feed)
        if snap.path != newest[snap.feed] and snap.extract_date < _limit(before, today, years):
            found.append(("inbox", snap.path, snap.extract_date, years))
    for kind, folder in (("out", town.output(root)), ("failed", root / "failed" / town.town),
                         ("logs", root / "logs" / town.town)):  # fmt: skip
        years = policy.copy_years(kind)
        if folder.is_dir():
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                day = file_date(path)
                if day < _limit(before, today, years):
                    found.append((kind, path, day, years))
    backtests = root / "backtest" / town.town
    years = policy.copy_years("backtest")
    if backtests.is_dir():
        for path in sorted(backtests.iterdir()):
            day = dt.date.fromtimestamp(path.stat().st_mtime)
            if day < _limit(before, today, years):
                found.append(("backtest", path, day, years))
    return found


def purge_copies(
    con: duckdb.DuckDBPyConnection,
    town: TownConfig,
    root: Path,
    before: dt.date,
    today: dt.date,
    policy: RetentionPolicy,
    dry_run: bool,
) -> list[dict]:
    """Remove (unless dry_run) and record every copy past its retention; returns what, never a value."""
    found = plan_copies(town, root, before, today, policy)
    done = [{"kind": kind, "path": str(path.relative_to(root)) if path.is_relative_to(root) else str(path),
             "date": day.isoformat(), "retention_years": years} for kind, path, day, years in found]  # fmt: skip
    if dry_run or not found:
        return done
    con.execute(_LOG)
    now = dt.datetime.now().replace(microsecond=0)
    operator = current_operator()
    for (kind, path, day, years), entry in zip(found, done, strict=True):
        con.execute(
            "INSERT INTO purge_files_log VALUES (?, ?, ?, ?, ?, ?, ?)",
            [now, operator, kind, entry["path"], day, before, years],
        )
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    return done
