"""Reports people keep: the rule matrix (per town and `kodomo rules`) and the column-lineage report for auditors.

Hand-made tables per the contract (/work/contract/alerts_tables.md) for the unit tests; the slow test runs the
report assets on a generated town. Only counts and structure are checked; no value is printed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner
from dagster import AssetKey, materialize

from kodomo_pipeline.cli import main
from kodomo_pipeline.config import TownConfig, load_towns
from kodomo_pipeline.config.feeds import load_feeds
from kodomo_pipeline.orchestration.report_assets import build_report_assets
from kodomo_pipeline.orchestration.resource import KodomoResource
from kodomo_pipeline.reports.lineage_report import (
    CSV_COLUMNS,
    lineage_columns,
    model_lineage,
    write_lineage_report,
)
from kodomo_pipeline.reports.rule_matrix import override_lines, write_rule_matrix
from kodomo_pipeline.rules.ruleset import apply_overrides
from kodomo_pipeline.sqlmodels.project import load_models, run_order
from kodomo_pipeline.sqlmodels.runner import prepare, run_model
from tests.conftest import generated_data_root

ASOF = dt.date(2026, 11, 26)
OVERRIDES = {"R03": {"points": {"AB": 4}}, "R19": {"enabled": False}, "levels": {"A": {"min_score": 9}}}
SELF_CONTAINED_BREAKERS = ("<script", "<link", "src=", "http://", "https://")

# (subject, subject_type, rule_id): R01 hits two children (one of them twice), R07 a child and an expectant
# mother who share an ID (a 16-year-old can be both), R19 one child.
FACTS = [("9000001", "child", "R01"), ("9000001", "child", "R01"), ("9000002", "child", "R01"),
         ("9000003", "child", "R07"), ("9000003", "expectant_mother", "R07"), ("9000004", "child", "R19")]  # fmt: skip


def _indicator_facts(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """CREATE TABLE indicator_facts (subject_resident_id VARCHAR, subject_type VARCHAR, rule_id VARCHAR,
           hit INTEGER, points_ab INTEGER, points_pp INTEGER, points_dd INTEGER, feed VARCHAR, source_file VARCHAR,
           source_sha256 VARCHAR, source_row INTEGER, fact_date DATE)"""
    )
    for row, (subject, kind, rule) in enumerate(FACTS, start=1):
        con.execute(
            "INSERT INTO indicator_facts VALUES (?, ?, ?, 1, 1, 0, 0, 'jido_soudan', 'f.csv', 'x', ?, NULL)",
            [subject, kind, rule, row],
        )
    con.execute("CREATE TABLE alerts AS SELECT ?::DATE AS as_of", [ASOF])


def _no_subject_in(text: str) -> bool:
    return not any(subject in text for subject, _, _ in FACTS)


@pytest.fixture()
def overridden(towns: dict[str, TownConfig]) -> TownConfig:
    return towns["kawashima"].model_copy(update={"rule_overrides": OVERRIDES})


def test_rule_matrix_shows_rules_overrides_unlinked_and_hits(tmp_path: Path, overridden: TownConfig) -> None:
    rules = apply_overrides(overridden.path, overridden.rule_overrides)
    with duckdb.connect(str(tmp_path / "t.duckdb")) as con:
        _indicator_facts(con)
        path, column = write_rule_matrix(con, overridden, rules, ASOF, tmp_path / "out")
    assert path == tmp_path / "out" / "reports" / "rule_matrix_20261126.html"
    assert column.hits == {"R01": 2, "R07": 2, "R19": 1}
    assert not column.linked["R12"] and column.linked["R01"]  # kawashima has no postpartum questionnaire
    assert column.version == rules.version != "v1" and not column.enabled["R19"]
    html = path.read_text("utf-8")
    assert all(rule_id in html for rule_id in rules.rules)
    assert (
        "上書き points.AB = 4" in html and "無効 off" in html and "未連携" in html and "levels: A.min_score = 9" in html
    )
    assert "過去36か月以内に虐待相談の記録がある" in html and "window_months: 36" in html and "6歳以下" in html
    assert not any(marker in html for marker in SELF_CONTAINED_BREAKERS) and _no_subject_in(html)


def test_override_lines_flatten_nested_changes() -> None:
    assert override_lines(OVERRIDES) == {
        "R03": ["points.AB = 4"],
        "R19": ["enabled = False"],
        "levels": ["A.min_score = 9"],
    }


def test_kodomo_rules_renders_one_page_with_a_column_per_town(home: Path, towns: dict[str, TownConfig]) -> None:
    database = towns["kawashima"].database(home)
    database.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(database)) as con:
        _indicator_facts(con)
    out = home / "matrix.html"
    result = CliRunner().invoke(main, ["rules", "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text("utf-8")
    assert all(town.name_ja in html for town in towns.values())
    assert "未実行 (no run yet)" in html  # misato has no database here
    assert html.count('class="num">') >= 2 * len(apply_overrides(towns["kawashima"].path, {}).rules)
    assert _no_subject_in(html) and not any(marker in html for marker in SELF_CONTAINED_BREAKERS)
    default = CliRunner().invoke(main, ["rules"])
    assert default.exit_code == 0 and list((home / "out").glob("rule_matrix_*.html"))


MODELS = {
    "facts/people.sql": "SELECT resident_id AS subject_resident_id, household_id FROM stg_jumin",
    "indicators/ind_talk.sql": """
        SELECT p.subject_resident_id, c.category, 'jido_soudan' AS feed, getvariable('as_of') AS as_of
        FROM people AS p JOIN stg_jido_soudan AS c ON c.resident_id = p.subject_resident_id""",
    # Every layer declares its models' columns (dbt_like_sql/README.md, schema.yaml).
    "facts/schema.yaml": """models:
  people: {columns: [{name: subject_resident_id, type: VARCHAR}, {name: household_id, type: VARCHAR}]}
