"""Indicators on generated towns agree with the generator's own, independent reading of rules v1.

The generator (kodomo_pipeline/generator/risk.py) scores rules v1 on the truth it wrote: every indicator
fact (planted_facts.csv, below the alert threshold as well) and every alert (planted_risk.csv). Both towns
are compared in full, every rule that can fire in the town (enabled and linked) must have been planted,
and for the rules where any hit makes an alert on its own the children must be exactly the planted ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from kodomo_pipeline.config import load_towns
from kodomo_pipeline.generator.agreement import compare
from tests.conftest import generated_data_root

pytestmark = pytest.mark.slow
ASOF = dt.date(2026, 11, 26)


TOWNS = ["kawashima", "misato"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with generated_data_root(tmp_path_factory, TOWNS, ASOF, 6000, seed=5) as root:
        yield root


@pytest.fixture(scope="module")
def town_db(data_root: Path) -> tuple[Path, Path]:
    return load_towns()["kawashima"].database(data_root), data_root / "truth" / "kawashima" / "planted_risk.csv"


@pytest.mark.parametrize("town", TOWNS)
def test_every_fact_and_alert_agrees_with_the_generators_reading(data_root: Path, town: str) -> None:
    """Facts (subject, rule, points per type — alerting or not) and alerts; every rule that can fire planted."""
    with duckdb.connect(str(load_towns()[town].database(data_root)), read_only=True) as con:
        agreement = compare(con, data_root / "truth" / town)
        can_fire = {row[0] for row in con.execute("SELECT rule_id FROM rule_set WHERE enabled AND linked").fetchall()}
    assert agreement.ok, agreement.summary()
    assert agreement.rules_planted() == can_fire, f"never planted: {sorted(can_fire - agreement.rules_planted())}"
    assert {"R07", "R18", "R19"} <= can_fire, "both towns have the registry and school feeds these rules read"
    truth = data_root / "truth" / town
    facts = pd.read_csv(truth / "planted_facts.csv", dtype=str, keep_default_na=False)
    alerting = set(pd.read_csv(truth / "planted_risk.csv", dtype=str, keep_default_na=False)["resident_id"])
    below_threshold = set(facts["resident_id"]) - alerting
    assert len(below_threshold) > 50 and agreement.alerts.expected > 30, "facts below the threshold are compared"


def test_the_comparison_sees_a_missing_fact_changed_points_and_a_changed_alert(data_root: Path, tmp_path: Path) -> None:
    """The generator's reading, altered three ways, no longer agrees with the database: counted per rule."""
    truth = data_root / "truth" / "misato"
    facts = pd.read_csv(truth / "planted_facts.csv", dtype=str, keep_default_na=False)
    alerts = pd.read_csv(truth / "planted_risk.csv", dtype=str, keep_default_na=False)
    r19 = facts.index[facts["rule_id"] == "R19"][0]
    r07 = facts.index[facts["rule_id"] == "R07"][0]
    facts.loc[r07, "points_ab"] = "3"
    facts.drop(index=r19).to_csv(tmp_path / "planted_facts.csv", index=False)
    alerts.loc[0, "level"] = {"A": "B", "B": "C", "C": "A"}[alerts.loc[0, "level"]]
    alerts.to_csv(tmp_path / "planted_risk.csv", index=False)
    with duckdb.connect(str(load_towns()["misato"].database(data_root)), read_only=True) as con:
        agreement = compare(con, tmp_path)
    assert not agreement.ok
    assert (agreement.facts["R19"].missing, agreement.facts["R19"].extra) == (0, 1)
    assert (agreement.facts["R07"].missing, agreement.facts["R07"].extra) == (1, 1)
    assert (agreement.alerts.missing, agreement.alerts.extra) == (1, 1)
    assert all(c.missing == c.extra == 0 for rule, c in agreement.facts.items() if rule not in {"R07", "R19"})


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
