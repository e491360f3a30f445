"""One nightly run per town at a time, whoever starts it (CLI, schedule, sensor, UI), and no run left STARTED.

Why our own lock and not only Dagster's run queue: the queue (dagster.yaml, one run per `kodomo/town`) only
covers runs the daemon launches, and `kodomo run` must work without a daemon (demo, JP1 job nets). So every
nightly run holds `<db dir>/<town>.run.lock` (an flock: the kernel drops it when the process dies) from its
start to its end; the CLI takes it before it creates the run, the daemon's runs in the resource's setup.

A run also holds its own `<db dir>/<town>.runs/<run_id>.alive` lock while it lives, waiting included. A run
Dagster still shows STARTED whose alive file is not locked has lost its process (kill -9, power cut):
`sweep_dead_runs` marks it failed so the queue never stalls on it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kodomo_pipeline.config.towns import TownConfig

START_GRACE_SECONDS = 120  # a run process starting up has not taken its alive lock yet
_HELD: dict[str, str] = {}  # town → run ID whose run lock this process holds (the CLI, then its in-process run)


class TownRunBusy(RuntimeError):
    """Another run of the town holds the run lock; the message names the town and that run's ID, nothing else."""

    def __init__(self, town: str, run_id: str | None) -> None:
        self.town = town
        self.run_id = run_id
        holder = run_id or "不明"
        super().__init__(f"{town}: 別の実行が進行中です (run {holder}) / another run of the town is in progress")


def lock_path(town: TownConfig, root: Path) -> Path:
    return town.database(root).parent / f"{town.town}.run.lock"


def alive_path(town: TownConfig, root: Path, run_id: str) -> Path:
    return town.database(root).parent / f"{town.town}.runs" / f"{run_id}.alive"


def _try_lock(handle, shared: bool = False) -> bool:
    try:
        fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def running_run_id(town: TownConfig, root: Path) -> str | None:
    """The ID of the run holding the town's run lock now, or None when no run of the town is running."""
    if _HELD.get(town.town):
        return _HELD[town.town]
    path = lock_path(town, root)
    if not path.exists():
        return None
    with open(path) as handle:
        if _try_lock(handle, shared=True):
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None
        return handle.read().strip() or "?"


def is_alive(town: TownConfig, root: Path, run_id: str) -> bool:
    """Whether a process still holds this run's alive lock."""
    if _HELD.get(town.town) == run_id:
        return True
    path = alive_path(town, root, run_id)
    if not path.exists():
        return False
    with open(path) as handle:
        if _try_lock(handle):
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
        return True


@contextmanager
def hold_run(town: TownConfig, root: Path, run_id: str, wait_seconds: float = 0) -> Iterator[None]:
    """Hold the town's run lock for the run `run_id`: wait up to `wait_seconds`, else raise TownRunBusy.

    Re-entrant within one process for the same run (the CLI takes it, then the in-process run's resource)."""
    if _HELD.get(town.town) == run_id:
        yield
        return
    alive = alive_path(town, root, run_id)
    alive.parent.mkdir(parents=True, exist_ok=True)
    with open(alive, "w") as marker, open(lock_path(town, root), "a+") as handle:
        fcntl.flock(marker, fcntl.LOCK_EX)
        marker.write(f"{os.getpid()}\n")
        marker.flush()
        deadline = time.monotonic() + wait_seconds
        while not _try_lock(handle):
            if time.monotonic() >= deadline:
                handle.seek(0)
                holder = handle.read().strip() or None
                alive.unlink(missing_ok=True)
                raise TownRunBusy(town.town, holder)
            time.sleep(0.5)
        handle.seek(0)
        handle.truncate()
        handle.write(run_id)
        handle.flush()
        _HELD[town.town] = run_id
        try:
            yield
        finally:
            _HELD.pop(town.town, None)
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
            alive.unlink(missing_ok=True)


def sweep_dead_runs(instance, town: TownConfig, root: Path, grace_seconds: float = START_GRACE_SECONDS) -> list[str]:
    """Mark failed every run of the town Dagster shows STARTED whose process is gone; returns their IDs.

    A run younger than `grace_seconds` is left alone (its process may not have taken its alive lock yet)."""
    from dagster import DagsterRunStatus, RunsFilter

    from kodomo_pipeline.orchestration.town_jobs import TOWN_TAG, job_name

    swept = []
    now = dt.datetime.now(dt.UTC).timestamp()
    records = instance.get_run_records(
        RunsFilter(job_name=job_name(town.town), statuses=[DagsterRunStatus.STARTED], tags={TOWN_TAG: town.town})
    )
    for record in records:
        started = record.start_time or record.create_timestamp.timestamp()
        if now - started < grace_seconds or is_alive(town, root, record.dagster_run.run_id):
            continue
        instance.report_run_failed(
            record.dagster_run,
            message="実行プロセスが終了していました (強制終了など)。失敗として記録します / the run's process had died",
        )
        swept.append(record.dagster_run.run_id)
    return swept
