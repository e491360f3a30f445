"""Every SQL model declares its columns and tests (<layer>/schema.yaml): the runner enforces the columns, each
test is a Dagster asset check, and the indicator models are combined by name, never by position."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance, materialize

from kodomo_pipeline.orchestration.model_assets import build_model_asset
from kodomo_pipeline.orchestration.resource import KodomoResource
from kodomo_pipeline.rules.ruleset import apply_overrides
from kodomo_pipeline.sqlmodels.project import load_models, run_order
from kodomo_pipeline.sqlmodels.registry import build_registry
from kodomo_pipeline.sqlmodels.runner import prepare, run_model
from kodomo_pipeline.sqlmodels.schema import SchemaError
from tests.conftest import ingest_rows

T = dt.date(2026, 11, 26)
PROJECT = Path(__file__).resolve().parents[1] / "dbt_like_sql"
MEETING_LAYERS = {"indicators", "risk", "alerts"}


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


PAIRS_SQL = "SELECT * FROM (VALUES ('k1', 'x', 1), ('k1', NULL, 2)) AS t(k, v, n)"
PAIRS_SCHEMA = """\
blocking: {blocking}
models:
  pairs:
    columns:
      - {{name: k, type: VARCHAR, tests: [not_null, unique]}}
      - {{name: v, type: VARCHAR, tests: [not_null, {{accepted_values: [x, y]}}]}}
      - {{name: n, type: INTEGER}}
