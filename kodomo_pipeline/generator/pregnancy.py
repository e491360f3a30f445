"""Maternal health feeds: pregnancy notices (ninshin_todoke), prenatal visits (ninpu_kenshin)
and postpartum questionnaires (sango_shitsumon).

All three hang off the timeline's pregnancies (one per birth event), so a
notice, its visits and the postpartum scores agree with the child's birth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kodomo_pipeline.generator.context import Context
from kodomo_pipeline.generator.frames import INT_NA, flags, make_frame
from kodomo_pipeline.generator.population import CHILD0

HEALTH_LOOKBACK_DAYS = 6 * 365 + 2  # the health system's export reaches six years back
FEELINGS = np.array(["うれしい", "予想外だがうれしい", "困った", "わからない"], dtype=object)


def _pregnancy_key(ctx: Context, q: np.ndarray) -> np.ndarray:
    return ctx.world.preg_hh[q] * 4 + ctx.world.preg_event[q]


def notices(ctx: Context) -> np.ndarray:
    """Pregnancies whose notice is in the town's export at as-of."""
    w = ctx.world
    q = np.flatnonzero(
        w.preg_in_town
        & (w.preg_notified <= ctx.asof)
        & (w.preg_notified >= ctx.asof - HEALTH_LOOKBACK_DAYS)
        & ctx.in_extract[w.preg_mother]
    )
    return q


def risky_pregnancy(ctx: Context, q: np.ndarray) -> np.ndarray:
    """Latent: the pregnancy belongs to an at-risk household, a teen mother's first birth, or was notified late."""
    w = ctx.world
    hh = w.preg_hh[q]
    return w.ab_risk[hh] | (w.teen_first[hh] & (w.preg_event[q] == 0)) | w.preg_late[q]


def ninshin_frame(ctx: Context) -> pd.DataFrame:
    """One notice per pregnancy; misato's questionnaire answers lean negative for at-risk pregnancies."""
    w, rng = ctx.world, ctx.rng
    q = notices(ctx)
    key = _pregnancy_key(ctx, q)
    risky = risky_pregnancy(ctx, q)
    mother = w.preg_mother[q]
    hh = w.preg_hh[q]
    feeling = rng.choice("feeling", (80, 15.5, 2.5, 2), key)
    feeling_risky = rng.choice("feeling_r", (35, 25, 22, 18), key)
    feeling = np.where(risky, feeling_risky, feeling)
    no_confidant = rng.uniform("confidant", key) < np.where(risky, 0.3, 0.025)
    worry = rng.uniform("worry", key) < 0.10 + 0.3 * w.poor[hh]
    psych = np.where(w.psych[mother], rng.uniform("psych_said", key) < 0.9, rng.uniform("psych_nat", key) < 0.002)

    def unanswered(tag: str) -> np.ndarray:
        return rng.uniform("na_" + tag, key) < 0.015

    feeling_text = FEELINGS[feeling].copy()
    feeling_text[unanswered("feeling")] = None
    data = {
        "mother_resident_id": ctx.resident_ids(mother),
        "notified_on": w.preg_notified[q],
        "weeks_at_notification": w.preg_weeks[q],
        "due_date": w.preg_due[q],
        "first_pregnancy": flags(w.preg_event[q] == 0),
        "feeling": feeling_text,
        "has_confidant": flags(~no_confidant, unanswered("confidant")),
        "financial_worry": flags(worry, unanswered("worry")),
        "psychiatric_history": flags(psych, unanswered("psych")),
    }
    frame = make_frame(ctx.town.feeds["ninshin_todoke"].spec, data)
    frame["_person"] = mother
    frame["_preg"] = q
    order = np.lexsort((w.preg_notified[q],))
    return frame.iloc[order].reset_index(drop=True)


# Gestational week of the next standard visit: every 4 weeks to 23, every 2 to 35, then weekly.
def _next_week(week: np.ndarray) -> np.ndarray:
    return week + np.where(week < 24, 4, np.where(week < 36, 2, 1))


