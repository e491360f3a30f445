"""Outcome definitions (rules/outcomes_v1.yaml) and reading them from a town's snapshot history.

An outcome is an event that shows a family later needed support: per difficulty type, the events of the
configuration, each with the subject it concerns and its date. The backtest counts an outcome for an alert
at T when T < outcome_date <= T + horizon. Outcomes are read from every snapshot extracted up to the end of the
last horizon — the answer key, which is not leakage (the alerts of T never see it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Literal

import duckdb
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from kodomo_pipeline.config.errors import ConfigError, validate_model
from kodomo_pipeline.config.feed_roles import MEETING_DECISIONS
from kodomo_pipeline.config.feeds import FeedSpec, load_feeds
from kodomo_pipeline.config.paths import config_root
from kodomo_pipeline.rules.domain import TYPE_CODES, record_key_sql, type_name
from kodomo_pipeline.rules.ruleset import TypeCode, read_rules_yaml
from kodomo_pipeline.storage.feed_tables import valid_table
from kodomo_pipeline.storage.snapshots import has_table

CROSSWALK = "crosswalk"
OUTCOME_COLUMNS = ["resident_id", "subject_type", "type_code", "difficulty_type", "outcome_date", "source",
                   "first_seen"]  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bound(_Strict):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_side_at_least(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self


Condition = list[str] | bool | Bound


class OutcomeEvent(_Strict):
    name: str = Field(min_length=1)
    feed: str
    kind: Literal["dated", "first_seen", "decision"]
    where: dict[str, Condition] = {}
    date: str | None = None
    person: str | None = None
    row_key: tuple[str, ...] = ()
    of: Literal["subject", "mother"] = "subject"
    alert_types: tuple[TypeCode, ...] = TYPE_CODES  # every type of the rule file unless narrowed

    @model_validator(mode="after")
    def _kind_needs(self) -> OutcomeEvent:
        if self.kind in ("dated", "decision") and not self.date:
            raise ValueError(f"a {self.kind} event needs `date` (the column holding the event's date)")
        if self.kind in ("dated", "first_seen") and not self.person:
            raise ValueError(f"a {self.kind} event needs `person` (a resident ID column, or `crosswalk`)")
        if self.kind == "first_seen" and not self.row_key:
            raise ValueError("a first_seen event needs `row_key` (the columns that identify a row across snapshots)")
        if self.kind == "decision" and self.feed != MEETING_DECISIONS:
            raise ValueError(f"a decision event reads the review meeting's decisions: feed {MEETING_DECISIONS}")
        return self


class OutcomesFile(_Strict):
    version: str = Field(pattern=r"^v\d+$")
    outcomes: dict[TypeCode, dict[str, OutcomeEvent]]


def _check_columns(path: Path, code: str, event_id: str, event: OutcomeEvent, feeds: dict[str, FeedSpec]) -> None:
    where = f"outcomes.{code}.{event_id}"
    if event.feed not in feeds:
        raise ConfigError(path, f"{where}.feed", f"unknown feed {event.feed!r}")
    columns = feeds[event.feed].columns
    for key, column in (("date", event.date), ("person", event.person)):
        if column is None or (key == "person" and column == CROSSWALK):
            continue
        if column not in columns:
            raise ConfigError(path, f"{where}.{key}", f"{column!r} is not a column of {event.feed}")
        wanted = "date" if key == "date" else "resident_id"
        if columns[column].type != wanted:
            raise ConfigError(path, f"{where}.{key}", f"{column!r} is not a {wanted} column")
    if event.person == CROSSWALK and not feeds[event.feed].record_key:  # assets/<feed>.yaml
        raise ConfigError(path, f"{where}.person", f"{event.feed} is not linked by 名寄せ; name a resident ID column")
    for column in event.row_key:
        if column not in columns:
            raise ConfigError(path, f"{where}.row_key", f"{column!r} is not a column of {event.feed}")
    for column, condition in event.where.items():
        key = f"{where}.where.{column}"
        if column not in columns:
            raise ConfigError(path, key, f"{column!r} is not a column of {event.feed}")
        spec = columns[column]
        if isinstance(condition, bool):
            if spec.type != "flag":
                raise ConfigError(path, key, "true/false applies to flag columns only")
        elif isinstance(condition, Bound):
            if spec.type != "int":
                raise ConfigError(path, key, "min/max apply to number columns only")
        elif spec.allowed is not None:
            unknown = [value for value in condition if value not in spec.allowed]
            if unknown:
                raise ConfigError(path, key, f"{', '.join(unknown)} not among {', '.join(spec.allowed)}")


@cache
def load_outcomes(path: Path | None = None) -> OutcomesFile:
    """The outcome definitions, schema-checked: an error names the file and the key."""
    path = (path or config_root() / "rules" / "outcomes_v1.yaml").resolve()
    if not path.is_file():
        raise ConfigError(path, "(file)", "not found")
    data = validate_model(OutcomesFile, read_rules_yaml(path), path)
    feeds = load_feeds()
    for code, events in data.outcomes.items():
        for event_id, event in events.items():
            _check_columns(path, code, event_id, event, feeds)
    return data


def _where_sql(event: OutcomeEvent) -> tuple[str, list]:
    clauses, params = ["true"], []
    for column, condition in event.where.items():
        if isinstance(condition, bool):
            clauses.append(f'"{column}" = ?')
            params.append(condition)
        elif isinstance(condition, Bound):
            if condition.min is not None:
                clauses.append(f'"{column}" >= ?')
                params.append(condition.min)
            if condition.max is not None:
                clauses.append(f'"{column}" <= ?')
                params.append(condition.max)
        else:
            clauses.append(f'"{column}" IN ({", ".join("?" for _ in condition)})')
            params.extend(condition)
    return " AND ".join(clauses), params


def _dated(con: duckdb.DuckDBPyConnection, event: OutcomeEvent, until: dt.date) -> pd.DataFrame:
    where, params = _where_sql(event)
    return con.execute(
        f"""SELECT CAST("{event.person}" AS VARCHAR) AS person, "{event.date}" AS outcome_date,
                   min(_extract_date) AS first_seen
            FROM {valid_table(event.feed)}
            WHERE _extract_date <= ? AND "{event.date}" IS NOT NULL AND "{event.person}" IS NOT NULL AND {where}
            GROUP BY ALL""",
        [until, *params],
    ).df()


def _first_seen(con: duckdb.DuckDBPyConnection, event: OutcomeEvent, until: dt.date) -> pd.DataFrame:
    where, params = _where_sql(event)
    key = ", ".join(f'"{column}"' for column in event.row_key)
    person = f"CAST({record_key_sql(event.feed)} AS VARCHAR)" if event.person == CROSSWALK else f'"{event.person}"'
    table = valid_table(event.feed)
    # With a `date` column, a row that is new in its first snapshot happened on that date; a row that was there
    # before and changed happened at some point since the previous snapshot, so the snapshot's date stands.
    dated = f'arg_min("{event.date}", _extract_date)' if event.date else "NULL"
    frame = con.execute(
        f"""WITH seen AS (
                SELECT {key}, any_value({person}) AS person, min(_extract_date) AS first_seen, {dated} AS on_row
                FROM {table} WHERE _extract_date <= ? AND {where} GROUP BY {key}),
            dated AS (
                SELECT s.*, (SELECT max(f.extract_date) FROM ingested_files AS f
                             WHERE f.feed = '{event.feed}' AND f.extract_date < s.first_seen) AS previous
                FROM seen AS s)
            SELECT CAST(person AS VARCHAR) AS person,
                   CASE WHEN on_row > previous AND on_row <= first_seen THEN on_row ELSE first_seen END
                       AS outcome_date,
                   first_seen
            FROM dated
            WHERE first_seen > (SELECT min(_extract_date) FROM {table}) AND person IS NOT NULL""",
        [until, *params],
    ).df()
    if event.person == CROSSWALK and len(frame):
        frame = _through_crosswalk(con, event.feed, frame)
    return frame


def _through_crosswalk(con: duckdb.DuckDBPyConnection, feed: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Record key → resident: the newest matched link of the record over every replayed date."""
    if not has_table(con, "crosswalk_history"):
        return frame.iloc[0:0]
    links = con.execute(
        """SELECT source_key, resident_id FROM crosswalk_history
           WHERE feed = ? AND status = 'matched' AND resident_id IS NOT NULL
           QUALIFY row_number() OVER (PARTITION BY source_key ORDER BY as_of DESC) = 1""",
        [feed],
    ).df()
    merged = frame.merge(links, left_on="person", right_on="source_key")
    return merged.assign(person=merged["resident_id"].astype(str))[["person", "outcome_date", "first_seen"]]


