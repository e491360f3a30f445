"""Indicators on a generated town agree with the generator's own, independent reading of rules v1.

The generator (kodomo_pipeline/generator/risk.py) scores rules v1 on the truth it wrote. For the rules
where any hit makes an alert on its own (R01 4, R03 3, R16 3, R20 3, R22 5, R23 3, R25 3 points), the
children it lists must be exactly the children the SQL indicators find.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from kodomo_pipeline.config import load_towns
from tests.conftest import generated_data_root

pytestmark = pytest.mark.slow
ASOF = dt.date(2026, 11, 26)


@pytest.fixture(scope="module")
def town_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    with generated_data_root(tmp_path_factory, ["kawashima"], ASOF, 6000, seed=5) as root:
        yield load_towns()["kawashima"].database(root), root / "truth" / "kawashima" / "planted_risk.csv"


@pytest.mark.parametrize(
    ("rule", "table"),
    [
        ("R01", "ind_consultations"),
        ("R25", "ind_consultations"),
        ("R22", "ind_certificates"),
        ("R23", "ind_school_roster"),
        ("R03", "ind_checkups"),
        ("R20", "ind_checkups"),
        ("R16", "ind_nursery"),
    ],
)
def test_alerting_rules_find_exactly_the_planted_children(town_db: tuple[Path, Path], rule: str, table: str) -> None:
    database, planted_path = town_db
    planted = pd.read_csv(planted_path, dtype=str, keep_default_na=False)
    expected = set(planted.loc[planted["indicators"].str.split(";").map(lambda ids: rule in ids), "resident_id"])
    with duckdb.connect(str(database), read_only=True) as con:
        found = {
            row[0]
            for row in con.execute(
                f"SELECT DISTINCT subject_resident_id FROM {table} WHERE rule_id = ?", [rule]
            ).fetchall()
        }
    assert expected, rule
    missing, extra = len(expected - found), len(found - expected)
    assert (missing, extra) == (0, 0), f"{rule}: {missing} planted children not found, {extra} found in excess"


def test_known_cases_cover_every_planted_known_case(town_db: tuple[Path, Path]) -> None:
    database, planted_path = town_db
    planted = pd.read_csv(planted_path, dtype=str, keep_default_na=False)
    with duckdb.connect(str(database), read_only=True) as con:
        known = {row[0] for row in con.execute("SELECT subject_resident_id FROM ind_known_case").fetchall()}
        facts = con.execute("SELECT count(*) FROM ind_known_case WHERE source_row IS NULL").fetchall()[0][0]
    assert set(planted.loc[planted["known_case"] == "1", "resident_id"]) <= known and facts == 0


def test_every_indicator_row_points_at_a_real_source_row(town_db: tuple[Path, Path]) -> None:
    database, _ = town_db
    with duckdb.connect(str(database), read_only=True) as con:
        for table, feed in [
            ("ind_consultations", "jido_soudan"),
            ("ind_certificates", "shogai_techo"),
            ("ind_school_roster", "gakko_meibo"),
            ("ind_moved_in", "jumin"),
            ("ind_checkups", "nyuyoji_kenshin"),
            ("ind_nursery", "toen"),
        ]:
            orphans = con.execute(
                f"""SELECT count(*) FROM {table} i LEFT JOIN raw_{feed} r
                    ON r._sha256 = i.source_sha256 AND r._row = i.source_row WHERE r._row IS NULL"""
            ).fetchall()[0][0]
            assert orphans == 0, table


def test_alerts_agree_with_the_generators_reading_of_rules_v1(town_db: tuple[Path, Path]) -> None:
    """Every alert: subject, type, level, score, indicators in order and known case — all 25 rules together."""
    database, planted_path = town_db
    planted = pd.read_csv(planted_path, dtype=str, keep_default_na=False)
    columns = ["resident_id", "subject_type", "difficulty_type", "level", "score", "indicators", "known_case"]
    expected = set(planted[columns].itertuples(index=False, name=None))
    with duckdb.connect(str(database), read_only=True) as con:
        found = set(
            con.execute(
                """SELECT subject_resident_id, subject_type, difficulty_type, level, CAST(score AS VARCHAR),
                          indicators, CAST(known_case AS VARCHAR) FROM alerts"""
            ).fetchall()
        )
    by_rule: dict[str, int] = {}
    for row in expected ^ found:
        for rule in row[5].split(";"):
            by_rule[rule] = by_rule.get(rule, 0) + 1
    planted_alerts, missing, extra = len(expected), len(expected - found), len(found - expected)
    assert planted_alerts > 30
    assert (missing, extra) == (0, 0), f"disagreements by rule: {sorted(by_rule.items())}"
