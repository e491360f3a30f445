"""Children as nurseries and schools know them: resident children and outsiders in one table, with guardians.

The nursery and school feeds carry no resident ID; both draw their records
from this table so that a child's records agree across the two systems.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kodomo_pipeline.generator import dates as D
from kodomo_pipeline.generator.cases import foreign_record_names
from kodomo_pipeline.generator.context import Context
from kodomo_pipeline.generator.identity import record_switch_day
from kodomo_pipeline.generator.names import FULLWIDTH_SPACE, pick_given_names, surname_table
from kodomo_pipeline.generator.outsiders import Outsiders, build_outsiders, outsider_identity
from kodomo_pipeline.generator.places import Addresses, school_address
from kodomo_pipeline.generator.population import (
    AUNT,
    CHILD0,
    FATHER,
    GF,
    GM,
    MOTHER,
    SLOT_KEY,
    Names,
    is_foreign,
    person_names,
)


@dataclass(frozen=True)
class Pupils:
    """Timeline children (residents first, then outsiders), index i."""

    person: np.ndarray  # resident person index, -1 for outsiders
    outsider: np.ndarray  # outsider index, -1 for residents
    key: np.ndarray
    birth: np.ndarray
    female: np.ndarray
    start: np.ndarray  # first day in the catchment (outsiders: birth)
    exit: np.ndarray
    hh: np.ndarray  # -1 for outsiders
    twin: np.ndarray
    dd: np.ndarray
    ab: np.ndarray
    poor: np.ndarray
    outsiders: Outsiders

    def __len__(self) -> int:
        return len(self.key)


def build_pupils(ctx: Context) -> Pupils:
    """Every timeline child and every outsider, with the latent flags nurseries and schools react to."""
    w, rng = ctx.world, ctx.rng
    out = build_outsiders(ctx)
    child = np.flatnonzero(w.slot >= CHILD0)
    n_r, n_o = len(child), len(out)
    ab_o = rng.uniform("out_ab", out.key) < 0.015
    return Pupils(
        person=np.concatenate([child, np.full(n_o, -1)]),
        outsider=np.concatenate([np.full(n_r, -1), np.arange(n_o)]),
        key=np.concatenate([w.pkey[child], out.key]),
        birth=np.concatenate([w.birth[child], out.birth]),
        female=np.concatenate([w.female[child], out.female]),
        start=np.concatenate([w.start[child], out.birth]),
        exit=np.concatenate([w.exit[child], np.full(n_o, D.NEVER)]),
        hh=np.concatenate([w.hh[child], np.full(n_o, -1)]),
        twin=np.concatenate([w.twin[child], np.zeros(n_o, dtype=bool)]),
        dd=np.concatenate([w.dd[child], rng.uniform("out_dd", out.key) < 0.025]),
        ab=np.concatenate([w.ab_risk[w.hh[child]], ab_o]),
        poor=np.concatenate([w.poor[w.hh[child]], rng.uniform("out_poor", out.key) < 0.1 + 0.3 * ab_o]),
        outsiders=out,
    )


def person_at(ctx: Context, hh: np.ndarray, slot: int) -> np.ndarray:
    """Person index of a household's member in `slot`, -1 when there is none."""
    pkey = ctx.world.pkey  # ascending (household-major, then slot)
    want = hh * SLOT_KEY + slot
    pos = np.minimum(np.searchsorted(pkey, want), len(pkey) - 1)
    return np.where((hh >= 0) & (pkey[pos] == want), pos, -1)


def guardians(ctx: Context, hh: np.ndarray, day: np.ndarray, prefer_father: np.ndarray) -> np.ndarray:
    """The guardian a form names on `day`: a parent living in the household, else a grandparent or aunt."""
    w = ctx.world
    out = np.full(len(hh), -1, dtype=np.int64)
    order_f = (FATHER, MOTHER, GM, GF, AUNT)
    order_m = (MOTHER, FATHER, GM, GF, AUNT)
    for order, mask in ((order_f, prefer_father), (order_m, ~prefer_father)):
        for slot in order:
            cand = person_at(ctx, hh, slot)
            there = (cand >= 0) & (w.start[np.maximum(cand, 0)] <= day) & (w.exit[np.maximum(cand, 0)] > day)
            fill = mask & (out < 0) & there
            out[fill] = cand[fill]
    return out


@dataclass(frozen=True)
class Identity:
    """How a child appears on a form: registered name, kana, birth date, guardian, address."""

    kanji: np.ndarray  # registered form (noise decides what the form holds)
    kana: np.ndarray
    guardian: np.ndarray  # registered form of the guardian's name, None when unknown
    address: np.ndarray | None
    cases: list[list[str]] = field(default_factory=list)  # identity-case tags per record (truth)


