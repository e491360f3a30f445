"""School system feeds (layout S): the roster (gakko_meibo) and monthly attendance (gakko_shusseki).

Records live on the timeline: a child's record starts at school entry (or on
moving in) and a move within the town that changes the school district
closes it and opens a second record with a new student number. The roster
keeps the old record for a year, so a transferred child appears twice.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kodomo_pipeline.generator import dates as D
from kodomo_pipeline.generator.context import Context
from kodomo_pipeline.generator.frames import flags, make_frame, sex_text
from kodomo_pipeline.generator.noise import apply_noise
from kodomo_pipeline.generator.places import scaled_names, school_index
from kodomo_pipeline.generator.pupils import Pupils, identities
from kodomo_pipeline.generator.rng import Rng
from kodomo_pipeline.generator.welfare import assistance_spells

GRADES = np.array(["小1", "小2", "小3", "小4", "小5", "小6", "中1", "中2", "中3"], dtype=object)
QU = np.array(["学級生活満足群", "非承認群", "侵害行為認知群", "学級生活不満足群"], dtype=object)


@dataclass(frozen=True)
class SchoolRecords:
    """Every school record of the timeline (index r): one per child, two for a transfer."""

    pupil: np.ndarray
    k: np.ndarray  # 0 first record, 1 after a transfer
    start: np.ndarray
    end: np.ndarray  # last day on this record
    transfer: np.ndarray  # day the child moved to another school (record 0 of a transfer), NEVER otherwise
    student_no: np.ndarray
    cohort: np.ndarray


def school_lists(ctx: Context) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The town's schools, with more (第N…) when a large population needs them."""
    places = ctx.places
    n_elem = max(len(places.elementary), math.ceil(ctx.population * 0.049 / 600))
    n_jhs = max(len(places.junior_high), math.ceil(ctx.population * 0.025 / 700))
    return (
        scaled_names(places.elementary, n_elem, places.city + "立第{}小学校"),
        scaled_names(places.junior_high, n_jhs, places.city + "立第{}中学校"),
    )


def _fy_day(years: np.ndarray, month: int, dom: int) -> np.ndarray:
    day, _ = D.from_ymd(years, np.full(len(years), month), np.full(len(years), dom))
    return day


def _district_school(ctx: Context, hh: np.ndarray, new: np.ndarray, grade: np.ndarray) -> np.ndarray:
    """School index (elementary 0.., junior high offset by the number of elementary schools)."""
    elem, jhs = school_lists(ctx)
    w = ctx.world
    out = np.zeros(len(hh), dtype=np.int64)
    for table, is_new in ((w.addr_old, False), (w.addr_new, True)):
        rows = np.flatnonzero(new == is_new)
        if len(rows):
            e = school_index(ctx.places, table, hh[rows], len(elem))
            j = school_index(ctx.places, table, hh[rows], len(jhs))
            out[rows] = np.where(grade[rows] <= 6, e, len(elem) + j)
    return out


def school_records(ctx: Context, pupils: Pupils) -> SchoolRecords:
    """Records of the whole timeline, numbered in entry order so numbers never depend on as-of."""
    rng = ctx.rng
    cohort = D.school_cohort(pupils.birth)
    first_day = _fy_day(cohort + 7, 4, 1)
    last_day = _fy_day(cohort + 16, 3, 31)
    special = rng.uniform("special_school", pupils.key) < 0.004 + 0.12 * pupils.dd
    start0 = np.maximum(first_day, pupils.start)
    end_all = np.minimum(last_day, pupils.exit - 1)
    has = ~special & (start0 <= end_all)
    i = np.flatnonzero(has)
    hh = pupils.hh[i]
    resident = hh >= 0
    move = np.where(resident, ctx.world.move2[np.maximum(hh, 0)], D.NEVER)
    during = resident & (move > start0[i]) & (move <= end_all[i])
    grade_at_move = D.fiscal_year(np.minimum(move, D.NEVER - 1)) - cohort[i] - 6
    old_school = _district_school(ctx, np.maximum(hh, 0), np.zeros(len(i), bool), grade_at_move)
    new_school = _district_school(ctx, np.maximum(hh, 0), np.ones(len(i), bool), grade_at_move)
    transfer = during & (old_school != new_school)
    t_day = np.where(transfer, move, D.NEVER)
    pupil = np.concatenate([i, i[transfer]])
    k = np.concatenate([np.zeros(len(i), np.int64), np.ones(int(transfer.sum()), np.int64)])
    start = np.concatenate([start0[i], t_day[transfer]])
    end = np.concatenate([np.where(transfer, t_day - 1, end_all[i]), end_all[i][transfer]])
    tr = np.concatenate([t_day, np.full(int(transfer.sum()), D.NEVER)])
    # Student numbers: entry school year, town digit, serial within that year over the whole timeline.
    order = np.lexsort((k, pupils.key[pupil], start))
    fy = D.fiscal_year(start[order])
    first_of_fy = np.r_[True, fy[1:] != fy[:-1]] if len(fy) else np.zeros(0, bool)
    group_start = np.maximum.accumulate(np.where(first_of_fy, np.arange(len(fy)), 0)) if len(fy) else fy
    serial = np.arange(len(fy)) - group_start + 1
    numbers = np.empty(len(order), dtype=object)
    numbers[order] = [f"{y % 100:02d}{ctx.town_digit}{s:05d}" for y, s in zip(fy, serial, strict=True)]
    return SchoolRecords(pupil, k, start, end, tr, numbers, cohort[pupil])


