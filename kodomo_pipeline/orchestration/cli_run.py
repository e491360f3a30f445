"""`kodomo run`'s control flow: one run per town, progress per step, and a summary that is this run's own.

The CLI takes the town's run lock (run_lock.py) before it creates the run, so a scheduled, sensor or UI run
of the same town waits for it and vice versa; then the job runs in this process (no daemon needed, for the
demo and for job schedulers), recorded in the Dagster instance like any other run.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.orchestration.causes import OS_ERROR_CLASSES, describe

EXIT_OK = 0
EXIT_FAILED = 1  # the run failed (a feed, a step, the key check): the summary's cause line says why
EXIT_BUSY = 75  # another run of the town is in progress (EX_TEMPFAIL: try again later, or use --wait)
WAIT_SECONDS = 6 * 3600  # `kodomo run --wait` gives up after this long

_OUR_ERRORS = ("RunSetupError", "TownRunBusy", "KeyMismatch", "PseudonymKeyError", "ConfigError", "Failure")


@dataclass
class RunOutcome:
    ok: bool
    run_id: str | None
    asof: dt.date | None
    status: dict = field(default_factory=dict)
    cause: str | None = None  # one line, no traceback, no personal value
    busy: bool = False
    leak_check: str | None = None  # a failed run's leak guard result (the asset, last step, did not run)

    @property
    def exit_code(self) -> int:
        return EXIT_BUSY if self.busy else EXIT_OK if self.ok else EXIT_FAILED


class StepProgress(threading.Thread):
    """Prints one line per finished step while the run goes on, from the run's own event log."""

    def __init__(self, run_id: str, total: int, echo: Callable[[str], None]) -> None:
        super().__init__(daemon=True)
        self.run_id, self.total, self.echo = run_id, total, echo
        self.done = threading.Event()
        self.finished = 0
        self._cursor: str | None = None
        self._step_started: dict[str, float] = {}

    def run(self) -> None:
        from dagster import DagsterInstance

        with DagsterInstance.get() as instance:  # its own instance: storage connections are not shared
            while not self.done.wait(0.5):
                self.poll(instance)
            self.poll(instance)

    def poll(self, instance) -> None:
        from dagster import DagsterEventType

        kinds = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE,
                 DagsterEventType.STEP_SKIPPED}  # fmt: skip
        try:
            page = instance.get_records_for_run(self.run_id, cursor=self._cursor, of_type=kinds)
        except Exception:  # the run may not be stored yet; progress is a courtesy, never a failure
            return
        self._cursor = page.cursor
        for record in page.records:
            entry = record.event_log_entry
            event = entry.dagster_event
            step = event.step_key or "?"
            if event.event_type == DagsterEventType.STEP_START:
                self._step_started[step] = entry.timestamp
                continue
            self.finished += 1
            mark = {DagsterEventType.STEP_SUCCESS: "完了", DagsterEventType.STEP_FAILURE: "失敗"}.get(
                event.event_type, "省略"
            )
            seconds = entry.timestamp - self._step_started.get(step, entry.timestamp)
            self.echo(f"  [{self.finished:>3}/{self.total}] {mark} {step} ({seconds:.1f} s)")


def failure_cause(instance, run_id: str) -> str | None:
    """The first failure of the run in one line: our own messages as they are, other errors by type only."""
    from dagster import DagsterEventType

    kinds = {DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE, DagsterEventType.ENGINE_EVENT}
    for entry in instance.all_logs(run_id, of_type=kinds):
        event = entry.dagster_event
        data = event.event_specific_data
        user = getattr(data, "user_failure_data", None)
        if user is not None and user.description:
            return user.description.splitlines()[0]
        error = getattr(data, "error", None)
        while error is not None:
            if error.cls_name in _OUR_ERRORS:
                return error.message.split(":", 1)[-1].strip().splitlines()[0]
            if error.cls_name in OS_ERROR_CLASSES:
                return f"{event.step_key or 'run'}: {error.message.strip().splitlines()[0]}"
            if error.cause is None:
                return f"{event.step_key or 'run'}: {error.cls_name} (詳細は Dagster UI のイベントログ)"
            error = error.cause
    return None


