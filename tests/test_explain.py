"""`kodomo explain`: alert → indicators → facts → file, SHA-256 and row → rule-set version, and back to the CSV row.

The unit tests use a town database with real ingested consultation rows (archived like a night's run) and
alert tables written by hand per the contract (/work/contract/alerts_tables.md). The slow test explains
alerts of a generated town run end to end and opens the source rows. Values are compared, never printed.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from kodomo_pipeline.cli import main
from kodomo_pipeline.config import TownConfig, load_towns
from kodomo_pipeline.config.feeds import load_feeds
from kodomo_pipeline.explain import AlertNotFound, explain_alert, render
from kodomo_pipeline.privacy.services.access_log import read_access_log
from kodomo_pipeline.rules.ruleset import apply_overrides
from tests.conftest import generated_data_root, ingest_rows

ASOF = dt.date(2026, 11, 26)
EARLIER = dt.date(2026, 10, 26)
SUBJECT = "0000077001"  # fake resident IDs of the hand-made rows
OTHER = "0000077002"
ALERT = "AB-test-0001"
# 相談番号,宛名番号,受付日,相談種別,虐待種別,対応状況,要対協登録,相談内容 (kawashima layout)
SOUDAN = [
    ["C0101", OTHER, "R07.01.10", "障害", "", "終結", "0", "x"],
    ["C0102", SUBJECT, "R07.04.01", "虐待", "ネグレクト", "継続", "1", "x"],
    ["C0103", SUBJECT, "R07.06.01", "虐待", "心理的", "継続", "1", "x"],
]

_ALERT_HISTORY = """CREATE TABLE alert_history (alert_id VARCHAR, subject_resident_id VARCHAR, subject_type VARCHAR,
    difficulty_type VARCHAR, type_code VARCHAR, level VARCHAR, score INTEGER, indicators VARCHAR, not_linked VARCHAR,
    known_case INTEGER, change VARCHAR, rule_set_version VARCHAR, as_of DATE, suppressed BOOLEAN,
    economic_only BOOLEAN)"""
_FACT_HISTORY = """CREATE TABLE alert_fact_history (as_of DATE, alert_id VARCHAR, rule_id VARCHAR, hit INTEGER,
    points INTEGER, feed VARCHAR, source_file VARCHAR, source_sha256 VARCHAR, source_row INTEGER, fact_date DATE)"""


def _write_alerts(con: duckdb.DuckDBPyConnection, version: str) -> None:
    """Two runs of one alert: the earlier with R01 only, the newer with R01 (two consultations, one hit) and R19."""
    rows = con.execute(
        "SELECT _file, _sha256, _row, received_on FROM valid_jido_soudan WHERE resident_id = ? ORDER BY _row",
        [SUBJECT],
    ).fetchall()
    con.execute(_ALERT_HISTORY)
    con.execute(_FACT_HISTORY)
    runs = ((EARLIER, "C", 4, "R01", "新規"), (ASOF, "B", 5, "R01;R19", "上昇"))
    for as_of, level, score, indicators, change in runs:
        con.execute(
            "INSERT INTO alert_history VALUES (?, ?, 'child', '虐待', 'AB', ?, ?, ?, 'R16', 1, ?, ?, ?, false, false)",
            [ALERT, SUBJECT, level, score, indicators, change, version, as_of],
        )
        for file, sha, row, received in rows:
            con.execute(
                "INSERT INTO alert_fact_history VALUES (?, ?, 'R01', 1, 4, 'jido_soudan', ?, ?, ?, ?)",
                [as_of, ALERT, file, sha, row, received],
            )
            con.execute(  # R02 (known case): evidence without points, not listed in `indicators`
                "INSERT INTO alert_fact_history VALUES (?, ?, 'R02', 1, 0, 'jido_soudan', ?, ?, ?, ?)",
                [as_of, ALERT, file, sha, row, received],
            )
    con.execute(
        "INSERT INTO alert_fact_history VALUES (?, ?, 'R19', 1, 1, 'jumin', 'jumin_20261126.csv', ?, 5, ?)",
        [ASOF, ALERT, "0" * 64, dt.date(2026, 3, 1)],
    )


def _town_with_alert(root: Path, town: TownConfig) -> Path:
    """The town's database at its configured place under `root`, the consultation file archived as a run does."""
    con = ingest_rows(root, town, {"jido_soudan": SOUDAN}, ASOF)
    _write_alerts(con, apply_overrides(town.path, town.rule_overrides).version)
    con.close()
    database = town.database(root)
    database.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(root / f"{town.town}.duckdb", database)
    return database


