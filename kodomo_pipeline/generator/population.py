"""Households and persons on a fixed timeline, independent of the as-of date.

Every household is drawn with its whole history (births, moves, departures,
deaths) from hashes of (seed, household, slot), over a timeline that covers
every supported as-of date. A snapshot at an as-of date is then a filter, so
a later as-of date sees the same people, older, plus newborns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from kodomo_pipeline.generator import dates as D
from kodomo_pipeline.generator.cases import foreign_households, foreign_names, similar_given_name
from kodomo_pipeline.generator.identity import SurnameChanges, draw_surname_changes
from kodomo_pipeline.generator.names import (
    FULLWIDTH_SPACE,
    pick_given_names,
    registered_form,
    surname_table,
    to_rare_variant,
)
from kodomo_pipeline.generator.places import Addresses, TownPlaces, draw_addresses, relocated
from kodomo_pipeline.generator.presets import NoisePreset, load_preset
from kodomo_pipeline.generator.rng import Rng

ASOF_MIN = dt.date(2000, 1, 1)
ASOF_MAX = dt.date(2040, 12, 31)
ANCHOR_FIRST = D.day(dt.date(1968, 1, 1))
ANCHOR_LAST = D.day(dt.date(2042, 12, 31))
# Timeline households per town resident, calibrated so that the jumin extract (households with a
# child or a pregnancy) holds ~37% of the town's residents at any supported as-of date.
HOUSEHOLDS_PER_RESIDENT = 0.38
RETENTION_DAYS = 730  # departed persons stay in the extract (除票) for two years

# Household types.
NUCLEAR, WIFE_HEAD, SINGLE_MOTHER, MOTHER_WITH_PARENTS, SINGLE_FATHER, THREEGEN_A, THREEGEN_B = range(7)
TYPE_WEIGHTS = (0.60, 0.03, 0.08, 0.05, 0.02, 0.10, 0.12)
# Member slots.
GF, GM, FATHER, MOTHER, AUNT, PARTNER = range(6)
CHILD0 = 6
MAX_CHILDREN = 6
SLOTS = CHILD0 + MAX_CHILDREN
SLOT_KEY = 16  # person key = household * SLOT_KEY + slot

EXIT_NONE, EXIT_MOVED, EXIT_DIED = 0, 1, 2
RELATIONSHIPS = ("世帯主", "妻", "夫", "子", "子の妻", "孫", "父", "母", "祖父", "祖母", "同居人", "その他")
REL = {name: i for i, name in enumerate(RELATIONSHIPS)}


@dataclass(frozen=True)
class World:
    """The town's child-rearing households over the whole timeline (one seed, one size)."""

    rng: Rng
    places: TownPlaces
    # households (index h)
    htype: np.ndarray
    anchor: np.ndarray
    hh_in: np.ndarray
    hh_out: np.ndarray
    move2: np.ndarray  # in-town move (転居) day, NEVER if none
    divorce: np.ndarray  # father leaves (type NUCLEAR), NEVER if none
    head_is_gm: np.ndarray  # multi-generation household whose grandfather is absent
    surname_idx: np.ndarray
    surname_form: np.ndarray
    surname_reading: np.ndarray
    ab_risk: np.ndarray  # latent: maltreatment risk of the household
    poor: np.ndarray  # latent: low income
    teen_first: np.ndarray  # the mother was under 20 at her first birth
    addr_old: Addresses
    addr_new: Addresses
    # persons (index p, household-major, then slot)
    hh: np.ndarray
    slot: np.ndarray
    pkey: np.ndarray
    female: np.ndarray
    birth: np.ndarray
    start: np.ndarray
    exit: np.ndarray
    exit_kind: np.ndarray
    birth_event: np.ndarray  # children: index of the birth event in the household (-1 otherwise)
    twin: np.ndarray
    mother: np.ndarray  # person index of the biological mother (children), -1 otherwise
    dd: np.ndarray  # latent: developmental disability (children)
    psych: np.ndarray  # latent: psychiatric illness (mothers)
    # pregnancies (index q): one per birth event whose mother is a member
    preg_mother: np.ndarray
    preg_hh: np.ndarray
    preg_event: np.ndarray
    preg_birth: np.ndarray
    preg_due: np.ndarray
    preg_notified: np.ndarray
    preg_weeks: np.ndarray
    preg_in_town: np.ndarray  # the mother lived in town when she notified (the notice is the town's)
    preg_late: np.ndarray  # latent: notified late (planted)
    # identity cases of the noise preset (names.py/identity.py read them; clean/default: none)
    preset: NoisePreset = field(default_factory=load_preset)
    surname_changes: SurnameChanges | None = None  # per household (identity.py); None: nobody changes surname
    close_sibling: np.ndarray | None = None  # per household: second child 10–11 months after the first (cases.py)
    same_name_of: np.ndarray | None = None  # per household: the household whose first child shares the name, -1

    @property
    def n_households(self) -> int:
        return len(self.htype)

    @property
    def n_persons(self) -> int:
        return len(self.hh)

    @cached_property
    def household_persons(self) -> np.ndarray:
        """Offsets: persons of household h are offsets[h]:offsets[h+1]."""
        return np.searchsorted(self.hh, np.arange(self.n_households + 1))


