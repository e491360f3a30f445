"""Name history: every registry surname change up to T, and the earlier registry extracts that show the old names.

A matcher may use every name a resident had at or before T (never a later one).
`generate-history` has it in its monthly jumin files anyway; a single snapshot
(`kodomo generate`) also writes the registry extract of the 31 March before each
change a nursery/school record still lags behind, so one inbox holds the history.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kodomo_pipeline.generator import dates as D
from kodomo_pipeline.generator import truth
from kodomo_pipeline.generator.context import Context
from kodomo_pipeline.generator.population import ASOF_MIN, person_names, renamed_members
from kodomo_pipeline.generator.pupils import Pupils

COLUMNS = ["person_uid", "resident_id", "changed_on", "old_name_kanji", "old_name_kana", "new_name_kanji",
           "new_name_kana"]  # fmt: skip
LAGGING_TAG = "surname_old_at_school"


def name_history_frame(ctx: Context, persons: np.ndarray) -> pd.DataFrame:
    """Surname changes the registry made on or before as-of, for the given persons (population.renamed_members)."""
    w = ctx.world
    changes = w.surname_changes
    if changes is None or not len(persons):
        return pd.DataFrame(columns=COLUMNS)
    persons = np.unique(np.asarray(persons, dtype=np.int64))
    day = changes.day[w.hh[persons]]
    keep = renamed_members(w, persons) & (day <= ctx.asof) & (w.start[persons] < day)
    p, d = persons[keep], day[keep]
    if not len(p):
        return pd.DataFrame(columns=COLUMNS)
    old, new = person_names(w, p, d - 1), person_names(w, p, d)
    return pd.DataFrame(
        {
            "person_uid": truth.person_uid(p),
            "resident_id": ctx.resident_ids(p),
            "changed_on": D.to_datetime(d).dt.strftime("%Y-%m-%d").to_numpy(),
            "old_name_kanji": old.kanji,
            "old_name_kana": old.kana,
            "new_name_kanji": new.kanji,
            "new_name_kana": new.kana,
        }
    ).sort_values(["changed_on", "person_uid"], kind="stable")


def earlier_registry_days(ctx: Context, pupils: Pupils, link_rows: list[pd.DataFrame]) -> list[int]:
    """Extract dates (days before as-of, oldest first) that show every lagging record's child under its old name.

    A child needs a date in [first day in the registry, day of the change); the town keeps fiscal-year-end
    extracts (31 March), else the one of the day before the change. As few dates as cover every child
    (greedy by the interval's end, which is minimal for intervals on a line).
    """
    changes = ctx.world.surname_changes
    if changes is None or not link_rows:
        return []
    w = ctx.world
    links = pd.concat(link_rows, ignore_index=True)
    lagging = links["noise"].str.split(";").map(lambda tags: LAGGING_TAG in tags).to_numpy(dtype=bool)
    person = pupils.person[links["_pupil"].to_numpy()[lagging]]
    person = np.unique(person[person >= 0])
    if not len(person):
        return []
    lo = np.maximum(np.maximum(w.birth[person], w.start[person]), D.day(ASOF_MIN))
    hi = changes.day[w.hh[person]]
    fy = D.fiscal_year(hi - 1)
    march, _ = D.from_ymd(fy, np.full(len(fy), 3), np.full(len(fy), 31))
    march = np.where(march >= hi, D.from_ymd(fy - 1, np.full(len(fy), 3), np.full(len(fy), 31))[0], march)
    best = np.where(march >= lo, march, hi - 1)
    days: list[int] = []
    for i in np.argsort(best, kind="stable"):
        if any(lo[i] <= d < hi[i] for d in days):
            continue
        days.append(int(best[i]))
    return sorted(d for d in days if d < ctx.asof)
