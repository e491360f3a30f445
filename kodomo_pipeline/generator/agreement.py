"""How far a town database agrees with the generator's own reading of the rules (planted_*.csv in the truth).

Two levels, both as sets of tuples so that a difference is a count, never a personal value:
facts — every (subject, subject type, rule, points per difficulty type) an indicator fires for at T,
below the alert threshold as well; alerts — subject, type, level, score, ranked indicators, known case.
Used by tests/test_indicators.py and benchmarks/risk.py (which exits non-zero on any disagreement).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from kodomo_pipeline.generator.risk import FACT_COLUMNS

ALERT_KEY = ["resident_id", "subject_type", "difficulty_type", "level", "score", "indicators", "known_case"]

# Points per rule and hit as risk_scores.sql counts them: a hit's points once (max over its fact rows), summed
# over the hits of the rule (R03: one hit per missed exam).
_SQL_FACTS = """
    WITH per_hit AS (
        SELECT subject_resident_id, subject_type, rule_id, hit,
               max(points_ab) AS ab, max(points_pp) AS pp, max(points_dd) AS dd
        FROM indicator_facts GROUP BY ALL
    )
    SELECT subject_resident_id AS resident_id, subject_type, rule_id,
           CAST(sum(ab) AS VARCHAR) AS points_ab, CAST(sum(pp) AS VARCHAR) AS points_pp,
           CAST(sum(dd) AS VARCHAR) AS points_dd
    FROM per_hit GROUP BY ALL
"""
_SQL_ALERTS = """
    SELECT subject_resident_id, subject_type, difficulty_type, level, CAST(score AS VARCHAR), indicators,
           CAST(known_case AS VARCHAR)
    FROM alerts
"""


@dataclass(frozen=True)
class RuleAgreement:
    """Subjects one rule fires for: in the generator's reading, in the database, and the differences."""

    expected: int
    found: int
    missing: int
    extra: int


@dataclass(frozen=True)
class Agreement:
    facts: dict[str, RuleAgreement]
    alerts: RuleAgreement
    alert_disagreement_by_rule: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        wrong = [r for r in [*self.facts.values(), self.alerts] if r.missing or r.extra]
        return not wrong

    def rules_planted(self) -> set[str]:
        return {rule for rule, counts in self.facts.items() if counts.expected}

    def summary(self) -> dict:
        """Counts only: per rule and for the alerts (safe to print and log)."""
        return {
            "alerts": vars(self.alerts),
            "facts": {rule: vars(counts) for rule, counts in sorted(self.facts.items())},
            "alert_disagreement_by_rule": dict(sorted(self.alert_disagreement_by_rule.items())),
        }


def _diff(expected: set, found: set) -> RuleAgreement:
    return RuleAgreement(len(expected), len(found), len(expected - found), len(found - expected))


def compare(con: duckdb.DuckDBPyConnection, truth: Path) -> Agreement:
    """Compare the town database (after the SQL models ran) with planted_facts.csv and planted_risk.csv."""
    planted_facts = pd.read_csv(truth / "planted_facts.csv", dtype=str, keep_default_na=False)[FACT_COLUMNS]
    planted_alerts = pd.read_csv(truth / "planted_risk.csv", dtype=str, keep_default_na=False)[ALERT_KEY]
    found_facts = set(con.execute(_SQL_FACTS).fetchall())
    expected_facts = set(planted_facts.itertuples(index=False, name=None))
    rules = {row[2] for row in found_facts | expected_facts}
    facts = {
        rule: _diff({r for r in expected_facts if r[2] == rule}, {r for r in found_facts if r[2] == rule})
        for rule in sorted(rules)
    }
    expected_alerts = set(planted_alerts.itertuples(index=False, name=None))
    found_alerts = set(con.execute(_SQL_ALERTS).fetchall())
    by_rule: dict[str, int] = {}
    for row in expected_alerts ^ found_alerts:
        for rule in row[5].split(";"):
            by_rule[rule] = by_rule.get(rule, 0) + 1
    return Agreement(facts, _diff(expected_alerts, found_alerts), by_rule)
