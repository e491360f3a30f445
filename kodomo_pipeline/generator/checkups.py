"""nyuyoji_kenshin (乳幼児健診): invitations by month of age, attendance, results and findings.

A row exists from the month the child is invited (one month ahead of time);
attendance, findings and weight appear once the exam has happened by as-of.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kodomo_pipeline.generator import dates as D
from kodomo_pipeline.generator.context import Context
from kodomo_pipeline.generator.frames import INT_NA, flags, make_frame
from kodomo_pipeline.generator.population import CHILD0

EXAMS = np.array(["4か月", "10か月", "1歳6か月", "3歳"], dtype=object)
EXAM_MONTH = np.array([4, 10, 18, 40])  # month of age the invitation is for (3歳児健診 at 3y4m)
WEIGHT_MEAN = np.array([6800, 8800, 10500, 14300])
WEIGHT_SD = np.array([750, 900, 1000, 1400])
LOW_WEIGHT = np.array([5000, 7000, 8500, 11000])  # rules v1 R04 thresholds
RESULTS = np.array(["異常なし", "要経過観察", "要精密", "要医療"], dtype=object)


def kenshin_frame(ctx: Context) -> pd.DataFrame:
    """Up to four exams per child 0–17, invited by month of age; missed ones cluster in at-risk households."""
    w, rng = ctx.world, ctx.rng
    # Children 0–17 at as-of: the export is for the child-support purpose, not the whole health history.
    minor = w.birth > D.add_months(np.full(w.n_persons, ctx.asof), -18 * 12)
    child = np.flatnonzero((w.slot >= CHILD0) & ctx.in_extract & minor)
    birth_month = D.month_index(w.birth[child])
    last_month = int(D.month_index(np.array([ctx.asof]))[0]) + 1
    parts = []
    for e in range(4):
        due_m = birth_month + EXAM_MONTH[e]
        due_first = D.month_first_day(due_m)
        invited = (
            (due_m <= last_month)
            & (w.start[child] <= due_first + 20)
            & (w.exit[child] > due_first)
            & (w.birth[child] <= ctx.asof)
        )
        c = child[invited]
        key = w.pkey[c]
        hh = w.hh[c]
        ab = w.ab_risk[hh]
        dd = w.dd[c]
        miss_p = np.where(e >= 2, 0.006, 0.004) + np.where(ab, 0.30, 0.0)
        # Missed check-ups cluster in a household: one draw per household and exam.
        missed = rng.uniform("kenshin_miss", hh, e) < miss_p
        delay = np.where(rng.uniform("kenshin_late", key, e) < 0.12, rng.integers("kenshin_delay", 1, 3, key, e), 0)
        first = D.month_first_day(due_m[invited] + delay)
        attended_on = first + rng.integers("kenshin_day", 3, 27, key, e)
        attended = ~missed & (attended_on <= ctx.asof) & (attended_on < w.exit[c])
        attended_on = np.where(attended, attended_on, D.NEVER)
        # Findings.
        u = rng.uniform
        if e < 2:
            motor = u("motor", key, e) < np.where(dd, 0.2, 0.008)
            language = np.zeros(len(c), dtype=bool)
            social = np.zeros(len(c), dtype=bool)
        else:
            motor = u("motor", key, e) < np.where(dd, 0.1, 0.004)
            language = u("language", key, e) < np.where(dd, 0.6, 0.002)
            social = u("social", key, e) < np.where(dd, 0.5, 0.001)
        finding = motor | language | social
        result = rng.choice("result", (80, 15, 4, 1), key, e)
        result = np.where(finding, np.where(u("result_f", key, e) < 0.45, 2, 1), result)
        z = rng.normal("weight", key, e) + np.where(ab & (u("thin", key, e) < 0.3), -1.6, 0.0)
        weight = np.round(WEIGHT_MEAN[e] + 250 * ~w.female[c] + WEIGHT_SD[e] * z).astype(np.int64)
        edge = ab & (u("weight_edge", key, e) < 0.08)
        weight = np.where(edge, LOW_WEIGHT[e] - np.where(u("edge_side", key, e) < 0.5, 1, 0), weight)
        weight = np.clip(weight, 1500, 39000)
        anxiety = u("anxiety", key, e) < np.where(ab, 0.35, 0.04)
        na = ~attended
        parts.append(
            {
                "_person": c,
                "exam": np.full(len(c), EXAMS[e], dtype=object),
                "due_month": due_m[invited],
                "attended_on": attended_on,
                "result": np.where(na, None, RESULTS[result]),
                "dev_motor": flags(motor, na),
                "dev_language": flags(language, na),
                "dev_social": flags(social, na),
                "weight_g": np.where(na, INT_NA, weight),
                "parenting_anxiety": flags(anxiety, na),
            }
        )
    cat = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    data = {"resident_id": ctx.resident_ids(cat["_person"]), **{k: v for k, v in cat.items() if k != "_person"}}
    frame = make_frame(ctx.town.feeds["nyuyoji_kenshin"].spec, data)
    frame["_person"] = cat["_person"]
    order = np.lexsort((cat["_person"], cat["due_month"]))
    return frame.iloc[order].reset_index(drop=True)
