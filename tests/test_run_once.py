"""One run per town at a time, one T per run, an operator who always knows (issue 13), on one generated town.

The module generates misato once (800 residents) and runs it once alone; the tests then start runs together,
kill one, make the database unwritable, lose the key, and read the status as a job scheduler would.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    RunsFilter,
    build_run_status_sensor_context,
)

from kodomo_pipeline.cli import main
from kodomo_pipeline.config.towns import load_towns
from kodomo_pipeline.exports.meeting_xlsx import meeting_xlsx_name
from kodomo_pipeline.orchestration.definitions import build_definitions
from kodomo_pipeline.orchestration.run_lock import hold_run, sweep_dead_runs
from kodomo_pipeline.orchestration.run_scope import ASOF_TAG
from kodomo_pipeline.orchestration.town_jobs import job_name

TOWN = "misato"
ASOF = "2026-11-26"
REPO = Path(__file__).resolve().parents[1]


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    return env | {"KODOMO_HOME": str(root), "PYTHONPATH": str(REPO)}


def _kodomo(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "kodomo_pipeline.cli", *args],
        env=_env(root),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _alerts(root: Path) -> list[tuple]:
    database = load_towns()[TOWN].database(root)
    with duckdb.connect(str(database), read_only=True) as con:
        columns = "alert_id, subject_resident_id, type_code, level, score, indicators, as_of"
        return con.execute(f"SELECT {columns} FROM alerts ORDER BY alert_id").fetchall()


def _instance(root: Path) -> DagsterInstance:
    os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
    return DagsterInstance.get()


@pytest.fixture(scope="module")
def town_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """misato generated and run once alone through `kodomo run` (the reference alerts)."""
    root = tmp_path_factory.mktemp("run_once") / "data"
    env = _env(root)
    inbox = load_towns()[TOWN].inbox(root)
    args = ["generate", "--town", TOWN, "--out", str(inbox), "--asof", ASOF, "--population", "800"]
    subprocess.run([sys.executable, "-m", "kodomo_pipeline.cli", *args], env=env, cwd=REPO, check=True)
    solo = subprocess.run(
        [sys.executable, "-m", "kodomo_pipeline.cli", "run", "--town", TOWN],
        env=env, cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert solo.returncode == 0, solo.stdout[-3000:] + solo.stderr[-3000:]
    assert re.search(r"^  \[\s*(\d+)/\1\] 完了 misato__", solo.stdout, re.MULTILINE)  # progress per step
    assert "完了 misato__leak_guard" in solo.stdout
    return root


@pytest.fixture()
def env_home(town_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KODOMO_HOME", str(town_root))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return town_root


def test_every_file_under_the_data_root_is_owner_only_after_a_run(town_root: Path) -> None:
    checked = 0
    for folder in ("db", "out", "logs", "failed", "dagster_home", "keys", "archive"):
        for path in [town_root / folder, *(town_root / folder).rglob("*")]:
            if not path.exists():
                continue
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode & 0o077 == 0, f"{path.relative_to(town_root)} is {oct(mode)}"
            checked += 1
    assert stat.S_IMODE(town_root.stat().st_mode) == 0o700
    assert checked > 50


def test_the_run_is_tagged_with_its_date_and_every_asset_judged_that_date(env_home: Path) -> None:
    with _instance(env_home) as instance:
        runs = instance.get_runs(RunsFilter(job_name=job_name(TOWN)))
        assert len(runs) == 1 and runs[0].tags.get(ASOF_TAG) == ASOF  # no --asof given: resolved once, recorded
        dates = set()
        for entry in instance.all_logs(runs[0].run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
            metadata = entry.dagster_event.materialization.metadata
            if "as_of" in metadata:
                dates.add(metadata["as_of"].value)
    assert dates == {ASOF}


def test_status_exit_codes_for_job_schedulers(env_home: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["status", "--town", TOWN, "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["verdict"] == "ok"
    stale = runner.invoke(main, ["status", "--town", TOWN, "--max-age-hours", "0"])
    assert stale.exit_code == 3 and "時間が経過" in stale.output
    assert runner.invoke(main, ["status", "--town", "kawashima"]).exit_code == 4  # never run


def test_status_during_a_run_shows_the_last_completed_state(env_home: Path) -> None:
    town = load_towns()[TOWN]
    holder = subprocess.Popen(  # another process writing the town database, as a run does
        [sys.executable, "-c", "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); print('ok', flush=True); "
         "time.sleep(60)", str(town.database(env_home))],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ok"
        with hold_run(town, env_home, "run-in-progress-test"):
            result = CliRunner().invoke(main, ["status", "--town", TOWN, "--json"])
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["running_run_id"] == "run-in-progress-test"
    assert status["source"] == "snapshot" and len(status["feeds"]) == len(town.feeds)
    assert "Traceback" not in result.output


def test_a_second_start_is_refused_while_the_town_runs(env_home: Path) -> None:
    town = load_towns()[TOWN]
    with hold_run(town, env_home, "the-other-run"):
        result = CliRunner().invoke(main, ["run", "--town", TOWN])
    assert result.exit_code == 75
    assert "別の実行が進行中" in result.output and "the-other-run" in result.output


def test_a_daemon_run_waits_for_the_town_lock_and_fails_naming_the_holder(env_home: Path) -> None:
    from kodomo_pipeline.orchestration.cli_run import failure_cause
    from kodomo_pipeline.orchestration.definitions import build_definitions
    from kodomo_pipeline.orchestration.town_jobs import run_config_for

    town = load_towns()[TOWN]
    run_config = run_config_for(env_home, asof=ASOF)
    run_config["resources"]["kodomo"]["config"]["lock_wait_seconds"] = 1
    job = build_definitions(env_home).resolve_job_def(job_name(TOWN))
    with _instance(env_home) as instance, hold_run(town, env_home, "cli-run-holding-the-town"):
        started = time.monotonic()
        result = job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False)
        assert not result.success and time.monotonic() - started < 60
        cause = failure_cause(instance, result.run_id)
        steps = list(instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_SUCCESS))
    assert "別の実行が進行中" in cause and "cli-run-holding-the-town" in cause
    assert steps == []  # not one step ran beside the holder


@pytest.mark.slow
def test_an_unwritable_output_folder_is_one_line_not_a_traceback(env_home: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x", encoding="utf-8")
    result = CliRunner().invoke(main, ["run", "--town", TOWN, "--asof", ASOF, "--out", str(blocker / "out")])
    assert result.exit_code == 1
    cause = next(line for line in result.output.splitlines() if "原因 / cause" in line)
    assert str(blocker) in cause and "Traceback" not in result.output


def _step_spans(instance: DagsterInstance, run_id: str) -> tuple[float, float]:
    stamps = [
        entry.timestamp
        for entry in instance.all_logs(run_id)
        if entry.dagster_event and entry.dagster_event.event_type in (DagsterEventType.STEP_START,
                                                                      DagsterEventType.STEP_SUCCESS)
    ]  # fmt: skip
    return min(stamps), max(stamps)


@pytest.mark.slow
def test_two_runs_started_together_take_turns_and_judge_like_a_solo_run(town_root: Path) -> None:
    solo = _alerts(town_root)
    assert solo
    first, second = (
        _kodomo(town_root, "run", "--town", TOWN, "--wait"),
        _kodomo(town_root, "run", "--town", TOWN, "--wait"),
    )
    outputs = [proc.communicate(timeout=900)[0] for proc in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], "\n".join(o[-2000:] for o in outputs)
    ids = {line.split()[2] for out in outputs for line in out.splitlines() if line.startswith(f"{TOWN}: run ")}
    assert len(ids) == 2  # each run reports its own ID
    with _instance(town_root) as instance:
        spans = sorted(_step_spans(instance, run_id) for run_id in ids)
    assert spans[0][1] <= spans[1][0], "steps of the two runs interleaved"
    assert _alerts(town_root) == solo


@pytest.mark.slow
def test_a_killed_run_is_marked_failed_and_status_says_so(town_root: Path, env_home: Path) -> None:
    proc = _kodomo(town_root, "run", "--town", TOWN)
    town = load_towns()[TOWN]
    deadline = time.monotonic() + 300
    with _instance(town_root) as instance:
        while time.monotonic() < deadline:
            started = instance.get_runs(RunsFilter(job_name=job_name(TOWN), statuses=[DagsterRunStatus.STARTED]))
            if started:
                break
            time.sleep(0.5)
        assert started, "the run never started"
        time.sleep(2)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert sweep_dead_runs(instance, town, town_root, grace_seconds=0) == [started[0].run_id]
        assert instance.get_run_by_id(started[0].run_id).status == DagsterRunStatus.FAILURE
    result = CliRunner().invoke(main, ["status", "--town", TOWN])
    assert result.exit_code == 1 and "失敗" in result.output


def test_a_read_only_database_ends_in_this_runs_summary_with_its_cause(
    env_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_connect = duckdb.connect

    def read_only_disk(database: str = ":memory:", read_only: bool = False, **kwargs):
        if not read_only and str(database).endswith(f"{TOWN}.duckdb"):
            raise duckdb.IOException(f'IO Error: Cannot open file "{database}": Read-only file system')
        return real_connect(database, read_only=read_only, **kwargs)

    monkeypatch.setattr(duckdb, "connect", read_only_disk)
    result = CliRunner().invoke(main, ["run", "--town", TOWN, "--asof", ASOF])
    assert result.exit_code == 1
    assert "読み取り専用" in result.output and "Traceback" not in result.output
    assert "ingested" not in result.output  # not the previous run's feeds
    assert "漏えい検査" in result.output  # the failed run was scanned


def test_a_failed_run_carrying_a_personal_value_is_flagged(env_home: Path) -> None:
    from kodomo_pipeline.orchestration.failed_run_guard import RESULT_TAG, scan_finished_run

    town = load_towns()[TOWN]
    with duckdb.connect(str(town.database(env_home)), read_only=True) as con:
        name = con.execute("SELECT name_kanji FROM valid_jumin WHERE length(name_kanji) >= 4 LIMIT 1").fetchone()[0]
    with _instance(env_home) as instance:
        failed = instance.get_runs(RunsFilter(job_name=job_name(TOWN), statuses=[DagsterRunStatus.FAILURE]))
        assert failed
        run = failed[0]
        instance.report_engine_event(f"unexpected value {name} in an error", run)  # planted
        report = scan_finished_run(instance, town, env_home, run.run_id)
        assert report is not None and report.leaks >= 1 and report.kinds_found().get("name")
        assert instance.get_run_by_id(run.run_id).tags[RESULT_TAG].startswith("LEAKS")
        # The daemon's way: the town's failed-run sensor, as Dagster calls it after a run failure.
        instance.add_run_tags(run.run_id, {RESULT_TAG: "-"})
        sensor_name = f"{TOWN}_leak_guard_failed_runs"
        sensor = build_definitions(env_home).resolve_sensor_def(sensor_name)
        failure = next(iter(instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_FAILURE))).dagster_event
        context = build_run_status_sensor_context(sensor_name, failure, instance, instance.get_run_by_id(run.run_id))
        outcome = sensor(context)
        assert "scanned" in outcome.skip_message and name not in outcome.skip_message
        assert instance.get_run_by_id(run.run_id).tags[RESULT_TAG].startswith("LEAKS")
        observed = instance.fetch_observations(AssetKey([TOWN, "leak_guard"]), limit=5).records
        assert observed and all(name not in str(record.event_log_entry) for record in observed)


def test_a_lost_key_is_refused_and_rotation_is_explicit_and_recorded(env_home: Path) -> None:
    from kodomo_pipeline.privacy.services.key_registry import KeyMismatch, key_history, verify_town_key
    from kodomo_pipeline.privacy.services.pseudonym import key_path

    town = load_towns()[TOWN]
    key_file = key_path(TOWN, env_home)
    saved = key_file.read_bytes()
    key_file.unlink()
    result = CliRunner().invoke(main, ["run", "--town", TOWN, "--asof", ASOF])
    assert result.exit_code == 1 and "擬似ID鍵が見つかりません" in result.output
    assert not key_file.exists()  # no new key was made silently
    key_file.write_bytes(saved)
    key_file.chmod(0o600)
    rotated = CliRunner().invoke(main, ["key", "rotate", "--town", TOWN, "--reason", "年次の鍵更新"])
    assert rotated.exit_code == 0, rotated.output
    assert list(key_file.parent.glob(f"{key_file.name}.retired-*"))
    assert verify_town_key(town, env_home) is None  # the new key is the recorded one
    key_file.write_bytes(saved)  # the old key back: refused now
    with pytest.raises(KeyMismatch):
        verify_town_key(town, env_home)
    with duckdb.connect(str(town.database(env_home)), read_only=True) as con:
        assert [event["event"] for event in key_history(con)] == ["first_use", "rotated"]


def test_purge_leaves_no_copy_past_its_retention(env_home: Path) -> None:
    from kodomo_pipeline.privacy.services.retention import load_retention, purge

    town = load_towns()[TOWN]
    old = {
        town.inbox(env_home) / "jumin_20190401.csv": "inbox",
        town.output(env_home) / "meeting_20190401.xlsx": "out",
        town.output(env_home) / "explain" / "explain_AL-0000_20190401.html": "out",
        env_home / "failed" / TOWN / "jumin_20190301.csv": "failed",
        env_home / "logs" / TOWN / "errors_20190401.log": "logs",
        env_home / "backtest" / TOWN / "work_old" / "copy.duckdb": "backtest",
    }
    for path in old:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x", encoding="utf-8")
    stamp = time.mktime((2019, 4, 1, 0, 0, 0, 0, 0, -1))
    os.utime(env_home / "backtest" / TOWN / "work_old", (stamp, stamp))
    recent = town.output(env_home) / meeting_xlsx_name(town, dt.date(2026, 11, 26))
    assert recent.exists()
    result = purge(town, env_home, dt.date(2021, 4, 1), today=dt.date(2026, 11, 27), policy=load_retention())
    kinds = sorted(copy["kind"] for copy in result.files)
    assert kinds == sorted(old.values())
    assert not any(path.exists() for path in old) and not (env_home / "backtest" / TOWN / "work_old").exists()
    assert recent.exists()  # within retention
    with duckdb.connect(str(town.database(env_home)), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM purge_files_log").fetchone()[0] == len(old)


def test_machine_errors_become_one_plain_line(tmp_path: Path) -> None:
    import errno

    from kodomo_pipeline.orchestration.causes import describe
    from kodomo_pipeline.orchestration.resource import hidden_failure

    database = tmp_path / "db" / "misato.duckdb"
    full = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "meeting_20261126.xlsx"))
    assert describe(full) == f"ディスクの空きがありません: {full.filename} (ENOSPC)"
    read_only = duckdb.IOException('IO Error: Cannot open file "x": Read-only file system')
    assert describe(read_only, database).startswith("データベースが読み取り専用で書き込めません")
    assert describe(ValueError("髙橋　一郎")) is None  # other errors are named by type only
    town = load_towns()[TOWN]
    try:
        raise full
    except OSError as exc:
        failure = hidden_failure(town, tmp_path, exc, "the step")
    assert "ディスクの空きがありません" in failure.description and "Traceback" not in failure.description


def test_a_configured_group_may_read_the_data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import grp

    from kodomo_pipeline.config.paths import apply_file_modes

    group = grp.getgrgid(os.getgid()).gr_name
    monkeypatch.setenv("KODOMO_GROUP", group)
    previous = os.umask(0o022)
    try:
        apply_file_modes(tmp_path / "data")
        (tmp_path / "data" / "db").mkdir()
        (tmp_path / "data" / "db" / "x.duckdb").write_text("x", encoding="utf-8")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o2750
    assert stat.S_IMODE((tmp_path / "data" / "db").stat().st_mode) & 0o777 == 0o750
    assert stat.S_IMODE((tmp_path / "data" / "db" / "x.duckdb").stat().st_mode) == 0o640
