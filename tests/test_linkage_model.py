"""名寄せ model + assignment on a generated town (and hand-made hard cases), checked against the ground truth.

Assertion messages carry counts only: names, kana, birth dates, addresses and IDs never reach the test log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from kodomo_pipeline.config import load_towns
from kodomo_pipeline.generator import generate_town
from kodomo_pipeline.ingest.steps import TownPaths, ingest_raw, validate_feed
from kodomo_pipeline.linkage.assign import OUTPUT_COLUMNS, Bands, assign_links
from kodomo_pipeline.linkage.household import foreign_children_born_that_day, one_to_one
from kodomo_pipeline.linkage.inputs import build_link_persons, build_link_records
from kodomo_pipeline.linkage.model import ADDRESS_SAME, COMPARISONS, LinkageModelResult, score_pairs, splink_objects
from kodomo_pipeline.linkage.normalize import address_key, kana_key, kanji_key, split_name
from kodomo_pipeline.storage.town_db import open_town_db

ASOF = dt.date(2026, 11, 26)
POPULATION, SEED = 4000, 12  # a draw with twins, school transfers, namesakes, typos and variant kanji
BANDS = Bands()


# ---------------------------------------------------------------------------------------------------------------
# Hand-made people and records, in the shape build_link_persons / build_link_records give.


def _keys(name: str | None, key: Callable[[str], str]) -> tuple[str | None, str | None]:
    if name is None:
        return None, None
    surname, given = split_name(name)
    return key(surname) or None, key(given) or None


def _person(rid: str, household: str, kanji: str, kana: str, born: dt.date, sex: str, guardians: list[str]) -> dict:
    address = HOMES[household]
    sk, gk = _keys(kana, kana_key)
    sj, gj = _keys(kanji, kanji_key)
    return {
        "unique_id": rid, "resident_id": rid, "household_id": household, "name_kanji": kanji, "name_kana": kana,
        "surname_kana": sk, "given_kana": gk, "surname_kanji": sj, "given_kanji": gj, "birth_date": born,
        "sex": sex, "address": address, "address_key": address_key(address),
        "guardian_keys": sorted(kanji_key(g) for g in guardians), "status": "住民",
    }  # fmt: skip


def _record(
    feed: str, key: str, kanji: str | None, kana: str, born: dt.date, sex: str, guardian: str, address: str | None
) -> dict:
    sk, gk = _keys(kana, kana_key)
    sj, gj = _keys(kanji, kanji_key)
    return {
        "feed": feed, "source_key": key, "name_kanji": kanji, "name_kana": kana, "birth_date": born, "sex": sex,
        "guardian_name": guardian, "address": address, "_file": "handmade", "_sha256": "", "_row": 0,
        "surname_kana": sk, "given_kana": gk, "surname_kanji": sj, "given_kanji": gj,
        "address_key": address_key(address) if address else None, "guardian_key": kanji_key(guardian),
        "unique_id": f"{feed}|{key}",
    }  # fmt: skip


TWINS_BORN, SAME_KANA_BORN, OTHER_BORN = dt.date(2018, 5, 14), dt.date(2016, 9, 3), dt.date(2014, 2, 20)
HOMES = {
    "H000000091": "埼玉県比企郡川島町大字中山９９０１番地",
    "H000000092": "埼玉県比企郡川島町大字中山９９０２番地",
    "H000000093": "埼玉県比企郡川島町大字中山９９０３番地",
    "H000000094": "埼玉県比企郡川島町大字中山９９０４番地",
}
KIRARA, DOUMEKI = ["雲母坂　一郎", "雲母坂　花子"], ["百目鬼　健", "百目鬼　由美"]  # the twins' household adults
HOME_KIRARA = "川島町中山9901"
HAND_PERSONS = [
    # Twins with similar given names (ハルト / ハルキ): one kana apart.
    _person("H000000001", "H000000091", "雲母坂　陽翔", "キララザカ　ハルト", TWINS_BORN, "男", KIRARA),
    _person("H000000002", "H000000091", "雲母坂　陽輝", "キララザカ　ハルキ", TWINS_BORN, "男", KIRARA),
    # Twins whose given names read the same (ヒナ) and differ in kanji only.
    _person("H000000003", "H000000092", "百目鬼　陽菜", "ドウメキ　ヒナ", SAME_KANA_BORN, "女", DOUMEKI),
    _person("H000000004", "H000000092", "百目鬼　日菜", "ドウメキ　ヒナ", SAME_KANA_BORN, "女", DOUMEKI),
    # A registered variant kanji name with a long vowel, and a child with two school records (a transfer).
    _person("H000000005", "H000000093", "髙見澤　優子", "タカミザワ　ユウコ", OTHER_BORN, "女", ["髙見澤　剛"]),
    _person("H000000006", "H000000094", "五百旗頭　蒼", "イオキベ　アオイ", OTHER_BORN, "男", ["五百旗頭　誠"]),
]  # fmt: skip
HAND_RECORDS = [
    # Twin ハルト's nursery record with a kana slip (ハルド): no kanji to tell the twins apart.
    _record("toen", "テスト保育園:99001", None, "キララザカ　ハルド", TWINS_BORN, "男", "雲母坂　花子", None),
    _record("toen", "テスト保育園:99002", None, "キララザカ　ハルキ", TWINS_BORN, "男", "雲母坂　花子", None),
    # Twin ハルト's school record with the same kana slip, but its kanji right.
    _record("gakko_meibo", "99100001", "雲母坂　陽翔", "キララザカ　ハルド", TWINS_BORN, "男", KIRARA[0], HOME_KIRARA),
    _record("gakko_meibo", "99100002", "雲母坂　陽輝", "キララザカ　ハルキ", TWINS_BORN, "男", KIRARA[0], HOME_KIRARA),
    # Same-kana twins: the nursery cannot tell them apart, the school (kanji) can.
    _record("toen", "テスト保育園:99003", None, "ドウメキ　ヒナ", SAME_KANA_BORN, "女", "百目鬼　由美", None),
    _record("gakko_meibo", "99100003", "百目鬼　日菜", "ドウメキ　ヒナ", SAME_KANA_BORN, "女", "百目鬼　健",
            "埼玉県比企郡川島町大字中山9902番地"),
    # Standard kanji for the registered variants (髙→高, 澤→沢), a long vowel (ユーコ), half-width kana.
    _record("gakko_meibo", "99100004", "高見沢　優子", "タカミザワ　ユーコ", OTHER_BORN, "女", "高見沢　剛",
            "比企郡川島町中山9903"),
    _record("toen", "テスト保育園:99004", None, "ﾀｶﾐｻﾞﾜ　ﾕｳｺ", OTHER_BORN, "女", "髙見澤　剛", None),
    # A transfer: two student numbers, the old one with the address before the move.
    _record("gakko_meibo", "99100005", "五百旗頭　蒼", "イオキベ　アオイ", OTHER_BORN, "男", "五百旗頭　誠",
            "埼玉県比企郡川島町大字中山9904番地"),
    _record("gakko_meibo", "99100006", "五百旗頭　蒼", "イオキベ　アオイ", OTHER_BORN, "男", "五百旗頭　誠",
            "川島町大字吹塚1234番地"),
]  # fmt: skip
HAND_TRUTH = {  # record → (resident it must go to, or None for "never matched"; status expected)
    "toen|テスト保育園:99001": (None, "review"),
    "toen|テスト保育園:99002": ("H000000002", "matched"),
    "gakko_meibo|99100001": ("H000000001", "matched"),
    "gakko_meibo|99100002": ("H000000002", "matched"),
    "toen|テスト保育園:99003": (None, "review"),
    "gakko_meibo|99100003": ("H000000004", "matched"),
    "gakko_meibo|99100004": ("H000000005", "matched"),
    "toen|テスト保育園:99004": ("H000000005", "matched"),
    "gakko_meibo|99100005": ("H000000006", "matched"),
    "gakko_meibo|99100006": ("H000000006", "matched"),
}


def _fingerprint(records: pd.DataFrame) -> pd.Series:
    fields = ["name_kanji", "name_kana", "birth_date", "sex", "guardian_name", "address"]
    text = records[fields].astype(str).agg("\x1f".join, axis=1)
    return text.map(lambda t: hashlib.sha256(t.encode()).hexdigest()[:16])


# ---------------------------------------------------------------------------------------------------------------
# The town, scored once per module. Assertions compare counts and booleans only: pytest prints the operands of a
# failing assert (and the test's arguments), so no frame or ID may appear in one.


@dataclass(repr=False)
class Linked:
    persons: pd.DataFrame
    records: pd.DataFrame
    result: LinkageModelResult
    crosswalk: pd.DataFrame
    truth: pd.DataFrame  # per record: true resident among the registry children (None otherwise), person_uid, noise
    people: pd.DataFrame  # persons.csv
    database: Path
    log_text: str
    left_on_connection: int  # __splink__ tables and views on the connection right after score_pairs

    def __repr__(self) -> str:  # shown by pytest next to a failing test: counts only
        return f"Linked({len(self.persons)} persons, {len(self.records)} records, {len(self.result.pairs)} pairs)"


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        return "\n".join(r.getMessage() for r in self.records)


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Linked:
    work = tmp_path_factory.mktemp("linkage")
    town = load_towns()["kawashima"]
    generate_town(town, work / "inbox", work / "truth", ASOF, POPULATION, SEED)
    paths = TownPaths.for_town(town, work / "home", work / "inbox")
    database = work / "town.duckdb"
    handler = _Capture()
    root = logging.getLogger()
    level = root.level
    with open_town_db(database) as con:
        for feed in town.feeds:
            ingest_raw(con, town, feed, paths, "test", None)
            validate_feed(con, town, feed, "test")
        persons = pd.concat([build_link_persons(con, ASOF), pd.DataFrame(HAND_PERSONS)], ignore_index=True)
        records = pd.concat([build_link_records(con, ASOF), pd.DataFrame(HAND_RECORDS)], ignore_index=True)
        records["fingerprint"] = _fingerprint(records)
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        try:
            result = score_pairs(con, persons, records, seed=42)
            left_on_connection = len(splink_objects(con))
            crosswalk = assign_links(result.pairs, records, persons, BANDS)
        finally:
            root.removeHandler(handler)
            root.setLevel(level)
    links = pd.read_csv(work / "truth" / "links.csv", dtype=str, keep_default_na=False)
    links["record_id"] = links["feed"] + "|" + links["source_key"]
    truth = records[["unique_id", "feed"]].merge(links, left_on="unique_id", right_on="record_id", how="left")
    registered = set(persons["resident_id"])
    truth["truth"] = truth["resident_id"].where(truth["resident_id"].isin(registered))
    for record_id, (resident, _) in HAND_TRUTH.items():
        truth.loc[truth["unique_id"] == record_id, "truth"] = resident
    truth = truth.set_index("unique_id")[["truth", "person_uid", "noise"]]
    people = pd.read_csv(work / "truth" / "persons.csv", dtype=str, keep_default_na=False)
    return Linked(persons, records, result, crosswalk, truth, people, database, handler.text(), left_on_connection)


def _linked_to(crosswalk: pd.DataFrame) -> pd.DataFrame:
    """resident_id as a link (matched only): a review row's resident_id is a candidate, not a link."""
    linked = crosswalk["resident_id"].astype(object).where(crosswalk["status"] == "matched", None)
    return crosswalk.assign(resident_id=linked)


