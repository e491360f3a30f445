"""Column lineage runs unbroken from the feeds to the alert list: registry → facts → indicators → risk → alerts.

The registry (persons, mother_of_child, unknown_residents) is SQL like every other layer, so sqlglot follows an
alert's columns back through every model to the `stg_<feed>` columns they rest on; only the 名寄せ tables and
the runner's own tables (`UPSTREAM_TABLES`) end a walk elsewhere."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey

from kodomo_pipeline.config.feeds import load_feeds
from kodomo_pipeline.orchestration.model_assets import _deps, _lineage_metadata
from kodomo_pipeline.rules.ruleset import apply_overrides
from kodomo_pipeline.sqlmodels.lineage import column_lineage
from kodomo_pipeline.sqlmodels.project import STAGING_PREFIX, UPSTREAM_TABLES, load_models
from kodomo_pipeline.sqlmodels.runner import judge_at
from tests.conftest import ingest_rows

T = dt.date(2026, 11, 26)
Source = tuple[str, str]


def _person(rid: str, household: str, born: str, sex: str, relation: str) -> list[str]:
    return [rid, household, "山田　花", "ヤマダ　ハナ", born, sex, relation, "美里町阿那志1", born, "住民", ""]


@pytest.fixture(scope="module")
def lineage(tmp_path_factory: pytest.TempPathFactory, towns) -> dict[str, dict[str, list[Source]]]:
    """{model: {column: direct sources}} of every model, materialised for a small misato night."""
    jumin = [
        _person("30000011", "H1", "2008/05/01", "女", "世帯主"),
        _person("30000012", "H1", "2025/09/01", "男", "子"),
    ]
    con: duckdb.DuckDBPyConnection = ingest_rows(tmp_path_factory.mktemp("walk"), towns["misato"], {"jumin": jumin}, T)
    judge_at(con, towns["misato"], T, apply_overrides(towns["misato"].path, {}))
    models = load_models()
    found = {name: column_lineage(con, model) for name, model in models.items()}
    con.close()
    return found


def _walk(lineage: dict[str, dict[str, list[Source]]], start: Source) -> tuple[set[Source], set[str]]:
    """The non-model sources `start` finally rests on, and every model the walk passed through."""
    ends: set[Source] = set()
    passed: set[str] = set()
    todo, seen = [start], set()
    while todo:
        table, column = todo.pop()
        if (table, column) in seen:
            continue
        seen.add((table, column))
        if table in lineage:
            passed.add(table)
            todo.extend(lineage[table][column])
        else:
            ends.add((table, column))
    return ends, passed


def test_an_alert_walks_back_through_the_registry_to_the_registry_feed(lineage) -> None:
    ends, passed = _walk(lineage, ("alerts", "subject_resident_id"))
    assert {"persons", "subjects", "risk_scores", "indicator_facts"} <= passed
    assert ("stg_jumin", "resident_id") in ends  # through persons: no longer a dead end at the registry
    assert ("stg_ninshin_todoke", "mother_resident_id") in ends  # an expectant mother is a subject too


def test_every_walk_ends_at_a_feed_or_a_table_no_model_makes(lineage) -> None:
    """No column of any model rests on a table outside the graph: each end is `stg_<feed>.<column>` of a
    feed contract, or a 名寄せ / runner table (`UPSTREAM_TABLES`). Before the registry was SQL, `persons`
    and `mother_of_child` ended every walk that reached them."""
    feeds = load_feeds()
    for model, columns in lineage.items():
        for column in columns:
            ends, _ = _walk(lineage, (model, column))
            for table, name in ends:
                if table.startswith(STAGING_PREFIX):
                    assert name in feeds[table.removeprefix(STAGING_PREFIX)].columns or name.startswith("_"), (
                        model, column, table, name)  # fmt: skip
                else:
                    assert table in UPSTREAM_TABLES, (model, column, table, name)


def test_registry_columns_rest_on_their_feed_columns(lineage) -> None:
    assert lineage["persons"]["age"] == [("stg_jumin", "birth_date")]  # 満年齢 through the age_at macro
    mother = {("persons", "resident_id"), ("stg_sango_shitsumon", "mother_resident_id")}  # household, questionnaire
    assert set(lineage["mother_of_child"]["mother_resident_id"]) == mother
    ends, _ = _walk(lineage, ("mother_of_child", "mother_resident_id"))
    assert ends == {("stg_jumin", "resident_id"), ("stg_sango_shitsumon", "mother_resident_id")}
    ends, _ = _walk(lineage, ("subject_mothers", "mother_age"))
    assert ("stg_jumin", "birth_date") in ends  # R07 若年出産 reads the mother's age at the birth
    unknown = {table for table, _ in lineage["unknown_residents"]["row_number"]}
    assert {"stg_sango_shitsumon", "stg_seikatsu_hogo", "stg_ninshin_todoke"} <= unknown  # from the contracts


def test_the_dagster_lineage_of_a_registry_asset_points_at_the_valid_feed(lineage, towns) -> None:
    """The `dagster/column_lineage` metadata the UI shows: persons.age ← valid_jumin.birth_date, and the facts
    point at the registry assets, which now have lineage of their own."""
    town = towns["misato"]
    models = load_models()
    persons = _lineage_metadata(town, models["persons"], lineage["persons"], set(_deps(town, models["persons"], False)))
    [dep] = persons.deps_by_column["age"]
    assert (dep.asset_key, dep.column_name) == (AssetKey(["misato", "valid_jumin"]), "birth_date")
    subjects = models["subjects"]
    facts = _lineage_metadata(town, subjects, lineage["subjects"], set(_deps(town, subjects, False)))
    keys = {dep.asset_key for dep in facts.deps_by_column["subject_resident_id"]}
    assert AssetKey(["misato", "persons"]) in keys


def test_every_sql_file_is_in_the_walk(lineage) -> None:
    folder = Path(__file__).resolve().parents[1] / "dbt_like_sql"
    assert set(lineage) == {path.stem for path in folder.glob("*/*.sql")}
    assert len(lineage) >= 24
