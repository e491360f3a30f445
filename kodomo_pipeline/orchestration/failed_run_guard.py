"""The leak guard for runs that did not finish: failed and canceled runs are the likeliest to carry a value in
an error, and the leak guard asset, being the last step, never runs in them.

Per town, a run-status sensor (daemon) scans every failed or canceled nightly run's event log and compute
logs with the same scan as the asset (privacy/services/leak_guard.py), and shows the result in the Dagster UI twice:
as the run's tag `kodomo/leak_guard` and as an observation of the town's `leak_guard` asset. `kodomo run`
scans its own failed run the same way, so nothing depends on the daemon being up.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
from dagster import (
    AssetKey,
    AssetObservation,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunStatusSensorContext,
    SensorDefinition,
    SkipReason,
    run_status_sensor,
)

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.orchestration.quality_assets import (
    LEAK_GUARD,
    _leak_metadata,
    compute_log_texts,
    event_log_texts,
)
from kodomo_pipeline.orchestration.run_scope import ASOF_TAG
from kodomo_pipeline.privacy.services.leak_guard import LeakReport, operational_dates, scan
from kodomo_pipeline.storage.snapshots import newest_extract
from kodomo_pipeline.storage.town_db import open_town_db

RESULT_TAG = "kodomo/leak_guard"


def scan_finished_run(instance, town: TownConfig, root: Path, run_id: str) -> LeakReport | None:
    """Scan a finished run's logs for the town's personal values and record the counts in the UI.

    None when the town database cannot be read now (the run's tag then says so)."""
    run = instance.get_run_by_id(run_id)
    database = town.database(root)
    if run is None or not database.exists():
        return None
    sources = {"event_log": event_log_texts(instance, run_id), "compute_logs": compute_log_texts(instance, run_id)}
    try:
        with open_town_db(database, read_only=True) as con:
            asof = dt.date.fromisoformat(run.tags[ASOF_TAG]) if run.tags.get(ASOF_TAG) else newest_extract(con)
            if asof is None:
                return None  # nothing ingested yet: no personal value the logs could hold
            report = scan(con, town, asof, sources, operational_dates(con, asof))
    except duckdb.Error as exc:
        instance.add_run_tags(run_id, {RESULT_TAG: f"not scanned: database busy ({type(exc).__name__})"})
        return None
    found = ", ".join(f"{kind} {n}" for kind, n in sorted(report.kinds_found().items()))
    instance.add_run_tags(run_id, {RESULT_TAG: f"LEAKS: {found}" if report.leaks else "clean"})
    metadata = {"scanned_run_id": run_id, "run_status": run.status.value, **_leak_metadata(report)}
    instance.report_runless_asset_event(
        AssetObservation(asset_key=AssetKey([town.town, LEAK_GUARD]), metadata=metadata)
    )
    return report


def build_failed_run_guard(town: TownConfig, job, root: Path) -> list[SensorDefinition]:
    """`<town>_leak_guard_failed_runs` and `<town>_leak_guard_canceled_runs`: on by default (need the daemon)."""
    sensors = []
    for status, word in ((DagsterRunStatus.FAILURE, "failed"), (DagsterRunStatus.CANCELED, "canceled")):

        def guard(context: RunStatusSensorContext) -> SkipReason:
            report = scan_finished_run(context.instance, town, root, context.dagster_run.run_id)
            if report is None:
                return SkipReason("not scanned (no database or busy); see the run's kodomo/leak_guard tag")
            if report.leaks:
                context.log.error(f"{town.town}: personal values in a finished run's logs: {report.kinds_found()}")
            return SkipReason(f"scanned: {report.leaks} place(s) with a personal value")

        sensors.append(
            run_status_sensor(
                run_status=status,
                name=f"{town.town}_leak_guard_{word}_runs",
                monitored_jobs=[job],
                default_status=DefaultSensorStatus.RUNNING,
                description=f"{town.name_ja}: leak guard of {word} nightly runs (their logs are scanned too).",
            )(guard)
        )
    return sensors
