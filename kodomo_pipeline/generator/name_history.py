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
from kodomo_pipeline.generator.population import ASOF_MIN, CHILD0, MOTHER, person_names
from kodomo_pipeline.generator.pupils import Pupils

COLUMNS = ["person_uid", "resident_id", "changed_on", "old_name_kanji", "old_name_kana", "new_name_kanji",
           "new_name_kana"]  # fmt: skip
LAGGING_TAG = "surname_old_at_school"


def name_history_frame(ctx: Context, persons: np.ndarray) -> pd.DataFrame:
    """Surname changes the registry made on or before as-of, for the given persons (mothers and children)."""
    w = ctx.world
    changes = w.surname_changes
    if changes is None or not len(persons):
        return pd.DataFrame(columns=COLUMNS)
    persons = np.unique(np.asarray(persons, dtype=np.int64))
    day = changes.day[w.hh[persons]]
    slot = w.slot[persons]
    keep = ((slot == MOTHER) | (slot >= CHILD0)) & (day <= ctx.asof) & (w.start[persons] < day)
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
    """The 31 March before each surname change a record still lags behind (days before as-of, oldest first)."""
    changes = ctx.world.surname_changes
    if changes is None or not link_rows:
        return []
    links = pd.concat(link_rows, ignore_index=True)
    lagging = links["noise"].str.split(";").map(lambda tags: LAGGING_TAG in tags).to_numpy(dtype=bool)
    hh = pupils.hh[links["_pupil"].to_numpy()[lagging]]
    day = changes.day[hh[hh >= 0]]
    if not len(day):
        return []
    fy = D.fiscal_year(day)
    march, ok = D.from_ymd(fy, np.full(len(fy), 3), np.full(len(fy), 31))
    earliest = D.day(ASOF_MIN)
    return sorted({int(m) for m, good in zip(march, ok, strict=True) if good and earliest <= m < ctx.asof})
