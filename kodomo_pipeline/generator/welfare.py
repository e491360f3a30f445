"""Welfare feeds: child consultations (jido_soudan), disability certificates (shogai_techo),
public assistance (seikatsu_hogo) and the single-parent allowance (jido_fuyo).

Events are drawn on the timeline (per child, household or mother) and the
export shows those dated on or before as-of, with their state at as-of.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kodomo_pipeline.generator import dates as D
from kodomo_pipeline.generator.context import Context
from kodomo_pipeline.generator.frames import flags, make_frame
from kodomo_pipeline.generator.population import (
    CHILD0,
    FATHER,
    MOTHER,
    MOTHER_WITH_PARENTS,
    NUCLEAR,
    PARTNER,
    SINGLE_FATHER,
    SINGLE_MOTHER,
)
from kodomo_pipeline.generator.pregnancy import postpartum_depression

CATEGORIES = np.array(["虐待", "養護その他", "障害", "非行", "育成", "保健", "その他"], dtype=object)
ABUSE_TYPES = np.array(["身体的", "ネグレクト", "心理的", "性的"], dtype=object)
_W_ABUSE = (60, 20, 2, 3, 10, 2, 3)
_W_DD = (3, 5, 65, 1, 20, 3, 3)
_W_BASE = (6, 24, 6, 6, 40, 9, 9)
SOUDAN_LOOKBACK_DAYS = 10 * 365 + 3
# Latent course of an at-risk household: most come to light one day as an abuse consultation for the children
# living there, months or years after the first signs (missed check-ups, a late notice…); the rest never do.
ESCALATION_SHARE = 0.7
ESCALATION_KEY = 3  # consultation key slot (pkey * 4 + k): 0–2 are the background consultations

# 相談内容: short, name-free free text of the kind case workers type (dropped at ingestion).
SOUDAN_TEXT: dict[str, tuple[str, ...]] = {
    "虐待": (
        "近隣住民より夜間に怒鳴り声と泣き声が続くとの通報",
        "保育園より腕にあざがあるとの連絡",
        "学校より衣服の汚れと欠食が続くとの相談",
        "母より子を叩いてしまうとの相談",
        "警察より面前DVの通告",
        "祖母より親の養育態度について相談",
    ),
    "養護その他": (
        "保護者の入院に伴う養育についての相談",
        "経済的困窮による養育困難の相談",
        "保護者の就労による養育相談",
        "祖父母による養育についての相談",
    ),
    "障害": (
        "言葉の遅れについて母より相談",
        "集団行動が苦手との保育園からの相談",
        "発達検査の結果についての相談",
        "療育機関の利用についての相談",
    ),
    "非行": ("夜間徘徊について学校より連絡", "万引きについて警察より連絡", "喫煙について保護者より相談"),
    "育成": (
        "不登校についての相談",
        "しつけについての相談",
        "友人関係の悩みについて本人より相談",
        "性格・行動についての相談",
        "生活習慣についての相談",
    ),
    "保健": ("夜尿についての相談", "偏食と体重増加不良についての相談", "睡眠リズムについての相談"),
    "その他": ("転入に伴う子育て支援制度の問い合わせ", "ひとり親家庭の支援についての相談", "養育費についての相談"),
}


def escalation_days(ctx: Context) -> np.ndarray:
    """Per household: the day an at-risk household's difficulties come to a consultation, NEVER if they never do."""
    w, rng = ctx.world, ctx.rng
    h = np.arange(w.n_households)
    escalates = w.ab_risk & (rng.uniform("ab_escalates", h) < ESCALATION_SHARE)
    day = D.add_years(w.anchor, 0.5 + 9.5 * rng.uniform("ab_escalation_at", h))
    ok = escalates & (day >= w.hh_in) & (day < w.hh_out)
    return np.where(ok, day, D.NEVER).astype(np.int64)


def _escalation_events(ctx: Context) -> dict[str, np.ndarray]:
    """An abuse consultation for each child (0–17) living in the household when its difficulties come to light."""
    w, rng = ctx.world, ctx.rng
    esc = escalation_days(ctx)
    child = np.flatnonzero((w.slot >= CHILD0) & (esc[w.hh] < D.NEVER))
    key = w.pkey[child] * 4 + ESCALATION_KEY
    received = esc[w.hh[child]] + rng.integers("escalation_lag", 0, 28, key)
    ok = (received >= w.start[child]) & (received < w.exit[child]) & (received >= w.birth[child] + 30)
    ok &= D.age_years(w.birth[child], received) < 18
    c, key, received = child[ok], key[ok], received[ok]
    return {"child": c, "key": key, "received": received, "cat": np.zeros(len(c), dtype=np.int64)}