def ninpu_frame(ctx: Context) -> pd.DataFrame:
    """Up to 14 voucher visits per notified pregnancy; a few pregnancies with three visits or fewer."""
    w, rng = ctx.world, ctx.rng
    q = notices(ctx)
    key = _pregnancy_key(ctx, q)
    lmp = w.preg_due[q] - 280
    birth = w.preg_birth[q]
    mother = w.preg_mother[q]
    few = rng.uniform("few_visits", key) < 0.002 + 0.10 * w.ab_risk[w.preg_hh[q]] + 0.35 * w.preg_late[q]
    few_n = rng.choice("few_n", (0.1, 0.2, 0.3, 0.4), key)  # 0–3 visits, 3 (the edge) most often
    week = np.maximum(w.preg_weeks[q] + rng.integers("first_visit", 1, 4, key), 8)
    rows_q: list[np.ndarray] = []
    rows_day: list[np.ndarray] = []
    rows_no: list[np.ndarray] = []
    count = np.zeros(len(q), dtype=np.int64)
    last_day = np.minimum(np.minimum(birth - 1, ctx.asof), w.exit[mother] - 1)
    for k in range(14):
        visit = lmp + 7 * week + rng.integers("visit_dow", 0, 5, key, k)
        kept = (visit <= last_day) & ((k == 0) | (rng.uniform("visit_kept", key, k) < 0.96))
        kept &= ~few | (count < few_n)
        idx = np.flatnonzero(kept)
        count[idx] += 1
        rows_q.append(idx)
        rows_day.append(visit[idx])
        rows_no.append(count[idx])
        week = _next_week(week)
    sel = np.concatenate(rows_q)
    data = {
        "mother_resident_id": ctx.resident_ids(mother[sel]),
        "visit_on": np.concatenate(rows_day),
        "visit_no": np.concatenate(rows_no),
    }
    frame = make_frame(ctx.town.feeds["ninpu_kenshin"].spec, data)
    frame["_person"] = mother[sel]
    frame["_preg"] = q[sel]
    order = np.lexsort((data["visit_on"],))
    return frame.iloc[order].reset_index(drop=True)


