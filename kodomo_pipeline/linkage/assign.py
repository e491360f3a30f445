"""From scored pairs to one decision per record: matched, review or unmatched, with a reason a person can read.

A record links to at most one resident; a resident may have several records (a school transfer,
nursery + school). Order of precedence: a human decision, then last night's link if the record
did not change, then the model's best candidate, held back by three guards:
- twins (same household, same birth date) are told apart by the given name only (its keys, or one typed kana off
  one twin while no other twin is that close), never by score;
- a given name that disagrees, or a birth date wrong beyond a typing slip, is never matched
  automatically (that is how a sibling, or a same-named child whose own registry row is missing, looks);
- a surname that differs (under every name the child had at T) is matched automatically only with household
  evidence beside given name and birth date: the guardian's given name or the address;
- where the household can be compared (guardian or address known) and none of it agrees, a person decides;
  where the guardian is known and no household adult and the address disagrees too (outside the child's 大字) or
  is not on the record, the record is left unmatched: that is how a same-named child born the same day in another
  family looks, while a true link all but never does (m ≈ 0.0001);
- two residents in the match band with close scores for one record go to review;
- a score in the review band is matched when the household confirms it beyond doubt and no other resident is in
  the band: the guardian on the form is an adult of the child's household by full name and the surname at most one
  kana off (a nursery form typed in a hurry: a kana typo and a birth-date slip together), or the guardian's given
  name is a household adult's with the child's given name exact and the birth date at most a slip (a surname changed
  at school first); twins too, on the twin the given name designates;
- a record whose name points nowhere (a 通称, a name typed beyond recognition) is matched when exactly one registry
  child was born that day, of that sex, in the record's household (its address, the building aside, where a birth-date
  slip will do too, or its guardian as a household adult); two such children (same-sex twins) go to review; with
  nothing of the household on the record (a nursery form under a 通称), when of the registry children born that day, of
  that sex, the record's name is like none and one is registered under a foreign-written name, without another record
  in the feed (household.py); a family writes its 通称 surname for every child, so a record under the surname of a
  sibling's linked record finds the child there by sex and birth date (a slip will do), and a record with one such
  foreign-named candidate is matched to it where another open record of that surname has a candidate (another child)
  in the same household;
- a record whose address names an area where no registry child lives (another town) is never matched automatically:
  a person confirms it.

Not Splink's `cluster_using_single_best_links`: it keeps clusters free of duplicates per dataset, but one
resident legitimately carries several records here, and it knows neither twins, decisions nor last night's links.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kodomo_pipeline.linkage.household import (
    foreign_children_born_that_day,
    household_candidates,
    households_by_family_name,
    households_by_guardian,
    one_to_one,
    outside_town,
)
from kodomo_pipeline.linkage.model import (
    ADDRESS_ELSE,
    ADDRESS_SIMILAR,
    COMPARISON_LABELS,
    COMPARISONS,
    DOB_SLIP,
    GUARDIAN_GIVEN,
    GUARDIAN_SAME,
    KANA_ONE_OFF,
    KANA_SAME_KEY,
    KANJI_CONFIRMS_KANA_SLIP,
    SURNAME_DIFFERS,
)

OUTPUT_COLUMNS = [
    "feed",
    "source_key",
    "record_id",
    "resident_id",
    "candidate_resident_id",
    "match_probability",
    "status",
    "reason",
    "top_comparisons",
]
TOP_N = 3
HOUSEHOLD_ELSEWHERE = "household disagrees: guardian and address"
HOUSEHOLD_NO_ADDRESS = "household disagrees: guardian, no address"
# A rival in the match band only makes a record ambiguous if its odds are within this factor of the best one's
# (2**6.64 = 100): a same-named sibling scores high on household evidence but far below the child itself.
RIVAL_MARGIN_BITS = 6.64
WHOLE_NAME = "whole name differs"
LONE_REVIEW = f"{WHOLE_NAME}: the one foreign-named child born that day, no address to confirm"
OUTSIDE_TOWN = "address outside the town"
REJECTED_SKIPPED = " (a rejected candidate skipped)"  # appended where a rejection changed a record's candidates
# Rounds of linking siblings through one another (a family's 通称 surname or guardian): each round's links can lead to
# the next child; a family rarely has more than three children at the nursery and school.
FAMILY_ROUNDS = 3


@dataclass(frozen=True)
class Bands:
    """match_probability thresholds for a record's best candidate.

    On the generated 1,000,000-resident town (113,158 records), best candidates at 0.99 or more were all right but
    for 5 twins (which the twin guard catches); between 0.5 and 0.99, 59 right and 4 wrong (review); below 0.5,
    3 right and 2,524 wrong (outsiders, and children whose registry row is missing).
    """

    match: float = 0.99
    review: float = 0.5


def _household_rules_out(pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(guardian and address disagree, guardian disagrees and no address on the record) per pair.

    The guardian on the form is known and is no household adult, not even by given name, and the address either
    disagrees or is not there to agree: that is how a same-named child born the same day in another family looks
    (on the generated hard towns, 15 of 17 such rows were outsiders), while a true record whose guardian has since
    left the household is rare. Such a record is left unmatched rather than put before a person.
    """
    guardian, address = pairs["gamma_guardian"].to_numpy(), pairs["gamma_address"].to_numpy()
    stranger = (guardian >= 0) & (guardian < GUARDIAN_GIVEN)
    return stranger & (address == ADDRESS_ELSE), stranger & (address < 0)


