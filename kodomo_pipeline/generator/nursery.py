"""toen (登園記録, layout N): monthly nursery attendance per enrolled pre-school child, no resident ID.

Enrolment is drawn on the timeline (class age at entry, facility), pupil
numbers are serials per facility and entry year, and the export holds the
last twelve months (the current month up to as-of).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kodomo_pipeline.generator import dates as D
from kodomo_pipeline.generator.context import Context
from kodomo_pipeline.generator.frames import make_frame, sex_text
from kodomo_pipeline.generator.gaiji import has_gaiji, placeholder_mark
from kodomo_pipeline.generator.noise import apply_noise
from kodomo_pipeline.generator.places import scaled_names
from kodomo_pipeline.generator.pupils import Pupils, identities


@dataclass(frozen=True)
class Enrolments:
    """Nursery enrolments of the timeline (index e)."""

    pupil: np.ndarray
    facility: np.ndarray
    start: np.ndarray
    end: np.ndarray
    pupil_no: np.ndarray


def facilities(ctx: Context) -> tuple[str, ...]:
    """The town's nurseries, more of them for a large population (about 110 children each)."""
    needed = max(len(ctx.places.nurseries), math.ceil(ctx.population * 0.03 / 110))
    return scaled_names(ctx.places.nurseries, needed, ctx.places.city + "第{}保育園")


def enrolments(ctx: Context, pupils: Pupils) -> Enrolments:
    """Enrolment of every timeline child (entry class age, facility) with pupil numbers per facility and year."""
    rng = ctx.rng
    key = pupils.key
    cohort = D.school_cohort(pupils.birth)
    enrolled = rng.uniform("nursery", key) < 0.8
    class_age = rng.choice("nursery_age", (14, 30, 12, 44), key)
    planned, _ = D.from_ymd(cohort + 1 + class_age, np.full(len(key), 4), np.ones(len(key), np.int64))
    midyear = rng.uniform("nursery_mid", key) < 0.2
    planned = planned + np.where(midyear, rng.integers("nursery_mid_day", 0, 330, key), 0)
    planned = np.maximum(planned, pupils.birth + 57)
    late_mover = pupils.start > planned
    start = np.where(late_mover, pupils.start + rng.integers("nursery_after_move", 14, 61, key), planned)
    graduation, _ = D.from_ymd(cohort + 7, np.full(len(key), 3), np.full(len(key), 31))
    end = np.minimum(graduation, pupils.exit - 1)
    ok = enrolled & (start <= end)
    i = np.flatnonzero(ok)
    names = facilities(ctx)
    weights = np.linspace(1.6, 0.7, len(names))
    facility = rng.choice("facility", weights, key[i])
    start_i = start[i]
    order = np.lexsort((key[i], start_i, facility))
    fy = D.fiscal_year(start_i[order])
    fac = facility[order]
    first = np.r_[True, (fy[1:] != fy[:-1]) | (fac[1:] != fac[:-1])] if len(fy) else np.zeros(0, bool)
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(fy)), 0)) if len(fy) else fy
    serial = np.arange(len(fy)) - group_start + 1
    numbers = np.empty(len(i), dtype=object)
    numbers[order] = [f"{y % 100:02d}{s:03d}" for y, s in zip(fy, serial, strict=True)]
    return Enrolments(i, facility, start_i, end[i], numbers)


@dataclass(frozen=True)
class Toen:
    """The toen frame with, per listed enrolment, its source key and noise."""

    frame: pd.DataFrame
    enrolment: np.ndarray  # enrolments listed (index into Enrolments), one per record
    source_key: np.ndarray
    noise: list[list[str]]


