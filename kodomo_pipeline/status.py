"""What the latest run of a town did, per feed, from the town's own database (counts and names, no values)."""

from __future__ import annotations

from pathlib import Path

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.exports.operator_summary import operator_summary
from kodomo_pipeline.ingest.inbox_scan import ignored_files
from kodomo_pipeline.rules.column_gaps import read_column_gaps
from kodomo_pipeline.storage import feed_tables as tables
from kodomo_pipeline.storage.fallback import failed_feeds
from kodomo_pipeline.storage.feed_tables import fetch_one
from kodomo_pipeline.storage.snapshots import has_table
from kodomo_pipeline.storage.town_db import open_town_db


def town_status(town: TownConfig, root: Path, run_id: str | None = None, inbox: Path | None = None) -> dict:
    """`{"town", "run_id", "feeds": {feed: {file, sha256, rows_read, rows_valid, rows_quarantined,
    quarantine_reasons, dropped_columns, outcome[, error]}}, "alerts": operator summary of the newest T}`.

    With `run_id`, the feeds that run recorded (none when it failed before ingesting): a run's own summary
    never shows an earlier run's outcomes. Raises duckdb.Error when the database cannot be read (a run
    holds it: see `operator_status`)."""
    database = town.database(root)
    status: dict = {"town": town.town, "run_id": None, "feeds": {}}
    # Files of the inbox that are not read, with the reason (odd names, links, uploads in progress).
    status["inbox_ignored"] = [f.as_dict() for f in ignored_files(inbox or town.inbox(root), set(town.feeds))]
    if not database.exists():
        return status
    with open_town_db(database, read_only=True) as con:
        if not has_table(con, "run_feeds"):
            return status
        status["run_id"] = run_id or fetch_one(con, "SELECT run_id FROM run_feeds ORDER BY recorded_at DESC LIMIT 1")[0]
        for feed, outcome, file_name, sha256, cause in _run_feeds(con, run_id):
            entry: dict = {
                "file": file_name,
                "sha256": sha256,
                "rows_read": None,
                "rows_valid": None,
                "rows_quarantined": None,
                "quarantine_reasons": {},
                "dropped_columns": [],
            }
            if outcome in ("ingested", "already_ingested"):
                entry |= tables.file_figures(con, sha256)
                entry.pop("extract_date", None)
            if cause:
                entry["error"] = cause
            entry["outcome"] = outcome
            status["feeds"][feed] = entry
        status["column_gaps"] = read_column_gaps(con)  # columns missing from / unknown in the files judged
        for entry in failed_feeds(con, None):  # the snapshot the judgment used instead of the failed file
            status["feeds"][entry["feed"]] |= {
                "judged_from": entry["judged_from"],
                "judged_from_extract_date": entry["judged_from_extract_date"],
            }
        if has_table(con, "alerts"):
            asof = fetch_one(con, "SELECT max(as_of) FROM alerts")[0]
            status["alerts"] = operator_summary(con, asof) if asof else None
    return status


def _run_feeds(con, run_id: str | None) -> list[tuple]:
    if run_id is None:
        return tables.latest_run_feeds(con)
    return con.execute(
        "SELECT feed, outcome, file_name, sha256, cause FROM run_feeds WHERE run_id = ? ORDER BY feed, recorded_at",
        [run_id],
    ).fetchall()


# --- the operator's view: last completed run, run in progress, exit code -----------------------------------

EXIT_OK = 0  # the last run succeeded and is recent enough
EXIT_FAILED = 1  # the last completed run failed or was canceled
EXIT_STALE = 3  # the last completed run is older than --max-age-hours
EXIT_NO_RUN = 4  # the town has never completed a run


def snapshot_path(town: TownConfig, root: Path) -> Path:
    return town.database(root).parent / f"{town.town}.status.json"


def write_snapshot(town: TownConfig, root: Path) -> None:
    """Keep what the database says now, for `kodomo status` while the next run holds the database."""
    import json

    status = town_status(town, root)
    snapshot_path(town, root).write_text(json.dumps(status, ensure_ascii=False, default=str), encoding="utf-8")


def _feeds_view(town: TownConfig, root: Path) -> dict:
    import json

    import duckdb

    try:
        return town_status(town, root) | {"source": "database"}
    except duckdb.Error:
        path = snapshot_path(town, root)
        if path.exists():
            return json.loads(path.read_text(encoding="utf-8")) | {"source": "snapshot"}
        return {"town": town.town, "run_id": None, "feeds": {}, "source": "unavailable"}


def operator_status(town: TownConfig, root: Path, max_age_hours: float) -> dict:
    """What the operator and a job scheduler (JP1 and the like) need: the last completed run and its
    verdict with an exit code, a run in progress, and the feeds of the last completed state."""
    import datetime as dt

    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    from kodomo_pipeline.orchestration.instance import prepare_dagster_home
    from kodomo_pipeline.orchestration.run_lock import running_run_id, sweep_dead_runs
    from kodomo_pipeline.orchestration.run_scope import ASOF_TAG
    from kodomo_pipeline.orchestration.town_jobs import job_name

    prepare_dagster_home(root)
    done = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
    with DagsterInstance.get() as instance:
        swept = sweep_dead_runs(instance, town, root)
        records = instance.get_run_records(RunsFilter(job_name=job_name(town.town), statuses=done), limit=1)
    result = _feeds_view(town, root)
    result["running_run_id"] = running_run_id(town, root)
    result["dead_runs_marked_failed"] = swept
    result["max_age_hours"] = max_age_hours
    if not records:
        result |= {"last_run": None, "verdict": "no_run", "exit_code": EXIT_NO_RUN,
                   "message": "まだ完了した実行がありません / no completed run yet"}  # fmt: skip
        return result
    record = records[0]
    run = record.dagster_run
    ended = dt.datetime.fromtimestamp(record.end_time or record.update_timestamp.timestamp(), dt.UTC)
    age_hours = (dt.datetime.now(dt.UTC) - ended).total_seconds() / 3600
    result["last_run"] = {"run_id": run.run_id, "status": run.status.value, "as_of": run.tags.get(ASOF_TAG),
                          "ended": ended.isoformat(timespec="seconds"), "age_hours": round(age_hours, 1)}  # fmt: skip
    if run.status != DagsterRunStatus.SUCCESS:
        verdict, code, message = "failed", EXIT_FAILED, "前回の実行は失敗しました / the last run failed"
    elif age_hours > max_age_hours:
        verdict, code = "stale", EXIT_STALE
        message = f"前回の成功から {age_hours:.0f} 時間が経過しています / the last run is {age_hours:.0f} h old"
    else:
        verdict, code, message = "ok", EXIT_OK, "正常 / ok"
    result |= {"verdict": verdict, "exit_code": code, "message": message}
    return result