def _household_confirms(pairs: pd.DataFrame) -> np.ndarray:
    """The household confirms a review-band score beyond doubt, per pair: the guardian by full name with the surname
    at most one kana off (a form typed in a hurry: a kana typo and a birth-date slip together), or the guardian's given
    name with the child's given name exact and the birth date at most a slip (a surname the school or nursery already
    uses and the registry does not yet have, typed in a hurry too). Never against an address that disagrees: a
    same-named child born the same day elsewhere, whose guardian happens to share a household adult's name, looks
    exactly like that.
    """
    guardian, address = pairs["gamma_guardian"].to_numpy(), pairs["gamma_address"].to_numpy()
    surname, given = pairs["gamma_surname_kana"].to_numpy(), pairs["gamma_given_kana"].to_numpy()
    by_full_name = (guardian == GUARDIAN_SAME) & (surname >= KANA_ONE_OFF)
    dob = pairs["gamma_birth_date"].to_numpy()
    by_given_name = (guardian == GUARDIAN_GIVEN) & (given >= KANA_SAME_KEY) & (dob >= DOB_SLIP)
    return (address != ADDRESS_ELSE) & (by_full_name | by_given_name)


def _automatic(out: pd.DataFrame) -> np.ndarray:
    """Rows matched by a rule or the model, not by a person."""
    return (out["status"] == "matched").to_numpy() & (out["reason"] != "decision: accepted").to_numpy()


def _pair_mask(pairs: pd.DataFrame, wanted: pd.DataFrame) -> np.ndarray:
    """Rows of `pairs` whose (record_id, resident_id) is in `wanted` (a few rows: decisions)."""
    mask = np.zeros(len(pairs), dtype=bool)
    if len(wanted):
        hit = np.flatnonzero(pairs["record_id"].isin(wanted["record_id"]).to_numpy())
        key = pairs["record_id"].iloc[hit].astype(str) + "\x1f" + pairs["resident_id"].iloc[hit].astype(str)
        mask[hit[key.isin(wanted["record_id"] + "\x1f" + wanted["resident_id"]).to_numpy()]] = True
    return mask