@pytest.fixture()
def kawashima(towns: dict[str, TownConfig]) -> TownConfig:
    return towns["kawashima"]


@pytest.fixture()
def town_db(home: Path, kawashima: TownConfig) -> Path:
    return _town_with_alert(home, kawashima)


def _explain(database: Path, town: TownConfig, asof: dt.date | None = None):
    with duckdb.connect(str(database), read_only=True) as con:
        return explain_alert(con, town, apply_overrides(town.path, town.rule_overrides), ALERT, asof)


def test_newest_run_by_default_with_indicators_facts_and_version(town_db: Path, kawashima: TownConfig) -> None:
    explanation = _explain(town_db, kawashima)
    assert (explanation.as_of, explanation.level, explanation.score) == (ASOF, "B", 5)
    assert [i.rule_id for i in explanation.indicators] == ["R01", "R19", "R02"]
    r01, r19, r02 = explanation.indicators
    assert (r01.name, r01.points, len(r01.facts)) == ("虐待相談歴", 4, 2)  # two consultations, one hit: 4 points
    assert (r19.points, r02.points, r02.listed) == (1, 0, False)
    assert explanation.points_total == explanation.score
    assert explanation.rule_set_version == "v1" and explanation.overrides == {}
    assert explanation.not_linked == ["R16"] and explanation.known_case
    assert all(fact.file_present for fact in r01.facts) and not r19.facts[0].file_present
    assert [fact.source_row for fact in r01.facts] == [2, 3]


def test_an_earlier_run_is_explained_as_it_was(town_db: Path, kawashima: TownConfig) -> None:
    explanation = _explain(town_db, kawashima, EARLIER)
    assert (explanation.as_of, explanation.score, [i.rule_id for i in explanation.indicators]) == (
        EARLIER,
        4,
        ["R01", "R02"],
    )


def test_each_fact_resolves_to_the_exact_csv_row(town_db: Path, kawashima: TownConfig) -> None:
    """The archived file (content layout <sha256>_<name>), read with the csv module in the town's encoding:
    its row is the subject's."""
    explanation = _explain(town_db, kawashima)
    layout = kawashima.feeds["jido_soudan"]
    header = {canonical: header for header, canonical in layout.header_to_canonical.items()}["resident_id"]
    checked = 0
    for fact in explanation.indicators[0].facts:
        archived = next((town_db.parent.parent / "archive").rglob(f"*_{fact.source_file}"))
        with archived.open(encoding=layout.layout.encoding, newline="") as handle:
            rows = list(csv.reader(handle))
        record = dict(zip(rows[0], rows[fact.source_row], strict=True))
        assert record[header] == explanation.subject_resident_id
        assert str(archived) == fact.archived_as
        checked += 1
    assert checked == 2


def test_text_form_shows_no_resident_id_or_date_and_files_keep_them(town_db: Path, kawashima: TownConfig) -> None:
    explanation = _explain(town_db, kawashima)
    now = dt.datetime(2026, 11, 27, 9, 0)
    text = render(explanation, "text", now)
    assert ALERT in text and "R01 虐待相談歴" in text and "jido_soudan_20261126.csv" in text and "row 2" in text
    assert explanation.indicators[0].facts[0].source_sha256 in text and "rule set v1" in text
    assert SUBJECT not in text and "2025-04-01" not in text
    record = json.loads(render(explanation, "json", now))
    assert record["subject_resident_id"] == SUBJECT and record["indicators"][0]["facts"][0]["source_row"] == 2
    html = render(explanation, "html", now)
    assert SUBJECT in html and "<style>" in html
    assert not any(marker in html for marker in ("<script", "<link", "src=", "http://", "https://"))
    with pytest.raises(ValueError, match="unknown format"):
        render(explanation, "xlsx", now)


