"""What every nightly run does once, before its first step and after its last, whoever started it.

Before: files owner-only (umask), the town's run lock (one run per town, run_lock.py), runs whose process
died marked failed, the pseudonym key checked against the one the town database knows, and T resolved once
and recorded as the run's `kodomo/asof` tag. After: the status snapshot `kodomo status` shows during the
next run (the database itself cannot be read while a run writes it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import duckdb

from kodomo_pipeline.config.paths import apply_file_modes
from kodomo_pipeline.config.towns import TownConfig, load_towns
from kodomo_pipeline.ingest.inbox import newest_extract_date

if TYPE_CHECKING:
    from dagster import InitResourceContext

    from kodomo_pipeline.orchestration.resource import KodomoResource

TOKYO = ZoneInfo("Asia/Tokyo")
ASOF_TAG = "kodomo/asof"


class RunSetupError(RuntimeError):
    """The run could not start: the cause in one line (causes.py), never a value."""


@contextmanager
def _plain_causes(town: TownConfig, root: Path) -> Iterator[None]:
    """Machine errors while the run sets up (read-only database, full disk) as one clear line."""
    from kodomo_pipeline.orchestration.causes import describe

    try:
        yield
    except (OSError, duckdb.Error) as exc:
        cause = describe(exc, town.database(root))
        raise RunSetupError(f"{town.town}: {cause or type(exc).__name__}") from None


def tokyo_today() -> dt.date:
    """Today where the towns are: a server clock in UTC would otherwise judge 02:00 JST as yesterday."""
    return dt.datetime.now(TOKYO).date()


def resolve_asof(town: TownConfig, root: Path, inbox: Path) -> dt.date:
    """T of a run that names none: the newest extract in the inbox or already ingested, else today (Tokyo)."""
    from kodomo_pipeline.storage.snapshots import newest_extract
    from kodomo_pipeline.storage.town_db import open_town_db

    dates = [newest_extract_date(inbox, set(town.feeds))]
    database = town.database(root)
    if database.exists():
        try:
            with open_town_db(database, read_only=True) as con:
                dates.append(newest_extract(con))
        except duckdb.Error:
            pass  # unreadable here; the first step that opens it reports the cause
    known = [d for d in dates if d]
    return max(known) if known else tokyo_today()


def nightly_town(context: InitResourceContext) -> TownConfig | None:
    """The town whose nightly job this run is (tag `kodomo/town` and the job's name), else None."""
    from kodomo_pipeline.orchestration.town_jobs import TOWN_TAG, job_name

    run = context.dagster_run
    name = run.tags.get(TOWN_TAG) if run else None
    towns = load_towns()
    if not run or name not in towns or run.job_name != job_name(name):
        return None
    return towns[name]


@contextmanager
def run_scope(resource: KodomoResource, context: InitResourceContext) -> Iterator[dt.date | None]:
    """Hold the run for its whole duration; yields T (None outside a town's nightly job)."""
    from kodomo_pipeline.orchestration.run_lock import hold_run, sweep_dead_runs

    town = nightly_town(context)
    if town is None:
        yield None
        return
    root = resource.root
    run = context.dagster_run
    assert run is not None
    with _plain_causes(town, root):
        apply_file_modes(root)
    with hold_run(town, root, run.run_id, resource.lock_wait_seconds):
        if context.instance is not None:
            swept = sweep_dead_runs(context.instance, town, root)
            if swept and context.log:
                context.log.warning(f"{town.town}: {len(swept)} run(s) whose process had died marked failed")
        with _plain_causes(town, root):
            check_town_key(town, root, context)
        if resource.asof_date:
            judged = resource.asof_date
        elif run.tags.get(ASOF_TAG):
            judged = dt.date.fromisoformat(run.tags[ASOF_TAG])  # a re-execution judges the same T
        else:
            judged = resolve_asof(town, root, resource.paths(town).inbox)
        if context.instance is not None and run.tags.get(ASOF_TAG) != judged.isoformat():
            context.instance.add_run_tags(run.run_id, {ASOF_TAG: judged.isoformat()})
        try:
            yield judged
        finally:
            save_status_snapshot(town, root)


def check_town_key(town: TownConfig, root: Path, context: InitResourceContext) -> None:
    """Refuse the run when the key is not the one the town database recorded (privacy/services/key_registry.py)."""
    from kodomo_pipeline.privacy.services.key_registry import verify_town_key

    announcement = verify_town_key(town, root)
    if announcement and context.log:
        context.log.warning(announcement)  # where a new key file is; never the key


def save_status_snapshot(town: TownConfig, root: Path) -> None:
    """Write what `kodomo status` shows, for when the database is busy with the next run; best effort."""
    from kodomo_pipeline.status import write_snapshot

    with contextlib.suppress(OSError, duckdb.Error):  # the run's outcome counts; status then says it is missing
        write_snapshot(town, root)