""",
    "indicators/schema.yaml": """models:
  ind_talk:
    columns:
      - {name: subject_resident_id, type: VARCHAR}
      - {name: category, type: VARCHAR}
      - {name: feed, type: VARCHAR}
      - {name: as_of, type: DATE}
""",
}


def test_lineage_traces_each_column_back_to_feed_columns(tmp_path: Path, towns: dict[str, TownConfig]) -> None:
    folder = tmp_path / "sql"
    for name, sql in MODELS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(sql, encoding="utf-8")
    feeds = load_feeds()
    models = load_models(folder, frozenset(feeds))
    town = towns["kawashima"]
    with duckdb.connect(str(tmp_path / "t.duckdb")) as con:
        prepare(con, town, ASOF, apply_overrides(town.path, {}))
        for name in run_order(models):
            run_model(con, models[name])
        columns = lineage_columns(model_lineage(con, models), models, feeds)
    found = {(item.model, item.column): item for item in columns}
    assert set(found) == {("people", "subject_resident_id"), ("people", "household_id"),
                          ("ind_talk", "subject_resident_id"), ("ind_talk", "category"), ("ind_talk", "feed"),
                          ("ind_talk", "as_of")}  # fmt: skip
    talk_subject = found[("ind_talk", "subject_resident_id")]
    assert talk_subject.sources == [("people", "subject_resident_id")]
    assert talk_subject.origins == ["jumin.resident_id"] and not talk_subject.special_care
    assert found[("ind_talk", "category")].origins == ["jido_soudan.category"]
    assert found[("ind_talk", "category")].special_care  # 要配慮 per assets/jido_soudan.yaml
    assert found[("ind_talk", "feed")].sources == [] and found[("ind_talk", "feed")].origins == []

    written = write_lineage_report(columns, models, town.name_ja, ASOF, tmp_path / "out")
    raw = written["lineage_csv"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    frame = pd.read_csv(written["lineage_csv"], dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(frame.columns) == CSV_COLUMNS
    assert len(frame) == len(columns)  # every column here has at most one direct source
    kinds = dict(zip(frame["source_table"], frame["source_kind"], strict=False))
    assert kinds["people"] == "model" and kinds["stg_jido_soudan"] == "feed"
    html = written["lineage_html"].read_text("utf-8")
    assert "indicators/ind_talk" in html and "jido_soudan.category" in html and "要配慮" in html
    assert not any(marker in html for marker in SELF_CONTAINED_BREAKERS)


def test_report_assets_are_keyed_per_town_after_the_alerts(towns: dict[str, TownConfig]) -> None:
    for town in towns.values():
        assets = build_report_assets(town)
        keys = [next(iter(a.keys)) for a in assets]
        assert keys == [AssetKey([town.town, "rule_matrix"]), AssetKey([town.town, "lineage_report"])]
        for definition in assets:
            assert definition.group_names_by_key[next(iter(definition.keys))] == town.town
            deps = {dep for deps in definition.asset_deps.values() for dep in deps}
            assert deps == {AssetKey([town.town, "alerts"])}


# --- end to end: the report assets on a generated town --------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with generated_data_root(tmp_path_factory, ["misato"], ASOF, 2500, seed=13) as root:
        yield root


@pytest.mark.slow
def test_report_assets_on_a_generated_town(generated: Path) -> None:
    town = load_towns()["misato"]
    result = materialize(build_report_assets(town), resources={"kodomo": KodomoResource(home=str(generated))})
    assert result.success
    reports = town.output(generated) / "reports"
    stamp = f"{ASOF:%Y%m%d}"
    assert {p.name for p in reports.iterdir()} >= {f"rule_matrix_{stamp}.html", f"lineage_{stamp}.html",
                                                   f"lineage_{stamp}.csv"}  # fmt: skip
    matrix = result.asset_materializations_for_node("misato__rule_matrix")[0].metadata
    assert matrix["rules_with_hits"].value > 0
    assert set(matrix["rules_not_linked"].value) == {"R16", "R22"}  # misato has no nursery or certificate feed
    lineage = pd.read_csv(reports / f"lineage_{stamp}.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    models = load_models(feeds=frozenset(load_feeds()))
    assert set(lineage["model"]) == set(models)
    alerts = lineage[lineage["model"] == "alerts"]
    assert (alerts["origin_feed_columns"] != "").any()
    truth = pd.read_csv(generated / "truth" / "misato" / "persons.csv", dtype=str, keep_default_na=False)
    ids = {value for value in truth["resident_id"] if value}
    for path in (p for p in reports.rglob("*") if p.is_file()):  # linkage_model/ holds files too
        text = path.read_text("utf-8-sig")
        leaked = sum(1 for value in ids if re.search(rf"\b{re.escape(value)}\b", text))
        assert leaked == 0, f"{path.name}: {leaked} resident IDs"