def toen_frame(ctx: Context, pupils: Pupils, enr: Enrolments) -> Toen:
    """Rows for the last twelve months; long absences are planted in at-risk households."""
    rng, asof = ctx.rng, ctx.asof
    months = ctx.month_window(11)
    e = np.repeat(np.arange(len(enr.pupil)), len(months))
    m = np.tile(months, len(enr.pupil))
    lo = np.maximum(D.month_first_day(m), enr.start[e])
    hi = np.minimum(np.minimum(D.month_first_day(m + 1) - 1, enr.end[e]), asof)
    open_days = D.nursery_days_between(lo, hi)
    keep = open_days > 0
    e, m, open_days = e[keep], m[keep], open_days[keep]
    listed = np.unique(e)
    # Identity once per enrolment (the same record every month), with the nursery's typing slips.
    pupil_l = enr.pupil[listed]
    prefer_father = rng.uniform("toen_guardian", pupils.key[pupil_l]) < 0.2
    ident = identities(ctx, pupils, pupil_l, np.full(len(listed), asof), prefer_father, None, enr.start[listed])
    rates = ctx.world.preset.record
    noise = apply_noise(
        rng, "toen", pupils.key[pupil_l], ident.kana, pupils.birth[pupil_l], asof, rates, None, ident.guardian
    )
    row_of = np.searchsorted(listed, e)
    pupil = enr.pupil[e]
    key = pupils.key[pupil]
    ab = pupils.ab[pupil]
    age = D.age_years(pupils.birth[pupil], D.month_first_day(m))
    rate = np.where(age <= 2, 0.07, 0.045) * (0.5 + rng.uniform("toen_prone", key)) * np.where(ab, 2.0, 1.0)
    absent = np.minimum(rng.poisson("toen_absent", open_days * rate, key, m), open_days)
    consec = np.where(absent > 0, np.minimum(absent, 1 + rng.poisson("toen_consec", 0.5, key, m)), 0)
    # An illness keeps a child home for a week or so; an at-risk child sometimes stops coming for weeks.
    ill = rng.uniform("toen_ill", key, m) < 0.01
    ill_days = np.minimum(rng.integers("toen_ill_days", 5, 10, key, m), open_days)
    absent = np.where(ill, np.maximum(absent, ill_days), absent)
    consec = np.where(ill, np.maximum(consec, ill_days), consec)
    long = ab & (rng.uniform("toen_long", key, m) < 0.1) & (open_days >= 12)
    half = (open_days % 2 == 0) & (rng.uniform("toen_half", key, m) < 0.25)
    long_abs = np.where(
        half, open_days // 2, np.ceil(open_days * (0.5 + 0.45 * rng.uniform("toen_long_share", key, m)))
    )
    long_abs = np.minimum(long_abs.astype(np.int64), open_days)
    long_consec = np.where(rng.uniform("toen_consec_edge", key, m) < 0.3, 10, rng.integers("toen_lc", 10, 25, key, m))
    absent = np.where(long, np.maximum(absent, long_abs), absent)
    consec = np.where(long, np.minimum(np.maximum(consec, long_consec), absent), consec)
    consec = np.minimum(consec, absent)
    names = np.array(facilities(ctx), dtype=object)
    data = {
        "facility": names[enr.facility[e]],
        "pupil_no": enr.pupil_no[e],
        "name_kana": noise.kana[row_of],
        "birth_date": noise.birth[row_of],
        "sex": sex_text(pupils.female[pupil]),
        "guardian_name": noise.guardian[row_of],
        "month": m,
        "open_days": open_days,
        "attended_days": open_days - absent,
        "absent_days": absent,
        "max_consecutive_absence": consec,
    }
    frame = make_frame(ctx.town.feeds["toen"].spec, data)
    frame["_pupil"] = pupil
    order = np.lexsort((m, np.asarray(data["pupil_no"], dtype=str), enr.facility[e]))
    source_key = np.array([f"{names[enr.facility[x]]}:{enr.pupil_no[x]}" for x in listed], dtype=object)
    tags = [[*c, *t] for c, t in zip(ident.cases, noise.tags, strict=True)]
    if placeholder_mark("toen", ctx.town.feeds["toen"], ctx.world.preset.gaiji):
        for i in np.flatnonzero([has_gaiji(g) for g in noise.guardian]):
            tags[i].append("gaiji_record")
    return Toen(frame.iloc[order].reset_index(drop=True), listed, source_key, tags)