@dataclass(frozen=True)
class Roster:
    """The roster at as-of: records (index into SchoolRecords), grade, school, and the written rows."""

    rec: np.ndarray
    grade: np.ndarray  # 1..9
    frame: pd.DataFrame
    noise: list[list[str]]


def roster(ctx: Context, pupils: Pupils, recs: SchoolRecords) -> Roster:
    """Current records plus those closed by a transfer within the last year, as the school types them."""
    rng, asof = ctx.rng, ctx.asof
    current = (recs.start <= asof) & (recs.end >= asof)
    kept_old = (recs.transfer <= asof) & (recs.transfer > asof - 365)
    r = np.flatnonzero(current | kept_old)
    old = ~current[r]
    pupil = recs.pupil[r]
    day = np.where(old, recs.transfer[r] - 1, asof)
    grade = D.fiscal_year(day) - recs.cohort[r] - 6
    hh = pupils.hh[pupil]
    resident = hh >= 0
    elem, jhs = school_lists(ctx)
    names = np.array(elem + jhs, dtype=object)
    moved = resident & (ctx.world.move2[np.maximum(hh, 0)] <= day) & ~old
    school_i = _district_school(ctx, np.maximum(hh, 0), moved, grade)
    out_school = np.where(
        grade <= 6,
        rng.integers("out_school_e", 0, len(elem), pupils.key[pupil]),
        len(elem) + rng.integers("out_school_j", 0, len(jhs), pupils.key[pupil]),
    )
    school_i = np.where(resident, school_i, out_school)
    prefer_father = rng.uniform("school_guardian", pupils.key[pupil]) < 0.55
    ident = identities(ctx, pupils, pupil, day, prefer_father, old, recs.start[r])
    rec_key = pupils.key[pupil] * 4 + recs.k[r]
    noise = apply_noise(
        rng,
        "school",
        rec_key,
        ident.kana,
        pupils.birth[pupil],
        asof,
        ctx.world.preset.record,
        ident.kanji,
        ident.guardian,
    )
    for case, tags in zip(ident.cases, noise.tags, strict=True):
        tags[:0] = case
    address = _drop_addresses(rng, rec_key, ident.address, ctx.world.preset.record.no_address, noise.tags)
    fy = D.fiscal_year(day)
    # Indicators the school holds.
    hh_spell, s_start, s_end = assistance_spells(ctx)
    on_hogo = np.zeros(ctx.world.n_households, dtype=bool)
    current_spell = (s_start <= asof) & (s_end > asof)
    on_hogo[hh_spell[current_spell]] = True
    hogo = resident & on_hogo[np.maximum(hh, 0)]
    enjo = hogo | (rng.uniform("enjo", pupils.key[pupil], fy) < np.where(pupils.poor[pupil], 0.7, 0.035))
    futoko = futoko_active(rng, pupils, pupil, grade)
    shien = rng.uniform("tokubetsu", pupils.key[pupil]) < np.where(pupils.dd[pupil], 0.55, 0.006)
    risky = pupils.ab[pupil] | pupils.dd[pupil] | futoko
    qu = np.where(risky, rng.choice("qu_r", (25, 20, 25, 30), pupils.key[pupil], fy),
                  rng.choice("qu", (56, 24, 8, 12), pupils.key[pupil], fy))  # fmt: skip
    qu_text = QU[qu].copy()
    qu_text[(grade < 3) | (rng.uniform("qu_na", pupils.key[pupil], fy) < 0.04)] = None
    data = {
        "student_no": recs.student_no[r],
        "school": names[school_i],
        "grade": GRADES[np.clip(grade, 1, 9) - 1],
        "name_kanji": noise.kanji,
        "name_kana": noise.kana,
        "birth_date": noise.birth,
        "sex": sex_text(pupils.female[pupil]),
        "guardian_name": noise.guardian,
        "address": address,
        "shugaku_enjo": flags(enjo),
        "tokubetsu_shien": flags(shien),
        "qu_result": qu_text,
    }
    extra = {}
    if "成績" in ctx.town.feeds["gakko_meibo"].mapping.exported_but_dropped:
        extra["成績"] = grades_text(rng, pupils.key[pupil], grade, fy)
    frame = make_frame(ctx.town.feeds["gakko_meibo"].spec, data, extra)
    frame["_pupil"] = pupil
    frame["_rec"] = r
    order = np.argsort(np.asarray(data["student_no"], dtype=str), kind="stable")
    return Roster(r[order], grade[order], frame.iloc[order].reset_index(drop=True), [noise.tags[i] for i in order])


