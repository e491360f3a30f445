"""Children from neighbouring towns who attend the town's nurseries and schools (区域外就学/広域入所).

They are not in the registry, so a correct linkage leaves them unmatched; some
share a resident child's name (and are close in age) to test that a name
alone is never taken as proof.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kodomo_pipeline.generator import dates as D
from kodomo_pipeline.generator.context import Context
from kodomo_pipeline.generator.names import FULLWIDTH_SPACE, pick_given_names, registered_form, surname_table
from kodomo_pipeline.generator.places import elsewhere_address
from kodomo_pipeline.generator.population import CHILD0

OUTSIDER_RATE = 0.021  # outsiders per timeline child: ~2% of nursery and school records
OUTSIDER_KEY_BASE = 10**13  # hashing keys of outsiders, apart from residents' person keys


@dataclass(frozen=True)
class Outsiders:
    """The timeline's outsider children (index o)."""

    key: np.ndarray
    birth: np.ndarray
    female: np.ndarray
    namesake_of: np.ndarray  # resident person whose name the child shares, -1 otherwise

    def __len__(self) -> int:
        return len(self.key)


def build_outsiders(ctx: Context) -> Outsiders:
    """About 2% as many outsiders as timeline children, some of them namesakes of a resident child (preset rate)."""
    w, rng = ctx.world, ctx.rng
    children = np.flatnonzero(w.slot >= CHILD0)
    n = round(len(children) * OUTSIDER_RATE)
    o = np.arange(n, dtype=np.int64)
    key = OUTSIDER_KEY_BASE + o
    lo, hi = (int(w.birth[children].min()), int(w.birth[children].max())) if len(children) else (0, 1)
    birth = rng.integers("out_birth", lo, hi + 1, key)
    female = rng.uniform("out_sex", key) < 0.488
    rates = w.preset.outsiders
    namesake = rng.uniform("out_namesake", key) < rates.namesake
    ref = children[rng.integers("out_ref", 0, max(len(children), 1), key)] if len(children) else np.zeros(n, np.int64)
    shift = rng.integers("out_shift", 30, 400, key) * np.where(rng.uniform("out_shift_sign", key) < 0.5, -1, 1)
    if rates.namesake_same_birthday > 0:
        # Same name, same birthday, another family: only the address and the guardian tell them apart.
        shift = np.where(rng.uniform("out_same_day", key) < rates.namesake_same_birthday, 0, shift)
    birth = np.where(namesake, w.birth[ref] + shift, birth)
    female = np.where(namesake, w.female[ref], female)
    return Outsiders(key=key, birth=birth, female=female, namesake_of=np.where(namesake, ref, -1))


@dataclass(frozen=True)
class OutsiderIdentity:
    """How an outsider appears on a nursery or school form."""

    kanji: np.ndarray
    kana: np.ndarray
    guardian: np.ndarray
    address: np.ndarray


def outsider_identity(ctx: Context, out: Outsiders, idx: np.ndarray) -> OutsiderIdentity:
    """Names, a guardian and a home address in a neighbouring town for the given outsiders."""
    rng = ctx.rng
    key = out.key[idx]
    sur = surname_table()
    s_idx = rng.choice("out_surname", sur.weights, key)
    s_form = np.where(rng.uniform("out_surname_var", key) < 0.2, np.minimum(1, sur.n_variant_forms[s_idx]), 0)
    surname = sur.forms[s_idx, s_form]
    surname_kana = sur.readings[s_idx, 0]
    year, _, _ = D.ymd(out.birth[idx])
    given, given_kana = pick_given_names(rng, "out_given", out.female[idx], year, key)
    given = registered_form(rng, "out_given_var", given, 0.08, key)
    kanji = np.array([f"{s}{FULLWIDTH_SPACE}{g}" for s, g in zip(surname, given, strict=True)], dtype=object)
    kana = np.array([f"{s}{FULLWIDTH_SPACE}{g}" for s, g in zip(surname_kana, given_kana, strict=True)], dtype=object)
    ns = out.namesake_of[idx]
    if (ns >= 0).any():
        names = ctx.names(ns[ns >= 0])
        kanji[ns >= 0] = names.kanji_standard
        kana[ns >= 0] = names.kana
        surname = np.array([k.split(FULLWIDTH_SPACE)[0] for k in kanji], dtype=object)
    g_female = rng.uniform("out_guardian_sex", key) < 0.75
    g_given, _ = pick_given_names(rng, "out_guardian", g_female, year - 31, key)
    guardian = np.array([f"{s}{FULLWIDTH_SPACE}{g}" for s, g in zip(surname, g_given, strict=True)], dtype=object)
    address = elsewhere_address(rng, "out_addr", ctx.places.neighbours, key, registry=False)
    return OutsiderIdentity(kanji, kana, guardian, address)
