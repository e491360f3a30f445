"""At least one case of every rule the town's exports can fire, so the comparison with the pipeline sees each.

The latent conditions make most rules fire many times, but a few are rare: the postpartum rules (R12 EPDS ≥ 9,
R13 item 10, R14 bonding ≥ 5) need an infant under one whose mother answered the questionnaire in the last
12 months, R18 a pupil with 8 nurse visits in one of the last 3 months, R19 a child who moved in within 12
months. A small or unlucky town had none (misato at its default size, seed 1: no R12–R14), and a rule that
never fires is a rule the tests never compare. After the frames are built and before they are written, the
generator's own reading (risk.reading) is taken; for each of these rules with no fact, one row is changed —
the smallest change that makes it fire, on the first candidate in resident-ID order (deterministic). Both the
export and the reading see the changed row, so they still agree by construction of the data, not of the test.
Rules fed by the world itself (R07: the mother's age) are not planted here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from kodomo_pipeline.generator import dates as D
from kodomo_pipeline.generator.context import Context
from kodomo_pipeline.generator.risk import reading


def _day(series: pd.Series) -> np.ndarray:
    values = series.to_numpy(dtype="datetime64[ns]")
    return np.where(np.isnat(values), D.NEVER, values.astype("datetime64[D]").astype(np.int64))


def _resident_children(ctx: Context, jumin: pd.DataFrame, min_age: int = 0, max_age: int = 17) -> pd.Series:
    """Resident ID → birth day of the resident children aged min_age..max_age at T."""
    birth = _day(jumin["birth_date"])
    age = D.age_years(birth, ctx.asof)
    keep = (jumin["status"] == "住民").to_numpy() & (birth <= ctx.asof) & (age >= min_age) & (age <= max_age)
    return pd.Series(birth[keep], index=jumin["resident_id"].to_numpy(dtype=object)[keep]).sort_index()


def _postpartum_row(ctx: Context, frames: dict[str, pd.DataFrame]) -> int | None:
    """The latest questionnaire row of the first infant (under 1, resident, resident mother) assessed in 12 months."""
    sango, jumin = frames.get("sango_shitsumon"), frames["jumin"]
    if sango is None or not len(sango):
        return None
    infants = _resident_children(ctx, jumin, 0, 0)
    residents = set(jumin.loc[jumin["status"] == "住民", "resident_id"])
    day = _day(sango["assessed_on"])
    recent = (day >= int(D.add_months(np.array([ctx.asof]), -12)[0])) & (day <= ctx.asof)
    latest = sango.assign(_d=day)[recent].sort_values("_d", kind="stable").groupby("child_resident_id").tail(1)
    latest = latest[latest["child_resident_id"].isin(infants.index) & latest["mother_resident_id"].isin(residents)]
    if latest.empty:
        return None
    return int(latest.sort_values("child_resident_id", kind="stable").index[0])


def _raise(column: str, value: int) -> Callable[[Context, dict, np.ndarray], bool]:
    def plant(ctx: Context, frames: dict[str, pd.DataFrame], _pupils: np.ndarray) -> bool:
        row = _postpartum_row(ctx, frames)
        if row is None:
            return False
        sango = frames["sango_shitsumon"]
        current = sango.at[row, column]
        sango.at[row, column] = value if pd.isna(current) else max(int(current), value)
        return True

    return plant


def _nurse_visits(ctx: Context, frames: dict[str, pd.DataFrame], pupil_person: np.ndarray) -> bool:
    """R18: 8 nurse visits in the latest month of the first pupil (a resident child) with attendance rows."""
    roster, shusseki = frames.get("gakko_meibo"), frames.get("gakko_shusseki")
    if roster is None or shusseki is None or not len(roster) or not len(shusseki):
        return False
    person = pupil_person[roster["_pupil"].to_numpy()]
    known = (person >= 0) & ctx.in_extract[np.maximum(person, 0)]
    rid = np.full(len(roster), None, dtype=object)
    rid[known] = ctx.resident_ids(person[known])
    children = _resident_children(ctx, frames["jumin"])
    pupils = roster.assign(_rid=rid)
    pupils = pupils[pupils["_rid"].isin(children.index)].sort_values("_rid", kind="stable")
    month = D.month_index(_day(shusseki["month"]))
    this_month = int(D.month_index(np.array([ctx.asof]))[0])
    recent = shusseki[(month >= this_month - 2) & (month <= this_month)]
    for student in pupils["student_no"]:
        rows = recent.index[recent["student_no"] == student]
        if len(rows):
            shusseki.at[rows[-1], "nurse_visits"] = 8
            return True
    return False


def _moved_in(ctx: Context, frames: dict[str, pd.DataFrame], _pupils: np.ndarray) -> bool:
    """R19: the first resident child aged 1–17 moved to the current address 100 days before T."""
    jumin = frames["jumin"]
    children = _resident_children(ctx, jumin, 1, 17)
    if children.empty:
        return False
    row = jumin.index[jumin["resident_id"] == children.index[0]][0]
    jumin.at[row, "resident_since"] = pd.Timestamp(np.datetime64(ctx.asof - 100, "D"))
    return True


PLANTERS: dict[str, Callable[[Context, dict, np.ndarray], bool]] = {
    "R12": _raise("epds_total", 9),
    "R13": _raise("epds_q10", 1),
    "R14": _raise("bonding_total", 5),
    "R18": _nurse_visits,
    "R19": _moved_in,
}


def plant_missing_rules(ctx: Context, frames: dict[str, pd.DataFrame], pupil_person: np.ndarray) -> list[str]:
    """Change the frames in place so each rule of PLANTERS fires at least once; returns the rules planted."""
    if "jumin" not in frames:
        return []
    _, facts = reading(ctx, frames, pupil_person)
    fired = set(facts["rule_id"])
    return [rule for rule, plant in PLANTERS.items() if rule not in fired and plant(ctx, frames, pupil_person)]
