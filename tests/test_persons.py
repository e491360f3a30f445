"""The registry layer at T (dbt_like_sql/registry/): persons, the mother-of-child relation of rules v1 with its
edge cases, and the rows of other feeds that name nobody in the registry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from pathlib import Path

import duckdb
import pytest

from kodomo_pipeline.sqlmodels.registry import REGISTRY_FIGURES, build_registry
from tests.conftest import ingest_rows

T = dt.date(2026, 11, 26)


def _person(rid: str, household: str, name: str, born: str, sex: str, relation: str, status: str = "住民") -> list:
    # misato jumin (layout M): 住民コード,世帯コード,漢字氏名,カナ氏名,生年月日,性別,世帯主との続柄,住所,
    # 住民となった日,状態,状態変更日
    moved = "2026/01/10" if status != "住民" else ""
    return [rid, household, name, "ヤマダ　ハナコ", born, sex, relation, "美里町阿那志1", born, status, moved]


TownDb = Callable[..., duckdb.DuckDBPyConnection]


@pytest.fixture
def town_db(tmp_path: Path, towns) -> TownDb:
    """Misato's database from these registry rows (and postpartum rows), with persons and mothers at T."""
    return partial(_town_db, tmp_path, towns)


def _town_db(tmp_path: Path, towns, people: list[list], postpartum: list[list] | None = None):
    con = ingest_rows(tmp_path, towns["misato"], {"jumin": people, "sango_shitsumon": postpartum or []}, T)
    build_registry(con, T)
    return con


def _mothers(con) -> dict[str, str]:
    return dict(con.execute("SELECT child_resident_id, mother_resident_id FROM mother_of_child").fetchall())


def test_ages_are_completed_years_with_the_birthday_counting(town_db: TownDb) -> None:
    con = town_db(
        [
            _person("30000001", "H1", "山田　一", "2022/11/26", "男", "世帯主"),
            _person("30000002", "H1", "山田　二", "2022/11/27", "男", "子"),
            _person("30000003", "H1", "山田　三", "2008/02/29", "女", "子"),
        ]
    )
    ages = dict(con.execute("SELECT resident_id, age FROM persons").fetchall())
    assert ages == {"30000001": 4, "30000002": 3, "30000003": 18}


def test_mother_of_a_child_and_of_a_grandchild(town_db: TownDb) -> None:
    con = town_db(
        [
            _person("30000010", "H1", "山田　父", "1960/01/01", "男", "世帯主"),
            _person("30000011", "H1", "山田　母", "1962/05/01", "女", "妻"),
            _person("30000012", "H1", "山田　娘", "1990/03/01", "女", "子"),  # child of 妻
            _person("30000013", "H1", "山田　嫁", "1992/06/01", "女", "子の妻"),
            _person("30000014", "H1", "山田　孫", "2022/07/01", "男", "孫"),  # two candidates: 子 and 子の妻
            _person("30000020", "H2", "佐藤　母", "1995/04/01", "女", "世帯主"),
            _person("30000021", "H2", "佐藤　子", "2021/04/01", "女", "子"),
        ]
    )
    mothers = _mothers(con)
    assert mothers["30000012"] == "30000011"
    assert "30000014" not in mothers  # 子 and 子の妻 both qualify: no mother is identified
    assert mothers["30000021"] == "30000020"


@pytest.mark.parametrize(
    ("mother_born", "child_born", "identified"),
    [
        ("2008/11/27", "2021/11/26", False),  # 12 completed years older
        ("2008/11/26", "2021/11/26", True),  # exactly 13
        ("1967/11/26", "2022/11/26", True),  # exactly 55
        ("1966/11/27", "2022/11/26", True),  # 55 and a day short of 56
        ("1966/11/26", "2022/11/26", False),  # 56
    ],
)
def test_mother_is_13_to_55_years_older(town_db: TownDb, mother_born: str, child_born: str, identified: bool) -> None:
    con = town_db(
        [
            _person("30000030", "H3", "鈴木　母", mother_born, "女", "世帯主"),
            _person("30000031", "H3", "鈴木　子", child_born, "男", "子"),
        ]
    )
    assert ("30000031" in _mothers(con)) is identified


def test_a_postpartum_pair_wins_and_the_mother_must_live_here(town_db: TownDb) -> None:
    # 母住民コード,児住民コード,実施日,EPDS合計点,EPDS項目10,赤ちゃんへの気持ち質問票合計点,支援者
    con = town_db(
        [
            _person("30000040", "H4", "田中　祖母", "1970/01/01", "女", "世帯主"),
            _person("30000041", "H4", "田中　娘", "2000/01/01", "女", "子"),
            _person("30000042", "H4", "田中　孫", "2026/05/01", "男", "孫"),
            _person("30000050", "H5", "伊藤　母", "1990/01/01", "女", "世帯主", status="転出"),
            _person("30000051", "H5", "伊藤　子", "2026/03/01", "女", "子"),
        ],
        [
            ["30000040", "30000042", "2026/06/01", "5", "0", "1", "有"],
            ["30000041", "30000042", "2026/07/01", "6", "0", "1", "有"],
            ["30000050", "30000051", "2026/05/01", "12", "1", "6", "無"],
        ],
    )
    mothers = _mothers(con)
    assert mothers["30000042"] == "30000041"  # the child's most recent questionnaire row
    assert "30000051" not in mothers  # her mother moved out: not 住民 at T
    basis = dict(con.execute("SELECT child_resident_id, basis FROM mother_of_child").fetchall())
    assert basis["30000042"] == "postpartum_questionnaire"


def test_rows_naming_nobody_in_the_registry_are_kept_as_unknown(town_db: TownDb, towns) -> None:
    con = town_db(
        [
            _person("30000060", "H6", "高橋　母", "1990/01/01", "女", "世帯主"),
            _person("30000061", "H6", "高橋　子", "2026/03/01", "女", "子"),
        ],
        [
            ["30000060", "30000061", "2026/05/01", "3", "0", "1", "有"],
            ["39999999", "30000061", "2026/06/01", "3", "0", "1", "有"],
        ],
    )
    figures = REGISTRY_FIGURES["unknown_residents"](con)
    assert figures["unknown_by_feed"] == {"sango_shitsumon": 1} and figures["unknown_sango_shitsumon"] == 1
    row = con.execute("SELECT feed, column_name, row_number, reason FROM unknown_residents").fetchall()
    assert row == [("sango_shitsumon", "mother_resident_id", 2, "unknown_resident")]
