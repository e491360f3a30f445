"""SQL models: the graph comes from the SQL (sqlglot), and the subject model follows rules v1."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey

from kodomo_pipeline.orchestration.definitions import build_definitions
from kodomo_pipeline.rules.ruleset import apply_overrides
from kodomo_pipeline.sqlmodels.project import ModelError, load_models, run_order
from kodomo_pipeline.sqlmodels.registry import build_registry
from kodomo_pipeline.sqlmodels.runner import prepare, rule_variables, run_model
from tests.conftest import ingest_rows

T = dt.date(2026, 11, 26)


def _models(folder: Path, files: dict[str, str]):
    """The model files, and each layer's schema.yaml declaring them (one column: only the graph is read here)."""
    layers: dict[str, list[str]] = {}
    for name, sql in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql, encoding="utf-8")
        layers.setdefault(path.parent.name, []).append(path.stem)
    for layer, names in layers.items():
        declared = "".join(f"  {n}: {{columns: [{{name: resident_id, type: VARCHAR}}]}}\n" for n in names)
        (folder / layer / "schema.yaml").write_text(f"models:\n{declared}", encoding="utf-8")
    return load_models(folder)


def test_dependencies_are_read_from_the_sql(tmp_path: Path) -> None:
    models = _models(
        tmp_path,
        {
            "facts/a.sql": "SELECT resident_id FROM crosswalk",
            "indicators/b.sql": "WITH x AS (SELECT * FROM a) "
            "SELECT x.resident_id, s.case_no FROM x JOIN stg_jido_soudan s USING (resident_id)",
            "risk/c.sql": "SELECT * FROM b UNION ALL SELECT resident_id, NULL FROM a",
        },
    )
    assert (
        models["b"].models == {"a"} and models["b"].feeds == {"jido_soudan"} and models["a"].upstream == {"crosswalk"}
    )
    assert models["c"].models == {"a", "b"}
    assert run_order(models) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ({"facts/a.sql": "SELECT * FROM nowhere"}, "nowhere"),
        ({"facts/a.sql": "SELECT * FROM b", "facts/b.sql": "SELECT * FROM a"}, "circle"),
        ({"facts/a.sql": "SELECT FROM WHERE"}, "not valid SQL"),
        ({"facts/a.sql": "SELECT {{ nowhere }} FROM crosswalk"}, "template: 'nowhere' is undefined"),
    ],
)
def test_bad_models_are_refused_naming_the_file(tmp_path: Path, files: dict[str, str], words: str) -> None:
    with pytest.raises(ModelError, match=words):
        _models(tmp_path, files)


def test_the_asset_graph_is_the_sql_graph(home: Path) -> None:
    defs = build_definitions(home)
    graph = defs.resolve_asset_graph()
    for name, model in load_models().items():
        for town in ("kawashima", "misato"):
            parents = {key.path[1] for key in graph.get(AssetKey([town, name])).parent_keys}
            assert set(model.models) <= parents
            assert "crosswalk" in parents if "crosswalk" in model.upstream else True


def test_rule_parameters_become_variables() -> None:
    values = rule_variables(apply_overrides(Path("town.yaml"), {"R01": {"points": {"AB": 5}}}))
    assert values["R01_points_AB"] == 5 and values["R01_window_months"] == 36 and values["R01_points_DD"] == 0
    assert values["R04_weight_below_g_3歳"] == 11000 and values["level_A_min_score"] == 8
    assert values["rule_set_version"].startswith("v1+")


def _person(rid: str, household: str, born: str, sex: str, relation: str) -> list[str]:
    return [rid, household, "山田　花", "ヤマダ　ハナ", born, sex, relation, "美里町阿那志1", born, "住民", ""]