def _by_record(linked: Linked) -> pd.DataFrame:
    return _linked_to(linked.crosswalk).set_index("record_id").join(linked.truth)


def _count(mask: pd.Series | np.ndarray) -> int:
    return int(np.asarray(mask, dtype=bool).sum())


def _same(a: object, b: object) -> bool:
    """Equality of two values (IDs) as a bare bool, so that a failing assert shows neither."""
    return bool(a == b) if a is not None and b is not None else a is None and b is None


def _differing_rows(a: pd.DataFrame, b: pd.DataFrame) -> int:
    """Rows that differ between two frames of the same shape (a count instead of pandas' diff of values)."""
    if a.shape != b.shape or list(a.columns) != list(b.columns):
        return max(len(a), len(b)) or 1
    left, right = a.reset_index(drop=True).astype(object), b.reset_index(drop=True).astype(object)
    same = (left == right) | (left.isna() & right.isna())
    return _count(~same.all(axis=1))


# ---------------------------------------------------------------------------------------------------------------
# Model output


def test_every_record_appears_exactly_once(linked: Linked) -> None:
    cw = linked.crosswalk
    assert list(cw.columns) == OUTPUT_COLUMNS
    n_rows, n_records = len(cw), len(linked.records)
    assert n_rows == n_records
    differing = len(set(cw["record_id"]) ^ set(linked.records["unique_id"]))
    assert differing == 0
    duplicated = _count(cw["record_id"].duplicated())
    assert duplicated == 0
    ordered = cw.sort_values(["feed", "source_key"]).index.equals(cw.index)
    assert ordered
    assert set(cw["status"]) <= {"matched", "review", "unmatched"}
    matched = cw["status"] == "matched"
    problems = {
        "matched without resident": _count(matched & cw["resident_id"].isna()),
        "resident when unmatched": _count((cw["status"] == "unmatched") & cw["resident_id"].notna()),
        "review resident is not its candidate": _count(
            (cw["status"] == "review") & (cw["resident_id"] != cw["candidate_resident_id"])
        ),
        "unmatched with probability": _count((cw["status"] == "unmatched") & cw["match_probability"].notna()),
        "review without candidate": _count((cw["status"] != "unmatched") & cw["candidate_resident_id"].isna()),
        "no reason": _count(cw["reason"].str.len() == 0),
    }
    assert problems == dict.fromkeys(problems, 0)


