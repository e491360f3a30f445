"""What the alerts of earlier runs were: the memory `change`, suppression and `explain` need.

The SQL models are rebuilt from scratch for each T; these tables are not. `alert_ids` keeps each
(subject, subject type, difficulty type)'s alert_id for good, `alert_history` every run's alerts, and
`alert_fact_history` the facts behind each alert, so an alert read at last month's meeting can still be
explained after tonight's run; `alert_runs` every T judged, with or without alerts. A re-run for the same T
replaces that T's rows.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

ALERTS_MODEL = "alerts"

_TABLES = """
CREATE TABLE IF NOT EXISTS alert_ids (
    subject_resident_id VARCHAR, subject_type VARCHAR, type_code VARCHAR, alert_id VARCHAR PRIMARY KEY,
    first_as_of DATE);
CREATE TABLE IF NOT EXISTS alert_history (
    alert_id VARCHAR, subject_resident_id VARCHAR, subject_type VARCHAR, difficulty_type VARCHAR, type_code VARCHAR,
    level VARCHAR, score INTEGER, indicators VARCHAR, not_linked VARCHAR, known_case INTEGER, change VARCHAR,
    rule_set_version VARCHAR, as_of DATE, suppressed BOOLEAN, economic_only BOOLEAN);
CREATE TABLE IF NOT EXISTS alert_runs (as_of DATE PRIMARY KEY);
CREATE TABLE IF NOT EXISTS alert_fact_history (
    as_of DATE, alert_id VARCHAR, rule_id VARCHAR, hit INTEGER, points INTEGER, feed VARCHAR, source_file VARCHAR,
    source_sha256 VARCHAR, source_row INTEGER, fact_date DATE);
"""


# Columns alerts.sql gained after databases already held history: added in place (why an alert is back).
_ADDED_COLUMNS = {
    "reshown": "VARCHAR",
    "new_indicators": "VARCHAR",
    "decided_on": "DATE",
    "reviewed_score": "INTEGER",
    "last_shown": "DATE",
}


def ensure_alert_history(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_TABLES)
    for column, sql_type in _ADDED_COLUMNS.items():
        con.execute(f"ALTER TABLE alert_history ADD COLUMN IF NOT EXISTS {column} {sql_type}")


def record_alerts(con: duckdb.DuckDBPyConnection) -> None:
    """Keep T's alerts, new alert IDs and the facts behind each alert (R02's too: it explains known_case)."""
    con.execute(
        """INSERT INTO alert_ids
           SELECT subject_resident_id, subject_type, type_code, alert_id, as_of FROM alerts
           WHERE alert_id NOT IN (SELECT alert_id FROM alert_ids)"""
    )
    # A run is a run even with no alert: the next run's `change` compares with it (alerts.sql, previous_run).
    con.execute("INSERT OR IGNORE INTO alert_runs VALUES (getvariable('as_of'))")
    con.execute("DELETE FROM alert_history WHERE as_of = getvariable('as_of')")
    con.execute("INSERT INTO alert_history BY NAME SELECT * FROM alerts")
    con.execute("DELETE FROM alert_fact_history WHERE as_of = getvariable('as_of')")
    con.execute(
        """INSERT INTO alert_fact_history
           SELECT a.as_of, a.alert_id, f.rule_id, f.hit,
                  CASE a.type_code WHEN 'AB' THEN f.points_ab WHEN 'PP' THEN f.points_pp ELSE f.points_dd END,
                  f.feed, f.source_file, f.source_sha256, f.source_row, f.fact_date
           FROM alerts AS a
           JOIN indicator_facts AS f
             ON f.subject_resident_id = a.subject_resident_id AND f.subject_type = a.subject_type
           WHERE f.rule_id = 'R02' OR list_contains(string_split(a.indicators, ';'), f.rule_id)
           ORDER BY a.alert_id, f.rule_id, f.hit, f.feed, f.source_row"""
    )


def rule_ids(value: object) -> list[str]:
    """The rule IDs of an alert's `indicators` or `not_linked` cell (`;`-separated, empty or missing = none)."""
    return [] if value is None or pd.isna(value) else [rule_id for rule_id in str(value).split(";") if rule_id]


def rule_points(
    con: duckdb.DuckDBPyConnection, asof: dt.date, alert_id: str | None = None
) -> dict[tuple[str, str], int]:
    """Points each indicator gave each alert of the run at `asof` (or one alert): the facts of one hit share its
    points, hits add up (R03 per exam, R10 per source) — as risk_scores.sql summed them."""
    rows = con.execute(
        """SELECT alert_id, rule_id, sum(points)::INTEGER FROM (
               SELECT alert_id, rule_id, hit, max(points) AS points FROM alert_fact_history
               WHERE as_of = ? AND (? IS NULL OR alert_id = ?) GROUP BY ALL)
           GROUP BY ALL""",
        [asof, alert_id, alert_id],
    ).fetchall()
    return {(alert, rule_id): points for alert, rule_id, points in rows}