def run_town(
    town: TownConfig,
    root: Path,
    asof: dt.date | None,
    inbox: Path | None,
    out: Path | None,
    wait: bool = False,
    echo: Callable[[str], None] = print,
) -> RunOutcome:
    """Run the town's nightly job now, holding its run lock; never raises for a failed run."""
    from dagster import DagsterInstance
    from dagster._core.utils import make_new_run_id

    from kodomo_pipeline.orchestration.definitions import build_definitions
    from kodomo_pipeline.orchestration.instance import prepare_dagster_home
    from kodomo_pipeline.orchestration.run_lock import TownRunBusy, hold_run, running_run_id, sweep_dead_runs
    from kodomo_pipeline.orchestration.run_scope import ASOF_TAG, resolve_asof
    from kodomo_pipeline.orchestration.town_jobs import TOWN_TAG, job_name, run_config_for

    prepare_dagster_home(root)
    job = build_definitions(root).resolve_job_def(job_name(town.town))
    run_id = make_new_run_id()
    with DagsterInstance.get() as instance:
        sweep_dead_runs(instance, town, root)
        if wait and running_run_id(town, root):
            echo(f"{town.town}: 別の実行 ({running_run_id(town, root)}) の終了を待っています / waiting for it")
        try:
            with hold_run(town, root, run_id, WAIT_SECONDS if wait else 0):
                judged = asof or resolve_asof(town, root, inbox.resolve() if inbox else town.inbox(root))
                run_config = run_config_for(
                    root,
                    asof=judged.isoformat(),
                    inbox=str(inbox.resolve()) if inbox else None,
                    out=str(out.resolve()) if out else None,
                )
                # The terminal shows progress and the summary; the full event log is in the instance (UI).
                run_config["loggers"] = {"console": {"config": {"log_level": "CRITICAL"}}}
                progress = StepProgress(run_id, len(job.graph.node_dict), echo)
                progress.start()
                try:
                    result = job.execute_in_process(
                        run_config=run_config,
                        instance=instance,
                        tags={TOWN_TAG: town.town, "kodomo/trigger": "cli", ASOF_TAG: judged.isoformat()},
                        raise_on_error=False,
                        run_id=run_id,
                    )
                finally:
                    progress.done.set()
                    progress.join(timeout=10)
                outcome = RunOutcome(result.success, run_id, judged)
                if not result.success:
                    outcome.cause = failure_cause(instance, run_id) or "原因不明の失敗 (Dagster UI を確認してください)"
                    outcome.leak_check = _scan_failed(instance, town, root, run_id)
                _finish(outcome, town, root, out, inbox, judged_here=_materialised(instance, run_id, town, "alerts"))
        except TownRunBusy as exc:
            return RunOutcome(False, None, asof, cause=str(exc), busy=True)
    return outcome


def _scan_failed(instance, town: TownConfig, root: Path, run_id: str) -> str:
    from kodomo_pipeline.orchestration.failed_run_guard import scan_finished_run

    report = scan_finished_run(instance, town, root, run_id)
    if report is None:
        return "漏えい検査: 未実施 (データベースを読めません) / leak guard: not scanned"
    if report.leaks:
        return f"漏えい検査: ログに個人の値 {report.leaks} 箇所 {report.kinds_found()} / leak guard: LEAKS"
    return "漏えい検査: 問題なし / leak guard: clean"


def _materialised(instance, run_id: str, town: TownConfig, asset: str) -> bool:
    from dagster import AssetKey, DagsterEventType

    key = AssetKey([town.town, asset])
    events = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    return any(entry.dagster_event.asset_key == key for entry in events)


def _finish(
    outcome: RunOutcome, town: TownConfig, root: Path, out: Path | None, inbox: Path | None, judged_here: bool
) -> None:
    """This run's per-feed summary, and its copy as `ingest_status_<T>.json`; a failure here is one more line."""
    from kodomo_pipeline.status import town_status

    try:
        outcome.status = town_status(town, root, run_id=outcome.run_id, inbox=inbox.resolve() if inbox else None)
    except duckdb.Error as exc:
        outcome.status = {"town": town.town, "run_id": outcome.run_id, "feeds": {}}
        outcome.cause = outcome.cause or describe(exc, town.database(root)) or f"DuckDB {type(exc).__name__}"
    outcome.status["run_id"] = outcome.run_id
    if not judged_here:
        outcome.status.pop("alerts", None)  # an earlier run's alerts are not this run's summary
    target = (out.resolve() / town.town) if out else town.output(root)
    assert outcome.asof is not None
    try:
        target.mkdir(parents=True, exist_ok=True)
        path = target / f"ingest_status_{outcome.asof:%Y%m%d}.json"
        path.write_text(json.dumps(outcome.status, ensure_ascii=False, indent=2, default=str), "utf-8")
    except OSError as exc:
        line = describe(exc) or f"{target}: {type(exc).__name__}"
        outcome.ok = False
        outcome.cause = f"{outcome.cause}; {line}" if outcome.cause else line
