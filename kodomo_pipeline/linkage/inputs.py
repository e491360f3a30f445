"""The two sides of 名寄せ as tables in the town's database, with per-field matching keys.

`link_persons`: registry persons aged 0–18 at T (any status: a child who just moved
out may still be on a roster), with the kanji names of the adults of their household
(guardian comparison) and every other name the child had in a registry snapshot extracted
on or before T, or in a 旧氏 column where the layout has one (`former_names`; never a name
first seen after T). `link_records`: one record per nursery child (facility +
pupil number, latest month up to T) and per school student number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import duckdb
import numpy as np
import pandas as pd

from kodomo_pipeline.linkage.normalize import (
    FULLWIDTH_SPACE,
    address_key,
    gaiji_blocks,
    is_kana_only,
    kana_key,
    kanji_key,
    split_name,
)
from kodomo_pipeline.rules.domain import record_key_values
from kodomo_pipeline.storage.feed_tables import read_frame, valid_table
from kodomo_pipeline.storage.snapshots import current_rows_sql, has_table

CHILD_MAX_AGE = 18
LINKED_FEEDS = ("toen", "gakko_meibo")


def _keys(names: pd.Series, key) -> tuple[pd.Series, pd.Series]:
    """(surname key, given-name key) of canonical `姓　名` values; missing stays missing."""
    parts = names.astype(object).map(lambda n: split_name(n) if isinstance(n, str) else (None, None))
    surname = parts.map(lambda p: key(p[0]) if p[0] else None)
    given = parts.map(lambda p: key(p[1]) if p[1] else None)
    return surname, given


def _kanji_part_key(part: str) -> str | None:
    """The kanji key of a name part, or None when the part is written in kana only (ゆうこ for 優子): the kana
    comparison carries it, and a kana string must not count as "other kanji"."""
    return None if is_kana_only(part) else kanji_key(part) or None


def with_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """The matching keys of `name_kana`, `name_kanji` and `address` (both sides, and former names)."""
    frame = frame.copy()
    frame["surname_kana"], frame["given_kana"] = _keys(frame["name_kana"], kana_key)
    if "name_kanji" in frame:
        frame["surname_kanji"], frame["given_kanji"] = _keys(frame["name_kanji"], _kanji_part_key)
    if "address" in frame:
        frame["address_key"] = (
            frame["address"].astype(object).map(lambda a: address_key(a) if isinstance(a, str) else None)
        )
    return frame


FORMER_SURNAME, FORMER_SURNAME_KANA = "former_surname", "former_surname_kana"  # optional jumin columns (旧氏)
# 通称: the registered alias of a foreign resident (住民票 records it), the name a school or nursery often uses.
ALIAS_NAME, ALIAS_NAME_KANA = "alias_name", "alias_name_kana"  # optional jumin columns, full names 姓　名


def _given(name: object) -> str:
    return split_name(name)[1] if isinstance(name, str) else ""


def _named_rows(children: pd.DataFrame, column: str, kana_column: str) -> tuple[pd.DataFrame, pd.Series]:
    """The children whose optional name column (旧氏, 通称) holds a name, and that name's kana, stripped (empty where
    the layout has no kana column)."""
    rows = children[children[column].notna() & (children[column].astype(str).str.strip() != "")]
    kana = rows[kana_column] if kana_column in rows else pd.Series("", index=rows.index)
    return rows, kana.fillna("").astype(str).str.strip()


def _years_before(asof: dt.date, years: int) -> pd.Timestamp:
    """The same day `years` earlier; T on 29 February counts from the 28th in a common year."""
    leap_day = (asof.month, asof.day) == (2, 29)
    return pd.Timestamp(asof.replace(year=asof.year - years, day=28 if leap_day else asof.day))


def former_names(con: duckdb.DuckDBPyConnection, asof: dt.date, children: pd.DataFrame) -> pd.Series:
    """resident_id → [(name_kanji, name_kana), …]: the child's other names known at T, current name excluded.

    From every jumin snapshot extracted on or before T (a surname before a divorce, adoption or remarriage;
    never one first seen after T), and from the 旧氏 columns of the current snapshot where the layout has them
    (the old surname with the current given name; its kana left empty when the layout has no 旧氏 kana), and a
    foreign resident's registered 通称 (alias_name) where the layout has it.
    """
    history = read_frame(
        con,
        f"""SELECT DISTINCT v.resident_id, v.name_kanji, v.name_kana FROM {valid_table("jumin")} v
            JOIN ingested_files f ON f.sha256 = v._sha256 AND f.feed = 'jumin'
            WHERE f.extract_date <= ? AND v.birth_date > ?""",
        [asof, _years_before(asof, CHILD_MAX_AGE + 1).date()],
    ).astype(object)
    frames = [history[history["resident_id"].isin(children["resident_id"])]]
    if FORMER_SURNAME in children:
        old, kana = _named_rows(children, FORMER_SURNAME, FORMER_SURNAME_KANA)
        frames.append(
            pd.DataFrame(
                {
                    "resident_id": old["resident_id"],
                    "name_kanji": old[FORMER_SURNAME].str.strip() + FULLWIDTH_SPACE + old["name_kanji"].map(_given),
                    "name_kana": kana + FULLWIDTH_SPACE + old["name_kana"].map(_given),
                }
            )
        )
    if ALIAS_NAME in children:
        alias, kana = _named_rows(children, ALIAS_NAME, ALIAS_NAME_KANA)
        frames.append(
            pd.DataFrame(
                {
                    "resident_id": alias["resident_id"],
                    "name_kanji": alias[ALIAS_NAME].str.strip(),
                    "name_kana": kana,
                }
            )
        )
    names = pd.concat(frames, ignore_index=True).dropna(subset=["name_kana"])
    current = children.set_index("resident_id")
    same = (names["name_kanji"].to_numpy() == current["name_kanji"].reindex(names["resident_id"]).to_numpy()) & (
        names["name_kana"].to_numpy() == current["name_kana"].reindex(names["resident_id"]).to_numpy()
    )
    names = names[~same].drop_duplicates().sort_values(["resident_id", "name_kanji", "name_kana"])
    pairs = pd.Series(list(zip(names["name_kanji"], names["name_kana"], strict=True)), index=names.index, dtype=object)
    return pairs.groupby(names["resident_id"].to_numpy()).agg(list)


def _lists_per_household(frame: pd.DataFrame, column: str) -> pd.Series:
    """household_id → the sorted distinct values of `column`, as a Python list.

    By sort and split rather than groupby().agg(list), which calls Python once per group: ~4 s for the 400,000
    households of a 1,000,000-resident town.
    """
    rows = frame[["household_id", column]].dropna().drop_duplicates().sort_values(["household_id", column])
    keys, values = rows["household_id"].to_numpy(), rows[column].to_numpy()
    if not len(keys):  # no adult in any child's household (a registry of children alone)
        return pd.Series(dtype=object)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return pd.Series([part.tolist() for part in np.split(values, starts[1:])], index=keys[starts], dtype=object)


def build_link_persons(
    con: duckdb.DuckDBPyConnection, asof: dt.date, only: Collection[str] | None = None
) -> pd.DataFrame:
    """Registry children 0–18 at T with matching keys, their household adults' name keys and former names.

    `only`: just these residents (the review page needs its candidates, not the whole registry).
    """
    jumin = read_frame(con, current_rows_sql("jumin"), [asof])
    jumin = jumin[jumin["birth_date"].notna()]
    born = pd.to_datetime(jumin["birth_date"])
    is_child = (born > _years_before(asof, CHILD_MAX_AGE + 1)) & (born <= pd.Timestamp(asof))
    if only is not None:
        is_child &= jumin["resident_id"].isin(list(only))
    children = jumin[is_child].astype(object)  # a few ten thousand children: plain objects
    # Only the adults of the children's households are ever compared (most adults live without a child).
    adults = jumin.loc[
        (born <= _years_before(asof, 18)) & jumin["household_id"].isin(children["household_id"]),
        ["household_id", "name_kanji"],
    ].astype(object)
    # The given names on their own: after a divorce or remarriage the guardian on a school form keeps the given
    # name while the surname differs from the registry's (either way round).
    adults = adults.assign(
        guardian=adults["name_kanji"].map(lambda n: kanji_key(n) if isinstance(n, str) else None),
        guardian_given=adults["name_kanji"].map(lambda n: kanji_key(_given(n)) or None),
    )
    # Where an adult's name holds a 外字 placeholder, or a character a cp932 form would write as one, the keys that
    # block it against a form across the placeholder (model.BLOCKING_RULES, normalize.gaiji_blocks).
    names = zip(adults["name_kanji"], adults["guardian"], strict=True)
    adults = adults.assign(guardian_gaiji=[gaiji_blocks(name, key) for name, key in names])
    adults = adults.explode("guardian_gaiji")
    columns = (
        ("guardian", "guardian_keys"),
        ("guardian_given", "guardian_givens"),
        ("guardian_gaiji", "guardian_gaiji_keys"),
    )
    guardians = pd.concat([_lists_per_household(adults, column).rename(name) for column, name in columns], axis=1)
    children = with_keys(children).merge(guardians, left_on="household_id", right_index=True, how="left")
    for column in ("guardian_keys", "guardian_givens", "guardian_gaiji_keys"):
        children[column] = children[column].map(lambda v: v if isinstance(v, list) else [])
    children["unique_id"] = children["resident_id"]
    former = former_names(con, asof, children) if len(children) else pd.Series(dtype=object)
    children["former_names"] = children["resident_id"].map(former).map(lambda v: v if isinstance(v, list) else [])
    return children[
        [
            "unique_id",
            "resident_id",
            "household_id",
            "name_kanji",
            "name_kana",
            "surname_kana",
            "given_kana",
            "surname_kanji",
            "given_kanji",
            "birth_date",
            "sex",
            "address",
            "address_key",
            "guardian_keys",
            "guardian_givens",
            "guardian_gaiji_keys",
            "status",
            "former_names",
        ]
    ].reset_index(drop=True)


def build_link_records(
    con: duckdb.DuckDBPyConnection, asof: dt.date, only: Collection[str] | None = None
) -> pd.DataFrame:
    """One record per nursery child and per school student, with the same keys as the persons (`only`: just these
    record ids, `<feed>|<source_key>`)."""
    frames = []
    if has_table(con, valid_table("toen")):
        toen = read_frame(
            con,
            f"""SELECT * FROM ({current_rows_sql("toen")}) WHERE month <= ?
                QUALIFY row_number() OVER (PARTITION BY facility, pupil_no ORDER BY month DESC, _row) = 1""",
            [asof, asof],
        )
        frames.append(toen.assign(feed="toen", source_key=record_key_values(toen, "toen")))
    if has_table(con, valid_table("gakko_meibo")):
        school = read_frame(con, current_rows_sql("gakko_meibo"), [asof])
        frames.append(school.assign(feed="gakko_meibo", source_key=record_key_values(school, "gakko_meibo")))
    columns = [
        "feed",
        "source_key",
        "name_kanji",
        "name_kana",
        "birth_date",
        "sex",
        "guardian_name",
        "address",
        "_file",
        "_sha256",
        "_row",
    ]
    # As objects: nursery records have no kanji name or address, and all-empty columns must not steer dtypes.
    parts = [frame.reindex(columns=columns).astype(object) for frame in frames] or [pd.DataFrame(columns=columns)]
    both = pd.concat(parts, ignore_index=True)
    both["unique_id"] = both["feed"] + "|" + both["source_key"]
    if only is not None:
        both = both[both["unique_id"].isin(list(only))].reset_index(drop=True)
    both = with_keys(both)
    both["guardian_key"] = both["guardian_name"].map(lambda n: kanji_key(n) if isinstance(n, str) else None)
    return both
