"""One owner for the facts of the domain: difficulty types, levels and their boundaries, level-A overrides.

They live in the rule file (rules/risk_rules_v1.yaml, read and schema-checked by ruleset.py); reports, the
backtest, the meeting workbook and the operator summary ask here instead of re-typing a type's name or a level's
score, so a change to the rule file reaches every output. The generator keeps its own reading on purpose (a test
oracle). The record key of a feed without resident ID (assets/<feed>.yaml `record_key`) is asked for here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import get_args

import pandas as pd

from kodomo_pipeline.config.feeds import load_feeds
from kodomo_pipeline.rules.ruleset import LevelName, Rule, RuleSet, RuleSetFile, TypeCode, load_base_rules

LEVELS: tuple[str, ...] = get_args(LevelName)  # most urgent first, as the rule file's schema orders them
TYPE_CODES: tuple[str, ...] = get_args(TypeCode)
SOURCE_KEY_SEPARATOR = ":"  # between the parts of a record key (facility:pupil_no)
LEVEL_A_EFFECT = "level_A_for_"  # effect prefix: the rule makes that difficulty type level A whatever the score


def _rules(rules: RuleSet | RuleSetFile | None) -> RuleSet | RuleSetFile:
    return rules if rules is not None else load_base_rules()


def difficulty_types(rules: RuleSet | RuleSetFile | None = None) -> dict[str, str]:
    """Type code → Japanese name, in the rule file's order."""
    return dict(_rules(rules).difficulty_types)


def difficulty_names(rules: RuleSet | RuleSetFile | None = None) -> tuple[str, ...]:
    """The names as alerts and outcomes carry them, in the rule file's order."""
    return tuple(difficulty_types(rules).values())


def type_name(code: str, rules: RuleSet | RuleSetFile | None = None) -> str:
    """The name of a type code; an unknown code is returned as it is (a report must still show it)."""
    return difficulty_types(rules).get(code, code)


def level_boundaries(rules: RuleSet | RuleSetFile | None = None) -> dict[str, int]:
    """Minimum score per level (A, B, C) of the rule set in force (town overrides included when given)."""
    return {level: spec.min_score for level, spec in _rules(rules).levels.items()}


def level_above(level: str) -> str | None:
    """The next more urgent level (None for the most urgent)."""
    index = LEVELS.index(level)
    return LEVELS[index - 1] if index else None


def overridden_type(rule: Rule) -> str | None:
    """The type code a rule makes level A whatever the score (its `effect: level_A_for_<code>`), else None."""
    effect = rule.effect or ""
    return effect.removeprefix(LEVEL_A_EFFECT) if effect.startswith(LEVEL_A_EFFECT) else None


def level_a_override_rules(rules: RuleSet | RuleSetFile | None = None) -> dict[str, str]:
    """Enabled rule ID → type code it makes level A whatever the score."""
    found = {rule_id: overridden_type(rule) for rule_id, rule in _rules(rules).rules.items() if rule.enabled}
    return {rule_id: code for rule_id, code in found.items() if code}


def override_sentence(rows: Mapping[str, tuple[str, str]], types: Mapping[str, str]) -> str:
    """Staff-facing words for the level-A overrides: rule ID → (rule name, type code)."""
    return "".join(
        f"{types.get(code, code)}の{name}（{rule_id}）は点数にかかわらずレベル{LEVELS[0]}です。"
        for rule_id, (name, code) in sorted(rows.items())
    )


def record_key_columns(feed: str) -> tuple[str, ...]:
    """The columns naming one record of a feed without resident ID (`record_key:` in assets/<feed>.yaml)."""
    columns = load_feeds()[feed].record_key
    if not columns:
        raise ValueError(f"assets/{feed}.yaml declares no record_key")
    return columns


def record_key_sql(feed: str) -> str:
    """The record key as a DuckDB expression over the feed's columns (the 名寄せ's source_key)."""
    return f" || '{SOURCE_KEY_SEPARATOR}' || ".join(f'"{column}"' for column in record_key_columns(feed))


def record_key_values(frame: pd.DataFrame, feed: str) -> pd.Series:
    """The record key of each row of a frame of the feed (text columns), as `record_key_sql` computes it."""
    columns = record_key_columns(feed)
    key = frame[columns[0]].astype(str)
    for column in columns[1:]:
        key = key + SOURCE_KEY_SEPARATOR + frame[column].astype(str)
    return key