def _same_name_pairs(rng: Rng, rate: float, h: np.ndarray) -> np.ndarray:
    """Per household, the other household whose first child this one's first child is a namesake of (-1: none)."""
    if rate <= 0:
        return np.full(len(h), -1, dtype=np.int64)
    chosen = rng.uniform("same_name", h) < rate
    other = rng.integers("same_name_of", 0, len(h), h)
    ok = chosen & (other != h) & ~chosen[other]
    return np.where(ok, other, -1).astype(np.int64)


def _years(rng: Rng, tag: str, lo: float, hi: float, keys: np.ndarray) -> np.ndarray:
    return lo + (hi - lo) * rng.uniform(tag, keys)


def build_world(rng: Rng, places: TownPlaces, population: int, preset: NoisePreset | None = None) -> World:
    """Draw every household and person of the timeline (vectorised over households)."""
    preset = preset or load_preset()
    n_h = max(1, round(population * HOUSEHOLDS_PER_RESIDENT))
    h = np.arange(n_h, dtype=np.int64)
    htype = rng.choice("htype", TYPE_WEIGHTS, h)
    anchor = rng.integers("anchor", ANCHOR_FIRST, ANCHOR_LAST + 1, h)
    same_name_of = _same_name_pairs(rng, preset.same_name_residents, h)
    # The first child of a same-name household is born on the other household's first child's birthday.
    anchor = np.where(same_name_of >= 0, anchor[np.maximum(same_name_of, 0)], anchor)
    multi = np.isin(htype, (MOTHER_WITH_PARENTS, THREEGEN_A, THREEGEN_B))

    # Mother's age at first birth: teen mothers mostly live with their own parents.
    teen_p = np.select([htype == MOTHER_WITH_PARENTS, htype == SINGLE_MOTHER], [0.30, 0.06], 0.006)
    teen_first = rng.uniform("teen", h) < teen_p
    age_first = np.where(
        teen_first,
        _years(rng, "teen_age", 15.2, 19.95, h),
        np.clip(30.5 + 4.3 * rng.normal("age_first", h), 19.5, 44.0),
    )
    mother_birth = D.add_years(anchor, -age_first)
    father_birth = D.add_years(mother_birth, -np.clip(2.0 + 3.0 * rng.normal("father_gap", h), -4, 12))
    father_birth = np.minimum(father_birth, D.add_years(anchor, -18.5))

    # Birth events: 1–4, with gaps; twins ~1% of births; the mother at most 46.
    n_events = 1 + rng.choice("n_events", (0.30, 0.47, 0.19, 0.04), h)
    events = np.full((n_h, 4), D.NEVER, dtype=np.int64)
    events[:, 0] = anchor
    close = (rng.uniform("close_sibling", h) < preset.close_siblings) if preset.close_siblings > 0 else h < 0
    for e in range(1, 4):
        gap = np.clip(2.9 + 1.3 * rng.normal(f"gap{e}", h), 1.05, 8.0)
        if e == 1:
            gap = np.where(close, (300 + rng.integers("close_gap", 0, 46, h)) / 365.25, gap)
        nxt = D.add_years(events[:, e - 1], gap)
        ok = (e < n_events) & (nxt <= D.add_years(mother_birth, 46.0))
        events[:, e] = np.where(ok, nxt, D.NEVER)
    twin_event = (rng.uniform("twin", h[:, None], np.arange(4)[None, :]) < 0.0105) & (events < D.NEVER)

    # Grandparents (parents of the father in THREEGEN_A/B, of the mother in MOTHER_WITH_PARENTS).
    link_parent_birth = np.where(htype == MOTHER_WITH_PARENTS, mother_birth, father_birth)
    gf_birth = D.add_years(link_parent_birth, -np.clip(28.5 + 3.5 * rng.normal("gf_age", h), 20, 42))
    gm_birth = D.add_years(gf_birth, np.clip(2.0 + 2.5 * rng.normal("gm_gap", h), -3, 9))
    gm_birth = np.minimum(gm_birth, D.add_years(link_parent_birth, -18.0))
    has_gf = multi & (rng.uniform("has_gf", h) < 0.8)
    has_gm = multi & ((rng.uniform("has_gm", h) < 0.88) | ~has_gf)
    has_gm |= (htype == SINGLE_FATHER) & (rng.uniform("sf_mother", h) < 0.4)
    head_is_gm = np.isin(htype, (MOTHER_WITH_PARENTS, THREEGEN_B)) & ~has_gf

    # Residence of the household.
    gp_born_here = rng.uniform("gp_born_here", h) < 0.6
    gp_in = np.where(gp_born_here, gf_birth, D.add_years(gf_birth, _years(rng, "gp_in", 24, 38, h)))
    gp_in = np.where(has_gf, gp_in, np.where(gp_born_here, gm_birth, D.add_years(gm_birth, 26.0)))
    born_here = rng.uniform("born_here", h) < 0.55
    nuclear_in = np.where(
        born_here,
        D.add_years(anchor, -_years(rng, "in_before", 0.3, 5.0, h)),
        D.add_years(anchor, _years(rng, "in_after", -2.0, 14.0, h)),
    )
    nuclear_in = np.maximum(nuclear_in, D.add_years(mother_birth, 16.0))
    hh_in = np.where(multi, np.minimum(gp_in, D.add_years(anchor, -0.2)), nuclear_in)
    leaves = rng.uniform("leaves", h) < np.where(multi, 0.12, 0.30)
    out_from = np.maximum(hh_in, anchor) + 180
    hh_out = np.where(leaves, out_from + (rng.uniform("out_at", h) * (D.add_years(anchor, 28.0) - out_from)), D.NEVER)
    hh_out = np.maximum(hh_out, hh_in + 200).astype(np.int64)
    moves = rng.uniform("move2", h) < 0.16
    move_from = np.maximum(hh_in, anchor) + 180
    move2 = np.where(moves, move_from + rng.uniform("move2_at", h) * (D.add_years(anchor, 20.0) - move_from), D.NEVER)
    move2 = np.where(move2 < hh_out, move2, D.NEVER).astype(np.int64)
    divorce = np.where(
        (htype == NUCLEAR) & (rng.uniform("divorce", h) < 0.12),
        D.add_years(anchor, _years(rng, "divorce_at", 0.5, 14.0, h)),
        D.NEVER,
    )
    divorce = np.where(divorce < hh_out, divorce, D.NEVER).astype(np.int64)

    # Surname of the household (variant spelling as registered for some families).
    sur = surname_table()
    surname_idx = rng.choice("surname", sur.weights, h)
    n_var = sur.n_variant_forms[surname_idx]
    u_var = rng.uniform("surname_variant", h)
    surname_form = np.where((n_var > 0) & (u_var < 0.22), 1 + (u_var * 1000).astype(np.int64) % np.maximum(n_var, 1), 0)
    n_read = sur.n_readings[surname_idx]
    u_read = rng.uniform("surname_reading", h)
    surname_reading = np.where(u_read < 0.7, 0, (u_read * 1000).astype(np.int64) % n_read)
    surname_reading = np.minimum(surname_reading, n_read - 1)
    pair = same_name_of >= 0
    paired_any = pair.copy()  # both households of a same-name pair keep their surname (no change, not foreign)
    paired_any[same_name_of[pair]] = True
    for arr in (surname_idx, surname_form, surname_reading):
        arr[pair] = arr[same_name_of[pair]]

    surname_changes = draw_surname_changes(
        rng, preset.surname_change, htype, anchor, divorce, hh_out, surname_idx, len(sur.weights),
        (htype != SINGLE_FATHER) & ~foreign_households(rng, preset.foreign.households, h) & ~paired_any,
    )  # fmt: skip

    # Latent risk of the household.
    single = np.isin(htype, (SINGLE_MOTHER, MOTHER_WITH_PARENTS, SINGLE_FATHER)) | (divorce < D.NEVER)
    ab_risk = rng.uniform("ab_risk", h) < 0.012 + 0.045 * single + 0.06 * teen_first
    poor = rng.uniform("poor", h) < 0.05 + 0.22 * single + 0.1 * ab_risk

    addr_old = draw_addresses(rng, "addr_old", places, h)
    addr_new = relocated(rng, places, addr_old, draw_addresses(rng, "addr_new", places, h), h)

    # ---- persons: a (household, slot) grid, then flattened where the member exists ----
    exists = np.zeros((n_h, SLOTS), dtype=bool)
    birth = np.full((n_h, SLOTS), D.NEVER, dtype=np.int64)
    start = np.full((n_h, SLOTS), D.NEVER, dtype=np.int64)
    exit_ = np.full((n_h, SLOTS), D.NEVER, dtype=np.int64)
    kind = np.zeros((n_h, SLOTS), dtype=np.int8)
    female = np.zeros((n_h, SLOTS), dtype=bool)

    has_father = np.isin(htype, (NUCLEAR, WIFE_HEAD, SINGLE_FATHER, THREEGEN_A, THREEGEN_B))
    has_mother = htype != SINGLE_FATHER
    exists[:, GF], birth[:, GF] = has_gf, gf_birth
    exists[:, GM], birth[:, GM], female[:, GM] = has_gm, gm_birth, True
    exists[:, FATHER], birth[:, FATHER] = has_father, father_birth
    exists[:, MOTHER], birth[:, MOTHER], female[:, MOTHER] = has_mother, mother_birth, True
    # An adult daughter of the grandparents (the mother's or father's sister), 子 in the register.
    has_aunt = np.isin(htype, (MOTHER_WITH_PARENTS, THREEGEN_B)) & (rng.uniform("aunt", h) < 0.15)
    aunt_birth = np.maximum(D.add_years(link_parent_birth, 5.0 * rng.normal("aunt_age", h)), D.add_years(gm_birth, 17))
    exists[:, AUNT], birth[:, AUNT], female[:, AUNT] = has_aunt, aunt_birth, True
    # A partner (同居人) of a single mother, or another relative (その他) in a few nuclear households.
    partner_join = D.add_years(anchor, _years(rng, "partner_join", 0.5, 9.0, h))
    has_partner = ((htype == SINGLE_MOTHER) & (rng.uniform("partner", h) < 0.2)) | (
        (htype == NUCLEAR) & (rng.uniform("other_rel", h) < 0.02)
    )
    exists[:, PARTNER] = has_partner
    birth[:, PARTNER] = D.add_years(mother_birth, -np.clip(1.0 + 4.0 * rng.normal("partner_age", h), -8, 15))
    female[:, PARTNER] = (htype == NUCLEAR) & (rng.uniform("other_sex", h) < 0.5)

    # Children from birth events (twins take two slots).
    child_event = np.full((n_h, MAX_CHILDREN), -1, dtype=np.int64)
    child_twin = np.zeros((n_h, MAX_CHILDREN), dtype=bool)
    filled = np.zeros(n_h, dtype=np.int64)
    for e in range(4):
        for twin_second in (False, True):
            want = (events[:, e] < D.NEVER) & ((~np.bool_(twin_second)) | twin_event[:, e]) & (filled < MAX_CHILDREN)
            rows = np.flatnonzero(want)
            cols = filled[rows]
            child_event[rows, cols] = e
            child_twin[rows, cols] = twin_event[rows, e]
            filled[rows] += 1
    child_exists = child_event >= 0
    child_birth = np.where(child_exists, np.take_along_axis(events, np.maximum(child_event, 0), axis=1), D.NEVER)
    exists[:, CHILD0:] = child_exists
    birth[:, CHILD0:] = child_birth
    slots_child = np.arange(CHILD0, SLOTS)
    female[:, CHILD0:] = rng.uniform("child_sex", h[:, None] * SLOT_KEY + slots_child[None, :]) < 0.488
    female[pair, CHILD0] = female[same_name_of[pair], CHILD0]

    # In-town start of each member.
    start[:, GF] = gp_in
    gm_marriage = np.where(gp_born_here, D.add_years(gm_birth, _years(rng, "gm_marry", 21, 28, h)), gp_in)
    start[:, GM] = np.where(has_gf, np.maximum(gm_marriage, gm_birth), gp_in)
    marriage = D.add_years(anchor, -_years(rng, "marriage", 0.3, 4.0, h))
    # The household's own child (father in THREEGEN_A/B, mother in MOTHER_WITH_PARENTS) grew up there.
    start[:, FATHER] = np.where(np.isin(htype, (THREEGEN_A, THREEGEN_B)), np.maximum(father_birth, gp_in), hh_in)
    start[:, MOTHER] = np.select(
        [htype == MOTHER_WITH_PARENTS, np.isin(htype, (THREEGEN_A, THREEGEN_B))],
        [np.maximum(mother_birth, gp_in), np.maximum(marriage, D.add_years(mother_birth, 18.0))],
        hh_in,
    )
    start[:, AUNT] = np.maximum(aunt_birth, gp_in)
    start[:, PARTNER] = np.where(htype == SINGLE_MOTHER, np.maximum(partner_join, hh_in), hh_in)
    start[:, CHILD0:] = np.maximum(child_birth, hh_in[:, None])
    # Departures: whole household, divorce, deaths, grown-up children, partners.
    exit_[:] = hh_out[:, None]
    kind[:] = np.where(hh_out < D.NEVER, EXIT_MOVED, EXIT_NONE)[:, None]

    def depart(slot: int | np.ndarray, when: np.ndarray, how: int) -> None:
        cols = np.broadcast_to(np.asarray(slot), (n_h,)) if np.ndim(slot) == 0 else slot
        cur = exit_[h, cols]
        earlier = when < cur
        exit_[h[earlier], cols[earlier]] = when[earlier]
        kind[h[earlier], cols[earlier]] = how

    depart(FATHER, divorce, EXIT_MOVED)
    gf_death = np.where(head_is_gm | np.isin(htype, (MOTHER_WITH_PARENTS, THREEGEN_B)), D.NEVER,
                        D.add_years(gf_birth, np.clip(83 + 7 * rng.normal("gf_death", h), 55, 100)))  # fmt: skip
    gm_death = np.where(
        head_is_gm, D.NEVER, D.add_years(gm_birth, np.clip(88 + 6 * rng.normal("gm_death", h), 60, 104))
    )
    depart(GF, gf_death.astype(np.int64), EXIT_DIED)
    depart(GM, gm_death.astype(np.int64), EXIT_DIED)
    aunt_leaves = np.where(
        rng.uniform("aunt_leaves", h) < 0.6, D.add_years(anchor, _years(rng, "aunt_at", 0, 10, h)), D.NEVER
    )
    depart(AUNT, np.maximum(aunt_leaves, start[:, AUNT] + 30).astype(np.int64), EXIT_MOVED)
    partner_leaves = np.where(
        rng.uniform("partner_leaves", h) < 0.5,
        start[:, PARTNER] + (_years(rng, "partner_stay", 0.5, 5, h) * 365.25).astype(np.int64),
        D.NEVER,
    )
    depart(PARTNER, partner_leaves.astype(np.int64), EXIT_MOVED)
    for c in range(MAX_CHILDREN):
        keys = h * SLOT_KEY + CHILD0 + c
        grown = np.where(
            rng.uniform("grown_leaves", keys) < 0.65,
            D.add_years(child_birth[:, c], 18.0 + 10 * rng.uniform("grown_at", keys)),
            D.NEVER,
        )
        depart(CHILD0 + c, np.minimum(grown, D.NEVER).astype(np.int64), EXIT_MOVED)
    valid = exists & (start < exit_) & (birth < D.NEVER)

    flat = np.flatnonzero(valid.ravel())
    hh_of = flat // SLOTS
    slot_of = flat % SLOTS
    n_p = len(flat)
    person_at = np.full(n_h * SLOTS, -1, dtype=np.int64)
    person_at[flat] = np.arange(n_p)
    mother_index = person_at[hh_of * SLOTS + MOTHER]
    is_child = slot_of >= CHILD0
    dd = is_child & (rng.uniform("dd", hh_of * SLOT_KEY + slot_of) < np.where(female.ravel()[flat], 0.009, 0.022))
    psych = (slot_of == MOTHER) & (rng.uniform("psych", hh_of * SLOT_KEY + slot_of) < 0.012 + 0.05 * ab_risk[hh_of])
    preg = _pregnancies(rng, events, person_at, ab_risk, teen_first, start.ravel(), exit_.ravel())

    return World(
        rng=rng,
        places=places,
        htype=htype,
        anchor=anchor,
        hh_in=hh_in,
        hh_out=hh_out,
        move2=move2,
        divorce=divorce,
        head_is_gm=head_is_gm,
        surname_idx=surname_idx,
        surname_form=surname_form,
        surname_reading=surname_reading,
        ab_risk=ab_risk,
        poor=poor,
        teen_first=teen_first,
        addr_old=addr_old,
        addr_new=addr_new,
        hh=hh_of,
        slot=slot_of,
        pkey=hh_of * SLOT_KEY + slot_of,
        female=female.ravel()[flat],
        birth=birth.ravel()[flat],
        start=start.ravel()[flat],
        exit=exit_.ravel()[flat],
        exit_kind=kind.ravel()[flat],
        birth_event=np.where(is_child, child_event[hh_of, np.maximum(slot_of - CHILD0, 0)], -1),
        twin=np.where(is_child, child_twin[hh_of, np.maximum(slot_of - CHILD0, 0)], False),
        mother=np.where(is_child, mother_index, -1),
        dd=dd,
        psych=psych,
        **preg,
        preset=preset,
        surname_changes=surname_changes if surname_changes.any else None,
        # Twins at either birth are left out of the close-sibling case (their names follow the twin rule).
        close_sibling=(close & (events[:, 1] < D.NEVER) & ~twin_event[:, 0] & ~twin_event[:, 1])
        if close.any()
        else None,
        same_name_of=same_name_of if pair.any() else None,
    )