def _decisions(
    con: duckdb.DuckDBPyConnection, event: OutcomeEvent, until: dt.date, alert_subject: Callable[[str], tuple | None]
) -> pd.DataFrame:
    where, params = _where_sql(event)
    rows = con.execute(
        f"""SELECT alert_id, "{event.date}" AS outcome_date, min(_extract_date) AS first_seen
            FROM {valid_table(event.feed)} WHERE _extract_date <= ? AND {where} GROUP BY ALL""",
        [until, *params],
    ).fetchall()
    out = []
    for alert_id, outcome_date, first_seen in rows:
        subject = alert_subject(str(alert_id))
        if subject is not None and subject[2] in event.alert_types:
            out.append((subject[0], subject[1], outcome_date, first_seen))
    return pd.DataFrame(out, columns=["resident_id", "subject_type", "outcome_date", "first_seen"])


def read_outcomes(
    con: duckdb.DuckDBPyConnection,
    config: OutcomesFile,
    town_feeds: set[str],
    since: dt.date,
    until: dt.date,
    mothers: pd.DataFrame,
    expectant: set[str],
    alert_subject: Callable[[str], tuple | None],
) -> tuple[pd.DataFrame, list[str]]:
    """Every outcome event known at `until` and dated in (since, until]: one row per (subject, type, date, source).

    `mothers` (child, mother) pairs carry a mother's events to her children, and to herself when she is in
    `expectant` (an expectant-mother subject at some replayed date); `alert_subject(alert_id)` gives
    (resident, subject type, type code) of an alert or None. Returns the outcomes and the events the town
    cannot read (未連携: the feed is not among its feeds).
    """
    frames, not_linked = [], []
    for code, events in config.outcomes.items():
        for event_id, event in events.items():
            if event.feed not in town_feeds or not has_table(con, valid_table(event.feed)):
                not_linked.append(f"{code}.{event_id}")
                continue
            if event.kind == "decision":
                found = _decisions(con, event, until, alert_subject)
            else:
                persons = _dated(con, event, until) if event.kind == "dated" else _first_seen(con, event, until)
                found = _as_subjects(persons, event.of, mothers, expectant)
            if len(found):
                days = pd.to_datetime(found["outcome_date"]).dt.date
                found = found[(days > since) & (days <= until)]
            if len(found):
                frames.append(found.assign(type_code=code, difficulty_type=type_name(code), source=event_id))
    if not frames:
        return pd.DataFrame(columns=OUTCOME_COLUMNS), not_linked
    outcomes = pd.concat(frames, ignore_index=True)
    outcomes["outcome_date"] = pd.to_datetime(outcomes["outcome_date"]).dt.date
    outcomes["first_seen"] = pd.to_datetime(outcomes["first_seen"]).dt.date
    outcomes = (
        outcomes.groupby(["resident_id", "subject_type", "type_code", "difficulty_type", "outcome_date", "source"])[
            "first_seen"
        ]
        .min()
        .reset_index()
    )
    return outcomes[OUTCOME_COLUMNS].sort_values(OUTCOME_COLUMNS[:6], ignore_index=True), not_linked


def _as_subjects(persons: pd.DataFrame, of: str, mothers: pd.DataFrame, expectant: set[str]) -> pd.DataFrame:
    """A person's event as the subjects it concerns: the child itself; a mother herself and her children."""
    columns = ["resident_id", "subject_type", "outcome_date", "first_seen"]
    if persons.empty:
        return pd.DataFrame(columns=columns)
    if of == "subject":
        return persons.rename(columns={"person": "resident_id"}).assign(subject_type="child")[columns]
    herself = persons[persons["person"].isin(expectant)]
    herself = herself.rename(columns={"person": "resident_id"}).assign(subject_type="expectant_mother")
    children = persons.merge(mothers, left_on="person", right_on="mother")
    children = children.assign(resident_id=children["child"], subject_type="child")
    return pd.concat([herself[columns], children[columns]], ignore_index=True)
