"""The production instance: resources/dagster/dagster.postgres.yaml on a real PostgreSQL server.

A town is materialised through its real nightly job with run, event and schedule storage in a
database of the test's own; the run, its events and the asset materialisations are then read back
from PostgreSQL, both through a fresh Dagster instance and with plain SQL.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from kodomo_pipeline.config.paths import config_root
from kodomo_pipeline.orchestration.definitions import build_definitions
from kodomo_pipeline.orchestration.town_jobs import TOWN_TAG, job_name, run_config_for
from tests.conftest import require, write_export
from tests.processes import stop_group
from tests.test_orchestration import GOOD_JUMIN

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
VALID_JUMIN = AssetKey(["kawashima", "valid_jumin"])
CHECKOUT = Path(__file__).resolve().parents[1]
DAEMON_SECONDS = 180


def _server_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3):
            return True
    except OSError:
        return False


def _admin_connection():
    import psycopg2

    con = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=5)
    con.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    return con


@pytest.fixture()
def pg_database() -> Iterator[str]:
    """A database of this test's own, dropped afterwards (even if the instance still holds connections)."""
    require(_server_answers(PG_HOST, PG_PORT), f"a PostgreSQL server on {PG_HOST}:{PG_PORT}")
    name = f"kodomo_test_{secrets.token_hex(6)}"
    con = _admin_connection()
    try:
        with con.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield name
    finally:
        with con.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        con.close()


@pytest.fixture()
def pg_dagster_home(home: Path, tmp_path: Path, pg_database: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """DAGSTER_HOME with the shipped production dagster.yaml, credentials in the environment.

    Requests `home` first, which clears DAGSTER_HOME, so that this one wins.
    """
    instance_home = tmp_path / "dagster_home"
    instance_home.mkdir()
    shutil.copyfile(config_root() / "resources" / "dagster" / "dagster.postgres.yaml", instance_home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(instance_home))
    monkeypatch.setenv("KODOMO_PG_USER", PG_USER)
    monkeypatch.setenv("KODOMO_PG_PASSWORD", "")  # trust auth here; set but empty lets libpq use ~/.pgpass
    monkeypatch.setenv("KODOMO_PG_HOST", PG_HOST)
    monkeypatch.setenv("KODOMO_PG_DB", pg_database)
    return instance_home


def test_the_production_yaml_selects_postgres_storage_and_the_town_limit(pg_dagster_home: Path) -> None:
    with DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert instance.get_settings("telemetry") == {"enabled": False}
        assert not instance.nux_enabled
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert limits == [{"key": TOWN_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]


def test_a_town_run_is_recorded_in_postgres(home: Path, towns, pg_dagster_home: Path, pg_database: str) -> None:
    inbox = towns["kawashima"].inbox(home)
    write_export(inbox / "jumin_20261101.csv", towns["kawashima"].feeds["jumin"], [GOOD_JUMIN])
    job = build_definitions(home).resolve_job_def(job_name("kawashima"))
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(
            run_config=run_config_for(home), instance=instance, tags={TOWN_TAG: "kawashima"}, raise_on_error=False
        )
    assert result.success
    run_id = result.run_id

    # Read back through a fresh instance built from the same dagster.yaml.
    with DagsterInstance.from_config(str(pg_dagster_home)) as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == DagsterRunStatus.SUCCESS
        assert run.tags[TOWN_TAG] == "kawashima"
        events = instance.get_records_for_run(run_id).records
        kinds = {
            record.event_log_entry.dagster_event_type for record in events if record.event_log_entry.is_dagster_event
        }
        assert {
            DagsterEventType.RUN_START,
            DagsterEventType.ASSET_MATERIALIZATION,
            DagsterEventType.RUN_SUCCESS,
        } <= kinds
        records = instance.fetch_materializations(VALID_JUMIN, limit=10).records
        assert [record.run_id for record in records] == [run_id]
        metadata = records[0].asset_materialization.metadata
        assert metadata["rows_valid"].value == 1
        assert metadata["rows_quarantined"].value == 0
        assert metadata["file"].value == "jumin_20261101.csv"

    # And with plain SQL: the rows are in PostgreSQL, not in a local SQLite file.
    import psycopg2

    con = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=pg_database, connect_timeout=5)
    try:
        with con.cursor() as cur:
            cur.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))
            assert cur.fetchall() == [("SUCCESS",)]
            cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", (run_id,))
            assert cur.fetchone()[0] == len(events)
            cur.execute(
                "SELECT event FROM event_logs WHERE asset_key = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
                (VALID_JUMIN.to_string(),),
            )
            stored = [json.loads(row[0]) for row in cur.fetchall()]
    finally:
        con.close()
    assert len(stored) == 1
    assert '"rows_valid"' in json.dumps(stored[0])
    assert not list(pg_dagster_home.rglob("*.db")), "instance storage fell back to SQLite"
    # No personal value of the export reached Dagster's storage (counts and file names only).
    assert GOOD_JUMIN[2] not in json.dumps(stored[0], ensure_ascii=False)


def test_the_daemon_runs_a_town_when_an_export_lands(home: Path, towns, pg_dagster_home: Path, tmp_path: Path) -> None:
    """Production path: dagster-daemon → inbox sensor → run queue (town limit) → run, all in PostgreSQL."""
    write_export(towns["kawashima"].inbox(home) / "jumin_20261101.csv", towns["kawashima"].feeds["jumin"], [GOOD_JUMIN])
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(CHECKOUT / "workspace.yaml")],
            cwd=tmp_path,
            env=dict(os.environ),  # DAGSTER_HOME, KODOMO_HOME and KODOMO_PG_* as set by the fixtures
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            by_sensor = RunsFilter(tags={"dagster/sensor_name": "kawashima_inbox_sensor"})
            deadline = time.monotonic() + DAEMON_SECONDS
            with DagsterInstance.from_config(str(pg_dagster_home)) as instance:
                while True:
                    assert daemon.poll() is None, log.read_text("utf-8", "replace")[-3000:]
                    runs = instance.get_runs(filters=by_sensor)
                    if runs and runs[0].status in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE):
                        break
                    assert time.monotonic() < deadline, f"no finished sensor run within {DAEMON_SECONDS} s"
                    time.sleep(1)
                [run] = runs
                assert run.status == DagsterRunStatus.SUCCESS
                assert run.tags[TOWN_TAG] == "kawashima"
                assert run.tags["kodomo/new_files"] == "jumin_20261101.csv"
                [record] = instance.fetch_materializations(VALID_JUMIN, limit=10).records
                assert record.run_id == run.run_id
                assert record.asset_materialization.metadata["rows_valid"].value == 1
        finally:
            stop_group(daemon, seconds=30)