# Weeks of pregnancy at notification (natural distribution, weeks 4–19).
_WEEKS = np.arange(4, 20)
_WEEK_WEIGHTS = np.array([1.5, 4, 10, 17, 20, 16, 11, 7, 4, 2.6, 1.8, 1.3, 1.0, 0.8, 0.6, 0.5])


def _pregnancies(
    rng: Rng,
    events: np.ndarray,
    person_at: np.ndarray,
    ab_risk: np.ndarray,
    teen_first: np.ndarray,
    start_flat: np.ndarray,
    exit_flat: np.ndarray,
) -> dict[str, np.ndarray]:
    """One pregnancy per birth event of a member mother: due date, notification day and week."""
    hh_i, ev_i = np.nonzero(events < D.NEVER)
    mother = person_at[hh_i * SLOTS + MOTHER]
    keep = mother >= 0
    hh_i, ev_i, mother = hh_i[keep], ev_i[keep], mother[keep]
    key = hh_i * 4 + ev_i
    birth = events[hh_i, ev_i]
    offset = np.clip(np.round(-3 + 9 * rng.normal("birth_vs_due", key)), -40, 14).astype(np.int64)
    due = birth - offset
    lmp = due - 280
    late_p = 0.004 + 0.10 * ab_risk[hh_i] + 0.08 * (teen_first[hh_i] & (ev_i == 0))
    late = rng.uniform("late_notice", key) < late_p
    weeks = _WEEKS[rng.choice("weeks", _WEEK_WEIGHTS, key)]
    late_weeks = np.where(rng.uniform("late_edge", key) < 0.3, 20, rng.integers("late_weeks", 20, 31, key))
    weeks = np.where(late, late_weeks, weeks)
    weeks = np.minimum(weeks, np.maximum((birth - 1 - lmp) // 7, 4))
    weeks = np.clip(weeks, 4, 39)
    notified = np.minimum(lmp + 7 * weeks + rng.integers("notice_dow", 0, 7, key), due)
    weeks = (notified - lmp) // 7
    pos = hh_i * SLOTS + MOTHER
    in_town = (start_flat[pos] <= notified) & (exit_flat[pos] > notified)
    return {
        "preg_mother": mother,
        "preg_hh": hh_i,
        "preg_event": ev_i,
        "preg_birth": birth,
        "preg_due": due,
        "preg_notified": notified,
        "preg_weeks": weeks.astype(np.int64),
        "preg_in_town": in_town,
        "preg_late": late,
    }


# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Names:
    """Registered and standard written names and readings of some persons."""

    kanji: np.ndarray  # as registered (variant kanji kept)
    kanji_standard: np.ndarray  # every variant replaced by its standard form
    kana: np.ndarray


def person_names(world: World, persons: np.ndarray, day: int | np.ndarray | None = None) -> Names:
    """Names of the given persons on `day` (the registry's then; None: the first surname).

    Household surname (partners their own), given name by sex and cohort; a mother and her children take
    the household's new surname from the day the registry changes it (identity.py).
    """
    rng = world.rng
    sur = surname_table()
    hh = world.hh[persons]
    key = world.pkey[persons]
    own = world.slot[persons] == PARTNER
    s_idx = np.where(own, rng.choice("partner_surname", sur.weights, key), world.surname_idx[hh])
    s_form = np.where(own, 0, world.surname_form[hh])
    s_read = np.where(own, 0, world.surname_reading[hh])
    changes = world.surname_changes
    if changes is not None and day is not None:
        slot = world.slot[persons]
        renamed = ((slot == MOTHER) | (slot >= CHILD0)) & (np.asarray(day) >= changes.day[hh])
        s_idx = np.where(renamed, changes.surname_idx[hh], s_idx)
        s_form = np.where(renamed, 0, s_form)
        s_read = np.where(renamed, 0, s_read)
    s_read = np.minimum(s_read, sur.n_readings[s_idx] - 1)
    surname_reg = sur.forms[s_idx, s_form]
    if world.preset.gaiji.rare_variant > 0:
        # 𠮷 (つちよし) for 吉 in some families' registered surname: outside cp932, so a 外字 in every cp932 export.
        rare = ~own & (rng.uniform("gaiji_rare", hh) < world.preset.gaiji.rare_variant)
        surname_reg = np.where(rare, [to_rare_variant(s) for s in surname_reg], surname_reg)
    surname_std = sur.forms[s_idx, 0]
    surname_kana = sur.readings[s_idx, s_read]
    year, _, _ = D.ymd(world.birth[persons])
    given_std, given_kana = pick_given_names(rng, "given", world.female[persons], year, key)
    _distinct_twin_names(world, persons, year, given_std, given_kana)
    _close_sibling_names(world, persons, year, given_std, given_kana)
    _same_name_children(world, persons, given_std, given_kana)
    given_reg = registered_form(rng, "given_variant", given_std, 0.08, key)
    kanji = np.array([f"{s}{FULLWIDTH_SPACE}{g}" for s, g in zip(surname_reg, given_reg, strict=True)], dtype=object)
    kanji_std = np.array(
        [f"{s}{FULLWIDTH_SPACE}{g}" for s, g in zip(surname_std, given_std, strict=True)], dtype=object
    )
    kana = np.array([f"{s}{FULLWIDTH_SPACE}{g}" for s, g in zip(surname_kana, given_kana, strict=True)], dtype=object)
    foreign = is_foreign(world, hh) & ~own
    if foreign.any():
        f = np.flatnonzero(foreign)
        written, reading, _ = foreign_names(rng, world.preset.foreign.romaji, hh[f], key[f], world.female[persons[f]])
        kanji[f], kanji_std[f], kana[f] = written, written, reading
    return Names(kanji, kanji_std, kana)


def is_foreign(world: World, hh: np.ndarray) -> np.ndarray:
    """Foreign-national households of the preset (never one of a same-name pair)."""
    foreign = foreign_households(world.rng, world.preset.foreign.households, hh)
    if world.same_name_of is not None and foreign.any():
        foreign &= ~_paired(world)[hh]
    return foreign


def _paired(world: World) -> np.ndarray:
    """Households of a same-name pair (either side)."""
    assert world.same_name_of is not None
    out = world.same_name_of >= 0
    out[world.same_name_of[out]] = True
    return out


def first_child(world: World, hh: np.ndarray) -> np.ndarray:
    """Person index of each household's first child (slot CHILD0), -1 when there is none."""
    want = np.asarray(hh, dtype=np.int64) * SLOT_KEY + CHILD0
    pos = np.minimum(np.searchsorted(world.pkey, want), len(world.pkey) - 1)
    return np.where(world.pkey[pos] == want, pos, -1)


def _close_sibling_names(
    world: World, persons: np.ndarray, year: np.ndarray, given: np.ndarray, kana: np.ndarray
) -> None:
    """The second child of a close-sibling household gets a name like the first's (same first kanji or kana)."""
    if world.close_sibling is None:
        return
    hh = world.hh[persons]
    second = world.close_sibling[hh] & (world.birth_event[persons] == 1) & ~world.twin[persons]
    idx = np.flatnonzero(second)
    if not len(idx):
        return
    elder = first_child(world, hh[idx])
    ok = elder >= 0
    idx, elder = idx[ok], elder[ok]
    e_year, _, _ = D.ymd(world.birth[elder])
    e_given, e_kana = pick_given_names(world.rng, "given", world.female[elder], e_year, world.pkey[elder])
    eras = np.where(year[idx] < 1972, "o", np.where(year[idx] < 1994, "m", "n"))
    for j, i in enumerate(idx):
        p = persons[i]
        similar = similar_given_name(
            world.rng, bool(world.female[p]), str(eras[j]), e_given[j], e_kana[j], int(world.pkey[p])
        )
        if similar is not None:
            given[i], kana[i] = similar


def _same_name_children(world: World, persons: np.ndarray, given: np.ndarray, kana: np.ndarray) -> None:
    """The first child of a same-name household takes the paired household's first child's given name."""
    if world.same_name_of is None:
        return
    hh = world.hh[persons]
    other = world.same_name_of[hh]
    idx = np.flatnonzero((other >= 0) & (world.slot[persons] == CHILD0))
    if not len(idx):
        return
    ref = first_child(world, other[idx])
    ok = ref >= 0
    idx, ref = idx[ok], ref[ok]
    r_year, _, _ = D.ymd(world.birth[ref])
    given[idx], kana[idx] = pick_given_names(world.rng, "given", world.female[ref], r_year, world.pkey[ref])


def _distinct_twin_names(
    world: World, persons: np.ndarray, year: np.ndarray, given: np.ndarray, kana: np.ndarray
) -> None:
    """The second twin never gets the first twin's given name (redrawn in place, deterministically)."""
    prev = np.maximum(persons - 1, 0)
    second = (
        world.twin[persons]
        & (persons > 0)
        & (world.hh[prev] == world.hh[persons])
        & (world.birth_event[prev] == world.birth_event[persons])
    )
    idx = np.flatnonzero(second)
    if not len(idx):
        return
    sib = prev[idx]
    sib_given, _ = pick_given_names(world.rng, "given", world.female[sib], year[idx], world.pkey[sib])
    for attempt in range(1, 6):
        same = np.flatnonzero(given[idx] == sib_given)
        if not len(same):
            return
        rows = idx[same]
        redrawn, redrawn_kana = pick_given_names(
            world.rng, f"given_twin{attempt}", world.female[persons[rows]], year[rows], world.pkey[persons[rows]]
        )
        given[rows], kana[rows] = redrawn, redrawn_kana


# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    """Who is in the jumin extract at an as-of date, and their state then."""

    asof: int
    persons: np.ndarray  # person indices in the extract (sorted by household, slot)
    status: np.ndarray  # 0 住民, 1 転出, 2 死亡
    status_date: np.ndarray  # NEVER while 住民
    relationship: np.ndarray  # index into RELATIONSHIPS
    resident_since: np.ndarray
    households: np.ndarray  # household indices in the extract


def take_snapshot(world: World, asof: int) -> Snapshot:
    """Filter the timeline: households with a child 0–17 or a current pregnancy; members present or recently gone."""
    present = (world.birth <= asof) & (world.start <= asof) & (world.exit > asof - RETENTION_DAYS)
    resident = present & (world.exit > asof)
    # Only the household's own children qualify it: a parent who grew up in a multi-generation household
    # is not yet a child-rearing household of its own.
    is_child = world.slot >= CHILD0
    child_now = is_child & resident & (world.birth > D.add_months(np.full(len(world.birth), asof), -18 * 12))
    # A child who left with the household in the retention window keeps the household in the extract.
    child_recent = is_child & present & ~resident & (world.birth > D.add_months(world.exit, -18 * 12))
    qualifies = np.zeros(world.n_households, dtype=bool)
    qualifies[world.hh[child_now | child_recent]] = True
    pregnant = (world.preg_notified <= asof) & (asof <= world.preg_due) & world.preg_in_town
    qualifies[world.hh[world.preg_mother[pregnant]]] = True
    keep = present & qualifies[world.hh]
    persons = np.flatnonzero(keep)

    exit_day = world.exit[persons]
    gone = exit_day <= asof
    status = np.where(gone, world.exit_kind[persons], 0).astype(np.int8)
    status_date = np.where(gone, exit_day, D.NEVER)
    hh = world.hh[persons]
    moved = world.move2[hh] <= asof
    move_applies = moved & (world.move2[hh] >= world.start[persons]) & (world.move2[hh] < exit_day)
    since = np.maximum(world.start[persons], world.birth[persons])
    since = np.where(move_applies, np.maximum(since, world.move2[hh]), since)
    rel = relationships(world, persons, asof)
    return Snapshot(
        asof=asof,
        persons=persons,
        status=status,
        status_date=status_date,
        relationship=rel,
        resident_since=since,
        households=np.unique(hh),
    )


def relationships(world: World, persons: np.ndarray, asof: int) -> np.ndarray:
    """続柄 relative to the head of household at as-of (the mother heads after a divorce)."""
    hh = world.hh[persons]
    slot = world.slot[persons]
    t = world.htype[hh]
    divorced = world.divorce[hh] <= asof
    gm_head = world.head_is_gm[hh]
    rel = np.full(len(persons), REL["その他"], dtype=np.int64)
    gp_heads = np.isin(t, (MOTHER_WITH_PARENTS, THREEGEN_B))
    # Grandparents.
    rel = np.where((slot == GF) & gp_heads, REL["世帯主"], rel)
    rel = np.where((slot == GM) & gp_heads, np.where(gm_head, REL["世帯主"], REL["妻"]), rel)
    rel = np.where((slot == GF) & ~gp_heads, REL["父"], rel)
    rel = np.where((slot == GM) & ~gp_heads, REL["母"], rel)
    # Parents.
    father_rel = np.select([t == WIFE_HEAD, t == THREEGEN_B], [REL["夫"], REL["子"]], REL["世帯主"])
    rel = np.where(slot == FATHER, father_rel, rel)
    mother_rel = np.select(
        [t == WIFE_HEAD, np.isin(t, (SINGLE_MOTHER,)), t == MOTHER_WITH_PARENTS, t == THREEGEN_B, divorced],
        [REL["世帯主"], REL["世帯主"], REL["子"], REL["子の妻"], REL["世帯主"]],
        REL["妻"],
    )
    rel = np.where(slot == MOTHER, mother_rel, rel)
    rel = np.where(slot == AUNT, REL["子"], rel)
    rel = np.where(slot == PARTNER, np.where(t == SINGLE_MOTHER, REL["同居人"], REL["その他"]), rel)
    child_rel = np.where(gp_heads, REL["孫"], REL["子"])
    rel = np.where(slot >= CHILD0, child_rel, rel)
    return rel
