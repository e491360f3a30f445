"""The registry as the master person index at T, and the relations the rules need.

`persons`: every person of the current 住民基本台帳 snapshot with age at T.
`mother_of_child`: per rules v1 — the mother of a postpartum-questionnaire pair (the
child's most recent row) wins; else the one female household member who is 世帯主 or
妻 when the child is 子 (子 or 子の妻 when the child is 孫), 13–55 years older than the
child. The mother must be 住民 at T; two candidates mean no mother is identified.
`unknown_residents`: rows of feeds keyed by resident (or household) that name nobody
in the registry — kept visible, never dropped silently.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.sqlmodels.macros import install_macros
from kodomo_pipeline.storage.feed_tables import fetch_one, valid_table
from kodomo_pipeline.storage.snapshots import current_rows_sql, has_table


def build_persons(con: duckdb.DuckDBPyConnection, asof: dt.date) -> int:
    """Replace `persons` with the registry at T (満年齢, `age_at` of dbt_like_sql/macros.sql)."""
    install_macros(con)
    con.execute(
        f"""CREATE OR REPLACE TABLE persons AS
            SELECT resident_id, household_id, name_kanji, name_kana, birth_date, sex, relationship, address,
                   resident_since, status, status_date,
                   age_at(birth_date, ?::DATE) AS age, ?::DATE AS as_of, _file, _sha256, _row
            FROM ({current_rows_sql("jumin")})""",
        [asof, asof, asof],
    )
    return fetch_one(con, "SELECT count(*) FROM persons")[0]


_HOUSEHOLD_MOTHER = """
    SELECT c.resident_id AS child_resident_id, m.resident_id AS mother_resident_id
    FROM persons c JOIN persons m ON m.household_id = c.household_id AND m.resident_id <> c.resident_id
    WHERE m.sex = '女' AND m.status = '住民'
      AND ((c.relationship = '子' AND m.relationship IN ('世帯主', '妻'))
        OR (c.relationship = '孫' AND m.relationship IN ('子', '子の妻')))
      AND age_at(m.birth_date, c.birth_date) BETWEEN 13 AND 55
"""


def build_mother_of_child(con: duckdb.DuckDBPyConnection, asof: dt.date, has_postpartum: bool) -> int:
    """Replace `mother_of_child`: one identified mother per child, with the basis it rests on."""
    postpartum = (
        f"""SELECT child_resident_id, mother_resident_id FROM ({current_rows_sql("sango_shitsumon")})
            WHERE assessed_on <= ?::DATE
            QUALIFY row_number() OVER (PARTITION BY child_resident_id ORDER BY assessed_on DESC, _row DESC) = 1"""
        if has_postpartum
        else "SELECT NULL::VARCHAR AS child_resident_id, NULL::VARCHAR AS mother_resident_id WHERE false"
    )
    params = [asof, asof] if has_postpartum else []
    install_macros(con)
    con.execute(
        f"""CREATE OR REPLACE TABLE mother_of_child AS
            WITH pair AS (
                SELECT p.* FROM ({postpartum}) p
                JOIN persons m ON m.resident_id = p.mother_resident_id AND m.status = '住民'
                JOIN persons c ON c.resident_id = p.child_resident_id),
            household AS (
                SELECT child_resident_id, min(mother_resident_id) AS mother_resident_id
                FROM ({_HOUSEHOLD_MOTHER}) GROUP BY child_resident_id HAVING count(*) = 1)
            SELECT child_resident_id, mother_resident_id, 'postpartum_questionnaire' AS basis FROM pair
            UNION ALL
            SELECT child_resident_id, mother_resident_id, 'household' AS basis FROM household
            WHERE child_resident_id NOT IN (SELECT child_resident_id FROM pair)""",
        params,
    )
    return fetch_one(con, "SELECT count(*) FROM mother_of_child")[0]


def person_references(town: TownConfig) -> list[tuple[str, str, str]]:
    """(feed, column, 'resident' | 'household') for every column that names a registry person or household."""
    found = []
    for feed, layout in town.feeds.items():
        if feed == "jumin":
            continue
        for column, spec in layout.spec.columns.items():
            kind = "resident" if spec.type == "resident_id" else spec.references
            if kind and column in layout.header_to_canonical.values():
                found.append((feed, column, kind))
    return found


def build_unknown_residents(con: duckdb.DuckDBPyConnection, town: TownConfig, asof: dt.date) -> dict[str, int]:
    """Replace `unknown_residents` with the current rows whose resident or household is not in the registry."""
    con.execute(
        """CREATE OR REPLACE TABLE unknown_residents (feed VARCHAR, column_name VARCHAR, file_name VARCHAR,
           sha256 VARCHAR, row_number INTEGER, reason VARCHAR, as_of DATE)"""
    )
    counts: dict[str, int] = {}
    for feed, column, kind in person_references(town):
        if not has_table(con, valid_table(feed)):  # the feed has never delivered a file
            continue
        key = "resident_id" if kind == "resident" else "household_id"
        con.execute(
            f"""INSERT INTO unknown_residents
                SELECT '{feed}', '{column}', _file, _sha256, _row, 'unknown_{kind}', ?::DATE
                FROM ({current_rows_sql(feed)}) r
                WHERE r."{column}" IS NOT NULL AND r."{column}" NOT IN (SELECT {key} FROM persons)""",
            [asof, asof],
        )
        counts[feed] = (
            counts.get(feed, 0)
            + fetch_one(
                con, "SELECT count(*) FROM unknown_residents WHERE feed = ? AND column_name = ?", [feed, column]
            )[0]
        )
    return counts
