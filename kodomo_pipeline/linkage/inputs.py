"""The two sides of 名寄せ as tables in the town's database, with per-field matching keys.

`link_persons`: registry persons aged 0–18 at T (any status: a child who just moved
out may still be on a roster), with the kanji names of the adults of their household
(guardian comparison). `link_records`: one record per nursery child (facility +
pupil number, latest month up to T) and per school student number.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from kodomo_pipeline.linkage.normalize import address_key, kana_key, kanji_key, split_name
from kodomo_pipeline.storage.ingest_tables import read_frame, valid_table
from kodomo_pipeline.storage.snapshots import current_rows_sql, has_table

CHILD_MAX_AGE = 18
LINKED_FEEDS = ("toen", "gakko_meibo")


def _keys(names: pd.Series, key) -> tuple[pd.Series, pd.Series]:
    """(surname key, given-name key) of canonical `姓　名` values; missing stays missing."""
    parts = names.astype(object).map(lambda n: split_name(n) if isinstance(n, str) else (None, None))
    surname = parts.map(lambda p: key(p[0]) if p[0] else None)
    given = parts.map(lambda p: key(p[1]) if p[1] else None)
    return surname, given


def _with_keys(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["surname_kana"], frame["given_kana"] = _keys(frame["name_kana"], kana_key)
    if "name_kanji" in frame:
        frame["surname_kanji"], frame["given_kanji"] = _keys(frame["name_kanji"], kanji_key)
    if "address" in frame:
        frame["address_key"] = (
            frame["address"].astype(object).map(lambda a: address_key(a) if isinstance(a, str) else None)
        )
    return frame


def build_link_persons(con: duckdb.DuckDBPyConnection, asof: dt.date) -> pd.DataFrame:
    """Registry children 0–18 at T with matching keys and their household adults' name keys."""
    jumin = read_frame(con, current_rows_sql("jumin"), [asof])
    jumin = jumin[jumin["birth_date"].notna()].astype(object)  # a few thousand children: plain objects
    born = pd.to_datetime(jumin["birth_date"])
    leap_day = (asof.month, asof.day) == (2, 29)  # T on 29 February: the 28th in a common year, as below
    cutoff = pd.Timestamp(asof.replace(year=asof.year - CHILD_MAX_AGE - 1, day=28 if leap_day else asof.day))
    adults = jumin[
        born <= pd.Timestamp(asof.replace(year=asof.year - 18))
        if asof.month != 2 or asof.day != 29
        else born <= pd.Timestamp(asof.replace(year=asof.year - 18, day=28))
    ]
    guardians = (
        adults.assign(
            guardian=adults["name_kanji"].astype(object).map(lambda n: kanji_key(n) if isinstance(n, str) else None)
        )
        .groupby("household_id")["guardian"]
        .agg(lambda names: sorted({n for n in names if n}))
        .rename("guardian_keys")
    )
    children = jumin[(born > cutoff) & (born <= pd.Timestamp(asof))]
    children = _with_keys(children).merge(guardians, left_on="household_id", right_index=True, how="left")
    children["guardian_keys"] = children["guardian_keys"].map(lambda v: v if isinstance(v, list) else [])
    children["unique_id"] = children["resident_id"]
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
            "status",
        ]
    ].reset_index(drop=True)


def build_link_records(con: duckdb.DuckDBPyConnection, asof: dt.date) -> pd.DataFrame:
    """One record per nursery child and per school student, with the same keys as the persons."""
    frames = []
    if has_table(con, valid_table("toen")):
        toen = read_frame(
            con,
            f"""SELECT * FROM ({current_rows_sql("toen")}) WHERE month <= ?
                QUALIFY row_number() OVER (PARTITION BY facility, pupil_no ORDER BY month DESC, _row) = 1""",
            [asof, asof],
        )
        frames.append(toen.assign(feed="toen", source_key=toen["facility"] + ":" + toen["pupil_no"]))
    if has_table(con, valid_table("gakko_meibo")):
        school = read_frame(con, current_rows_sql("gakko_meibo"), [asof])
        frames.append(school.assign(feed="gakko_meibo", source_key=school["student_no"]))
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
    both = _with_keys(both)
    both["guardian_key"] = both["guardian_name"].map(lambda n: kanji_key(n) if isinstance(n, str) else None)
    both["unique_id"] = both["feed"] + "|" + both["source_key"]
    return both