def test_pairs_carry_levels_and_weights_per_comparison(linked: Linked) -> None:
    pairs = linked.result.pairs
    missing = [name for name in COMPARISONS if f"gamma_{name}" not in pairs or f"mw_{name}" not in pairs]
    assert missing == []
    assert _count(~pairs["match_probability"].between(0, 1)) == 0
    assert sum(linked.result.blocking_counts.values()) == len(pairs)
    assert _count(pairs.duplicated(["record_id", "resident_id"])) == 0
    assert linked.result.model_json["link_type"] == "link_only"


def test_blocking_keeps_every_true_pair(linked: Linked) -> None:
    true = linked.truth["truth"].dropna()
    scored = set(zip(linked.result.pairs["record_id"], linked.result.pairs["resident_id"], strict=True))
    lost = sum((r, t) not in scored for r, t in true.items())
    assert lost == 0, f"{lost} of {len(true)} true pairs not blocked"


def test_precision_and_recall_on_the_generated_truth(linked: Linked) -> None:
    cw = _by_record(linked)
    matched = cw[cw["status"] == "matched"]
    wrong = _count(matched["resident_id"] != matched["truth"])
    should = cw["truth"].notna()
    found, expected = _count(cw.loc[should, "resident_id"] == cw.loc[should, "truth"]), _count(should)
    review = _count(cw["status"] == "review")
    assert wrong == 0, f"{wrong} of {len(matched)} matches wrong"
    assert found >= 0.99 * expected, f"{found} of {expected} true links found"
    assert review <= 0.01 * len(cw) + len(HAND_RECORDS), f"{review} of {len(cw)} records to review"


