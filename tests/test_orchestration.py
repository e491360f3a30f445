"""The Dagster layer: definitions per town, schedule and sensor run requests, failure containment, re-runs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
from dagster import DagsterInstance, build_schedule_context, build_sensor_context

from kodomo_pipeline.orchestration.definitions import build_definitions
from kodomo_pipeline.orchestration.town_jobs import TOWN_TAG, job_name, run_config_for
from tests.conftest import K_JUMIN_ROW as GOOD_JUMIN
from tests.conftest import write_export

GOOD_SOUDAN = ["C0001", "0000012345", "R07.04.01", "虐待", "ネグレクト", "継続", "1", "free text never kept"]


def _run(home: Path, town: str, **config: str):
    defs = build_definitions(home)
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(job_name(town)).execute_in_process(
            run_config=run_config_for(home, **config), instance=instance, raise_on_error=False
        )
    return result


def test_each_town_has_its_own_prefixed_graph(home: Path, towns) -> None:
    defs = build_definitions(home)
    keys = {key.path[0]: set() for key in defs.resolve_all_asset_keys()}
    for key in defs.resolve_all_asset_keys():
        keys[key.path[0]].add(key.path[1])
    assert set(keys) == {"kawashima", "misato"}
    assert "raw_toen" in keys["kawashima"] and "raw_toen" not in keys["misato"]
    assert "valid_sango_shitsumon" in keys["misato"] and "valid_sango_shitsumon" not in keys["kawashima"]
    for town in towns.values():
        job = defs.resolve_job_def(job_name(town.town))
        assert job.tags[TOWN_TAG] == town.town
        selected = {key.path[0] for key in job.asset_layer.executable_asset_keys}
        assert selected == {town.town}


def test_schedule_runs_at_two_in_tokyo_with_that_day_as_asof(home: Path) -> None:
    defs = build_definitions(home)
    nightly = defs.resolve_schedule_def("misato_nightly_schedule")
    assert nightly.cron_schedule == "0 2 * * *" and nightly.execution_timezone == "Asia/Tokyo"
    when = dt.datetime(2026, 11, 25, 17, 0, tzinfo=dt.UTC)  # 02:00 on the 26th in Tokyo
    request = nightly.evaluate_tick(build_schedule_context(scheduled_execution_time=when)).run_requests[0]
    assert request.tags[TOWN_TAG] == "misato"
    assert request.run_config["resources"]["kodomo"]["config"] == {"home": str(home), "asof": "2026-11-26"}


def test_sensor_requests_a_run_only_for_new_files_of_its_town(home: Path, towns) -> None:
    defs = build_definitions(home)
    sensor = defs.resolve_sensor_def("kawashima_inbox_sensor")
    inbox = towns["kawashima"].inbox(home)
    with DagsterInstance.ephemeral() as instance:
        empty = sensor.evaluate_tick(build_sensor_context(instance=instance))
        assert not empty.run_requests
        write_export(inbox / "jumin_20261101.csv", towns["kawashima"].feeds["jumin"], [GOOD_JUMIN])
        (inbox / "notes.txt").write_text("not an export")
        (inbox / "sango_shitsumon_20261101.csv").write_text("a feed kawashima does not have")
        first = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=empty.cursor))
        assert len(first.run_requests) == 1
        assert first.run_requests[0].tags["kodomo/new_files"] == "jumin_20261101.csv"
        assert first.run_requests[0].tags[TOWN_TAG] == "kawashima"
        again = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=first.cursor))
        assert not again.run_requests
        write_export(inbox / "jido_soudan_20261102.csv", towns["kawashima"].feeds["jido_soudan"], [GOOD_SOUDAN])
        later = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=first.cursor))
        assert [r.tags["kodomo/new_files"] for r in later.run_requests] == ["jido_soudan_20261102.csv"]


def test_a_corrupt_file_fails_only_its_feed_and_moves_to_failed(home: Path, towns) -> None:
    inbox = towns["kawashima"].inbox(home)
    write_export(inbox / "jumin_20261101.csv", towns["kawashima"].feeds["jumin"], [GOOD_JUMIN])
    (inbox / "jido_soudan_20261101.csv").write_bytes("相談番号,宛名番号\n".encode())  # UTF-8, wrong headers
    result = _run(home, "kawashima")
    # jido_soudan is not essential: the night goes on, judged without (or from the last good) jido_soudan.
    assert result.success
    assert not [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    materialised = {
        event.asset_key.path[1]: event.materialization.metadata
        for event in result.all_events
        if event.event_type_value == "ASSET_MATERIALIZATION"
    }
    assert {"raw_jumin", "valid_jumin", "raw_toen", "valid_toen", "alerts_export"} <= set(materialised)
    assert materialised["raw_jido_soudan"]["outcome"].value == "failed"
    assert materialised["raw_jido_soudan"]["judged_from"].value == "none (no earlier snapshot)"
    failed = home / "failed" / "kawashima"
    assert (failed / "jido_soudan_20261101.csv").exists() and not (inbox / "jido_soudan_20261101.csv").exists()
    report = json.loads((failed / "jido_soudan_20261101.csv.report.json").read_text(encoding="utf-8"))
    assert report["feed"] == "jido_soudan" and "wrong encoding" in report["cause"]


def test_the_same_file_is_not_ingested_twice(home: Path, towns) -> None:
    inbox = towns["kawashima"].inbox(home)
    write_export(inbox / "jido_soudan_20261101.csv", towns["kawashima"].feeds["jido_soudan"], [GOOD_SOUDAN])
    assert _run(home, "kawashima").success
    # The same bytes again under the next night's name: recorded, not ingested again.
    (inbox / "jido_soudan_20261102.csv").write_bytes((inbox / "jido_soudan_20261101.csv").read_bytes())
    second = _run(home, "kawashima")
    assert second.success
    with duckdb.connect(str(towns["kawashima"].database(home)), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM valid_jido_soudan").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM raw_jido_soudan").fetchone()[0] == 1
        outcomes = con.execute("SELECT outcome FROM run_feeds WHERE feed = 'jido_soudan' ORDER BY recorded_at")
        assert [row[0] for row in outcomes.fetchall()] == ["ingested", "already_ingested"]
        columns = {row[0] for row in con.execute("SELECT column_name FROM information_schema.columns").fetchall()}
    assert "相談内容" not in columns
    assert b"free text never kept" not in towns["kawashima"].database(home).read_bytes()


def test_asof_reads_only_snapshots_extracted_by_then(home: Path, towns) -> None:
    inbox = towns["kawashima"].inbox(home)
    layout = towns["kawashima"].feeds["jido_soudan"]
    write_export(inbox / "jido_soudan_20261101.csv", layout, [GOOD_SOUDAN])
    write_export(inbox / "jido_soudan_20261110.csv", layout, [GOOD_SOUDAN, ["C0002", *GOOD_SOUDAN[1:]]])
    assert _run(home, "kawashima", asof="2026-11-05").success
    with duckdb.connect(str(towns["kawashima"].database(home)), read_only=True) as con:
        files = con.execute("SELECT DISTINCT _file FROM valid_jido_soudan").fetchall()
    assert files == [("jido_soudan_20261101.csv",)]


def test_an_unexpected_error_reaches_dagster_without_its_message(home: Path, towns, monkeypatch) -> None:
    """DuckDB quotes offending values in its errors; Dagster must get the error type only."""
    import kodomo_pipeline.orchestration.feed_assets as feed_assets

    def broken(*_args, **_kwargs):
        raise duckdb.ConversionException("Could not convert string '髙橋　一郎' to DATE")

    monkeypatch.setattr(feed_assets, "validate_feed", broken)
    write_export(towns["kawashima"].inbox(home) / "jumin_20261101.csv", towns["kawashima"].feeds["jumin"], [GOOD_JUMIN])
    defs = build_definitions(home)
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(job_name("kawashima")).execute_in_process(
            run_config=run_config_for(home), instance=instance, raise_on_error=False
        )
        logged = json.dumps([str(record.dagster_event) for record in instance.all_logs(result.run_id)])
    assert not result.success
    assert "ConversionException" in logged and "髙橋" not in logged and "\\u9ad9" not in logged
    details = next((home / "logs" / "kawashima").glob("errors_*.log")).read_text(encoding="utf-8")
    assert "髙橋" in details  # kept for the town's own staff, in the town's own area