def _candidates(pairs: pd.DataFrame, accepted: pd.DataFrame, rejected: pd.DataFrame, review: float) -> pd.DataFrame:
    """The pairs that can matter, best first per record: each record's best, all in the review band or above, and
    the accepted ones (for their score). Rejected pairs are dropped first. Ties are broken by weight, then resident
    id, so the order is deterministic. Works on codes and positions: a large town has millions of pairs.
    """
    keep = ~_pair_mask(pairs, rejected)
    wanted = _pair_mask(pairs, accepted)
    record, _ = pd.factorize(pairs["record_id"], sort=True)
    resident, _ = pd.factorize(pairs["resident_id"], sort=True)
    probability = pairs["match_probability"].to_numpy(dtype=float)
    weight = pairs["match_weight"].to_numpy(dtype=float)
    order = np.lexsort((resident, -weight, -probability, record))
    order = order[keep[order]]
    first = np.r_[True, record[order][1:] != record[order][:-1]] if len(order) else np.zeros(0, dtype=bool)
    order = order[first | (probability[order] >= review) | wanted[order]]
    cand = pairs.iloc[order].reset_index(drop=True)
    return cand.astype({"record_id": str, "resident_id": str})


def _twin_keys(persons: pd.DataFrame) -> pd.Series:
    """resident_id → twin group key (household + birth date shared with another child), NaN for the others."""
    key = persons["household_id"].astype(str) + "|" + persons["birth_date"].astype(str)
    shared = key.map(key.value_counts()) > 1
    return pd.Series(key.where(shared).to_numpy(), index=persons["resident_id"].astype(str).to_numpy())


def _twin_choice(
    record_ids: np.ndarray,
    twin_keys: np.ndarray,
    twin_of: pd.Series,
    recs: pd.DataFrame,
    people: pd.DataFrame,
    given_level: pd.Series,
) -> pd.Series:
    """record_id → the one twin its given name designates, or None when the given name cannot tell.

    Exact keys first, never a score: the kanji given name where the record has one (it separates twins whose names
    read alike, ヒナ = 陽菜 / 日菜), else the kana key, either name part first (ナム　グエン); a kana that names only
    the other twin is a contradiction. Where no twin's name is exact, a given name one kana off one twin (a typed slip,
    `given_level` from the model's pairs: (record_id, resident_id) → gamma_given_kana) designates that twin only
    when no other twin's is that close: one slip cannot then have turned one twin's name into the other's.
    """
    members = twin_of[twin_of.notna()]
    groups = pd.DataFrame({"record_id": record_ids, "_twin": twin_keys}).merge(
        pd.DataFrame({"_twin": members.to_numpy(), "resident_id": members.index.to_numpy()}), on="_twin"
    )
    rec = recs.set_index("record_id").reindex(groups["record_id"])
    person = people.set_index("resident_id").reindex(groups["resident_id"])

    def same(left: str, right: str) -> np.ndarray:
        return (rec[left].to_numpy() == person[right].to_numpy()) & rec[left].notna().to_numpy()

    kana = same("given_kana", "given_kana") | (same("given_kana", "surname_kana") & same("surname_kana", "given_kana"))
    kanji = same("given_kanji", "given_kanji")
    level = given_level.reindex(pd.MultiIndex.from_frame(groups[["record_id", "resident_id"]])).to_numpy()
    near = np.nan_to_num(level, nan=-1) >= KANA_ONE_OFF
    slip = near & (level == KANA_ONE_OFF)
    groups = groups.assign(kana=kana, kanji=kanji, both=kana & kanji, near=near, slip=slip)
    n = groups.groupby("record_id")[["kana", "kanji", "both", "near", "slip"]].sum()
    by_kanji = (n["kanji"] == 1) & ((n["kana"] == 0) | (n["both"] == 1))
    by_both = (n["kanji"] > 1) & (n["both"] == 1)
    by_kana = (n["kanji"] == 0) & (n["kana"] == 1)
    by_slip = (n["kanji"] == 0) & (n["kana"] == 0) & (n["near"] == 1) & (n["slip"] == 1)
    rule = np.select(
        [groups["record_id"].map(m).to_numpy(dtype=bool) for m in (by_kanji, by_both, by_kana, by_slip)],
        [groups["kanji"], groups["both"], groups["kana"], groups["slip"]],
        default=False,
    )
    winner = groups[rule.astype(bool)].drop_duplicates("record_id").set_index("record_id")["resident_id"]
    return winner.reindex(pd.Index(record_ids)).astype(object).where(lambda w: w.notna(), None)