def test_twins_are_never_merged(linked: Linked) -> None:
    twin_group = linked.people.loc[linked.people["twin_group"] != ""].set_index("resident_id")["twin_group"]
    hand = {p["resident_id"]: p["household_id"] for p in HAND_PERSONS[:4]}
    twin_group = pd.concat([twin_group, pd.Series(hand)])
    cw = _by_record(linked)
    on_twins = cw[cw["truth"].isin(twin_group.index)]
    groups = on_twins["truth"].map(twin_group).nunique()
    assert groups >= 6, f"only {groups} twin groups with records: too few to prove anything"
    matched = on_twins[on_twins["status"] == "matched"]
    wrong_twin = _count(matched["resident_id"] != matched["truth"])
    one_for_two = _count(matched.groupby("resident_id")["truth"].nunique() > 1)
    # And no record of anyone else is matched to a twin.
    anyone = cw[(cw["status"] == "matched") & cw["resident_id"].isin(twin_group.index)]
    foreign = _count(anyone["resident_id"] != anyone["truth"])
    assert (wrong_twin, one_for_two, foreign) == (0, 0, 0), f"{len(on_twins)} twin records in {groups} groups"


def test_hand_made_hard_cases(linked: Linked) -> None:
    cw = _linked_to(linked.crosswalk).set_index("record_id")
    wrong = [
        i
        for i, (record_id, (resident, status)) in enumerate(HAND_TRUTH.items())
        if not (cw.loc[record_id, "status"] == status and _same(cw.loc[record_id, "resident_id"], resident))
    ]
    assert wrong == [], f"{len(wrong)} of {len(HAND_TRUTH)} hand-made cases wrong (positions in HAND_TRUTH)"
    assert cw.loc["toen|テスト保育園:99001", "reason"] == "twin guard"
    assert cw.loc["toen|テスト保育園:99003", "reason"] == "twin guard"
    assert cw.loc["gakko_meibo|99100001", "reason"] == "twin: decided by given name"
    assert cw.loc["gakko_meibo|99100003", "reason"] == "twin: decided by given name"


def test_outsiders_stay_unmatched(linked: Linked) -> None:
    cw = _by_record(linked)
    outsider = cw["person_uid"].fillna("").str.startswith("O")
    namesake = cw["noise"].fillna("").str.contains("namesake")
    n_outsiders, n_namesakes = _count(outsider), _count(namesake)
    assert n_outsiders >= 10 and n_namesakes >= 5, "too few outsiders / namesakes generated"
    not_unmatched = _count(outsider & (cw["status"] != "unmatched"))
    assert not_unmatched == 0, f"{not_unmatched} of {n_outsiders} outsiders not left unmatched"


@pytest.mark.parametrize("tag", ["variant_kanji", "kana_long_vowel", "kana_typo", "guardian_variant_kanji"])
def test_noisy_records_still_match(linked: Linked, tag: str) -> None:
    cw = _by_record(linked)
    noisy = cw[cw["noise"].fillna("").str.split(";").map(lambda tags: tag in tags) & cw["truth"].notna()]
    assert len(noisy) >= 2, f"only {len(noisy)} such records generated"
    right = _count(noisy["resident_id"] == noisy["truth"])
    assert right == len(noisy), f"{right} of {len(noisy)} matched to their child"


def test_transfers_link_both_student_numbers_to_one_resident(linked: Linked) -> None:
    cw = _by_record(linked)
    school = cw[(cw["feed"] == "gakko_meibo") & cw["truth"].notna()]
    transferred = school.groupby("truth").filter(lambda g: len(g) > 1)
    children = transferred["truth"].nunique()
    assert children >= 3, f"only {children} transfers"
    right = _count(transferred["resident_id"] == transferred["truth"])
    assert right == len(transferred), f"{right} of {len(transferred)} transfer records linked"


def test_no_splink_table_left_and_nothing_personal_logged(linked: Linked) -> None:
    with duckdb.connect(str(linked.database), read_only=True) as con:
        left = con.execute(
            "SELECT count(*) FROM (SELECT table_name AS n FROM duckdb_tables() UNION ALL "
            "SELECT view_name FROM duckdb_views()) WHERE starts_with(n, '__splink__')"
        ).fetchone()[0]
    assert (left, linked.left_on_connection) == (0, 0), "__splink__ tables or views left"
    personal: set[str] = set()
    for frame in (linked.persons, linked.records):
        for column in ("name_kanji", "name_kana", "surname_kana", "given_kana", "address", "unique_id"):
            personal |= {str(v) for v in frame[column].dropna() if len(str(v)) >= 2}
        personal |= {str(v) for v in frame["birth_date"].dropna()}
    leaked = sum(value in linked.log_text for value in personal)
    logged = len(linked.log_text)
    assert logged > 0, "expected the linkage to log its counts"
    assert leaked == 0, f"{leaked} personal values in the log"


