"""Per town: the nightly job, its 02:00 schedule and the inbox sensor (which also fails runs whose process died)."""

import hashlib
import json
from pathlib import Path
from zoneinfo import ZoneInfo

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    JobDefinition,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    in_process_executor,
    schedule,
    sensor,
)

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.ingest.inbox import list_snapshots
from kodomo_pipeline.ingest.inbox_scan import settled

TOWN_TAG = "kodomo/town"  # dagster.yaml limits runs to one per value of this tag


def job_name(town: str) -> str:
    return f"{town}_nightly"


def run_config_for(home: Path, asof: str | None = None, inbox: str | None = None, out: str | None = None) -> dict:
    """Run config of the kodomo resource (Dagster does not merge run config with definition-time values)."""
    fields = {"home": str(home), "asof": asof, "inbox": inbox, "out": out}
    return {"resources": {"kodomo": {"config": {key: value for key, value in fields.items() if value}}}}


def build_town_job(town: TownConfig) -> JobDefinition:
    return define_asset_job(
        job_name(town.town),
        selection=AssetSelection.groups(town.town),
        description=f"{town.name_ja}: the whole nightly graph, from the inbox to the outputs.",
        executor_def=in_process_executor,  # one process: steps share the town's DuckDB file in turn
        tags={TOWN_TAG: town.town},
    )


def build_schedule(town: TownConfig, job: JobDefinition, root: Path) -> ScheduleDefinition:
    tz = ZoneInfo(town.schedule.timezone)

    @schedule(
        name=f"{town.town}_nightly_schedule",
        job=job,
        cron_schedule=town.schedule.cron,
        execution_timezone=town.schedule.timezone,
        default_status=DefaultScheduleStatus.RUNNING,
        description=f"{town.name_ja}: nightly run; judges as of the newest extract on or before that day.",
    )
    def nightly(context: ScheduleEvaluationContext) -> RunRequest:
        asof = context.scheduled_execution_time.astimezone(tz).date().isoformat()
        return RunRequest(run_config=run_config_for(root, asof=asof), tags={TOWN_TAG: town.town, "kodomo/asof": asof})

    return nightly


def inbox_state(inbox: Path, feeds: set[str], settle_seconds: float = 0.0) -> dict[str, str]:
    """file name → size and modification time of every snapshot in the inbox that has stopped changing
    (unchanged for `settle_seconds`); one still being copied is left out, so a later tick sees it as new."""
    state = {}
    for snap in list_snapshots(inbox, feeds):
        if not settled(snap.path, settle_seconds):
            continue
        stat = snap.path.lstat()
        state[snap.file_name] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return state


def build_inbox_sensor(town: TownConfig, job: JobDefinition, root: Path) -> SensorDefinition:
    feeds = set(town.feeds)
    inbox = town.inbox(root)

    @sensor(
        name=f"{town.town}_inbox_sensor",
        job=job,
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        description=f"{town.name_ja}: starts the town's run when a new export lands in {inbox}.",
    )
    def inbox_sensor(context: SensorEvaluationContext) -> RunRequest | SkipReason:
        from kodomo_pipeline.orchestration.run_lock import sweep_dead_runs

        # Every minute: a run whose process died would hold the town's queue slot for ever (run_lock.py).
        for run_id in sweep_dead_runs(context.instance, town, root):
            context.log.warning(f"{town.town}: run {run_id} had lost its process; marked failed")
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        now = inbox_state(inbox, feeds, town.inbox_settle_seconds)
        new = sorted(name for name, stamp in now.items() if seen.get(name) != stamp)
        context.update_cursor(json.dumps(now, sort_keys=True))
        if not new:
            return SkipReason("no new export in the inbox")
        run_key = hashlib.sha256(json.dumps({n: now[n] for n in new}).encode()).hexdigest()[:16]
        return RunRequest(
            run_key=run_key,
            run_config=run_config_for(root),
            tags={TOWN_TAG: town.town, "kodomo/new_files": ",".join(new)[:1000]},
        )

    return inbox_sensor