def test_cli_explains_records_access_and_writes_the_auditor_file(town_db: Path, kawashima: TownConfig) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["explain", ALERT, "--town", "kawashima"])
    assert result.exit_code == 0, result.output
    assert "R01" in result.output and SUBJECT not in result.output
    out = town_db.parent / "explain.html"
    result = runner.invoke(main, ["explain", ALERT, "--town", "kawashima", "--format", "html", "--out", str(out)])
    assert result.exit_code == 0 and SUBJECT not in result.output
    assert SUBJECT in out.read_text("utf-8")
    result = runner.invoke(main, ["explain", ALERT, "--town", "kawashima", "--format", "json", "--asof", "2026-10-26"])
    assert result.exit_code == 0 and SUBJECT not in result.output
    written = kawashima.output(town_db.parent.parent) / "explain" / f"explain_{ALERT}_20261026.json"
    assert json.loads(written.read_text("utf-8"))["as_of"] == "2026-10-26"
    with duckdb.connect(str(town_db), read_only=True) as con:
        log = read_access_log(con)
    assert [record.what for record in log] == [f"explain {ALERT}"] * 3
    assert all(record.purpose for record in log)


def test_unknown_alert_is_a_clear_error_and_not_recorded(town_db: Path, kawashima: TownConfig) -> None:
    result = CliRunner().invoke(main, ["explain", "AB-nope", "--town", "kawashima"])
    assert result.exit_code != 0 and "no alert AB-nope" in result.output
    result = CliRunner().invoke(main, ["explain", ALERT, "--town", "kawashima", "--asof", "2026-01-01"])
    assert result.exit_code != 0 and "2026-01-01" in result.output
    with duckdb.connect(str(town_db), read_only=True) as con:
        assert read_access_log(con) == []
        with pytest.raises(AlertNotFound):
            explain_alert(con, kawashima, apply_overrides(kawashima.path, {}), "AB-nope")


def test_a_town_never_run_is_an_error(home: Path) -> None:
    result = CliRunner().invoke(main, ["explain", ALERT, "--town", "misato"])
    assert result.exit_code != 0 and "run the town first" in result.output


# --- end to end: a generated town run through Dagster --------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with generated_data_root(tmp_path_factory, ["kawashima"], ASOF, 2500, seed=11) as root:
        yield root


def _people_of(database: Path) -> dict[str, set[str]]:
    """Each child's identified mother, for facts of mother rules (her notice, her certificate)."""
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute("SELECT child_resident_id, mother_resident_id FROM mother_of_child").fetchall()
    mothers: dict[str, set[str]] = {}
    for child, mother in rows:
        mothers.setdefault(child, set()).add(mother)
    return mothers


@pytest.mark.slow
def test_generated_alerts_explain_down_to_the_source_csv_rows(generated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every alert of the written alerts CSV is explained; each fact of a feed naming a resident resolves, in the
    archived export read with the csv module in the town's encoding, to the subject (or the subject's mother)."""
    monkeypatch.setenv("KODOMO_HOME", str(generated))
    town = load_towns()["kawashima"]
    alerts = pd.read_csv(town.output(generated) / f"alerts_{ASOF:%Y%m%d}.csv", dtype=str, keep_default_na=False)
    assert len(alerts) > 0
    mothers = _people_of(town.database(generated))
    feeds = load_feeds()
    checked = mismatched = facts = 0
    for alert_id in alerts["alert_id"]:
        out = generated / "explain" / f"{alert_id}.json"
        result = CliRunner().invoke(
            main, ["explain", alert_id, "--town", "kawashima", "--format", "json", "--out", str(out)]
        )
        assert result.exit_code == 0
        record = json.loads(out.read_text("utf-8"))
        subject = record["subject_resident_id"]
        assert record["as_of"] == ASOF.isoformat() and record["rule_set_version"].startswith("v1")
        for indicator in record["indicators"]:
            for fact in indicator["facts"]:
                facts += 1
                assert fact["file_present"] and fact["source_row"] >= 1
                key = feeds[fact["feed"]].subject_key
                if key not in ("resident_id", "mother_resident_id"):
                    continue  # household, roster and attendance rows name no resident of their own
                layout = town.feeds[fact["feed"]]
                header = {canonical: h for h, canonical in layout.header_to_canonical.items()}[key]
                with open(fact["archived_as"], encoding=layout.layout.encoding, newline="") as handle:
                    rows = list(csv.reader(handle))
                value = dict(zip(rows[0], rows[fact["source_row"]], strict=True))[header].strip()
                checked += 1
                mismatched += value not in {subject} | mothers.get(subject, set())
    assert facts > 0 and checked > 0
    assert mismatched == 0, f"{mismatched} of {checked} source rows name neither the subject nor the mother"
    with duckdb.connect(str(town.database(generated)), read_only=True) as con:
        explained = sum(1 for record in read_access_log(con) if record.what.startswith("explain "))
    assert explained == len(alerts)