def identities(
    ctx: Context,
    pupils: Pupils,
    idx: np.ndarray,
    day: np.ndarray,
    prefer_father: np.ndarray,
    old_address: np.ndarray | None,
    record_start: np.ndarray | None = None,
) -> Identity:
    """Identity of pupils `idx` as of `day` (address: the household's old or new lot; None → no address).

    With `record_start` (the day each record was opened), a surname change reaches the record when the
    nursery/school follows it (identity.record_switch_day), not when the registry does.
    """
    n = len(idx)
    kanji = np.empty(n, dtype=object)
    kana = np.empty(n, dtype=object)
    guardian = np.full(n, None, dtype=object)
    address = np.empty(n, dtype=object) if old_address is not None else None
    cases: list[list[str]] = [[] for _ in range(n)]
    res = pupils.person[idx] >= 0
    r_idx = np.flatnonzero(res)
    if len(r_idx):
        persons = pupils.person[idx[r_idx]]
        names = ctx.names(persons)
        g = guardians(ctx, pupils.hh[idx[r_idx]], day[r_idx], prefer_father[r_idx])
        has_g = g >= 0
        changes = ctx.world.surname_changes
        if changes is not None and record_start is not None:
            names, g_kanji = _names_on_record(ctx, persons, g, day[r_idx], record_start[r_idx], cases, r_idx)
            guardian[r_idx[has_g]] = g_kanji[has_g]
        elif has_g.any():
            guardian[r_idx[has_g]] = ctx.names(g[has_g]).kanji
        kanji[r_idx] = names.kanji
        kana[r_idx] = names.kana
        _aliases(ctx, persons, g, r_idx, kanji, kana, guardian, cases)
        if address is not None:
            w = ctx.world
            hh = pupils.hh[idx[r_idx]]
            both = Addresses(
                *(
                    np.concatenate([getattr(w.addr_old, f), getattr(w.addr_new, f)])
                    for f in Addresses.__dataclass_fields__
                )
            )
            moved = (w.move2[hh] <= day[r_idx]) & ~old_address[r_idx]
            rows = np.where(moved, hh + w.n_households, hh)
            style = ctx.rng.integers("addr_style", 0, 4, pupils.key[idx[r_idx]])
            address[r_idx] = school_address(ctx.places, both, rows, style)
    o_idx = np.flatnonzero(~res)
    if len(o_idx):
        ident = outsider_identity(ctx, pupils.outsiders, pupils.outsider[idx[o_idx]])
        kanji[o_idx] = ident.kanji
        kana[o_idx] = ident.kana
        guardian[o_idx] = ident.guardian
        if address is not None:
            address[o_idx] = ident.address
    return Identity(kanji, kana, guardian, address, cases)


def _aliases(
    ctx: Context,
    persons: np.ndarray,
    guardian_person: np.ndarray,
    rows: np.ndarray,
    kanji: np.ndarray,
    kana: np.ndarray,
    guardian: np.ndarray,
    cases: list[list[str]],
) -> None:
    """Foreign residents: tag them; where the family uses a Japanese 通称, the record holds it (child and guardian)."""
    w, rng = ctx.world, ctx.rng
    rates = w.preset.foreign
    hh = w.hh[persons]
    foreign = is_foreign(w, hh)
    if not foreign.any():
        return
    romaji = rng.uniform("foreign_romaji", hh) < rates.romaji
    alias = foreign & (rng.uniform("foreign_alias", hh) < rates.alias_at_school)
    sur = surname_table()
    a_sur = rng.choice("alias_surname", sur.weights, hh)
    year, _, _ = D.ymd(w.birth[persons])
    a_given, a_kana = pick_given_names(rng, "alias_given", w.female[persons], year, w.pkey[persons])
    legal, legal_kana, legal_tags = foreign_record_names(rng, rates, hh, w.pkey[persons], w.female[persons], romaji)
    for i in np.flatnonzero(foreign):
        row = rows[i]
        cases[row].append("foreign_name")
        if romaji[i]:
            cases[row].append("foreign_romaji")
        if not alias[i]:
            kanji[row], kana[row] = legal[i], legal_kana[i]
            cases[row].extend(legal_tags[i])
            continue
        cases[row].append("alias_at_school")
        kanji[row] = f"{sur.forms[a_sur[i], 0]}{FULLWIDTH_SPACE}{a_given[i]}"
        kana[row] = f"{sur.readings[a_sur[i], 0]}{FULLWIDTH_SPACE}{a_kana[i]}"
        g = guardian_person[i]
        if g >= 0 and guardian[row] is not None:
            g_year, _, _ = D.ymd(w.birth[np.array([g])])
            g_given, _ = pick_given_names(rng, "alias_given", w.female[np.array([g])], g_year, w.pkey[np.array([g])])
            guardian[row] = f"{sur.forms[a_sur[i], 0]}{FULLWIDTH_SPACE}{g_given[0]}"


def _names_on_record(
    ctx: Context,
    persons: np.ndarray,
    guardian: np.ndarray,
    day: np.ndarray,
    record_start: np.ndarray,
    cases: list[list[str]],
    rows: np.ndarray,
) -> tuple[Names, np.ndarray]:
    """The child's (and a guardian's) names as the record holds them, tagging where they differ from the registry."""
    w = ctx.world
    changes = w.surname_changes
    assert changes is not None
    hh = w.hh[persons]
    switch = record_switch_day(changes, hh, record_start)
    record_new = day >= switch
    # The day whose registry name the record shows: after the change when it follows, before it otherwise.
    shown = np.where(record_new, np.maximum(day, changes.day[hh]), np.minimum(day, changes.day[hh] - 1))
    names = person_names(w, persons, shown)
    registry_new = ctx.asof >= changes.day[hh]
    for i in np.flatnonzero(registry_new & ~record_new):
        cases[rows[i]].append("surname_old_at_school")
    for i in np.flatnonzero(record_new & ~registry_new):
        cases[rows[i]].append("surname_new_at_school")
    g_kanji = np.full(len(persons), None, dtype=object)
    has_g = guardian >= 0
    if has_g.any():
        g_kanji[has_g] = person_names(w, guardian[has_g], shown[has_g]).kanji
    return names, g_kanji
