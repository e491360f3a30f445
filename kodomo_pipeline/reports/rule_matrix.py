"""判定条件の設定と可視化: the rule matrix page — every rule in words, its points, and how it works in each town.

Staff, the review meeting and auditors need one page that says what each rule looks at, what it is worth per
difficulty type, whether a town switched or changed it (overrides), whether the town can evaluate it at all
(未連携) and how many subjects it hit in the latest run. Counts only: no personal value is read or shown.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from kodomo_pipeline.config.feeds import load_feeds
from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.reports import render_template
from kodomo_pipeline.rules.coverage import linked_rules
from kodomo_pipeline.rules.domain import LEVELS, overridden_type
from kodomo_pipeline.rules.ruleset import Rule, RuleSet, RuleSetFile
from kodomo_pipeline.storage.snapshots import has_table

SUBJECT_WORDS = {"child": "子ども", "expectant_mother": "妊婦"}
EFFECT_WORDS = {"known_case": "要対協登録中の表示（点数なし）"}


def effect_words(rule: Rule, types: dict[str, str]) -> str:
    """A rule's effect in words; a level-A override names its type as the rule file does."""
    if (code := overridden_type(rule)) is not None:
        return f"{types.get(code, code)}をレベル{LEVELS[0]}にする"
    return EFFECT_WORDS.get(rule.effect or "", "")


@dataclass(frozen=True)
class TownColumn:
    """One town's view of the rules: its version, its overrides, 未連携, and (after a run) hits."""

    town: str
    town_ja: str
    version: str
    as_of: dt.date | None
    enabled: dict[str, bool]
    overrides: dict[str, list[str]]  # rule ID (or "levels") → ["points.AB = 4", …]
    hits: dict[str, int] | None  # distinct subjects per rule in the latest run; None before any run
    linked: dict[str, bool]  # False = 未連携: the town exports nothing the rule reads

    @property
    def subjects_hit(self) -> int:
        return sum(self.hits.values()) if self.hits else 0


def _flatten(change: Any, prefix: str = "") -> list[str]:
    if isinstance(change, dict):
        return [line for key, value in change.items() for line in _flatten(value, f"{prefix}{key}.")]
    return [f"{prefix.rstrip('.')} = {change}"]


def override_lines(overrides: dict[str, Any]) -> dict[str, list[str]]:
    """A town's `rule_overrides:` as readable lines per rule ID (and "levels")."""
    return {key: _flatten(change) for key, change in overrides.items()}


def hits_by_rule(con: duckdb.DuckDBPyConnection) -> dict[str, int] | None:
    """Distinct subjects (a child and an expectant mother count apart) each rule hit in the latest run."""
    if not has_table(con, "indicator_facts"):
        return None
    rows = con.execute(
        """SELECT rule_id, count(*) FROM (SELECT DISTINCT rule_id, subject_type, subject_resident_id
                                          FROM indicator_facts) GROUP BY rule_id"""
    ).fetchall()
    return {rule_id: count for rule_id, count in rows}


def latest_as_of(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    if not has_table(con, "alerts"):
        return None
    return con.execute("SELECT max(as_of) FROM alerts").fetchall()[0][0]


def town_column(
    town: TownConfig, rules: RuleSet, con: duckdb.DuckDBPyConnection | None, as_of: dt.date | None = None
) -> TownColumn:
    """The town's column; without a database (no run yet) there are no hit counts."""
    return TownColumn(
        town=town.town,
        town_ja=town.name_ja,
        version=rules.version,
        as_of=as_of or (latest_as_of(con) if con is not None else None),
        enabled={rule_id: rule.enabled for rule_id, rule in rules.rules.items()},
        overrides=override_lines(rules.overrides),
        hits=hits_by_rule(con) if con is not None else None,
        linked=linked_rules(rules, town, load_feeds()),
    )


def _params(params: dict[str, Any]) -> str:
    parts = []
    for key, value in params.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = "・".join(str(v) for v in value)
        parts.append(f"{key}: {value}")
    return "; ".join(parts)


def _age(rule: Rule) -> str:
    if rule.max_age is not None:
        return f"{rule.max_age}歳以下"
    if rule.max_age_exclusive is not None:
        return f"{rule.max_age_exclusive}歳未満"
    return ""


def rule_rows(rules: RuleSet | RuleSetFile) -> list[dict[str, Any]]:
    """Every rule as the page shows it, in rule-ID order."""
    return [
        {
            "rule_id": rule_id,
            "name": rule.name,
            "reason": rule.reason,
            "feeds": list(rule.feeds),
            "columns": list(rule.columns),
            "params": _params(rule.params),
            "points": {code: rule.points.get(code) for code in rules.difficulty_types},
            "applies_to": "・".join(SUBJECT_WORDS[subject] for subject in rule.applies_to),
            "age": _age(rule),
            "effect": effect_words(rule, dict(rules.difficulty_types)),
            "economic": rule.economic,
            "enabled": rule.enabled,
        }
        for rule_id, rule in sorted(rules.rules.items())
    ]


def render_rule_matrix(rules: RuleSet | RuleSetFile, towns: list[TownColumn], generated_at: dt.datetime) -> str:
    """One self-contained page: the rules (as `rules` states them) with one column per town."""
    return render_template(
        "rule_matrix.html.j2",
        version=rules.version,
        difficulty_types=rules.difficulty_types,
        levels=rules.levels,
        rules=rule_rows(rules),
        towns=towns,
        generated_at=generated_at.isoformat(timespec="seconds"),
    )


def write_rule_matrix(
    con: duckdb.DuckDBPyConnection, town: TownConfig, rules: RuleSet, as_of: dt.date, out_dir: Path
) -> tuple[Path, TownColumn]:
    """`rule_matrix_<YYYYMMDD>.html` for one town, with the rule set in force there (its overrides applied)."""
    column = town_column(town, rules, con, as_of)
    path = out_dir / "reports" / f"rule_matrix_{as_of:%Y%m%d}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_rule_matrix(rules, [column], dt.datetime.now()), encoding="utf-8")
    return path, column
