"""The feed checks and `kodomo run` in their failing state, on hand-made kawashima exports through Dagster.

row_conservation (blocking): a row lost between the raw and the valid table fails the check and the run,
and nothing downstream of the feed is built. contract_pass_rate (WARN): a file with under 95 % valid rows
warns but the night still runs. `kodomo run` exits 1 and names the feed whose file could not be read.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from click.testing import CliRunner
from dagster import DagsterInstance

from kodomo_pipeline.cli import main
from kodomo_pipeline.orchestration.definitions import build_definitions
from kodomo_pipeline.orchestration.feed_assets import MIN_PASS_RATE
from kodomo_pipeline.orchestration.town_jobs import job_name, run_config_for
from tests.conftest import K_JUMIN_ROW, write_export

TOWN = "kawashima"


def _residents(count: int, bad_births: int = 0) -> list[list[str]]:
    """`count` registry rows of one household; the last `bad_births` have an impossible 和暦 birth date."""
    names = ["髙橋　一郎", "髙橋　花子", "髙橋　大翔", "髙橋　陽葵", "髙橋　蓮", "髙橋　結菜", "髙橋　湊", "髙橋　凛"]
    rows = []
    for i in range(count):
        row = list(K_JUMIN_ROW)
        row[0] = f"{12345 + i:010d}"
        row[2] = names[i % len(names)]
        row[6] = "世帯主" if i == 0 else "子"
        if i >= count - bad_births:
            row[4] = "H13.02.30"  # 平成13年2月30日 does not exist
        rows.append(row)
    return rows


def _run(home: Path):
    defs = build_definitions(home)
    instance = DagsterInstance.ephemeral()
    result = defs.resolve_job_def(job_name(TOWN)).execute_in_process(
        run_config=run_config_for(home), instance=instance, raise_on_error=False
    )
    return result


def _check(result, asset: str, name: str):
    [evaluation] = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == name
        and e.event_specific_data.asset_key.path[1] == asset
    ]
    return evaluation, {key: value.value for key, value in evaluation.metadata.items()}


def _materialised(result) -> set[str]:
    return {e.asset_key.path[1] for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}


def test_contract_pass_rate_warns_below_threshold_and_the_night_goes_on(home: Path, towns) -> None:
    write_export(towns[TOWN].inbox(home) / "jumin_20261101.csv", towns[TOWN].feeds["jumin"], _residents(10, 2))
    result = _run(home)
    rate, metadata = _check(result, "valid_jumin", "contract_pass_rate")
    assert not rate.passed and rate.severity.value == "WARN"
    assert metadata["pass_rate"] == 0.8 and metadata["threshold"] == MIN_PASS_RATE
    assert metadata["file"] == "jumin_20261101.csv"
    conserved, _ = _check(result, "valid_jumin", "row_conservation")
    assert conserved.passed  # 8 valid + 2 quarantined = 10 read
    assert result.success and {"valid_jumin", "alerts"} <= _materialised(result)
    with duckdb.connect(str(towns[TOWN].database(home)), read_only=True) as con:
        held = con.execute("SELECT row_number, column_name FROM quarantine ORDER BY row_number").fetchall()
    assert held == [(9, "birth_date"), (10, "birth_date")]  # the 9th and 10th data rows


def test_contract_pass_rate_passes_at_the_threshold(home: Path, towns) -> None:
    write_export(towns[TOWN].inbox(home) / "jumin_20261101.csv", towns[TOWN].feeds["jumin"], _residents(20, 1))
    rate, metadata = _check(_run(home), "valid_jumin", "contract_pass_rate")
    assert rate.passed and metadata["pass_rate"] == MIN_PASS_RATE  # 19 of 20


def test_a_row_lost_after_the_contract_fails_row_conservation_and_stops_the_feed(
    home: Path, towns, monkeypatch
) -> None:
    """A fault between the contract and the valid table (here: a row deleted) must not go unnoticed."""
    import kodomo_pipeline.orchestration.feed_assets as feed_assets

    real = feed_assets.validate_feed

    def losing_a_row(con, town, feed, run_id):
        got = real(con, town, feed, run_id)
        if feed == "jumin":
            con.execute("DELETE FROM valid_jumin WHERE _row = (SELECT max(_row) FROM valid_jumin)")
        return got

    monkeypatch.setattr(feed_assets, "validate_feed", losing_a_row)
    write_export(towns[TOWN].inbox(home) / "jumin_20261101.csv", towns[TOWN].feeds["jumin"], _residents(5))
    result = _run(home)
    conserved, metadata = _check(result, "valid_jumin", "row_conservation")
    assert not conserved.passed and conserved.severity.value == "ERROR"
    assert (metadata["rows_read"], metadata["rows_valid"], metadata["rows_quarantined"]) == (5, 4, 0)
    assert not result.success  # blocking: the run fails …
    assert "alerts" not in _materialised(result) and "persons" not in _materialised(result)  # … downstream skipped


def test_kodomo_run_exits_3_naming_a_failed_feed_and_1_when_it_is_essential(home: Path, towns) -> None:
    """A failed feed is named; the night is degraded (3) unless the feed is essential (jumin: 1, no list)."""
    inbox = towns[TOWN].inbox(home)
    write_export(inbox / "jumin_20261101.csv", towns[TOWN].feeds["jumin"], _residents(3))
    (inbox / "jido_soudan_20261101.csv").write_bytes("相談番号,宛名番号\n".encode())  # UTF-8, not cp932
    result = CliRunner().invoke(main, ["run", "--town", TOWN])
    assert result.exit_code == 3, result.output
    [line] = [line for line in result.output.splitlines() if line.strip().startswith("jido_soudan")]
    assert "jido_soudan_20261101.csv" in line and "failed" in line
    jumin = next(line for line in result.output.splitlines() if line.strip().startswith("jumin"))
    assert "jumin_20261101.csv" in jumin and " 3 " in f"{jumin} "
    report = json.loads((home / "failed" / TOWN / "jido_soudan_20261101.csv.report.json").read_text("utf-8"))
    assert report["feed"] == "jido_soudan"
    assert "髙橋" not in result.output  # no personal value in the operator's output

    (inbox / "jumin_20261102.csv").write_bytes("宛名番号,氏名\n".encode())  # the registry itself unreadable
    result = CliRunner().invoke(main, ["run", "--town", TOWN])
    assert result.exit_code == 1, result.output
    assert f"{TOWN}: run" in result.output and "FAILED" in result.output
    [line] = [line for line in result.output.splitlines() if line.strip().startswith("jumin")]
    assert "jumin_20261102.csv" in line and "failed" in line
    assert "髙橋" not in result.output