def test_subjects_children_0_to_17_and_expectant_mothers(tmp_path: Path, towns) -> None:
    town = towns["misato"]
    jumin = [
        _person("30000001", "H1", "2008/11/27", "男", "子"),  # 17 until tomorrow: a child
        _person("30000002", "H1", "2008/11/26", "女", "子"),  # 18 today: not a child
        _person("30000003", "H1", "1990/01/01", "女", "世帯主"),  # pregnant, due after T
        _person("30000004", "H2", "1995/01/01", "女", "世帯主"),  # notice due after T, but her baby is born
        _person("30000005", "H2", "2026/10/16", "男", "子"),  # born 45 days before the due date
    ]
    # 住民コード,届出年月日,妊娠週数,出産予定日,初産,妊娠の受け止め,相談相手,経済的不安,精神科受診歴
    notices = [
        ["30000003", "2026/06/01", "10", "2027/01/05", "有", "うれしい", "有", "無", "無"],
        ["30000004", "2026/04/01", "10", "2026/11/30", "有", "うれしい", "有", "無", "無"],
    ]
    con = ingest_rows(tmp_path, town, {"jumin": jumin, "ninshin_todoke": notices}, T)
    build_registry(con, T)
    prepare(con, town, T, apply_overrides(town.path, {}))
    assert run_model(con, load_models()["subjects"]) == 3
    subjects = set(con.execute("SELECT subject_resident_id, subject_type FROM subjects").fetchall())
    assert subjects == {("30000001", "child"), ("30000005", "child"), ("30000003", "expectant_mother")}


def _kawashima_db(tmp_path: Path, towns, jumin: list[list[str]], soudan: list[list[str]]) -> duckdb.DuckDBPyConnection:
    town = towns["kawashima"]
    con = ingest_rows(tmp_path, town, {"jumin": jumin, "jido_soudan": soudan}, T)
    build_registry(con, T)
    prepare(con, town, T, apply_overrides(town.path, {}))
    models = load_models()
    for name in run_order(
        {n: m for n, m in models.items() if n in ("subjects", "ind_consultations", "ind_known_case")}
    ):
        run_model(con, models[name])
    return con


def _child(rid: str) -> list[str]:
    return [rid, "H1", "山田　花", "ﾔﾏﾀﾞ ﾊﾅ", "H30.01.01", "2", "子", "川島町1", "H30.01.01", "住民", "", ""]


def test_r01_and_r25_windows_open_and_close_on_the_day(tmp_path: Path, towns) -> None:
    # T = 2026-11-26: the 36-month window opens on 2023-11-26 (R05.11.26) and closes on T.
    con = _kawashima_db(
        tmp_path,
        towns,
        [_child(f"00000000{n:02d}") for n in range(1, 6)],
        [
            ["C1", "0000000001", "R05.11.26", "虐待", "身体的", "終結", "0", ""],  # first day of the window
            ["C2", "0000000002", "R05.11.25", "虐待", "身体的", "終結", "0", ""],  # a day too early
            ["C3", "0000000003", "R08.11.26", "障害", "", "継続", "1", ""],  # on T, 障害 → R25; 要対協 → R02
            ["C4", "0000000004", "R08.11.26", "育成", "", "継続", "0", ""],  # another category
            ["C5", "0000000005", "R08.11.26", "虐待", "ネグレクト", "継続", "1", ""],
        ],
    )
    hits = set(
        con.execute("SELECT subject_resident_id, rule_id, points_ab, points_dd FROM ind_consultations").fetchall()
    )
    assert hits == {("0000000001", "R01", 4, 0), ("0000000003", "R25", 0, 3), ("0000000005", "R01", 4, 0)}
    known = {row[0] for row in con.execute("SELECT subject_resident_id FROM ind_known_case").fetchall()}
    assert known == {"0000000003", "0000000005"}
    rows = con.execute("SELECT source_file, source_row FROM ind_consultations WHERE subject_resident_id = '0000000001'")
    assert rows.fetchall() == [("jido_soudan_20261126.csv", 1)]  # the exact CSV row


