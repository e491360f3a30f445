"""Records whose whole name says nothing: the child found by birth date, sex and household instead.

A foreign child enrolled under a Japanese 通称 (the registry export holds only the legal name), a name typed beyond
recognition: the name comparisons weigh against every candidate. What is left identifies the child all the same when
it points at one household: born that very day, of that sex, and either living at the record's address, the building
left aside (there a birth date with a typing slip too) or with the record's guardian as an adult of the household.
Another child of that household born the same day is a twin, so such a record is a person's decision when two fit
(same-sex twins), and an automatic match only when exactly one does.

A nursery form holds no address, and a family known by its 通称 writes the 通称 for the guardian too: then nothing
of the household is left. What is left is who the registry says the child could be: the one registry child born
that day, of that sex, registered under a foreign-written name (katakana or romaji: the registry export has no 通称
column), where the record is written in kanji or kana alone and that child has no record of its own in the feed.

The pairs come from the model (`score_pairs`): its "birth date" blocking rule already scores every registry
child born the same day with the same sex, so nothing here blocks again; this module only reads the comparison levels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kodomo_pipeline.linkage.model import (
    ADDRESS_ELSE,
    ADDRESS_LOT,
    DOB_SAME,
    DOB_SLIP,
    GUARDIAN_SAME,
    KANA_ONE_OFF,
    SEX_SAME,
    address_area,
)
from kodomo_pipeline.linkage.normalize import is_foreign_written


def outside_town(records: pd.DataFrame, persons: pd.DataFrame) -> pd.Series:
    """Per record id: whether its address names an area (大字 or 丁目 area) where no registry child lives.

    That is a home in another town: an outsider attending the town's school, or a family that moved away. A school
    that leaves the town's name out still names a known area: an area counts as known when it ends a registry
    child's area (中山 of 川島町中山). A record without an address is not outside.
    """
    areas = address_area(persons["address_key"].dropna()).dropna().unique()
    known = {area[start:] for area in areas for start in range(len(area))}
    record_areas = address_area(records["address_key"].astype(object))
    outside = record_areas.notna() & ~record_areas.isin(known)
    return pd.Series(outside.to_numpy(), index=records["record_id"].to_numpy())


def foreign_named(persons: pd.DataFrame, resident_ids: pd.Series) -> np.ndarray:
    """Per resident id given, whether the registry holds that resident under a foreign-written name (katakana or
    romaji)."""
    if "name_kanji" not in persons:
        return np.zeros(len(resident_ids), dtype=bool)  # hand-built inputs without names
    some = persons.loc[persons["resident_id"].astype(str).isin(resident_ids.astype(str)).to_numpy()]
    foreign = some["name_kanji"].map(lambda n: isinstance(n, str) and is_foreign_written(n)).to_numpy(dtype=bool)
    return resident_ids.astype(str).isin(some.loc[foreign, "resident_id"].astype(str)).to_numpy()


def household_candidates(pairs: pd.DataFrame, persons: pd.DataFrame) -> pd.DataFrame:
    """Per record, the best-weighted pair the household identifies (the pair's own columns) and `fits`: how many
    residents fit the record (1 = unique)."""
    address, guardian = pairs["gamma_address"].to_numpy(), pairs["gamma_guardian"].to_numpy()
    # The guardian counts only where the address does not disagree: a same-named child of another town born the same
    # day, whose guardian shares a household adult's name, must not be taken for the child.
    # At the address (its lot: one system leaves the building out), a birth date with a typing slip will do too: a
    # brother or sister of the same sex is born months apart, not a day or a swapped day and month.
    born = pairs["gamma_birth_date"].to_numpy()
    fits = (pairs["gamma_sex"].to_numpy() == SEX_SAME) & (
        ((address >= ADDRESS_LOT) & (born >= DOB_SLIP))
        | ((born == DOB_SAME) & (guardian == GUARDIAN_SAME) & (address != ADDRESS_ELSE))
    )
    found = pairs.loc[fits].astype({"record_id": str, "resident_id": str})
    # The whole name: a record under the household's own surname with another given name, born that day, is a twin
    # whose registry row is missing (quarantined, not yet registered), never the registered twin. Not so for a
    # foreign-named child, whose given name a school spells its own way (ジョゼ for JOSE, registered ホセ).
    surname_differs = found["gamma_surname_kana"].to_numpy() < KANA_ONE_OFF
    foreign = foreign_named(persons, found["resident_id"])
    found = found.loc[surname_differs | foreign]
    found = found.sort_values(["record_id", "match_weight", "resident_id"], ascending=[True, False, True])
    found["fits"] = found.groupby("record_id")["resident_id"].transform("size")
    return found.drop_duplicates("record_id").reset_index(drop=True)


def households_by_guardian(
    out: pd.DataFrame, records: pd.DataFrame, persons: pd.DataFrame, open_ids: pd.Series | None = None
) -> pd.DataFrame:
    """Still-open records (`open_ids`; default: the unmatched ones) whose guardian, as written, is the guardian of
    records already matched into one household, and that household's one child born that day, of that sex:
    (record_id, resident_id).

    A family known by its 通称 writes the same guardian name on every form: once a school record of one child is
    found by its address, a nursery record of a sibling (no address on nursery forms) is found through it.
    A guardian name seen with two households proves nothing and is skipped.
    """
    empty = pd.DataFrame({"record_id": pd.Series(dtype=str), "resident_id": pd.Series(dtype=str)})
    if not {"guardian_key", "birth_date", "sex"} <= set(records) or not {"birth_date", "sex"} <= set(persons):
        return empty  # hand-built inputs without the household's fields: nothing to go by
    # Only the columns used: at 1,000,000 residents a whole-frame copy per call costs more than the rule.
    by_record = records[["record_id", "guardian_key", "sex", "birth_date"]].set_index("record_id")
    guardian, sex = by_record["guardian_key"], by_record["sex"]
    household = pd.Series(persons["household_id"].to_numpy(), index=persons["resident_id"].astype(str).to_numpy())
    matched = out[out["status"] == "matched"]
    known = (
        pd.DataFrame(
            {
                "guardian_key": guardian.reindex(matched["record_id"]).to_numpy(),
                "household_id": household.reindex(matched["resident_id"].astype(str)).to_numpy(),
            }
        )
        .dropna()
        .drop_duplicates()
    )
    known = known[~known["guardian_key"].duplicated(keep=False)]
    if open_ids is None:
        open_ids = out.loc[out["status"] == "unmatched", "record_id"]
    open_ = pd.DataFrame({"record_id": open_ids.astype(str).to_numpy()})
    open_ = open_.assign(
        guardian_key=guardian.reindex(open_["record_id"]).to_numpy(),
        born=pd.to_datetime(by_record["birth_date"].reindex(open_["record_id"]), errors="coerce").to_numpy(),
        sex=sex.reindex(open_["record_id"]).to_numpy(),
    ).merge(known, on="guardian_key")
    theirs = persons["household_id"].isin(open_["household_id"]).to_numpy()
    people = persons.loc[theirs, ["resident_id", "household_id", "sex"]]
    people = people.assign(
        resident_id=people["resident_id"].astype(str),
        born=pd.to_datetime(persons.loc[people.index, "birth_date"], errors="coerce"),
    )
    found = open_.merge(people, on=["household_id", "born", "sex"])
    return found.loc[~found["record_id"].duplicated(keep=False), ["record_id", "resident_id"]].reset_index(drop=True)


def foreign_children_born_that_day(
    pairs: pd.DataFrame, out: pd.DataFrame, records: pd.DataFrame, persons: pd.DataFrame
) -> pd.DataFrame:
    """Still-unmatched records whose name is like none of the registry children born that day, of that sex, and those
    of them registered under a foreign-written name: (record_id, resident_id, gamma_address of the pair).

    A 通称 on a nursery form is how such a record looks (a kanji-named child born that day would have its own name on
    the form). Never where the record's own name is foreign-written (another foreign child), where its address
    disagrees (an outsider lives elsewhere), where the child already has a matched record in the same feed (the
    outsider at the nursery the child attends under its legal name), nor in a family enrolled under its registered
    surname.
    """
    empty = pd.DataFrame(
        {"record_id": pd.Series(dtype=str), "resident_id": pd.Series(dtype=str), "gamma_address": pd.Series(dtype=int)}
    )
    if "name_kanji" not in persons or "name_kanji" not in records:
        return empty  # hand-built inputs without names: nothing to go by
    # The model's "birth date" blocking rule scored every registry child born that day against the record.
    open_ = out.loc[out["status"] == "unmatched", "record_id"]
    same_day = pairs.loc[
        (pairs["gamma_birth_date"].to_numpy() == DOB_SAME)
        & (pairs["gamma_sex"].to_numpy() == SEX_SAME)
        & pairs["record_id"].isin(open_).to_numpy()
    ].astype({"record_id": str, "resident_id": str})
    alike = (same_day["gamma_surname_kana"].to_numpy() >= KANA_ONE_OFF) | (
        same_day["gamma_given_kana"].to_numpy() >= KANA_ONE_OFF
    )
    found = same_day.loc[
        ~same_day["record_id"].isin(same_day.loc[alike, "record_id"]).to_numpy()
        & foreign_named(persons, same_day["resident_id"])
        & (same_day["gamma_address"].to_numpy() != ADDRESS_ELSE),
        ["record_id", "resident_id", "gamma_address"],
    ]
    written = records.set_index("record_id")["name_kanji"]
    own_foreign = written.reindex(found["record_id"]).map(lambda n: isinstance(n, str) and is_foreign_written(n))
    found = found[~own_foreign.to_numpy(dtype=bool)]
    matched = out.loc[out["status"] == "matched", ["feed", "resident_id"]].astype(str)
    feed = out.set_index("record_id")["feed"].reindex(found["record_id"]).to_numpy()
    has_own = pd.MultiIndex.from_arrays([feed, found["resident_id"]]).isin(pd.MultiIndex.from_frame(matched))
    found = found[~has_own]
    found = found[~_registered_surname_families(found["resident_id"], pairs, out, persons)]
    return found.reset_index(drop=True)


def one_to_one(found: pd.DataFrame) -> pd.DataFrame:
    """The (record, resident) rows whose record and resident each appear once: two records pointing at one child,
    or one record at two children, decide nothing."""
    alone = ~found["record_id"].duplicated(keep=False) & ~found["resident_id"].duplicated(keep=False)
    return found[alone.to_numpy()].reset_index(drop=True)


def _registered_surname_families(
    candidates: pd.Series, pairs: pd.DataFrame, out: pd.DataFrame, persons: pd.DataFrame
) -> np.ndarray:
    """Per candidate: another child of its household is matched under the registered surname. That family is not
    known by a 通称 (it writes one for every child), so a record under a name like none of the registry's is not
    theirs. At 1,000,000 residents (hard preset) this held for 10 of the 39 outsiders that the one-foreign-named-child
    rule had put before a person, and for none of the 188 right candidates."""
    if "household_id" not in persons or not len(candidates):
        return np.zeros(len(candidates), dtype=bool)
    household = pd.Series(persons["household_id"].to_numpy(), index=persons["resident_id"].astype(str).to_numpy())
    theirs = household.reindex(candidates.astype(str)).to_numpy()
    matched = out.loc[out["status"] == "matched", ["record_id", "resident_id"]]
    matched = matched[household.reindex(matched["resident_id"].astype(str)).isin(theirs).to_numpy()].astype(str)
    near = pairs.loc[pairs["record_id"].isin(matched["record_id"]).to_numpy()].astype({"record_id": str})
    levels = near.astype({"resident_id": str}).set_index(["record_id", "resident_id"])["gamma_surname_kana"]
    surname = levels.reindex(pd.MultiIndex.from_frame(matched)).to_numpy()
    families = household.reindex(matched.loc[np.nan_to_num(surname, nan=-1) >= KANA_ONE_OFF, "resident_id"])
    return pd.Series(theirs).isin(families.dropna().unique()).to_numpy()


def birth_within_slip(left: str, right: str) -> bool:
    """Two yyyymmdd dates equal or one typing slip apart, as the model's birth-date levels count a slip
    (model._DOB_SLIP): day and month swapped in the same year, a day off, two adjacent digits transposed."""
    if left == right:
        return True
    if len(left) != 8 or len(right) != 8:
        return False
    if left[:4] == right[:4] and left[4:6] == right[6:8] and left[6:8] == right[4:6]:
        return True
    apart = [i for i in range(8) if left[i] != right[i]]
    if len(apart) == 2 and apart[1] == apart[0] + 1 and left[apart[0]] == right[apart[1]]:
        return left[apart[1]] == right[apart[0]]
    try:
        days = (pd.Timestamp(left) - pd.Timestamp(right)).days
    except ValueError:
        return False
    return abs(days) == 1


def households_by_family_name(
    out: pd.DataFrame,
    records: pd.DataFrame,
    persons: pd.DataFrame,
    linked_ids: pd.Series,
    hypotheses: pd.DataFrame,
    open_ids: pd.Series,
) -> pd.DataFrame:
    """Open records whose surname is a 通称 another child of one household is enrolled under:
    (record_id, resident_id) with that household's one child of the record's sex born that day (a typing slip will
    do) who is no sibling's.

    A family known by its 通称 gives every child the family's 通称 surname on every form, while the guardian written
    may be either parent: where the guardian names no household, the surname still does. The sibling's record counts
    when its whole name differed from the registry and it was linked all the same (`linked_ids`: by the household,
    the address, a linked sibling's guardian). Or, where neither is linked, when the two records' `hypotheses` (record
    → a foreign-named registry child born that day, of that sex: `foreign_children_born_that_day`) meet: each record
    names a child of one household, two children, under one surname. An outsider would need the family's surname and
    the birthday of a child of that one family; at 1,000,000 residents a foreign-named child is born on most days, so
    one record alone proves little. A surname linked records show with two households proves nothing and is skipped;
    so is a child who already has a matched record in the feed, and a child two records point at.
    """
    empty = pd.DataFrame({"record_id": pd.Series(dtype=str), "resident_id": pd.Series(dtype=str)})
    if not {"surname_kana", "birth_date", "sex"} <= set(records) or not {"birth_date", "sex"} <= set(persons):
        return empty
    by_record = records[["record_id", "surname_kana", "sex", "birth_date"]].set_index("record_id")
    household = pd.Series(persons["household_id"].to_numpy(), index=persons["resident_id"].astype(str).to_numpy())
    status = out[["record_id", "resident_id", "feed"]].set_index("record_id")
    open_ids = pd.Index(open_ids.astype(str))
    hypotheses = hypotheses.loc[hypotheses["record_id"].isin(open_ids), ["record_id", "resident_id"]].astype(str)
    hypotheses = hypotheses.assign(household_id=household.reindex(hypotheses["resident_id"]).to_numpy())
    hypotheses = hypotheses.assign(surname_kana=by_record["surname_kana"].reindex(hypotheses["record_id"]).to_numpy())
    hypotheses = hypotheses.dropna(subset=["household_id", "surname_kana"])
    # Two open records under one surname whose hypotheses are two children of one household back each other; the
    # record so matched must have that one hypothesis (two foreign families can choose one 通称 surname, and a child
    # of the other family born the same day would be a hypothesis too: at 1,000,000 residents, 1 of 23 such links).
    met = hypotheses.merge(hypotheses, on=["surname_kana", "household_id"], suffixes=("", "_other"))
    met = met[(met["record_id"] != met["record_id_other"]) & (met["resident_id"] != met["resident_id_other"])]
    one = hypotheses.loc[~hypotheses["record_id"].duplicated(keep=False), "record_id"]
    by_hypothesis = met.loc[met["record_id"].isin(one).to_numpy(), ["record_id", "resident_id"]]
    linked = pd.DataFrame({"anchor": linked_ids.astype(str).to_numpy()})
    linked = linked.assign(
        surname_kana=by_record["surname_kana"].reindex(linked["anchor"]).to_numpy(),
        anchor_child=status["resident_id"].reindex(linked["anchor"]).astype(str).to_numpy(),
    )
    linked = linked.assign(household_id=household.reindex(linked["anchor_child"]).to_numpy())
    linked = linked.dropna(subset=["surname_kana", "household_id"])
    households = linked.groupby("surname_kana")["household_id"].nunique()
    linked = linked[linked["surname_kana"].map(households).eq(1).to_numpy()]
    open_ = pd.DataFrame({"record_id": open_ids.to_numpy()})
    open_ = open_.assign(
        surname_kana=by_record["surname_kana"].reindex(open_["record_id"]).to_numpy(),
        sex=by_record["sex"].reindex(open_["record_id"]).to_numpy(),
        born=pd.to_datetime(by_record["birth_date"].reindex(open_["record_id"]), errors="coerce")
        .dt.strftime("%Y%m%d")
        .to_numpy(),
    ).dropna(subset=["surname_kana", "sex", "born"])
    found = open_.merge(linked, on="surname_kana")
    found = found[found["record_id"] != found["anchor"]]
    children = persons.loc[persons["household_id"].isin(found["household_id"]).to_numpy()]
    children = children[["resident_id", "household_id", "sex"]].assign(
        resident_id=children["resident_id"].astype(str),
        child_born=pd.to_datetime(children["birth_date"], errors="coerce").dt.strftime("%Y%m%d"),
    )
    found = found.merge(children, on=["household_id", "sex"])
    fits = [birth_within_slip(a, b) for a, b in zip(found["born"], found["child_born"].fillna(""), strict=True)]
    found = found[np.array(fits, dtype=bool) & (found["resident_id"] != found["anchor_child"]).to_numpy()]
    found = pd.concat([found[["record_id", "resident_id"]], by_hypothesis], ignore_index=True).drop_duplicates()
    matched = out.loc[out["status"] == "matched", ["feed", "resident_id"]].astype(str)
    feed = status["feed"].reindex(found["record_id"]).astype(str).to_numpy()
    has_own = pd.MultiIndex.from_arrays([feed, found["resident_id"]]).isin(pd.MultiIndex.from_frame(matched))
    return one_to_one(found[~has_own])