def postpartum_pairs(ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """(child, pregnancy index) of children born in town to a mother living in town, both in the extract."""
    w = ctx.world
    child = np.flatnonzero((w.slot >= CHILD0) & (w.mother >= 0) & ctx.in_extract)
    mother = w.mother[child]
    born_here = (
        (w.start[child] == w.birth[child]) & (w.start[mother] <= w.birth[child]) & (w.exit[mother] > w.birth[child])
    )
    child = child[born_here & ctx.in_extract[mother] & (w.birth[child] >= ctx.asof - HEALTH_LOOKBACK_DAYS)]
    # The pregnancy row of each child's birth event.
    preg = pregnancy_of_children(ctx, child)
    ok = preg >= 0
    return child[ok], preg[ok]


def pregnancy_of_children(ctx: Context, child: np.ndarray) -> np.ndarray:
    """Index of each child's pregnancy in the timeline (-1 when the mother is not a member)."""
    w = ctx.world
    preg_key = w.preg_hh * 4 + w.preg_event  # ascending: built from np.nonzero in row order
    want = w.hh[child] * 4 + np.maximum(w.birth_event[child], 0)
    pos = np.minimum(np.searchsorted(preg_key, want), max(len(preg_key) - 1, 0))
    found = (len(preg_key) > 0) & (preg_key[pos] == want) & (w.birth_event[child] >= 0)
    return np.where(found, pos, -1)


def postpartum_depression(ctx: Context, preg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latent per pregnancy: postpartum depression, and self-harm thoughts within it."""
    w, rng = ctx.world, ctx.rng
    key = _pregnancy_key(ctx, preg)
    hh = w.preg_hh[preg]
    p = (
        0.04
        + 0.3 * w.psych[w.preg_mother[preg]]
        + 0.08 * w.ab_risk[hh]
        + 0.06 * (w.teen_first[hh] & (w.preg_event[preg] == 0))
        + 0.10 * w.preg_late[preg]
    )
    pp = rng.uniform("pp", key) < p
    self_harm = pp & (rng.uniform("self_harm", key) < 0.3)
    return pp, self_harm


def sango_frame(ctx: Context) -> pd.DataFrame:
    """EPDS and bonding at ~2 weeks, ~1 month and the newborn visit, per (mother, child)."""
    w, rng = ctx.world, ctx.rng
    child, preg = postpartum_pairs(ctx)
    key = _pregnancy_key(ctx, preg)
    mother = w.preg_mother[preg]
    birth = w.birth[child]
    pp, self_harm = postpartum_depression(ctx, preg)
    risky = pp | w.ab_risk[w.preg_hh[preg]]
    epds_base = np.where(
        pp,
        np.where(rng.uniform("epds_edge", key) < 0.25, 9, rng.integers("epds_hi", 9, 19, key)),
        np.clip(np.round(3.5 + 2.3 * rng.normal("epds_lo", key)), 0, 8),
    ).astype(np.int64)
    q10_base = np.where(self_harm, 1 + rng.choice("q10", (0.65, 0.25, 0.10), key), 0)
    bond_hi = risky & (rng.uniform("bond_hi", key) < 0.35)
    bond_base = np.where(
        bond_hi,
        np.where(rng.uniform("bond_edge", key) < 0.4, 5, rng.integers("bond_v", 5, 13, key)),
        np.minimum(rng.poisson("bond_lo", 1.0, key), 4),
    )
    no_support = rng.uniform("support", key) < np.where(risky, 0.22, 0.02)
    offsets = ((14, 3, 0.85), (30, 4, 0.95), (75, 30, 0.75))
    parts: list[dict[str, np.ndarray]] = []
    for k, (center, spread, prob) in enumerate(offsets):
        took = rng.uniform("sango_took", key, k) < prob
        day = birth + center + rng.integers("sango_day", -spread, spread + 1, key, k)
        valid = took & (day <= ctx.asof) & (day < w.exit[child]) & (day < w.exit[mother])
        idx = np.flatnonzero(valid)
        jitter = rng.integers("epds_jit", -1, 2, key[idx], k)
        epds = np.where(pp[idx] & (k < 2), epds_base[idx], np.clip(epds_base[idx] + jitter, 0, 30))
        epds = np.where(~pp[idx], np.minimum(epds, 8), epds)
        q10 = np.where(k < 2, q10_base[idx], np.maximum(q10_base[idx] - 1, 0))
        bond_na = rng.uniform("bond_na", key[idx], k) < 0.02
        support_na = rng.uniform("support_na", key[idx], k) < 0.02
        parts.append(
            {
                "_child": child[idx],
                "_preg": preg[idx],
                "assessed_on": day[idx],
                "epds_total": epds,
                "epds_q10": q10,
                "bonding_total": np.where(bond_na, INT_NA, bond_base[idx]),
                "support_person": flags(~no_support[idx], support_na),
            }
        )
    cat = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    data = {
        "mother_resident_id": ctx.resident_ids(w.preg_mother[cat["_preg"]]),
        "child_resident_id": ctx.resident_ids(cat["_child"]),
        **{k: v for k, v in cat.items() if not k.startswith("_")},
    }
    frame = make_frame(ctx.town.feeds["sango_shitsumon"].spec, data)
    frame["_person"] = cat["_child"]
    frame["_mother"] = w.preg_mother[cat["_preg"]]
    frame["_preg"] = cat["_preg"]
    order = np.lexsort((cat["_child"], cat["assessed_on"]))
    return frame.iloc[order].reset_index(drop=True)