"""


def test_every_model_is_declared_and_meeting_layers_block() -> None:
    models = load_models()
    assert len(models) >= 25 and {"persons", "mother_of_child", "unknown_residents"} <= set(models)
    for model in models.values():
        assert {name for name, _ in model.schema.columns}, model.name
        assert model.schema.blocking == (model.layer in MEETING_LAYERS), model.name
    indicator = models["ind_consultations"].schema.columns
    assert all(models[n].schema.columns == indicator for n in models if n.startswith("ind_"))
    assert dict(models["indicator_facts"].schema.columns) == dict(indicator)
    sources = {t.values_from for m in models.values() for t in m.schema.tests if t.values_from}
    assert {"difficulty_types", "levels", "change_labels", "rule_ids"} <= sources  # read from the rule files


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ("models: {}\n", "no schema for model"),
        ("models:\n  pairs: {columns: [{name: k, type: VARCHAR}]}\n  ghost: {columns: [{name: k, type: INT}]}\n",
         "no SQL file: ghost"),
        ("models:\n  pairs: {columns: [{name: k, type: VARCHAR, tests: [sorted]}]}\n", "unknown test"),
        ("models:\n  pairs: {columns: [{name: k, type: VARCHAR, tests: [{accepted_values: {from: moods}}]}]}\n",
         "accepted_values needs"),
        ("models:\n  pairs: {columns: [{name: k, type: VARCHAR, tests: [{relationships: {to: subjects, field: a}}]}]}"
         "\n",
         "subjects is not upstream"),
        ("models:\n  pairs: {columns: [{name: k, type: VARCHAR}], tests: [{unique: [k, z]}]}\n", "undeclared column"),
    ],
)  # fmt: skip
def test_bad_schema_files_are_refused_naming_the_file(tmp_path: Path, schema: str, words: str) -> None:
    folder = _folder(tmp_path, {"facts/pairs.sql": PAIRS_SQL, "facts/schema.yaml": schema})
    with pytest.raises(SchemaError, match=words) as caught:  # ModelError is a SchemaError too
        load_models(folder)
    assert "schema.yaml" in str(caught.value)


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("SELECT 'k1' AS k, 'x' AS v", "column n is missing"),
        ("SELECT 'k1' AS k, 'x' AS v, 1 AS n, '山田　花' AS name", "column name is not declared"),
        ("SELECT 'k1' AS k, 'x' AS v, CAST(1 AS BIGINT) AS n", "column n is BIGINT, declared INTEGER"),
    ],
)
def test_an_output_that_breaks_its_schema_fails_naming_model_and_column(tmp_path: Path, sql: str, problem: str) -> None:
    folder = _folder(tmp_path, {"facts/pairs.sql": sql, "facts/schema.yaml": PAIRS_SCHEMA.format(blocking="false")})
    con = duckdb.connect()
    with pytest.raises(SchemaError, match=f"model pairs: .*{problem}") as caught:
        run_model(con, load_models(folder)["pairs"])
    assert "山田" not in str(caught.value) and "k1" not in str(caught.value)  # names, never values
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'pairs'").fetchone()[0] == 0


@pytest.mark.parametrize("blocking", [False, True])
def test_each_test_is_an_asset_check_and_a_failing_one_is_reported(tmp_path: Path, towns, blocking: bool) -> None:
    """Two rows share key k1 and one has no v: unique(k) and not_null(v) fail with counts, the others pass. A
    blocking layer fails the step (nothing downstream runs); elsewhere the run goes on with a warning."""
    schema = PAIRS_SCHEMA.format(blocking=str(blocking).lower())
    folder = _folder(tmp_path / "sql", {"facts/pairs.sql": PAIRS_SQL, "facts/schema.yaml": schema})
    town = towns["kawashima"]
    asset = build_model_asset(town, load_models(folder)["pairs"], has_crosswalk=False)
    home = tmp_path / "home"
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [asset],
            resources={"kodomo": KodomoResource(home=str(home), asof=T.isoformat())},
            instance=instance,
            raise_on_error=False,
        )
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {"not_null__k", "unique__k", "not_null__v", "accepted_values__v"}
    assert {name for name, e in evaluations.items() if not e.passed} == {"unique__k", "not_null__v"}
    assert evaluations["unique__k"].metadata["failing_rows"].value == 1
    assert evaluations["not_null__v"].metadata["failing_rows"].value == 1
    assert all(e.asset_key == AssetKey([town.town, "pairs"]) for e in evaluations.values())
    expected = AssetCheckSeverity.ERROR if blocking else AssetCheckSeverity.WARN
    assert all(e.severity == expected for e in evaluations.values())
    assert result.success is not blocking


def _young_mother_town(tmp_path: Path, towns) -> duckdb.DuckDBPyConnection:
    """A mother of 17 at the birth of her son (R07 若年出産: AB 2, PP 1) and an older family without facts."""

    def person(rid: str, household: str, born: str, sex: str, relation: str) -> list[str]:
        return [rid, household, "山田　花", "ヤマダ　ハナ", born, sex, relation, "美里町阿那志1", born, "住民", ""]

    jumin = [
        person("30000011", "H1", "2008/05/01", "女", "世帯主"),
        person("30000012", "H1", "2025/09/01", "男", "子"),
        person("30000021", "H2", "1990/05/01", "女", "世帯主"),
        person("30000022", "H2", "2024/09/01", "女", "子"),
    ]
    con = ingest_rows(tmp_path, towns["misato"], {"jumin": jumin}, T)
    build_registry(con, T)
    return con


def _scores(con: duckdb.DuckDBPyConnection, towns, folder: Path) -> set[tuple]:
    prepare(con, towns["misato"], T, apply_overrides(towns["misato"].path, {}))
    models = load_models(folder)
    for name in run_order(models):
        if models[name].layer in ("facts", "indicators", "risk"):
            run_model(con, models[name])
    return set(con.execute("SELECT subject_resident_id, type_code, score FROM risk_scores").fetchall())


def test_indicators_are_combined_by_name_so_a_column_swap_keeps_the_scores(tmp_path: Path, towns) -> None:
    """ind_young_mother with its columns spelled out, points_ab and points_pp in swapped places, scores as before;
    the same swap under the old positional UNION ALL would move R07's points to the other difficulty type (so this
    test can fail)."""
    con = _young_mother_town(tmp_path, towns)
    expected = _scores(con, towns, PROJECT)
    assert expected == {("30000012", "AB", 2), ("30000012", "PP", 1)}

    swapped = tmp_path / "swapped"
    shutil.copytree(PROJECT, swapped)
    path = swapped / "indicators" / "ind_young_mother.sql"
    text = path.read_text(encoding="utf-8")
    by_macro = "unnest(indicator_hit(m, r, 1))"  # the contract's order (dbt_like_sql/macros.sql)
    assert by_macro in text
    swapped_points = "m.subject_resident_id, m.subject_type, r.rule_id, 1 AS hit, r.points_pp, r.points_ab, r.points_dd"
    path.write_text(text.replace(by_macro, swapped_points))
    assert _scores(con, towns, swapped) == expected

    positional = shutil.copytree(swapped, tmp_path / "positional")  # a new folder: load_models caches by path
    facts = positional / "risk" / "indicator_facts.sql"
    facts.write_text(facts.read_text(encoding="utf-8").replace("UNION ALL BY NAME", "UNION ALL"))
    assert _scores(con, towns, positional) == {("30000012", "AB", 1), ("30000012", "PP", 2)}


def test_every_model_asset_carries_its_checks_in_both_towns(home: Path) -> None:
    """What the Dagster UI shows: per town, every SQL model asset with one check per test of its schema."""
    from kodomo_pipeline.orchestration.definitions import build_definitions

    graph = build_definitions(home).resolve_asset_graph()
    for town in ("kawashima", "misato"):
        for name, model in load_models().items():
            keys = graph.get(AssetKey([town, name])).check_keys
            assert {key.name for key in keys} == {test.name for test in model.schema.tests}, (town, name)
            assert keys, (town, name)


def test_age_and_the_nursery_key_are_macros_defined_once() -> None:
    """満年齢 counts a birthday on the day itself (2/29: on 3/1 of a common year); it is written only in
    dbt_like_sql/macros.sql, which every model uses (the registry layer too)."""
    from kodomo_pipeline.sqlmodels.macros import install_macros

    con = duckdb.connect()
    install_macros(con)
    ages = con.execute(
        "SELECT age_at(DATE '2008-11-27', DATE '2026-11-26'), age_at(DATE '2008-11-26', DATE '2026-11-26'), "
        "age_at(DATE '2008-02-29', DATE '2026-02-28'), age_at(DATE '2008-02-29', DATE '2026-03-01')"
    ).fetchone()
    assert ages == (17, 18, 17, 18)
    assert con.execute("SELECT nursery_key('園A', '0012')").fetchone()[0] == "園A:0012"
    package = Path(__file__).resolve().parents[1] / "kodomo_pipeline"
    sources = [*PROJECT.rglob("*.sql"), *(p for p in package.rglob("*.py") if "generator" not in p.parts)]
    written = {p.name for p in sources if "'%m%d'" in p.read_text(encoding="utf-8")}
    assert written == {"macros.sql"}


def test_the_indicator_row_macros_give_the_contract_and_keep_the_lineage() -> None:
    """`unnest(indicator_hit(…)), unnest(indicator_source(…))` makes the indicator contract's columns in its order,
    and the column lineage (sqlglot cannot see inside a DuckDB macro) still traces each to the column it reads."""
    from kodomo_pipeline.sqlmodels.lineage import column_lineage
    from kodomo_pipeline.sqlmodels.macros import install_macros
    from kodomo_pipeline.sqlmodels.project import Model
    from kodomo_pipeline.sqlmodels.schema import load_layer_schema

    con = duckdb.connect()
    install_macros(con)
    con.execute("CREATE TABLE subjects AS SELECT 'S1' AS subject_resident_id, 'child' AS subject_type")
    con.execute("CREATE TABLE rule_set AS SELECT 'R19' AS rule_id, 1 AS points_ab, 2 AS points_pp, 0 AS points_dd")
    con.execute(
        "CREATE TABLE stg_jumin AS SELECT 'S1' AS resident_id, 'a.csv' AS _file, 'f0' AS _sha256, 7 AS _row, "
        "DATE '2026-01-05' AS resident_since"
    )
    sql = """SELECT unnest(indicator_hit(s, r, 1)), unnest(indicator_source('jumin', p, p.resident_since))
             FROM subjects AS s JOIN stg_jumin AS p ON p.resident_id = s.subject_resident_id
             JOIN rule_set AS r ON true"""
    con.execute(f"CREATE TABLE ind_test AS {sql}")
    contract = load_layer_schema(PROJECT / "indicators" / "schema.yaml")["ind_moved_in"]
    assert [(name, kind) for name, kind, *_ in con.execute("DESCRIBE ind_test").fetchall()] == list(contract.columns)
    row = ("S1", "child", "R19", 1, 1, 2, 0, "jumin", "a.csv", "f0", 7, dt.date(2026, 1, 5))
    assert con.execute("SELECT * FROM ind_test").fetchall() == [row]

    model = Model("ind_test", "indicators", PROJECT / "ind_test.sql", sql, frozenset({"subjects"}),
                  frozenset({"jumin"}), frozenset({"rule_set"}), contract)  # fmt: skip
    lineage = column_lineage(con, model)
    assert lineage["source_file"] == [("stg_jumin", "_file")] and lineage["source_row"] == [("stg_jumin", "_row")]
    assert lineage["fact_date"] == [("stg_jumin", "resident_since")]
    assert lineage["points_pp"] == [("rule_set", "points_pp")]
    assert lineage["subject_resident_id"] == [("subjects", "subject_resident_id")]
    assert lineage["feed"] == lineage["hit"] == []  # constants
