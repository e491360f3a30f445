"""Open a town's DuckDB file, one writer at a time across processes.

DuckDB itself refuses a second writing process with an error; the lock file
makes a second run of the same town wait its turn instead (the run queue
already serialises runs launched from Dagster; the CLI is covered here).
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

LOCK_WAIT_SECONDS = 1800


class TownBusy(RuntimeError):
    pass


@contextmanager
def town_lock(database: Path, wait_seconds: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_suffix(database.suffix + ".lock"), "w") as handle:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TownBusy(f"{database.name} is in use by another run") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def open_town_db(database: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the town's database (created on first use), holding the town lock when writing."""
    if read_only:
        con = duckdb.connect(str(database), read_only=True)
        try:
            yield con
        finally:
            con.close()
        return
    with town_lock(database):
        con = duckdb.connect(str(database))
        try:
            yield con
        finally:
            con.close()
