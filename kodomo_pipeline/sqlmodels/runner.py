"""Run the SQL models in a town's database for an as-of date T and a rule set."""

from __future__ import annotations

import datetime as dt
import json

import duckdb

from kodomo_pipeline.config.feeds import FeedSpec
from kodomo_pipeline.rules.ruleset import RuleSet
from kodomo_pipeline.sqlmodels.project import STAGING_PREFIX, Model
from kodomo_pipeline.storage.ingest_tables import ensure_bookkeeping, ensure_feed_tables, fetch_one
from kodomo_pipeline.storage.snapshots import current_rows_sql, has_table

# Linkage tables a town without nursery or school feeds never makes: empty, with the columns models read.
_EMPTY_UPSTREAM = {
    "crosswalk": "feed VARCHAR, source_key VARCHAR, resident_id VARCHAR, status VARCHAR",
    "attendance_linked": "student_no VARCHAR, month DATE, required_days INTEGER, absent_days INTEGER, "
    "late_days INTEGER, nurse_visits INTEGER, resident_id VARCHAR, _file VARCHAR, _sha256 VARCHAR, _row INTEGER",
}


def rule_variables(rules: RuleSet) -> dict[str, object]:
    """DuckDB variables the models read: `R01_window_months`, `R01_points_AB`, `level_A_min_score`, …"""
    values: dict[str, object] = {"rule_set_version": rules.version}
    for rule_id, rule in rules.rules.items():
        values[f"{rule_id}_enabled"] = rule.enabled
        for code in rules.difficulty_types:
            values[f"{rule_id}_points_{code}"] = rule.points.get(code, 0) if rule.enabled else 0
        for key, value in rule.params.items():
            if isinstance(value, int | float | str | bool):
                values[f"{rule_id}_{key}"] = value
            elif isinstance(value, list):
                values[f"{rule_id}_{key}"] = [str(v) for v in value]
            elif isinstance(value, dict):
                values.update({f"{rule_id}_{key}_{k}": v for k, v in value.items()})
    values |= {f"level_{level}_min_score": spec.min_score for level, spec in rules.levels.items()}
    return values


def write_rule_set(con: duckdb.DuckDBPyConnection, rules: RuleSet) -> None:
    """Replace `rule_set`: one row per rule — enabled, points per type, and its params as JSON."""
    con.execute(
        """CREATE OR REPLACE TABLE rule_set (rule_id VARCHAR, name VARCHAR, enabled BOOLEAN, points_ab INTEGER,
           points_pp INTEGER, points_dd INTEGER, params JSON, economic BOOLEAN, version VARCHAR)"""
    )
    con.executemany(
        "INSERT INTO rule_set VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                rule_id,
                rule.name,
                rule.enabled,
                rule.points.get("AB", 0),
                rule.points.get("PP", 0),
                rule.points.get("DD", 0),
                json.dumps(rule.params, ensure_ascii=False),
                rule.economic,
                rules.version,
            ]
            for rule_id, rule in rules.rules.items()
        ],
    )


def prepare(con: duckdb.DuckDBPyConnection, feeds: dict[str, FeedSpec], asof: dt.date, rules: RuleSet) -> None:
    """Set T and the rule parameters, and make the staging views `stg_<feed>` (snapshot in force at T)."""
    con.execute("SET VARIABLE as_of = ?::DATE", [asof])
    for name, value in rule_variables(rules).items():
        con.execute(f'SET VARIABLE "{name}" = ?', [value])
    write_rule_set(con, rules)
    ensure_bookkeeping(con)
    for feed, spec in feeds.items():
        ensure_feed_tables(con, spec)  # a feed the town lacks reads as empty: its rules are 未連携
        sql = current_rows_sql(feed, "getvariable('as_of')")
        con.execute(f"CREATE OR REPLACE TEMP VIEW {STAGING_PREFIX}{feed} AS {sql}")
    for table, columns in _EMPTY_UPSTREAM.items():
        if not has_table(con, table):
            con.execute(f"CREATE TABLE {table} ({columns})")


def run_model(con: duckdb.DuckDBPyConnection, model: Model) -> int:
    """Materialise one model as a table; returns its row count."""
    con.execute(f"CREATE OR REPLACE TABLE {model.name} AS {model.sql}")
    return fetch_one(con, f"SELECT count(*) FROM {model.name}")[0]
