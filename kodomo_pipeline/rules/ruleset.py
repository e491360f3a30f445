"""Load the rule set, apply a town's overrides, and name the version in force.

Schema-checked on load: an unknown feed, an unknown rule in an override, a bad window,
a duplicate rule ID or a typo in a key is an error naming the file and the key.
The version is `v1` plus a short hash of the overrides in force, so every output says
exactly which rules produced it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kodomo_pipeline.config.errors import ConfigError, validate_model
from kodomo_pipeline.config.feeds import FeedSpec, load_feeds
from kodomo_pipeline.config.paths import config_root

TypeCode = Literal["AB", "PP", "DD"]
LevelName = Literal["A", "B", "C"]  # most urgent first
MAX_WINDOW_MONTHS = 120


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys silently; a rule set must not (R05 twice is a mistake)."""


def _mapping_without_duplicates(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def read_rules_yaml(path: Path) -> dict:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(top)"
        raise ConfigError(path, where, str(getattr(exc, "problem", exc))) from None
    if not isinstance(data, dict):
        raise ConfigError(path, "(top)", "must be a mapping")
    return data


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Level(_Strict):
    min_score: int = Field(ge=0)
    meaning: str


class Rule(_Strict):
    name: str
    feeds: tuple[str, ...] = Field(min_length=1)
    applies_to: tuple[Literal["child", "expectant_mother"], ...] = Field(min_length=1)
    points: dict[TypeCode, int] = {}
    max_age: int | None = Field(default=None, ge=0, le=17)
    max_age_exclusive: int | None = Field(default=None, ge=1, le=18)
    params: dict[str, Any] = {}
    columns: tuple[str, ...] = ()  # columns the rule reads where only some towns export them
    effect: Literal["known_case", "level_A_for_PP"] | None = None
    economic: bool = False  # an income indicator (poverty alone must stay visible: fairness)
    enabled: bool = True
    reason: str

    @field_validator("points")
    @classmethod
    def _non_negative(cls, value: dict[str, int]) -> dict[str, int]:
        if any(points < 0 for points in value.values()):
            raise ValueError("points must not be negative")
        return value

    @model_validator(mode="after")
    def _windows_are_sane(self) -> Rule:
        for key in ("window_months", "last_months", "grace_months"):
            if key in self.params:
                value = self.params[key]
                if not isinstance(value, int) or not 1 <= value <= MAX_WINDOW_MONTHS:
                    raise ValueError(f"params.{key} must be a whole number of months from 1 to {MAX_WINDOW_MONTHS}")
        return self


class RuleSetFile(_Strict):
    version: str = Field(pattern=r"^v\d+$")
    difficulty_types: dict[TypeCode, str]
    levels: dict[LevelName, Level]
    rules: dict[str, Rule]

    @field_validator("rules")
    @classmethod
    def _rule_ids(cls, value: dict[str, Rule]) -> dict[str, Rule]:
        bad = [rule_id for rule_id in value if not (len(rule_id) == 3 and rule_id[0] == "R" and rule_id[1:].isdigit())]
        if bad:
            raise ValueError(f"rule IDs are R + two digits, not {', '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _levels_descend(self) -> RuleSetFile:
        if not self.levels["A"].min_score > self.levels["B"].min_score > self.levels["C"].min_score:
            raise ValueError("level boundaries must descend: A > B > C")
        return self


class RuleSet(BaseModel):
    """The rule set in force for one town: base file + that town's overrides, with its version string."""

    model_config = ConfigDict(frozen=True)

    base_version: str
    version: str
    difficulty_types: dict[str, str]
    levels: dict[str, Level]
    rules: dict[str, Rule]
    overrides: dict[str, Any]

    def enabled_rules(self) -> dict[str, Rule]:
        return {rule_id: rule for rule_id, rule in self.rules.items() if rule.enabled}


def _check_feeds(path: Path, rules: dict[str, Rule], feeds: dict[str, FeedSpec]) -> None:
    for rule_id, rule in rules.items():
        for feed in rule.feeds:
            if feed not in feeds:
                raise ConfigError(path, f"rules.{rule_id}.feeds", f"unknown feed {feed!r}")
        known = {column for feed in rule.feeds for column in feeds[feed].columns}
        for column in rule.columns:
            if column not in known:
                raise ConfigError(path, f"rules.{rule_id}.columns", f"{column!r} is not a column of its feeds")


@cache
def load_base_rules(path: Path | None = None) -> RuleSetFile:
    path = (path or config_root() / "rules" / "risk_rules_v1.yaml").resolve()
    data = validate_model(RuleSetFile, read_rules_yaml(path), path)
    _check_feeds(path, data.rules, load_feeds())
    return data


def _merge(base: dict, change: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in change.items():
        merged[key] = (
            _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


def version_of(base_version: str, overrides: dict) -> str:
    """`v1` without overrides; `v1+1a2b3c4d` with them (hash of the overrides, key order ignored)."""
    if not overrides:
        return base_version
    canonical = json.dumps(overrides, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return f"{base_version}+{hashlib.sha256(canonical.encode()).hexdigest()[:8]}"


def apply_overrides(town_file: Path, overrides: dict[str, Any], base_path: Path | None = None) -> RuleSet:
    """The rule set in force for a town: `rule_overrides:` of its file on top of the shared rules."""
    base = load_base_rules(base_path)
    raw = base.model_dump()
    for key, change in overrides.items():
        where = f"rule_overrides.{key}"
        if key == "levels":
            if not isinstance(change, dict) or any(level not in raw["levels"] for level in change):
                raise ConfigError(town_file, where, "may change levels A, B or C only")
            raw["levels"] = _merge(raw["levels"], change)
        elif key in raw["rules"]:
            if not isinstance(change, dict):
                raise ConfigError(town_file, where, "must be a mapping of the rule's keys to new values")
            raw["rules"][key] = _merge(raw["rules"][key], change)
        else:
            raise ConfigError(town_file, where, f"unknown rule {key!r} (known: R01–R{len(raw['rules']):02d}, levels)")
    merged = validate_model(RuleSetFile, raw, town_file)
    _check_feeds(town_file, merged.rules, load_feeds())
    return RuleSet(
        base_version=base.version,
        version=version_of(base.version, overrides),
        difficulty_types=merged.difficulty_types,
        levels=merged.levels,
        rules=merged.rules,
        overrides=overrides,
    )