def _top_comparisons(rows: pd.DataFrame) -> np.ndarray:
    """'birth date +, guardian +, given name kana -': the comparisons that weighed most, by |weight|, no values."""
    weights = rows[[f"mw_{c}" for c in COMPARISONS]].to_numpy(dtype=float)
    order = np.argsort(-np.abs(weights), axis=1, kind="stable")[:, :TOP_N]
    labels = np.array([COMPARISON_LABELS[c] for c in COMPARISONS], dtype=object)
    out = np.empty(len(rows), dtype=object)
    for i in range(len(rows)):
        parts = [f"{labels[j]} {'+' if weights[i, j] >= 0 else '-'}" for j in order[i] if abs(weights[i, j]) >= 0.5]
        out[i] = ", ".join(parts)
    return out


def _decision_keys(decisions: pd.DataFrame | None, records: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(accepted, rejected) as record_id + resident_id."""
    empty = pd.DataFrame({"record_id": pd.Series(dtype=object), "resident_id": pd.Series(dtype=object)})
    if decisions is None or decisions.empty:
        return empty, empty
    keyed = decisions.astype({"feed": str, "source_key": str, "resident_id": str}).merge(
        records[["feed", "source_key", "record_id"]], on=["feed", "source_key"], how="inner"
    )
    decision = keyed["decision"].str.lower()
    accepted = keyed.loc[decision == "accept", ["record_id", "resident_id"]].drop_duplicates()
    rejected = keyed.loc[decision == "reject", ["record_id", "resident_id"]].drop_duplicates()
    return accepted.reset_index(drop=True), rejected.reset_index(drop=True)


def assign_links(
    pairs: pd.DataFrame,
    records: pd.DataFrame,
    persons: pd.DataFrame,
    bands: Bands,
    decisions: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per record (none dropped): who it is, how sure, and why.

    Sorted by feed and source key, so that the output does not depend on the order the records come in.
    Reasons: 'decision: accepted', 'decision: conflicting accepts', 'kept from previous run',
    'twin: decided by given name', 'twin: decided by given name, household confirms', 'twin guard',
    'twin guard: score in review band', 'given name disagrees',
    'birth date disagrees', 'surname differs without household evidence', 'household disagrees',
    'household disagrees: guardian and address', 'household disagrees: guardian, no address' (unmatched),
    'several candidates',
    'score in match band', 'score in review band', 'score in review band: household confirms',
    'whole name differs: household confirms', 'whole name differs: several children of the household',
    'whole name differs: guardian of a linked sibling', 'whole name differs: surname of a sibling',
    'whole name differs: the one foreign-named child born that day',
    'whole name differs: the one foreign-named child born that day, no address to confirm',
    'address outside the town' (review),
    'best candidate below review band', 'no candidate';
    '(a rejected candidate skipped)' is appended when a rejection changed the outcome's candidates.
    A review row's resident_id is its best candidate (spec/outputs.md), for staff to confirm.
    """
    if not 0 <= bands.review <= bands.match <= 1:
        raise ValueError("bands must satisfy 0 <= review <= match <= 1")
    recs = records.assign(
        record_id=records["unique_id"].astype(str),
        feed=records["feed"].astype(str),
        source_key=records["source_key"].astype(str),
    ).reset_index(drop=True)
    if recs["record_id"].duplicated().any():
        raise ValueError("records must have one row per unique_id")
    people = persons.assign(resident_id=persons["resident_id"].astype(str))
    for frame in (recs, people):
        for column in ("given_kanji", "surname_kana", "address_key"):  # nursery-only records; hand-built inputs
            if column not in frame:
                frame[column] = None
    twin_of = _twin_keys(people)
    on_twin = pairs["resident_id"].isin(twin_of.index[twin_of.notna()]).to_numpy()
    given_level = pairs.loc[on_twin].astype({"record_id": str, "resident_id": str})
    given_level = given_level.set_index(["record_id", "resident_id"])["gamma_given_kana"]

    accepted, rejected = _decision_keys(decisions, recs)
    cand = _candidates(pairs, accepted, rejected, bands.review)
    rank = cand.groupby("record_id", sort=False).cumcount()
    best = cand[rank.to_numpy() == 0].set_index("record_id")
    # The second best outside the best's twin group (a twin is not a rival; the twin guard handles it).
    strong = cand[cand["match_probability"].to_numpy() >= bands.review]
    strong = strong.assign(
        _twin=strong["resident_id"].map(twin_of),
        _best=strong["record_id"].map(best["resident_id"]),
        _gap=strong["record_id"].map(best["match_weight"]) - strong["match_weight"],
    )
    strong = strong.assign(_best_twin=strong["_best"].map(twin_of))

    n = len(recs)
    out = pd.DataFrame(
        {
            "feed": recs["feed"],
            "source_key": recs["source_key"],
            "record_id": recs["record_id"],
            "resident_id": pd.Series([None] * n, dtype=object),
            "candidate_resident_id": pd.Series([None] * n, dtype=object),
            "match_probability": pd.Series([np.nan] * n, dtype=float),
            "status": "unmatched",
            "reason": "no candidate",
            "top_comparisons": "",
        }
    )
    decided = np.zeros(n, dtype=bool)
    chosen = pd.Series([None] * n, dtype=object)  # the pair whose score and comparisons are reported

    pos = pd.Series(np.arange(n), index=recs["record_id"].to_numpy())
    prob = cand.set_index(["record_id", "resident_id"])["match_probability"]

    def settle(rows: np.ndarray, resident: np.ndarray, status: str, reason: str) -> None:
        if not len(rows):
            return
        out.loc[rows, "candidate_resident_id"] = resident
        out.loc[rows, "status"] = status
        out.loc[rows, "reason"] = reason
        if status in ("matched", "review"):  # review: the best candidate, for staff to confirm (spec/outputs.md)
            out.loc[rows, "resident_id"] = resident
        chosen.loc[rows] = resident
        decided[rows] = True

    # 1. Human decisions: an accepted pair is matched whatever its score.
    if len(accepted):
        several = accepted["record_id"].duplicated(keep=False)
        conflict = accepted[several].drop_duplicates("record_id")
        single = accepted[~several]
        settle(pos[single["record_id"]].to_numpy(), single["resident_id"].to_numpy(), "matched", "decision: accepted")
        rows = pos[conflict["record_id"]].to_numpy()
        settle(rows, np.array([None] * len(rows), dtype=object), "review", "decision: conflicting accepts")

    # 2. Stable identity: an unchanged record keeps last night's resident while that one is still a candidate.
    if previous is not None and len(previous) and "fingerprint" in recs:
        columns = ["feed", "source_key", "resident_id", "status", "fingerprint"]
        prev = previous.loc[previous["status"] == "matched", columns].astype({"feed": str, "source_key": str})
        prev = prev.merge(
            recs[["feed", "source_key", "record_id", "fingerprint"]].rename(columns={"fingerprint": "current"}),
            on=["feed", "source_key"],
        )
        prev = prev[(prev["fingerprint"] == prev["current"]) & prev["resident_id"].notna()]
        prev = prev.assign(resident_id=prev["resident_id"].astype(str))
        index = pd.MultiIndex.from_frame(prev[["record_id", "resident_id"]])
        score = prob.reindex(index).to_numpy()
        keep = (score >= bands.review) & ~decided[pos[prev["record_id"]].to_numpy()]
        prev = prev[keep]
        rows = pos[prev["record_id"]].to_numpy()
        settle(rows, prev["resident_id"].to_numpy(), "matched", "kept from previous run")

    fixed = decided.copy()  # a human decision or last night's link: nothing below overrides them
    # 3. The model's best candidate.
    open_ = ~decided & recs["record_id"].isin(best.index).to_numpy()
    ids = recs["record_id"].to_numpy()[open_]
    top = best.loc[ids]
    p1 = top["match_probability"].to_numpy()
    rows_all = np.flatnonzero(open_)

    low = p1 < bands.review
    chosen.iloc[rows_all[low]] = top["resident_id"].to_numpy()[low]
    out.loc[rows_all[low], "reason"] = "best candidate below review band"

    consider = ~low
    rows_c, top_c = rows_all[consider], top[consider]
    best_twin = top_c["resident_id"].map(twin_of).to_numpy()
    in_twins = pd.notna(best_twin)

    # 3a. Twins: the given name alone decides which twin; if it cannot, a person does.
    if in_twins.any():
        t_rows, t_ids, t_keys = rows_c[in_twins], top_c.index.to_numpy()[in_twins], best_twin[in_twins]
        winner = _twin_choice(t_ids, t_keys, twin_of, recs, people, given_level)
        p_twin = prob.reindex(pd.MultiIndex.from_arrays([t_ids, winner.fillna("").to_numpy()])).to_numpy()
        unclear = winner.isna().to_numpy()
        elsewhere, no_address = _household_rules_out(top_c[in_twins])
        stranger = elsewhere | no_address  # never matched, nor put before a person, whatever the score
        sure = ~unclear & (p_twin >= bands.match) & ~stranger
        doubt = ~sure & ~stranger
        best_of = best.loc[t_ids, "resident_id"].to_numpy()
        settle(t_rows[unclear & doubt], best_of[unclear & doubt], "review", "twin guard")
        settle(t_rows[sure], winner.to_numpy()[sure], "matched", "twin: decided by given name")
        # A review-band score on the twin the given name designates: as for anyone, the household may confirm it.
        pair = (
            pairs[pairs["record_id"].isin(t_ids)]
            .set_index(["record_id", "resident_id"])
            .reindex(pd.MultiIndex.from_arrays([t_ids, winner.fillna("").to_numpy()]))
        )
        outside = strong[(strong["_twin"] != strong["_best_twin"]) | strong["_twin"].isna()]["record_id"].unique()
        confirmed = ~unclear & doubt & ~pd.Index(t_ids).isin(outside) & _household_confirms(pair.fillna(-1))
        settle(
            t_rows[confirmed],
            winner.to_numpy()[confirmed],
            "matched",
            "twin: decided by given name, household confirms",
        )
        unsure = ~unclear & doubt & ~confirmed
        settle(t_rows[unsure], winner.to_numpy()[unsure], "review", "twin guard: score in review band")
        for mask, reason in ((elsewhere, HOUSEHOLD_ELSEWHERE), (no_address, HOUSEHOLD_NO_ADDRESS)):
            settle(t_rows[mask], best_of[mask], "unmatched", reason)

    # 3b. Everyone else: given-name guard, rival candidates, then the bands.
    rest = ~in_twins
    r_rows, r_top = rows_c[rest], top_c[rest]
    given_ok = (r_top["gamma_given_kana"].to_numpy() >= KANA_ONE_OFF) | (
        r_top["gamma_name_kanji"].to_numpy() == KANJI_CONFIRMS_KANA_SLIP
    )
    dob_level = r_top["gamma_birth_date"].to_numpy()
    dob_ok = (dob_level >= DOB_SLIP) | (dob_level < 0)
    rivals = strong[
        (strong["resident_id"] != strong["_best"])
        & (strong["match_probability"] >= bands.match)
        & (strong["_gap"] < RIVAL_MARGIN_BITS)
        & ~(strong["_twin"].notna() & (strong["_twin"] == strong["_best_twin"]))
    ]["record_id"].unique()
    rival = r_top.index.isin(rivals)
    p_rest = r_top["match_probability"].to_numpy()
    resident = r_top["resident_id"].to_numpy()
    guardian, address = r_top["gamma_guardian"].to_numpy(), r_top["gamma_address"].to_numpy()
    household_agrees = (guardian >= GUARDIAN_GIVEN) | (address >= ADDRESS_SIMILAR)
    household_known = (guardian >= 0) | (address >= 0)  # -1: NULL on one side
    surname_backed = (r_top["gamma_surname_kana"].to_numpy() != SURNAME_DIFFERS) | household_agrees
    household_ok = household_agrees | ~household_known
    elsewhere, no_address = _household_rules_out(r_top)
    ok = given_ok & dob_ok & surname_backed & household_ok
    # The household confirms a review-band score when no other child is a candidate.
    others = strong.loc[strong["resident_id"] != strong["_best"], "record_id"].unique()
    confirmed = ~r_top.index.isin(others) & _household_confirms(r_top)
    cases = [
        (~given_ok, "review", "given name disagrees"),
        (given_ok & ~dob_ok, "review", "birth date disagrees"),
        (given_ok & dob_ok & ~surname_backed, "review", "surname differs without household evidence"),
        (given_ok & dob_ok & surname_backed & ~household_ok & elsewhere, "unmatched", HOUSEHOLD_ELSEWHERE),
        (given_ok & dob_ok & surname_backed & ~household_ok & no_address, "unmatched", HOUSEHOLD_NO_ADDRESS),
        (
            given_ok & dob_ok & surname_backed & ~household_ok & ~elsewhere & ~no_address,
            "review",
            "household disagrees",
        ),
        (ok & rival, "review", "several candidates"),
        (ok & ~rival & (p_rest >= bands.match), "matched", "score in match band"),
        (ok & ~rival & (p_rest < bands.match) & confirmed, "matched", "score in review band: household confirms"),
        (ok & ~rival & (p_rest < bands.match) & ~confirmed, "review", "score in review band"),
    ]
    for mask, status, reason in cases:
        if mask.any():
            settle(r_rows[mask], resident[mask], status, reason)

    # 3c. A name that points nowhere (a 通称 at school): birth date, sex and household find the child.
    # A copy of millions of pairs only where staff rejected some: the rules below read every pair.
    unrejected = pairs.loc[~_pair_mask(pairs, rejected)] if len(rejected) else pairs
    found = household_candidates(unrejected, people)
    found = found[~fixed[pos[found["record_id"]].to_numpy()]]
    at = pos[found["record_id"]].to_numpy()
    status_now, reason_now = out["status"].to_numpy()[at], out["reason"].to_numpy()[at]
    same = out["candidate_resident_id"].to_numpy()[at] == found["resident_id"].to_numpy()
    # A review-band score is no match either: the household's child born that day outweighs another child's name
    # (a 通称 guardian's given name can be a stranger's household adult's).
    open_now = (
        (status_now == "unmatched")
        | ((status_now == "review") & same & (reason_now == "given name disagrees"))
        | ((status_now == "review") & (reason_now == "score in review band"))
    )
    unique = found["fits"].to_numpy() == 1
    settle(at[open_now & unique], found["resident_id"].to_numpy()[open_now & unique], "matched",
           "whole name differs: household confirms")  # fmt: skip
    several = (status_now == "unmatched") & ~unique
    settle(at[several], found["resident_id"].to_numpy()[several], "review",
           "whole name differs: several children of the household")  # fmt: skip
    # … and a sibling's nursery record through the guardian name of a record so found (nursery forms hold no address).
    via = households_by_guardian(out, recs, people)
    via = via[~fixed[pos[via["record_id"]].to_numpy()] & ~_pair_mask(via, rejected)]
    settle(pos[via["record_id"]].to_numpy(), via["resident_id"].to_numpy(), "matched",
           "whole name differs: guardian of a linked sibling")  # fmt: skip
    # … and a 通称 with nothing of the household: the one foreign-named child born that day, of that sex.
    hypotheses = foreign_children_born_that_day(unrejected, out, recs, people)
    lone = one_to_one(hypotheses)
    lone = lone[~fixed[pos[lone["record_id"]].to_numpy()]]
    # Automatic only where an address was compared (and did not disagree: household.py): on a nursery form, which has
    # none, it was another child for 46 of 202 records at 1,000,000 residents (a foreign child born that day who lives
    # elsewhere), against 1 of 84 school records; there a person confirms it.
    housed = lone["gamma_address"].to_numpy() > ADDRESS_ELSE
    rows, lone_ids = pos[lone["record_id"]].to_numpy(), lone["resident_id"].to_numpy()
    settle(rows[housed], lone_ids[housed], "matched", "whole name differs: the one foreign-named child born that day")
    settle(rows[~housed], lone_ids[~housed], "review", LONE_REVIEW)
    # … and, now that more of them are linked, the family's 通称 surname and guardian on a sibling's record: a family
    # writes its 通称 for every child (the guardian may be either parent), so the household a sibling's record was
    # linked to finds the child (household.py). Rounds, as each link can show the way to the next sibling.
    family = [via, lone]
    for _ in range(FAMILY_ROUNDS):
        status_now, reason_now = out["status"].to_numpy(), out["reason"].to_numpy()
        lone_review = (status_now == "review") & (reason_now == LONE_REVIEW)
        open_ids = out.loc[((status_now == "unmatched") | lone_review) & ~fixed, "record_id"]
        linked_ids = out.loc[(status_now == "matched") & pd.Series(reason_now).str.startswith(WHOLE_NAME), "record_id"]
        by_name = households_by_family_name(out, recs, people, linked_ids, hypotheses, open_ids)
        by_name = by_name[~_pair_mask(by_name, rejected)]
        by_guardian = households_by_guardian(out, recs, people, open_ids)
        by_guardian = by_guardian[~_pair_mask(by_guardian, rejected)]
        by_guardian = by_guardian[~by_guardian["record_id"].isin(by_name["record_id"])]
        if by_name.empty and by_guardian.empty:
            break
        settle(pos[by_guardian["record_id"]].to_numpy(), by_guardian["resident_id"].to_numpy(), "matched",
               "whole name differs: guardian of a linked sibling")  # fmt: skip
        settle(pos[by_name["record_id"]].to_numpy(), by_name["resident_id"].to_numpy(), "matched",
               "whole name differs: surname of a sibling")  # fmt: skip
        family += [by_name, by_guardian]
    via_pairs = pairs.loc[_pair_mask(pairs, pd.concat(family))]
    cand = pd.concat([cand, found.loc[open_now | several, cand.columns], via_pairs[cand.columns]], ignore_index=True)
    cand = cand.drop_duplicates(["record_id", "resident_id"])

    # 4. Safety net over every path but a human decision: a record on a twin must carry that twin's given name.
    auto = _automatic(out)
    on_twin = auto & out["resident_id"].map(twin_of).notna().to_numpy()
    if on_twin.any():
        idx = np.flatnonzero(on_twin)
        resident = out["resident_id"].iloc[idx]
        choice = _twin_choice(
            out["record_id"].iloc[idx].to_numpy(), resident.map(twin_of).to_numpy(), twin_of, recs, people, given_level
        )
        ok = choice.to_numpy() == resident.to_numpy()
        bad = idx[~ok]
        out.loc[bad, "status"] = "review"
        out.loc[bad, "reason"] = "twin guard"
    # … and a record whose address lies outside the town is a person's decision: a same-named child of another town,
    # born the same day, whose guardian shares a household adult's given name, scores in the match band.
    auto = _automatic(out)
    elsewhere = auto & out["record_id"].map(outside_town(recs, people)).to_numpy(dtype=bool)
    out.loc[elsewhere, "status"] = "review"
    out.loc[elsewhere, "reason"] = OUTSIDE_TOWN

    # Score and explanation of the pair each row reports on.
    has = chosen.notna().to_numpy()
    if has.any():
        index = pd.MultiIndex.from_arrays([out["record_id"][has].to_numpy(), chosen[has].astype(str).to_numpy()])
        rows = cand.set_index(["record_id", "resident_id"]).reindex(index)
        scored = rows["match_probability"].notna().to_numpy()
        shown = has.copy()
        shown[has] = scored
        out.loc[shown, "top_comparisons"] = _top_comparisons(rows[scored])
        probability = rows["match_probability"].to_numpy()
        out.loc[has, "match_probability"] = probability
    out.loc[out["status"] == "unmatched", "match_probability"] = np.nan
    if len(rejected):
        skipped = out["record_id"].isin(rejected["record_id"]) & ~out["reason"].str.startswith("decision")
        out.loc[skipped, "reason"] = out.loc[skipped, "reason"] + REJECTED_SKIPPED
    out["match_probability"] = out["match_probability"].astype(object).where(out["match_probability"].notna(), None)
    return out[OUTPUT_COLUMNS].sort_values(["feed", "source_key"], kind="stable").reset_index(drop=True)