def _consultation_events(ctx: Context) -> dict[str, np.ndarray]:
    """Every in-town consultation of the timeline (case numbers are assigned over the whole timeline)."""
    w, rng = ctx.world, ctx.rng
    child = np.flatnonzero(w.slot >= CHILD0)
    ab = w.ab_risk[w.hh[child]]
    dd = w.dd[child]
    lam = 0.22 + 1.0 * ab + 0.9 * dd
    n = np.minimum(rng.poisson("soudan_n", lam, w.pkey[child]), 3)
    parts = []
    for k in range(3):
        c = child[n > k]
        key = w.pkey[c] * 4 + k
        received = D.add_years(w.birth[c], 0.2 + 17.6 * rng.uniform("soudan_at", key))
        in_town = (received >= w.start[c]) & (received < w.exit[c])
        c, key, received = c[in_town], key[in_town], received[in_town]
        ab_c = w.ab_risk[w.hh[c]] & (rng.uniform("soudan_src", key) < 0.7)
        dd_c = w.dd[c] & ~ab_c
        cat = np.where(
            ab_c,
            rng.choice("cat_ab", _W_ABUSE, key),
            np.where(dd_c, rng.choice("cat_dd", _W_DD, key), rng.choice("cat_base", _W_BASE, key)),
        )
        young = D.age_years(w.birth[c], received) < 10
        cat = np.where((cat == 3) & young, 4, cat)
        parts.append({"child": c, "key": key, "received": received, "cat": cat})
    parts.append(_escalation_events(ctx))
    ev = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    order = np.lexsort((ev["key"], ev["received"]))
    ev = {name: v[order] for name, v in ev.items()}
    fy = D.fiscal_year(ev["received"])
    first_of_fy = np.r_[True, fy[1:] != fy[:-1]]
    group_start = np.maximum.accumulate(np.where(first_of_fy, np.arange(len(fy)), 0))
    ev["serial"] = np.arange(len(fy)) - group_start + 1
    ev["fy"] = fy
    return ev


def soudan_frame(ctx: Context) -> pd.DataFrame:
    """Consultations of the last ten years; status and 要対協 registration as of as-of."""
    rng = ctx.rng
    ev = _consultation_events(ctx)
    keep = (
        (ev["received"] <= ctx.asof) & (ev["received"] >= ctx.asof - SOUDAN_LOOKBACK_DAYS) & ctx.in_extract[ev["child"]]
    )
    ev = {name: v[keep] for name, v in ev.items()}
    key, cat = ev["key"], ev["cat"]
    abuse = cat == 0
    duration = np.where(abuse, rng.integers("soudan_dur_ab", 90, 1100, key), rng.integers("soudan_dur", 14, 400, key))
    ongoing = ev["received"] + duration > ctx.asof
    yotaikyo_p = np.select([abuse, cat == 1], [0.45, 0.08], 0.01)
    yotaikyo = rng.uniform("yotaikyo", key) < yotaikyo_p
    abuse_type = np.where(abuse, ABUSE_TYPES[rng.choice("abuse_type", (25, 20, 53, 2), key)], None)
    text_pick = rng.integers("soudan_text", 0, 1000, key)
    text = np.array(
        [SOUDAN_TEXT[str(c)][t % len(SOUDAN_TEXT[str(c)])] for c, t in zip(CATEGORIES[cat], text_pick, strict=True)],
        dtype=object,
    )
    data = {
        "case_no": np.array([f"{fy}-{s:05d}" for fy, s in zip(ev["fy"], ev["serial"], strict=True)], dtype=object),
        "resident_id": ctx.resident_ids(ev["child"]),
        "received_on": ev["received"],
        "category": CATEGORIES[cat],
        "abuse_type": abuse_type,
        "status": np.where(ongoing, "継続", "終結").astype(object),
        "yotaikyo": flags(yotaikyo),
    }
    mapping = ctx.town.feeds["jido_soudan"].mapping
    extra = {"相談内容": text} if "相談内容" in mapping.exported_but_dropped else {}
    frame = make_frame(ctx.town.feeds["jido_soudan"].spec, data, extra)
    frame["_person"] = ev["child"]
    return frame


_GRADES = {"療育": ("A", "B"), "身体": ("1", "2", "3", "4", "5", "6"), "精神": ("1", "2", "3")}


def _certificates(
    ctx: Context, persons: np.ndarray, kind: str, chance: np.ndarray, issued: np.ndarray, weights: tuple[float, ...]
) -> dict[str, np.ndarray]:
    """Certificates of type `kind` for the persons whose draw falls under `chance`, with a grade and issue day."""
    key = ctx.world.pkey[persons]
    tag = f"techo:{kind}:{len(weights)}"
    hit = ctx.rng.uniform(tag, key) < chance
    grade = np.array(_GRADES[kind], dtype=object)[ctx.rng.choice(tag + ":grade", weights, key)]
    return {
        "p": persons[hit],
        "type": np.full(int(hit.sum()), kind, dtype=object),
        "issued": issued[hit],
        "grade": grade[hit],
    }