def test_same_inputs_and_seed_give_the_same_result(linked: Linked, tmp_path: Path) -> None:
    """Same data, same seed, another database and the rows in another order: the same pairs, model and links."""
    shuffled_persons = linked.persons.sample(frac=1.0, random_state=1)
    shuffled_records = linked.records.sample(frac=1.0, random_state=2)
    with duckdb.connect(str(tmp_path / "again.duckdb")) as con:
        again = score_pairs(con, shuffled_persons, shuffled_records, seed=42)
    pair_rows = _differing_rows(again.pairs, linked.result.pairs)
    same_model = again.model_json == linked.result.model_json
    same_counts = again.blocking_counts == linked.result.blocking_counts
    crosswalk = assign_links(again.pairs, shuffled_records, shuffled_persons, BANDS)
    crosswalk_rows = _differing_rows(crosswalk, linked.crosswalk)
    assert (pair_rows, same_model, same_counts, crosswalk_rows) == (0, True, True, 0)


def test_nothing_to_link_gives_an_empty_result(linked: Linked, tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con:
        result = score_pairs(con, linked.persons, linked.records.iloc[:0])
    assert (len(result.pairs), result.blocking_counts) == (0, {})
    assert {f"gamma_{c}" for c in COMPARISONS} <= set(result.pairs.columns)
    crosswalk = assign_links(result.pairs, linked.records, linked.persons, BANDS)
    assert (len(crosswalk), set(crosswalk["status"])) == (len(linked.records), {"unmatched"})


def test_splink_tables_left_by_a_killed_run_are_dropped(linked: Linked, tmp_path: Path) -> None:
    """A run killed during linkage leaves Splink's tables (and views) in the town's database: the next run drops
    each as what it is instead of failing on it."""
    database = str(tmp_path / "killed.duckdb")
    with duckdb.connect(database) as con:
        con.execute("CREATE TABLE __splink__blocked_id_pairs_dead AS SELECT 'a' AS join_key_l")
        con.execute("CREATE VIEW __splink__df_concat_dead AS SELECT * FROM __splink__blocked_id_pairs_dead")
    with duckdb.connect(database) as con:
        score_pairs(con, linked.persons, linked.records.iloc[:0])
        assert splink_objects(con) == []


# ---------------------------------------------------------------------------------------------------------------
# Decisions and stable identity, on the scored town


def _decisions(rows: list[tuple[str, str, str]], linked: Linked) -> pd.DataFrame:
    keys = linked.records.set_index("unique_id")[["feed", "source_key"]]
    return pd.DataFrame(
        [(*keys.loc[record_id], resident, decision) for record_id, resident, decision in rows],
        columns=["feed", "source_key", "resident_id", "decision"],
    )


def _previous(linked: Linked) -> pd.DataFrame:
    """Last night's crosswalk: this run's, with each record's fingerprint."""
    fingerprint = linked.records.set_index("unique_id")["fingerprint"]
    return linked.crosswalk.assign(fingerprint=linked.crosswalk["record_id"].map(fingerprint))


def _assign(linked: Linked, **kwargs: object) -> pd.DataFrame:
    pairs = kwargs.pop("pairs", linked.result.pairs)
    records = kwargs.pop("records", linked.records)
    return assign_links(pairs, records, linked.persons, BANDS, **kwargs).set_index("record_id")  # type: ignore[arg-type]


def test_accepted_decision_matches_whatever_the_score(linked: Linked) -> None:
    cw = linked.crosswalk
    outsider = cw.loc[cw["status"] == "unmatched", "record_id"].iloc[0]
    resident = linked.persons["resident_id"].iloc[0]
    got = _assign(linked, decisions=_decisions([(outsider, resident, "accept")], linked))
    row = got.loc[outsider]
    assert (row["status"], row["reason"]) == ("matched", "decision: accepted")
    same = _same(row["resident_id"], resident)
    assert same
    changed = _differing_rows(got.drop(index=outsider), cw.set_index("record_id").drop(index=outsider))
    assert changed == 0, f"{changed} other records changed"


def test_rejected_pair_is_never_matched_again(linked: Linked) -> None:
    cw = linked.crosswalk
    target = cw[(cw["status"] == "matched") & (cw["reason"] == "score in match band")].iloc[0]
    rejected = _decisions([(target["record_id"], target["resident_id"], "reject")], linked)
    previous = _previous(linked)  # last night said: matched
    row = _assign(linked, decisions=rejected, previous=previous).loc[target["record_id"]]
    same = _same(row["resident_id"], target["resident_id"])
    assert not same
    same = _same(row["candidate_resident_id"], target["resident_id"])
    assert not same
    assert "rejected" in row["reason"]


def test_unchanged_record_keeps_its_previous_resident(linked: Linked) -> None:
    """A record whose best candidate changed keeps last night's link while its fingerprint is the same."""
    pairs, cw = linked.result.pairs, linked.crosswalk
    # A matched record's other candidate, lifted into the review band, was last night's link.
    linked_to = cw.loc[cw["reason"] == "score in match band"].set_index("record_id")["resident_id"]
    others = pairs[pairs["record_id"].isin(linked_to.index)]
    others = others[others["resident_id"] != others["record_id"].map(linked_to)]
    pick = others.sort_values(["record_id", "resident_id"]).iloc[0]
    lifted = pairs.copy()
    at = (lifted["record_id"] == pick["record_id"]) & (lifted["resident_id"] == pick["resident_id"])
    lifted.loc[at, "match_probability"] = 0.6
    previous = _previous(linked)
    previous.loc[previous["record_id"] == pick["record_id"], "resident_id"] = pick["resident_id"]

    kept = _assign(linked, pairs=lifted, previous=previous)
    same = _same(kept.loc[pick["record_id"], "resident_id"], pick["resident_id"])
    assert same
    assert kept.loc[pick["record_id"], "reason"] == "kept from previous run"
    flipped = _count(kept["status"].reindex(cw["record_id"]).to_numpy() != cw["status"].to_numpy())
    assert flipped == 0

    changed = linked.records.copy()
    changed.loc[changed["unique_id"] == pick["record_id"], "fingerprint"] = "changed"
    fresh = _assign(linked, pairs=lifted, records=changed, previous=previous)
    same = _same(fresh.loc[pick["record_id"], "resident_id"], linked_to[pick["record_id"]])
    assert same


# ---------------------------------------------------------------------------------------------------------------
# Assignment rules on hand-built pairs (no model)


def _pairs(rows: list[tuple[str, str, float, int, int]]) -> pd.DataFrame:
    """(record, resident, probability, given-name kana level, birth-date level) → a pairs frame."""
    frame = pd.DataFrame(rows, columns=["record_id", "resident_id", "match_probability", "g", "d"])
    frame["match_weight"] = np.log2(frame["match_probability"] / (1 - frame["match_probability"]))
    for name in COMPARISONS:
        frame[f"gamma_{name}"] = 4 if name.endswith("kana") else 0
        frame[f"mw_{name}"] = 0.1
    frame["mw_birth_date"] = 9.0
    frame["mw_guardian"] = -2.0
    frame["gamma_guardian"], frame["gamma_address"] = 3, -1  # the guardian is a household adult; no address
    frame["gamma_given_kana"] = frame.pop("g")
    frame["gamma_birth_date"] = frame.pop("d")
    return frame


def _frames(n_records: int, residents: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Records F:0.. and residents (id → household), all born on one day: twins where a household repeats."""
    records = pd.DataFrame(
        {
            "unique_id": [f"toen|F:{i}" for i in range(n_records)],
            "feed": "toen",
            "source_key": [f"F:{i}" for i in range(n_records)],
            "given_kana": "アオイ",
            "given_kanji": None,
        }
    )
    persons = pd.DataFrame(
        {
            "resident_id": list(residents),
            "household_id": list(residents.values()),
            "birth_date": dt.date(2015, 1, 1),
            "given_kana": ["アオイ", *(f"ケン{i}" for i in range(1, len(residents)))],
            "given_kanji": None,
        }
    )
    return records, persons


def test_guards_send_doubtful_bests_to_review() -> None:
    records, persons = _frames(5, {"R1": "H1", "R2": "H2", "R3": "H3"})
    pairs = _pairs(
        [
            ("toen|F:0", "R1", 0.999, 4, 3),  # clear match
            ("toen|F:1", "R1", 0.999, 0, 3),  # given name disagrees
            ("toen|F:2", "R1", 0.999, 4, 0),  # birth date wrong beyond a slip
            ("toen|F:3", "R1", 0.995, 4, 3),  # two residents, close scores
            ("toen|F:3", "R2", 0.994, 4, 3),
            ("toen|F:4", "R3", 0.3, 4, 3),  # below the review band
        ]
    )
    got = assign_links(pairs, records, persons, BANDS).set_index("record_id")
    assert got["status"].tolist() == ["matched", "review", "review", "review", "unmatched"]
    assert got["reason"].tolist()[1:4] == ["given name disagrees", "birth date disagrees", "several candidates"]
    assert got.loc["toen|F:4", "candidate_resident_id"] is None
    assert got.loc["toen|F:2", "candidate_resident_id"] == "R1"
    assert got.loc["toen|F:0", "top_comparisons"] == "birth date +, guardian -"  # |weight| < 0.5 is not named


def test_household_evidence_guards() -> None:
    """A changed surname needs the household to agree; a household that can be compared and disagrees → review;
    a guardian of no household adult with an address that disagrees or is not there → unmatched."""
    records, persons = _frames(6, {"R1": "H1", "R2": "H2", "R3": "H3", "R4": "H4", "R5": "H5", "R6": "H6"})
    pairs = _pairs([(f"toen|F:{i}", f"R{i + 1}", 0.999, 4, 3) for i in range(6)])
    pairs.loc[0, "gamma_surname_kana"] = 0  # surname differs, guardian a household adult: matched
    pairs.loc[1, ["gamma_surname_kana", "gamma_guardian"]] = [0, -1]  # surname differs, nothing else: review
    pairs.loc[2, ["gamma_guardian", "gamma_address"]] = [-1, 1]  # no guardian, address only in the 大字: review
    pairs.loc[3, ["gamma_guardian", "gamma_address"]] = [1, ADDRESS_SAME]  # guardian not of the household: matched
    pairs.loc[4, ["gamma_guardian", "gamma_address"]] = [0, 0]  # another family elsewhere: unmatched
    pairs.loc[5, "gamma_guardian"] = 1  # guardian not of the household, no address: unmatched
    got = assign_links(pairs, records, persons, BANDS).set_index("record_id")
    assert got["status"].tolist() == ["matched", "review", "review", "matched", "unmatched", "unmatched"]
    assert got["reason"].tolist()[4:] == [
        "household disagrees: guardian and address",
        "household disagrees: guardian, no address",
    ]
    assert got["resident_id"].tolist()[4:] == [None, None]
    assert got["reason"].tolist()[1:3] == ["surname differs without household evidence", "household disagrees"]
    assert got.loc["toen|F:2", "resident_id"] == "R3"  # a review row names its candidate


def test_household_confirms_a_review_band_score_only_without_another_candidate() -> None:
    records, persons = _frames(6, {f"R{i}": f"H{i}" for i in range(1, 7)})
    pairs = _pairs([(f"toen|F:{i}", f"R{i + 1}", 0.9, 4, 3) for i in range(6)])  # all in the review band
    pairs.loc[1, ["gamma_guardian", "gamma_address"]] = [1, 1]  # the guardian no household adult, the 大字 same
    # A surname changed at school first: given name exact, the guardian's given name a household's; the birth date
    # exact or a slip (F:4), not beyond (F:5).
    pairs.loc[[2, 4, 5], ["gamma_guardian", "gamma_surname_kana", "gamma_given_kana"]] = [2, 0, 5]
    pairs.loc[4, "gamma_birth_date"], pairs.loc[5, "gamma_birth_date"] = 2, 1
    pairs = pd.concat([pairs, _pairs([("toen|F:3", "R1", 0.8, 4, 3)])], ignore_index=True)  # a second candidate
    got = assign_links(pairs, records, persons, BANDS).set_index("record_id")
    assert got["status"].tolist() == ["matched", "review", "matched", "review", "matched", "review"]
    assert got.loc["toen|F:0", "reason"] == "score in review band: household confirms"
    assert got.loc["toen|F:3", "reason"] == "score in review band"


def test_household_child_born_that_day_outweighs_another_childs_review_band_score() -> None:
    """R1 scores in the review band on its name; R2, of the record's address, was born that day: R2 it is."""
    records, persons = _frames(1, {"R1": "H1", "R2": "H2"})
    pairs = _pairs([("toen|F:0", "R1", 0.6, 4, 2), ("toen|F:0", "R2", 0.01, 0, 3)])
    pairs.loc[0, "gamma_guardian"] = 2  # R1: the guardian's given name only, a birth-date slip
    pairs.loc[1, ["gamma_surname_kana", "gamma_sex", "gamma_address", "gamma_guardian"]] = [0, 1, 3, 0]
    got = assign_links(pairs, records, persons, BANDS).set_index("record_id")
    assert (got.loc["toen|F:0", "resident_id"], got.loc["toen|F:0", "reason"]) == (
        "R2",
        "whole name differs: household confirms",
    )


def test_twin_guard_on_hand_built_pairs() -> None:
    """R1 and R2 are twins (one household, one birth date); only R1 is called アオイ like the records."""
    records, persons = _frames(2, {"R1": "H1", "R2": "H1"})
    pairs = _pairs([("toen|F:0", "R2", 0.9999, 4, 3), ("toen|F:0", "R1", 0.999, 4, 3)])  # the wrong twin ahead
    got = assign_links(pairs, records, persons, BANDS).set_index("record_id")
    assert (got.loc["toen|F:0", "resident_id"], got.loc["toen|F:0", "reason"]) == ("R1", "twin: decided by given name")
    persons.loc[1, "given_kana"] = "アオイ"  # both twins read アオイ: nothing tells them apart
    got = assign_links(pairs, records, persons, BANDS).set_index("record_id")
    assert (got.loc["toen|F:0", "status"], got.loc["toen|F:0", "reason"]) == ("review", "twin guard")
    persons.loc[1, "given_kana"] = "ケン"
    pairs["match_probability"] = [0.9, 0.95]  # R1 by given name, in the review band: its household confirms it
    got = assign_links(pairs, records, persons, BANDS).set_index("record_id")
    assert (got.loc["toen|F:0", "resident_id"], got.loc["toen|F:0", "reason"]) == (
        "R1",
        "twin: decided by given name, household confirms",
    )
    pairs["gamma_guardian"] = 2  # only the guardian's given name, and the child's given kana not the same key
    got = assign_links(pairs, records, persons, BANDS).set_index("record_id")
    assert (got.loc["toen|F:0", "status"], got.loc["toen|F:0", "reason"]) == (
        "review",
        "twin guard: score in review band",
    )
    pairs["gamma_guardian"] = 1  # the guardian is no adult of theirs, no address: a same-named stranger …
    pairs["match_probability"] = [0.9, 0.999]  # … whatever the score
    got = assign_links(pairs, records, persons, BANDS).set_index("record_id")
    assert (got.loc["toen|F:0", "status"], got.loc["toen|F:0", "reason"]) == (
        "unmatched",
        "household disagrees: guardian, no address",
    )
    persons.loc[1, "given_kana"] = "アオイ"  # … and where the given name cannot tell the twins apart
    got = assign_links(pairs, records, persons, BANDS).set_index("record_id")
    assert got.loc["toen|F:0", "status"] == "unmatched"


def test_twin_with_a_typed_slip_is_decided_only_when_one_twin_is_that_close() -> None:
    """No twin's name is exact: a given name one kana off one twin designates it while the other twin's is far."""
    records, persons = _frames(3, {"R1": "H1", "R2": "H1"})
    persons["given_kana"] = ["ハルト", "ミナミ"]
    records["given_kana"] = ["ハルド", "ハルド", "ハルド"]
    one_off, far = 2, 0  # the model's kana levels "one kana different" and "else"
    pairs = _pairs(
        [
            ("toen|F:0", "R2", 0.9999, far, 3),  # the far twin ahead on score: the name still decides
            ("toen|F:0", "R1", 0.999, one_off, 3),
            ("toen|F:1", "R1", 0.999, one_off, 3),  # both twins one kana off: one slip could be either
            ("toen|F:1", "R2", 0.999, one_off, 3),
            ("toen|F:2", "R1", 0.999, one_off, 3),  # the other twin's pair unknown: not close either
        ]
    )
    got = assign_links(pairs, records, persons, BANDS).set_index("record_id")
    assert (got.loc["toen|F:0", "resident_id"], got.loc["toen|F:0", "reason"]) == ("R1", "twin: decided by given name")
    assert (got.loc["toen|F:1", "status"], got.loc["toen|F:1", "reason"]) == ("review", "twin guard")
    assert (got.loc["toen|F:2", "status"], got.loc["toen|F:2", "resident_id"]) == ("matched", "R1")


def test_twin_written_given_name_first_is_decided_by_the_swapped_parts() -> None:
    records, persons = _frames(1, {"R1": "H1", "R2": "H1"})
    persons["surname_kana"], persons["given_kana"] = "グエン", ["ナム", "ラン"]
    records["surname_kana"], records["given_kana"] = "ナム", "グエン"  # ナム　グエン on the form
    swapped = 3  # the model's kana level "in the other name part"
    pairs = _pairs([("toen|F:0", "R2", 0.9999, swapped, 3), ("toen|F:0", "R1", 0.9999, swapped, 3)])
    got = assign_links(pairs, records, persons, BANDS).set_index("record_id")
    assert (got.loc["toen|F:0", "resident_id"], got.loc["toen|F:0", "reason"]) == ("R1", "twin: decided by given name")


def test_foreign_named_child_born_that_day_is_taken_by_one_unmatched_record_only() -> None:
    """R1 (romaji name) and R2 (kanji name) are the boys born that day; the records' names are like neither's."""
    records, persons = _frames(3, {"R1": "H1", "R2": "H2"})
    records["name_kanji"], records["birth_date"], records["sex"] = None, persons["birth_date"][0], "男"
    persons["name_kanji"], persons["sex"] = ["SILVA　BRUNO", "佐藤　翔"], "男"
    pairs = _pairs([(f"toen|F:{i}", r, 0.001, 0, 3) for i in range(3) for r in ("R1", "R2")])
    pairs["gamma_surname_kana"], pairs["gamma_sex"] = 0, 1  # names like no one's; same sex
    out = pd.DataFrame({"record_id": records["unique_id"], "feed": "toen", "status": "unmatched", "resident_id": None})
    recs = records.rename(columns={"unique_id": "record_id"})

    def foreign_child_by_birth(some: pd.DataFrame, *frames: pd.DataFrame) -> pd.DataFrame:  # as assign_links takes it
        return one_to_one(foreign_children_born_that_day(some, *frames))

    found = foreign_child_by_birth(pairs.iloc[:2], out, recs, persons)
    assert found[["record_id", "resident_id"]].values.tolist() == [["toen|F:0", "R1"]]
    assert foreign_child_by_birth(pairs.iloc[:4], out, recs, persons).empty, "two records point at one child"
    alike = pairs.iloc[:2].copy()
    alike.loc[1, "gamma_given_kana"] = 2  # the record's given name one kana off R2's: R2 with a slip, maybe
    assert foreign_child_by_birth(alike, out, recs, persons).empty
    persons["name_kanji"] = ["佐藤　蓮", "佐藤　翔"]
    assert foreign_child_by_birth(pairs.iloc[:2], out, recs, persons).empty, "no foreign-named child"


def test_decision_conflicts_and_rejection_fallback() -> None:
    records, persons = _frames(2, {"R1": "H1", "R2": "H2"})
    pairs = _pairs([("toen|F:0", "R1", 0.999, 4, 3), ("toen|F:0", "R2", 0.995, 4, 3), ("toen|F:1", "R1", 0.999, 4, 3)])
    decisions = pd.DataFrame(
        [("toen", "F:0", "R1", "reject"), ("toen", "F:1", "R1", "accept"), ("toen", "F:1", "R2", "accept")],
        columns=["feed", "source_key", "resident_id", "decision"],
    )
    got = assign_links(pairs, records, persons, BANDS, decisions=decisions).set_index("record_id")
    assert got.loc["toen|F:0", "resident_id"] == "R2"  # the next best, once the best was rejected
    assert got.loc["toen|F:0", "reason"] == "score in match band (a rejected candidate skipped)"
    assert (got.loc["toen|F:1", "status"], got.loc["toen|F:1", "reason"]) == ("review", "decision: conflicting accepts")
