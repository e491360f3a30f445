"""Which rules a town can evaluate at all: a rule is 未連携 (not linked) when none of its feeds is exported with
every column the rule reads there (rules v1, "Not linked"). Such a rule is reported, never counted as "no risk".
Per run, a file that lacks a column its layout promises unlinks the rules reading it (rules/column_gaps.py).
"""

from __future__ import annotations

from kodomo_pipeline.config.feeds import FeedSpec
from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.rules.ruleset import Rule, RuleSet


def delivered_columns(town: TownConfig) -> dict[str, frozenset[str]]:
    """Per feed the town exports: the canonical columns its layout delivers."""
    return {feed: frozenset(layout.header_to_canonical.values()) for feed, layout in town.feeds.items()}


def rule_is_linked(rule: Rule, delivered: dict[str, frozenset[str]], feeds: dict[str, FeedSpec]) -> bool:
    """True when at least one of the rule's feeds is delivered with every column the rule reads there: a column
    read as empty would answer "no" for everyone (a missed checkup, no anxiety)."""
    for feed in rule.feeds:
        if feed not in delivered:
            continue
        wanted = set(rule.columns) & set(feeds[feed].columns)
        if wanted <= delivered[feed]:
            return True
    return False


def linked_rules(rules: RuleSet, town: TownConfig, feeds: dict[str, FeedSpec]) -> dict[str, bool]:
    delivered = delivered_columns(town)
    return {rule_id: rule_is_linked(rule, delivered, feeds) for rule_id, rule in rules.rules.items()}
