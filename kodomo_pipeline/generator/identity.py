"""Surname changes on the timeline: which households change, when, and when nurseries and schools follow.

After a divorce (or a remarriage) the registry changes the mother's and the
children's surname on the day it is filed; a school often keeps the old one
until the school year ends or the child leaves (旧姓の通称使用), and sometimes
uses the new one before the registry has it (the family asked the school first,
the divorce was filed later). The registry's name at T and the name a record
holds at T are both functions of the timeline, so every snapshot agrees with
every other one and a matcher that knows the registry's earlier names can link.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kodomo_pipeline.generator import dates as D
from kodomo_pipeline.generator.presets import SurnameChange
from kodomo_pipeline.generator.rng import Rng

# Lead of a school that uses the new surname before the registry has it (days).
AHEAD_DAYS = (30, 400)


@dataclass(frozen=True)
class SurnameChanges:
    """Per household (index h): the day the registry changes the surname (NEVER: none) and the new surname."""

    day: np.ndarray
    surname_idx: np.ndarray  # index into surname_table(), -1 when no change
    school_ahead: np.ndarray  # the school switches `lead` days before the registry
    lead: np.ndarray
    keep_until_end: np.ndarray  # the school keeps the old surname until the record ends

    @property
    def any(self) -> bool:
        return bool((self.day < D.NEVER).any())


def draw_surname_changes(
    rng: Rng,
    rates: SurnameChange,
    htype: np.ndarray,
    anchor: np.ndarray,
    divorce: np.ndarray,
    hh_out: np.ndarray,
    surname_idx: np.ndarray,
    n_surnames: int,
    has_mother: np.ndarray,
) -> SurnameChanges:
    """A share of the households with a mother change surname: on the divorce day when there is one, else later."""
    h = np.arange(len(htype), dtype=np.int64)
    never = np.full(len(h), D.NEVER, dtype=np.int64)
    if rates.households <= 0:
        return SurnameChanges(never, np.full(len(h), -1), np.zeros(len(h), bool), np.zeros(len(h), np.int64),
                              np.zeros(len(h), bool))  # fmt: skip
    changes = has_mother & (rng.uniform("rename", h) < rates.households)
    # A remarriage or a family-court change of the children's surname: 2–14 years after the first birth.
    later = D.add_years(anchor, 2.0 + 12.0 * rng.uniform("rename_at", h))
    day = np.where(divorce < D.NEVER, divorce, later)
    day = np.where(changes & (day < hh_out), day, D.NEVER).astype(np.int64)
    offset = 1 + rng.integers("rename_surname", 0, n_surnames - 1, h)
    new = np.where(day < D.NEVER, (surname_idx + offset) % n_surnames, -1)
    ahead = (day < D.NEVER) & (rng.uniform("rename_school_ahead", h) < rates.school_ahead)
    lead = rng.integers("rename_lead", AHEAD_DAYS[0], AHEAD_DAYS[1], h)
    keep = (day < D.NEVER) & ~ahead & (rng.uniform("rename_keep", h) < rates.keep_until_school_end)
    return SurnameChanges(day, new, ahead, lead, keep)


def record_switch_day(changes: SurnameChanges, hh: np.ndarray, record_start: np.ndarray) -> np.ndarray:
    """First day a nursery/school record holds the new surname (NEVER: never).

    A record opened on or after the registry change starts with the new surname; an older one follows at the
    next 1 April, at the end of the record (keep_until_end), or `lead` days before the registry (school ahead).
    """
    hh = np.asarray(hh, dtype=np.int64)
    ok = hh >= 0
    h = np.maximum(hh, 0)
    day = np.where(ok, changes.day[h], D.NEVER)
    fy_end = D.from_ymd(D.fiscal_year(np.minimum(day, D.NEVER - 1)) + 1, np.full(len(h), 4), np.ones(len(h), int))[0]
    lagging = np.where(changes.keep_until_end[h], D.NEVER, fy_end)
    lagging = np.where(record_start >= day, day, lagging)
    switch = np.where(changes.school_ahead[h], day - changes.lead[h], lagging)
    return np.where(ok & (day < D.NEVER), switch, D.NEVER).astype(np.int64)