POSTPARTUM_CERTIFICATE_SHARE = 0.08  # a postpartum depression that becomes a psychiatric certificate later


def _postpartum_certificates(ctx: Context) -> dict[str, np.ndarray]:
    """A later psychiatric finding of some mothers with postpartum depression: a 精神 certificate 2–18 months on."""
    w, rng = ctx.world, ctx.rng
    q = np.flatnonzero(ctx.in_extract[w.preg_mother] & ~w.psych[w.preg_mother])
    pp, _ = postpartum_depression(ctx, q)
    key = w.preg_hh[q] * 4 + w.preg_event[q]
    hit = pp & (rng.uniform("pp_certificate", key) < POSTPARTUM_CERTIFICATE_SHARE)
    q, key = q[hit], key[hit]
    issued = w.preg_birth[q] + rng.integers("pp_certificate_at", 60, 550, key)
    grade = np.array(_GRADES["精神"], dtype=object)[rng.choice("pp_certificate_grade", (5, 60, 35), key)]
    first = np.unique(w.preg_mother[q], return_index=True)[1]  # one certificate per mother (her first)
    return {"p": w.preg_mother[q][first], "type": np.full(len(first), "精神", dtype=object),
            "issued": issued[first], "grade": grade[first]}  # fmt: skip


def techo_frame(ctx: Context) -> pd.DataFrame:
    """Certificates of children and of their mothers (the export is limited to those two groups)."""
    w, rng = ctx.world, ctx.rng
    child = np.flatnonzero((w.slot >= CHILD0) & ctx.in_extract)
    ck = w.pkey[child]
    cb = w.birth[child]
    mother = np.flatnonzero((w.slot == MOTHER) & ctx.in_extract)
    mk = w.pkey[mother]
    anchor = w.anchor[w.hh[mother]]
    parts = [
        _certificates(ctx, child, "療育", np.where(w.dd[child], 0.5, 0.001),
                      D.add_years(cb, 2.5 + 6.5 * rng.uniform("ryoiku_at", ck)), (35, 65)),
        _certificates(ctx, child, "身体", np.full(len(child), 0.003),
                      D.add_years(cb, 0.3 + 9.7 * rng.uniform("shintai_c_at", ck)), (30, 25, 15, 15, 8, 7)),
        _certificates(ctx, child, "精神", np.full(len(child), 0.004),
                      D.add_years(cb, 12 + 5.9 * rng.uniform("seishin_c_at", ck)), (5, 55, 40)),
        _certificates(ctx, mother, "精神", np.where(w.psych[mother], 0.45, 0.0),
                      D.add_years(anchor, -8 + 16 * rng.uniform("seishin_m_at", mk)), (10, 60, 30)),
        _certificates(ctx, mother, "身体", np.full(len(mother), 0.008),
                      D.add_years(anchor, -10 + 20 * rng.uniform("shintai_m_at", mk)), (15, 20, 20, 25, 10, 10)),
    ]  # fmt: skip
    parts.append(_postpartum_certificates(ctx))
    cat = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    ok = (cat["issued"] <= ctx.asof) & (cat["issued"] > w.birth[cat["p"]])
    cat = {name: v[ok] for name, v in cat.items()}
    data = {
        "resident_id": ctx.resident_ids(cat["p"]),
        "techo_type": cat["type"],
        "grade": cat["grade"],
        "issued_on": cat["issued"],
    }
    frame = make_frame(ctx.town.feeds["shogai_techo"].spec, data)
    frame["_person"] = cat["p"]
    order = np.lexsort((cat["issued"],))
    return frame.iloc[order].reset_index(drop=True)