def test_checkup_findings_at_their_boundaries(tmp_path: Path, towns) -> None:
    """R04 strictly below the weight threshold; R15 at the latest attended exam only; R21 at 4/10 months."""
    town = towns["misato"]
    jumin = [_person(f"3000010{n}", "H9", "2023/01/15", "女", "子") for n in range(1, 6)]
    # 住民コード,健診名,対象月,受診年月日,判定,運動,言語,社会性,体重(g),育児不安
    exams = [
        ["30000101", "4か月", "2023/05", "2023/05/20", "異常なし", "無", "無", "無", "4999", "無"],  # R04
        ["30000102", "4か月", "2023/05", "2023/05/20", "異常なし", "無", "無", "無", "5000", "無"],  # on the line
        ["30000103", "10か月", "2023/11", "2023/11/20", "要経過観察", "有", "無", "無", "8000", "有"],  # R21
        ["30000103", "1歳6か月", "2024/07", "2024/07/20", "異常なし", "無", "無", "無", "10000", "無"],  # latest
        ["30000104", "1歳6か月", "2024/07", "2024/07/20", "異常なし", "無", "無", "無", "10000", "有"],  # R15
        ["30000105", "3歳", "2026/01", "", "", "", "", "", "", ""],  # invited, not attended: no finding
    ]
    con = ingest_rows(tmp_path, town, {"jumin": jumin, "nyuyoji_kenshin": exams}, T)
    build_registry(con, T)
    prepare(con, town, T, apply_overrides(town.path, {}))
    models = load_models()
    for name in ("subjects", "ind_checkup_findings"):
        run_model(con, models[name])
    hits = set(con.execute("SELECT subject_resident_id, rule_id FROM ind_checkup_findings").fetchall())
    assert hits == {("30000101", "R04"), ("30000103", "R21"), ("30000104", "R15")}


def test_attendance_windows_and_transferred_students(tmp_path: Path, towns) -> None:
    """R17 sums a child's absences over month(T)−11 … month(T), both student numbers of a transfer together;
    R18 needs 8 nurse visits in one of the last 3 months."""
    from kodomo_pipeline.linkage.crosswalk import link_attendance

    town = towns["misato"]
    jumin = [_person(f"3000020{n}", "H8", "2015/06/01", "男", "子") for n in range(1, 4)]
    # 児童生徒番号,年月,授業日数,欠席日数,遅刻日数,保健室来室回数 — T is 2026-11-26: months 2025-12 … 2026-11
    attendance = [
        ["S1", "2025-12", "20", "15", "0", "0"],
        ["S1b", "2026-11", "20", "15", "0", "0"],  # the same child after a transfer: 30 together → R17
        ["S2", "2025-11", "20", "20", "0", "0"],  # one month too early
        ["S2", "2026-10", "20", "10", "0", "8"],  # 30 days only with the month outside; 8 visits → R18
        ["S3", "2026-08", "30", "29", "0", "7"],  # 29 days, 7 visits (and August is outside R18's window)
    ]
    con = ingest_rows(tmp_path, town, {"jumin": jumin, "gakko_shusseki": attendance}, T)
    build_registry(con, T)
    con.execute(
        """CREATE TABLE crosswalk AS SELECT * FROM (VALUES ('gakko_meibo', 'S1', '30000201', 'matched'),
           ('gakko_meibo', 'S1b', '30000201', 'matched'), ('gakko_meibo', 'S2', '30000202', 'matched'),
           ('gakko_meibo', 'S3', '30000203', 'matched')) AS t(feed, source_key, resident_id, status)"""
    )
    assert link_attendance(con, T) == (5, 0)
    prepare(con, town, T, apply_overrides(town.path, {}))
    models = load_models()
    for name in ("subjects", "ind_attendance"):
        run_model(con, models[name])
    hits = set(con.execute("SELECT subject_resident_id, rule_id FROM ind_attendance").fetchall())
    assert hits == {("30000201", "R17"), ("30000202", "R18")}
    facts = con.execute("SELECT count(*) FROM ind_attendance WHERE rule_id = 'R17'").fetchall()[0][0]
    assert facts == 2  # both months of both student numbers are the evidence


def test_a_template_model_follows_the_feed_contracts(tmp_path: Path) -> None:
    """unknown_residents is rendered from the contracts: one SELECT per column naming a registry person or
    household, the registry feed itself left out; a contract column added would be checked without an edit."""
    from kodomo_pipeline.config.feeds import load_feeds
    from kodomo_pipeline.sqlmodels.templates import person_references

    model = load_models()["unknown_residents"]
    references = [r for r in person_references(load_feeds()) if r.feed != "jumin"]
    assert len(references) >= 9 and model.sql.count("UNION ALL") == len(references) - 1
    assert model.feeds == {r.feed for r in references} and "jumin" not in model.feeds
    assert ("seikatsu_hogo", "household_id", "household") in {(r.feed, r.column, r.kind) for r in references}
    assert "{%" not in model.sql and "{{" not in model.sql
