"""The generator plants at least one case of each rare rule a town's exports can fire (generator/guarantee.py)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from kodomo_pipeline.config import load_towns
from kodomo_pipeline.generator import dates as D
from kodomo_pipeline.generator.context import Context
from kodomo_pipeline.generator.guarantee import PLANTERS, plant_missing_rules
from kodomo_pipeline.generator.population import take_snapshot
from kodomo_pipeline.generator.pupils import build_pupils
from kodomo_pipeline.generator.risk import reading
from kodomo_pipeline.generator.town import _build_frames, _town_digit, build_town_world

ASOF = dt.date(2026, 11, 26)
# What each planted rule reads; a town without one of these feeds cannot fire the rule.
NEEDS = {"R12": "sango_shitsumon", "R13": "sango_shitsumon", "R14": "sango_shitsumon", "R18": "gakko_shusseki",
         "R19": "jumin"}  # fmt: skip


@pytest.mark.parametrize(("town_name", "population", "seed"), [("misato", 600, 2), ("kawashima", 600, 0)])
def test_every_rare_rule_the_town_can_fire_is_planted(town_name: str, population: int, seed: int) -> None:
    town = load_towns()[town_name]
    rng, places, world, population = build_town_world(town, population, seed)
    ctx = Context(town, places, rng, world, take_snapshot(world, D.day(ASOF)), ASOF, _town_digit(town.town), population)
    pupils = build_pupils(ctx)
    frames, _ = _build_frames(ctx, pupils)
    _, before = reading(ctx, frames, pupils.person)
    planted = plant_missing_rules(ctx, frames, pupils.person)
    _, after = reading(ctx, frames, pupils.person)
    can_fire = {rule for rule, feed in NEEDS.items() if feed in town.feeds}
    assert can_fire <= set(after["rule_id"]), sorted(can_fire - set(after["rule_id"]))
    missing_before = can_fire - set(before["rule_id"])
    assert set(planted) == missing_before, "only what was missing is planted"
    assert missing_before, "a town this small lacks some rare rule: the planting is exercised"
    # One changed row per planted rule: the other rules' facts stay as they were.
    untouched = ~before["rule_id"].isin(PLANTERS)
    assert len(after[~after["rule_id"].isin(PLANTERS)]) == int(untouched.sum())
    assert np.array_equal(sorted(after.loc[~after["rule_id"].isin(PLANTERS), "resident_id"]),
                          sorted(before.loc[untouched, "resident_id"]))  # fmt: skip
