"""jumin (住民基本台帳): the extract of households with a child or a pregnancy, as of the extract date."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kodomo_pipeline.generator.context import Context
from kodomo_pipeline.generator.frames import make_frame, sex_text
from kodomo_pipeline.generator.places import HONSEKI_ELSEWHERE, Addresses, elsewhere_address, registry_address
from kodomo_pipeline.generator.population import PARTNER, RELATIONSHIPS

STATUS = np.array(["住民", "転出", "死亡"], dtype=object)


def current_address_components(ctx: Context, persons: np.ndarray) -> tuple[Addresses, np.ndarray]:
    """(address table, row per person): the household's new address once its in-town move happened."""
    w = ctx.world
    hh = w.hh[persons]
    last_day = np.minimum(ctx.asof, w.exit[persons] - 1)
    moved = w.move2[hh] <= last_day
    n_h = w.n_households
    both = Addresses(
        *(np.concatenate([getattr(w.addr_old, f), getattr(w.addr_new, f)]) for f in Addresses.__dataclass_fields__)
    )
    return both, np.where(moved, hh + n_h, hh)


def honseki(ctx: Context, persons: np.ndarray) -> np.ndarray:
    """本籍: the family's domicile, half of them in the town itself (a partner has his own)."""
    w = ctx.world
    hh = w.hh[persons]
    key = np.where(w.slot[persons] == PARTNER, w.pkey[persons] + 10**9, hh)
    here = ctx.rng.uniform("honseki_here", key) < 0.5
    out = elsewhere_address(ctx.rng, "honseki", HONSEKI_ELSEWHERE, key, registry=True)
    # The town's own: the household's original lot, without building.
    old = w.addr_old
    local = Addresses(old.area[hh], old.chome[hh], old.ban[hh], old.go[hh], np.full(len(hh), -1), old.room[hh])
    local_text = registry_address(ctx.places, local, np.flatnonzero(here))
    out[here] = local_text
    return out


def jumin_frame(ctx: Context) -> pd.DataFrame:
    """One row per person of the extract, sorted by household then relationship."""
    w, s = ctx.world, ctx.snap
    p = s.persons
    names = ctx.snap_names
    addr, addr_row = current_address_components(ctx, p)
    data = {
        "resident_id": ctx.resident_ids(p),
        "household_id": ctx.household_ids(w.hh[p]),
        "name_kanji": names.kanji,
        "name_kana": names.kana,
        "birth_date": w.birth[p],
        "sex": sex_text(w.female[p]),
        "relationship": np.array(RELATIONSHIPS, dtype=object)[s.relationship],
        "address": registry_address(ctx.places, addr, addr_row),
        "resident_since": s.resident_since,
        "status": STATUS[s.status],
        "status_date": s.status_date,
    }
    spec = ctx.town.feeds["jumin"].spec
    extra = {}
    if "本籍" in ctx.town.feeds["jumin"].mapping.exported_but_dropped:
        extra["本籍"] = honseki(ctx, p)
    frame = make_frame(spec, data, extra)
    order = np.lexsort((w.birth[p], s.relationship, np.asarray(data["household_id"], dtype=str)))
    frame["_person"] = p
    return frame.iloc[order].reset_index(drop=True)
