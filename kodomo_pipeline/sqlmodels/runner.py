"""Run the SQL models in a town's database for an as-of date T and a rule set."""

from __future__ import annotations

import contextlib
import datetime as dt
import json

import duckdb
from duckdb.sqltypes import VARCHAR

from kodomo_pipeline.config.feeds import FeedSpec, load_feeds
from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.privacy.services.pseudonym import PseudonymKey, ephemeral_key
from kodomo_pipeline.rules.column_gaps import column_gaps, unlinked_by_gaps, write_column_gaps
from kodomo_pipeline.rules.coverage import linked_rules
from kodomo_pipeline.rules.ruleset import Rule, RuleSet
from kodomo_pipeline.sqlmodels.history import ALERTS_MODEL, ensure_alert_history, record_alerts
from kodomo_pipeline.sqlmodels.lifecycle import DECISIONS_MODEL, lifecycle_variables, record_decision_problems
from kodomo_pipeline.sqlmodels.macros import install_macros
from kodomo_pipeline.sqlmodels.project import STAGING_PREFIX, Model, load_models, run_order
from kodomo_pipeline.sqlmodels.schema import SchemaError, check_columns
from kodomo_pipeline.storage.feed_tables import ensure_bookkeeping, ensure_feed_tables, fetch_one
from kodomo_pipeline.storage.snapshots import current_rows_sql, has_table

CHILD_MAX_AGE = 17  # a child subject is 0–17 at T

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


def _max_age(rule: Rule) -> int:
    """The oldest completed age of a child subject the rule applies to ("< 1y" = 0; no limit = 17)."""
    if rule.max_age is not None:
        return rule.max_age
    return rule.max_age_exclusive - 1 if rule.max_age_exclusive is not None else CHILD_MAX_AGE


def write_rule_set(con: duckdb.DuckDBPyConnection, rules: RuleSet, linked: dict[str, bool]) -> None:
    """Replace `rule_set`: one row per rule — enabled, points per type, params as JSON, and whether the town
    can evaluate it at all (`linked`; false = 未連携)."""
    con.execute(
        """CREATE OR REPLACE TABLE rule_set (rule_id VARCHAR, name VARCHAR, enabled BOOLEAN, points_ab INTEGER,
           points_pp INTEGER, points_dd INTEGER, params JSON, economic BOOLEAN, version VARCHAR, reason VARCHAR,
           feeds VARCHAR[], applies_to VARCHAR[], max_age INTEGER, effect VARCHAR, linked BOOLEAN)"""
    )
    con.executemany(
        "INSERT INTO rule_set VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                rule.reason,
                list(rule.feeds),
                list(rule.applies_to),
                _max_age(rule),
                rule.effect,
                linked[rule_id],
            ]
            for rule_id, rule in rules.rules.items()
        ],
    )


def register_alert_ids(con: duckdb.DuckDBPyConnection, key: PseudonymKey) -> None:
    """`alert_id_for(subject, subject_type, type_code)` for alerts.sql: keyed, so DuckDB has no built-in for it."""
    with contextlib.suppress(duckdb.InvalidInputException, duckdb.CatalogException):
        con.remove_function("alert_id_for")
    con.create_function("alert_id_for", key.alert_id, [VARCHAR, VARCHAR, VARCHAR], VARCHAR, side_effects=False)


def prepare(
    con: duckdb.DuckDBPyConnection,
    town: TownConfig,
    asof: dt.date,
    rules: RuleSet,
    key: PseudonymKey | None = None,
    tables_ready: bool = False,
) -> None:
    """Set T and the rule parameters, and make the staging views `stg_<feed>` (snapshot in force at T).

    `key` is the town's key (privacy/services/pseudonym.py) new alert IDs are derived from; without one (unit tests,
    benchmarks) they are random and stay stable only through `alert_ids`. `tables_ready`: this run already wrote
    the rule set and made the bookkeeping and empty tables (KodomoResource.prepare), so only this connection's
    session (T, parameters, views, the alert-ID function) is set up."""
    feeds: dict[str, FeedSpec] = load_feeds()
    register_alert_ids(con, key or ephemeral_key(town.town))
    for name, value in lifecycle_variables().items():  # change labels, 対応不要 (rules/alert_lifecycle.yaml)
        con.execute(f'SET VARIABLE "{name}" = ?', [value])
    for name, value in rule_variables(rules).items():
        con.execute(f'SET VARIABLE "{name}" = ?', [value])
    if not tables_ready:
        ensure_bookkeeping(con)
        # 未連携: the town exports nothing the rule reads, or a file in force at T lacks a column it reads.
        gaps = column_gaps(con, town, rules, feeds, asof)
        unlinked_tonight = unlinked_by_gaps(gaps)
        linked = {
            rule_id: ok and rule_id not in unlinked_tonight for rule_id, ok in linked_rules(rules, town, feeds).items()
        }
        write_rule_set(con, rules, linked)
        write_column_gaps(con, gaps)
    stage(con, asof, feeds, tables_ready)
    if tables_ready:
        return
    for table, columns in _EMPTY_UPSTREAM.items():
        if not has_table(con, table):
            con.execute(f"CREATE TABLE {table} ({columns})")
    ensure_alert_history(con)


def stage(
    con: duckdb.DuckDBPyConnection, asof: dt.date, feeds: dict[str, FeedSpec], tables_ready: bool = False
) -> None:
    """This connection's view of T for the models: the macros, `as_of` and the staging views `stg_<feed>` (the
    snapshot in force at T). Without `tables_ready`, a feed table not made yet is made empty: a feed the town
    lacks reads as empty (its rules are 未連携)."""
    install_macros(con)  # 満年齢, the nursery key (dbt_like_sql/macros.sql)
    con.execute("SET VARIABLE as_of = ?::DATE", [asof])
    for feed, spec in feeds.items():
        if not tables_ready:
            ensure_feed_tables(con, spec)
        sql = current_rows_sql(feed, "getvariable('as_of')")
        con.execute(f"CREATE OR REPLACE TEMP VIEW {STAGING_PREFIX}{feed} AS {sql}")


def run_model(con: duckdb.DuckDBPyConnection, model: Model) -> int:
    """Materialise one model as a table; returns its row count. The alerts of T are also kept in the history, and
    decisions no shown alert ties to are put in quarantine. An output that breaks the model's schema (a missing,
    extra or wrongly typed column) is dropped and the run fails naming model and column (SchemaError)."""
    con.execute(f"CREATE OR REPLACE TABLE {model.name} AS {model.sql}")
    try:
        check_columns(con, model.schema)
    except SchemaError:
        con.execute(f"DROP TABLE {model.name}")  # nothing downstream may read a table of the wrong shape
        raise
    if model.name == ALERTS_MODEL:
        record_alerts(con)
    if model.name == DECISIONS_MODEL:
        record_decision_problems(con)
    return fetch_one(con, f"SELECT count(*) FROM {model.name}")[0]


def judge_at(
    con: duckdb.DuckDBPyConnection, town: TownConfig, asof: dt.date, rules: RuleSet, key: PseudonymKey | None = None
) -> dict[str, int]:
    """Every SQL model for T in dependency order, as the nightly assets run them one by one (for the backtest
    and the tests); returns the rows of each model. 名寄せ at T (the crosswalk) must be built already."""
    prepare(con, town, asof, rules, key)
    models = load_models()
    return {name: run_model(con, models[name]) for name in run_order(models)}
