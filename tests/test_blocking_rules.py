"""Prediction blocking: the pairs a real slip leaves must still be scored (a pair never blocked is never matched).

The birth-date rule asks for the same sex (half the pairs at 1,000,000 residents); a nursery record whose sex was
typed wrong and whose surname kana has a slip is then kept only by the birth date + given-name initial rule.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from kodomo_pipeline.linkage.inputs import with_keys
from kodomo_pipeline.linkage.model import BLOCKING_RULES, _common_frame
from kodomo_pipeline.linkage.normalize import form_gaiji_blocks, gaiji_blocks, kanji_key

BORN = dt.date(2021, 5, 3)


def _rule_sql(rule: object) -> str:
    """The rule's condition on one (l, r) row pair; a list Splink explodes meets where the two lists share a key."""
    if isinstance(rule, str):
        return rule
    sql = rule.get_blocking_rule("duckdb").blocking_rule_sql  # type: ignore[attr-defined]
    for column in getattr(rule, "arrays_to_explode", None) or []:
        sql = sql.replace(f'l."{column}" = r."{column}"', f'len(list_intersect(l."{column}", r."{column}")) > 0')
    return sql


def _person() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "unique_id": ["R1"],
            "name_kanji": ["山本　陽翔"],
            "name_kana": ["ヤマモト　ハルト"],
            "birth_date": [BORN],
            "sex": ["男"],
            "address": ["埼玉県比企郡川島町大字中山12番地"],
            "guardian_keys": [["山本美咲"]],
            "guardian_givens": [["美咲"]],
        }
    )
    return with_keys(frame)


def _record(name_kana: str, sex: str, born: dt.date = BORN) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "unique_id": ["toen|F01:1"],
            "name_kanji": [None],
            "name_kana": [name_kana],
            "birth_date": [born],
            "sex": [sex],
            "guardian_name": [None],
            "guardian_key": [None],
            "address": [None],
        },
        dtype=object,
    )
    return with_keys(frame)


def _rules_keeping(record: pd.DataFrame) -> list[str]:
    con = duckdb.connect()
    con.register("l", _common_frame(_person(), persons=True))
    con.register("r", _common_frame(record, persons=False))
    return [
        name
        for name, rule in BLOCKING_RULES.items()
        if con.execute(f"SELECT count(*) FROM l, r WHERE {_rule_sql(rule)}").fetchone()[0]
    ]


@pytest.mark.parametrize(
    ("case", "name_kana", "sex", "expected"),
    [
        (
            "clean",
            "ヤマモト　ハルト",
            "男",
            {"birth date", "kana name", "birth date + initial", "given name + birth month"},
        ),
        ("surname slip", "ヤマムト　ハルト", "男", {"birth date", "birth date + initial", "given name + birth month"}),
        ("sex typed wrong and surname slip", "ヤマムト　ハルト", "女", {"birth date + initial"}),
    ],
    ids=["clean", "surname slip", "sex and surname slip"],  # ids without the names
)
def test_a_slip_with_a_wrong_sex_is_still_blocked(case: str, name_kana: str, sex: str, expected: set[str]) -> None:
    assert set(_rules_keeping(_record(name_kana, sex))) == expected, case


def test_another_child_born_that_day_of_the_other_sex_and_initial_is_not_scored() -> None:
    assert _rules_keeping(_record("サトウ　ミオ", "女")) == []


@pytest.mark.parametrize(
    ("registry", "form", "meet"),
    [
        ("𠮷田　誠", "＿田　誠", True),  # a UTF-8 registry, a cp932 nursery form
        ("〓田　誠", "吉田　誠", True),  # the registry's cp932 export, a form that has the character
        ("髙橋　一郎", "〓橋　一郎", True),
        ("山田　誠", "＿田　誠", False),  # 山 is in JIS X 0208: no form writes a placeholder for it
        ("𠮷田　誠", "＿田　修", False),
        ("〓〓　〓", "吉田　誠", False),  # placeholders alone prove nothing
        ("〓〓　遥", "高崎　遥", True),  # 髙﨑: two characters outside JIS X 0208 side by side
        ("髙﨑　遥", "＿＿　遥", True),
        ("髙﨑　遥", "＿崎　遥", True),
    ],
    ids=[
        "utf8 registry",
        "cp932 registry",
        "髙",
        "jis character",
        "other given name",
        "placeholders only",
        "two placeholders in the registry",
        "two placeholders on the form",
        "one of two on the form",
    ],
)
def test_guardian_keys_meet_across_a_gaiji_placeholder(registry: str, form: str, meet: bool) -> None:
    blocks = set(gaiji_blocks(registry, kanji_key(registry)))
    assert bool(blocks & set(form_gaiji_blocks(kanji_key(form)))) is meet
