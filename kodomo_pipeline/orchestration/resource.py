"""The run's view of the data root: where the town's inbox, database and outputs are, and the as-of date."""

from __future__ import annotations

import datetime as dt
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource, Failure, InitResourceContext
from pydantic import PrivateAttr

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.ingest.steps import TownPaths
from kodomo_pipeline.orchestration.causes import describe
from kodomo_pipeline.orchestration.run_scope import run_scope, tokyo_today
from kodomo_pipeline.rules.ruleset import RuleSet
from kodomo_pipeline.sqlmodels.runner import prepare
from kodomo_pipeline.storage.snapshots import newest_extract
from kodomo_pipeline.storage.town_db import open_town_db


class KodomoResource(ConfigurableResource):
    """Set per run from the CLI, the schedule or the sensor; defaults come from the town files."""

    home: str
    asof: str | None = None  # YYYY-MM-DD; empty = the newest extract in the inbox
    inbox: str | None = None  # a run's own inbox folder for its town (`kodomo run --inbox`)
    out: str | None = None  # output folder; files go to <out>/<town>/
    lock_wait_seconds: int = 1800  # a nightly run waits this long for another run of its town, then fails

    _judged: dt.date | None = PrivateAttr(default=None)  # T of this run, resolved once in run_scope
    _prepared: set[str] = PrivateAttr(default_factory=set)  # towns whose SQL tables this run has prepared

    @contextmanager
    def yield_for_execution(self, context: InitResourceContext) -> Iterator[KodomoResource]:
        """Once per run (in-process executor): the town's run lock, owner-only files, the key check and T."""
        with run_scope(self, context) as judged:
            self._judged = judged
            yield self

    @property
    def root(self) -> Path:
        return Path(self.home)

    @property
    def asof_date(self) -> dt.date | None:
        return dt.date.fromisoformat(self.asof) if self.asof else None

    def judgment_date(self, con: duckdb.DuckDBPyConnection) -> dt.date:
        """T of this run: resolved once when the run starts (run_scope) and recorded as its `kodomo/asof` tag.

        Outside a nightly run (a test materialising a few assets): the configured as-of date, else the newest
        extract ingested, else today in Asia/Tokyo."""
        return self._judged or self.asof_date or newest_extract(con) or tokyo_today()

    def prepare(self, con: duckdb.DuckDBPyConnection, town: TownConfig, rules: RuleSet, key=None) -> dt.date:
        """sqlmodels.runner.prepare for this run: the database part (rule set, bookkeeping, empty tables) once
        per run, this connection's session (T, parameters, staging views) every time; returns T."""
        asof = self.judgment_date(con)
        prepare(con, town, asof, rules, key, tables_ready=town.town in self._prepared)
        self._prepared.add(town.town)
        return asof

    def paths(self, town: TownConfig) -> TownPaths:
        return TownPaths.for_town(town, self.root, Path(self.inbox) if self.inbox else None)

    def output_dir(self, town: TownConfig) -> Path:
        return Path(self.out) / town.town if self.out else town.output(self.root)

    @contextmanager
    def database(self, town: TownConfig) -> Iterator[duckdb.DuckDBPyConnection]:
        """The town's own database; no other town's file is ever opened by its assets.

        An unexpected error inside may quote a value (DuckDB and pandas print offending values), and
        Dagster stores exception messages in its event log, which operators read. So the details go
        to a log file in the town's own area of the data root, and Dagster gets the error type only.
        """
        try:
            with open_town_db(town.database(self.root)) as con:
                yield con
        except Failure:
            raise  # our own failures name files, rows and causes, never values
        except Exception as exc:  # every other error is re-raised without its message
            raise hidden_failure(town, self.root, exc, "the step") from None


def hidden_failure(town: TownConfig, root: Path, exc: Exception, what: str) -> Failure:
    """A Dagster failure naming the error's type only (or, for a full disk, an unwritable folder or a read-only
    database, that cause and its path: causes.py); the traceback (which may quote personal values: DuckDB and
    pandas print offending values) goes to `<root>/logs/<town>/errors_<date>.log`. Call inside `except`."""
    log = root / "logs" / town.town / f"errors_{tokyo_today():%Y%m%d}.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as handle:
            handle.write(f"--- {dt.datetime.now().isoformat(timespec='seconds')} {what}\n{traceback.format_exc()}\n")
        details = f"the details, which may quote personal values, are in {log} (not in Dagster)"
    except OSError:
        details = f"no details: {log} could not be written either"
    cause = describe(exc, town.database(root))
    return Failure(
        description=f"{town.town}: {what} failed: {cause}; {details}"
        if cause
        else f"{town.town}: {what} failed with {type(exc).__name__}; {details}",
        allow_retries=False,
    )
