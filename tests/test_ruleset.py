"""The rule set is data: schema-checked with errors naming file and key; overrides change the version."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kodomo_pipeline.config import ConfigError
from kodomo_pipeline.config.paths import config_root
from kodomo_pipeline.rules.ruleset import apply_overrides, load_base_rules, version_of

TOWN = Path("resources/towns/misato.yaml")


@pytest.fixture()
def rules_copy(tmp_path: Path) -> Path:
    path = tmp_path / "risk_rules_v1.yaml"
    shutil.copy(config_root() / "rules" / "risk_rules_v1.yaml", path)
    return path


def test_the_shipped_rule_set_loads_with_25_rules() -> None:
    rules = load_base_rules().rules
    assert sorted(rules) == [f"R{n:02d}" for n in range(1, 26)]
    assert rules["R13"].effect == "level_A_for_PP" and rules["R02"].effect == "known_case"
    assert rules["R10"].economic and rules["R10"].params["cap"] == 2


def test_no_overrides_is_plain_v1_and_overrides_get_a_stable_hash() -> None:
    assert apply_overrides(TOWN, {}).version == "v1"
    one = apply_overrides(TOWN, {"R05": {"points": {"AB": 4}}, "levels": {"A": {"min_score": 9}}})
    same = apply_overrides(TOWN, {"levels": {"A": {"min_score": 9}}, "R05": {"points": {"AB": 4}}})
    other = apply_overrides(TOWN, {"R05": {"points": {"AB": 5}}})
    assert one.version == same.version != other.version and one.version.startswith("v1+")
    assert one.rules["R05"].points == {"AB": 4, "PP": 1} and one.levels["A"].min_score == 9
    assert version_of("v1", {}) == "v1"


def test_a_rule_can_be_switched_off() -> None:
    rules = apply_overrides(TOWN, {"R19": {"enabled": False}})
    assert "R19" not in rules.enabled_rules() and "R18" in rules.enabled_rules()


@pytest.mark.parametrize(
    ("overrides", "key", "words"),
    [
        ({"R99": {"points": {"AB": 1}}}, "rule_overrides.R99", "unknown rule"),
        ({"R01": {"params": {"window_months": 0}}}, "rules.R01", "window_months"),
        ({"R01": {"feeds": ["kindergarten"]}}, "rules.R01.feeds", "unknown feed"),
        ({"R01": {"pointz": {"AB": 1}}}, "rules.R01.pointz", "Extra inputs"),
        ({"levels": {"A": {"min_score": 4}}}, "(top)", "descend"),
        ({"levels": {"S": {"min_score": 20}}}, "rule_overrides.levels", "A, B or C"),
    ],
)
def test_bad_overrides_name_the_town_file_and_key(overrides: dict, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        apply_overrides(TOWN, overrides)
    assert caught.value.path == TOWN and caught.value.key == key and words in caught.value.problem


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ("  R25: {name: 障害相談歴", "  R05: {name: 障害相談歴", "line", "duplicate key 'R05'"),
        (
            "feeds: [jido_soudan], applies_to: [child], points: {DD: 3}",
            "feeds: [soudan], applies_to: [child], points: {DD: 3}",
            "rules.R25.feeds",
            "unknown feed",
        ),
        (
            "params: {last_months: 12, min_days: 30}",
            "params: {last_months: 240, min_days: 30}",
            "rules.R17",
            "1 to 120",
        ),
        ("  R24: {name: QU要支援", "  Q24: {name: QU要支援", "rules", "R + two digits"),
    ],
)
def test_bad_rule_files_name_file_and_key(rules_copy: Path, old: str, new: str, key: str, words: str) -> None:
    text = rules_copy.read_text(encoding="utf-8")
    assert old in text
    rules_copy.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_base_rules(rules_copy)
    assert caught.value.path == rules_copy and caught.value.key.startswith(key) and words in caught.value.problem