def assistance_spells(ctx: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(household, start, end) of public-assistance spells on the timeline (end NEVER while ongoing)."""
    w, rng = ctx.world, ctx.rng
    h = np.arange(w.n_households)
    on = w.poor & (rng.uniform("hogo", h) < 0.3)
    lo = np.maximum(w.hh_in, D.add_years(w.anchor, -2.0))
    start1 = lo + (rng.uniform("hogo_at", h) * np.maximum(D.add_years(w.anchor, 14.0) - lo, 1)).astype(np.int64)
    end1 = np.where(
        rng.uniform("hogo_open", h) < 0.3, D.NEVER, D.add_years(start1, 0.5 + 7.5 * rng.uniform("hogo_len", h))
    )
    second = on & (end1 < D.NEVER) & (rng.uniform("hogo2", h) < 0.15)
    start2 = D.add_years(np.minimum(end1, D.NEVER - 4000), 1 + 4 * rng.uniform("hogo2_at", h))
    end2 = np.where(
        rng.uniform("hogo2_open", h) < 0.4, D.NEVER, D.add_years(start2, 0.5 + 5.5 * rng.uniform("hogo2_len", h))
    )
    hh = np.concatenate([h[on], h[second]])
    start = np.concatenate([start1[on], start2[second]])
    end = np.concatenate([end1[on], end2[second]])
    end = np.minimum(end, np.where(w.hh_out[hh] < D.NEVER, w.hh_out[hh], D.NEVER))
    ok = (start >= w.hh_in[hh]) & (start < w.hh_out[hh]) & (end > start)
    return hh[ok], start[ok], end[ok]


def hogo_frame(ctx: Context) -> pd.DataFrame:
    """Assistance spells of the extract's households started by as-of; the end shown once it has happened."""
    hh, start, end = assistance_spells(ctx)
    in_extract = np.zeros(ctx.world.n_households, dtype=bool)
    in_extract[ctx.snap.households] = True
    keep = (start <= ctx.asof) & in_extract[hh]
    hh, start, end = hh[keep], start[keep], end[keep]
    data = {
        "household_id": ctx.household_ids(hh),
        "started_on": start,
        "ended_on": np.where(end <= ctx.asof, end, D.NEVER),
    }
    frame = make_frame(ctx.town.feeds["seikatsu_hogo"].spec, data)
    frame["_household"] = hh
    order = np.lexsort((start,))
    return frame.iloc[order].reset_index(drop=True)


def fuyo_frame(ctx: Context) -> pd.DataFrame:
    """Single-parent allowance: one row per recipient, status as of as-of."""
    w, rng = ctx.world, ctx.rng
    offsets = w.household_persons
    parent_slot = np.where(w.htype == SINGLE_FATHER, FATHER, MOTHER)
    single_since = np.select(
        [
            np.isin(w.htype, (SINGLE_MOTHER, MOTHER_WITH_PARENTS, SINGLE_FATHER)),
            (w.htype == NUCLEAR) & (w.divorce < D.NEVER),
        ],
        [w.anchor, w.divorce],
        D.NEVER,
    )
    h = np.flatnonzero(single_since < D.NEVER)
    # Find the parent person of each such household.
    recipient = np.full(len(h), -1, dtype=np.int64)
    for i, hh in enumerate(h):
        members = np.arange(offsets[hh], offsets[hh + 1])
        match = members[w.slot[members] == parent_slot[hh]]
        if len(match):
            recipient[i] = match[0]
    ok = recipient >= 0
    h, recipient = h[ok], recipient[ok]
    applies = rng.uniform("fuyo", h) < np.where(w.poor[h], 0.85, 0.5)
    h, recipient = h[applies], recipient[applies]
    certified = np.maximum(single_since[h], w.start[recipient]) + rng.integers("fuyo_at", 20, 121, h)
    keep = (certified <= ctx.asof) & ctx.in_extract[recipient] & (certified < w.exit[recipient])
    h, recipient, certified = h[keep], recipient[keep], certified[keep]
    # State at as-of: lost when the youngest child is 18, a partner moved in, or the parent left.
    lost = w.exit[recipient] <= ctx.asof
    youngest = np.zeros(len(h), dtype=np.int64)
    partner_in = np.zeros(len(h), dtype=bool)
    for i, hh in enumerate(h):
        members = np.arange(offsets[hh], offsets[hh + 1])
        kids = members[(w.slot[members] >= CHILD0) & (w.birth[members] <= ctx.asof) & (w.exit[members] > ctx.asof)]
        youngest[i] = w.birth[kids].max() if len(kids) else D.NEVER * -1
        partners = members[(w.slot[members] == PARTNER)]
        partner_in[i] = bool(((w.start[partners] <= ctx.asof) & (w.exit[partners] > ctx.asof)).any())
    lost |= youngest <= D.add_months(np.full(len(h), ctx.asof), -18 * 12)
    lost |= partner_in
    with_parents = w.htype[h] == MOTHER_WITH_PARENTS
    state = np.where(
        w.poor[h],
        rng.choice("fuyo_poor", (70, 30, 0), h),
        np.where(with_parents, rng.choice("fuyo_wp", (20, 45, 35), h), rng.choice("fuyo_st", (25, 55, 20), h)),
    )
    status = np.array(["全部支給", "一部支給", "全部停止"], dtype=object)[state]
    status[lost] = "資格喪失"
    data = {"recipient_resident_id": ctx.resident_ids(recipient), "certified_on": certified, "status": status}
    frame = make_frame(ctx.town.feeds["jido_fuyo"].spec, data)
    frame["_person"] = recipient
    frame["_household"] = h
    order = np.lexsort((certified,))
    return frame.iloc[order].reset_index(drop=True)