def _drop_addresses(
    rng: Rng, rec_key: np.ndarray, address: np.ndarray, rate: float, tags: list[list[str]]
) -> np.ndarray:
    """Records the school keeps without an address (an unfinished transfer form, a shelter): tagged `no_address`."""
    if rate <= 0:
        return address
    out = address.copy()
    for i in np.flatnonzero(rng.uniform("school_no_address", rec_key) < rate):
        out[i] = None
        tags[i].append("no_address")
    return out


def grades_text(rng: Rng, key: np.ndarray, grade: np.ndarray, fy: np.ndarray) -> np.ndarray:
    """成績 as the school system prints it: 3 levels in elementary school, 5 in junior high."""
    out = np.empty(len(key), dtype=object)
    elem_subjects = ("国", "算", "理", "社")
    jhs_subjects = ("国", "数", "英", "理", "社")
    marks_e = 1 + rng.choice("seiseki_e", (15, 55, 30), key[:, None], fy[:, None], np.arange(4)[None, :])
    marks_j = 1 + rng.choice("seiseki_j", (5, 15, 40, 28, 12), key[:, None], fy[:, None], np.arange(5)[None, :])
    for i in range(len(key)):
        if grade[i] <= 2:
            out[i] = f"国{marks_e[i, 0]} 算{marks_e[i, 1]}"
        elif grade[i] <= 6:
            out[i] = " ".join(f"{s}{m}" for s, m in zip(elem_subjects, marks_e[i], strict=True))
        else:
            out[i] = " ".join(f"{s}{m}" for s, m in zip(jhs_subjects, marks_j[i], strict=True))
    return out


def futoko_prone(rng: Rng, key: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """Latent school refusal (不登校) of a child, before its onset grade."""
    return rng.uniform("futoko", key) < 0.045 + 0.06 * ab


def futoko_active(rng: Rng, pupils: Pupils, pupil: np.ndarray, grade: np.ndarray) -> np.ndarray:
    """School refusal from an onset grade on (about 1% in elementary school, 4% in junior high)."""
    key = pupils.key[pupil]
    onset = rng.choice("futoko_onset", (2, 3, 4, 6, 12, 14, 12), key) + 3
    return futoko_prone(rng, key, pupils.ab[pupil]) & (grade >= onset)


def shusseki_frame(ctx: Context, pupils: Pupils, recs: SchoolRecords, ros: Roster) -> pd.DataFrame:
    """One row per roster record per month since the previous school year began, up to as-of's month."""
    rng, asof = ctx.rng, ctx.asof
    asof_fy = int(D.fiscal_year(np.array([asof]))[0])
    first_m = int(D.month_index(np.array([D.day(dt.date(asof_fy - 1, 4, 1))]))[0])
    last_m = int(D.month_index(np.array([asof]))[0])
    months = np.arange(first_m, last_m + 1)
    r = np.repeat(ros.rec, len(months))
    m = np.tile(months, len(ros.rec))
    lo = np.maximum(D.month_first_day(m), recs.start[r])
    hi = np.minimum(np.minimum(D.month_first_day(m + 1) - 1, recs.end[r]), asof)
    required = D.school_days_between(lo, hi)
    keep = required > 0
    r, m, required = r[keep], m[keep], required[keep]
    pupil = recs.pupil[r]
    key = pupils.key[pupil]
    grade = D.fiscal_year(D.month_first_day(m)) - recs.cohort[r] - 6
    futoko = futoko_active(rng, pupils, pupil, grade)
    ab = pupils.ab[pupil]
    base = 0.006 + 0.03 * rng.uniform("absence_prone", key) ** 2
    rate = np.where(futoko, 0.3 + 0.55 * rng.uniform("futoko_rate", key), base * np.where(ab, 2.5, 1.0))
    absent = np.minimum(rng.poisson("absent", required * rate, key, m, recs.k[r]), required)
    late = np.minimum(rng.poisson("late", required * (0.01 + 0.03 * ab), key, m, recs.k[r]), required)
    fy = D.fiscal_year(D.month_first_day(m))
    frequent = rng.uniform("nurse_freq", key, fy) < 0.01 + 0.04 * (ab | futoko)
    nurse = np.where(
        frequent,
        np.where(
            rng.uniform("nurse_edge", key, m) < 0.1,
            np.minimum(8, required),
            rng.poisson("nurse_hi", required * 0.45, key, m),
        ),
        rng.poisson("nurse", required * 0.03, key, m),
    )
    data = {
        "student_no": recs.student_no[r],
        "month": m,
        "required_days": required,
        "absent_days": absent,
        "late_days": late,
        "nurse_visits": np.minimum(nurse, 200),
    }
    frame = make_frame(ctx.town.feeds["gakko_shusseki"].spec, data)
    frame["_pupil"] = pupil
    frame["_rec"] = r
    order = np.lexsort((m, np.asarray(data["student_no"], dtype=str)))
    return frame.iloc[order].reset_index(drop=True)
