"""Explain one alert: alert → indicators → the facts each used → source file, SHA-256 and row → rule-set version.

An alert is only a proposal to people; they (and auditors, later) must be able to see exactly which rows
of which export made it, under which rules. Everything is read back from the run that made the alert
(`alert_history`, `alert_fact_history`), so an old alert is explained as it was, not as today's data would.

The text form (terminal) carries no personal value: no resident ID, no names, no fact dates (a fact date
can be a birth date). The JSON/HTML file is for auditors with access and includes the subject's resident
ID and the fact dates, never a name.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass

import duckdb

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.ingest.archive import resolve_archived
from kodomo_pipeline.reports import render_template
from kodomo_pipeline.rules.ruleset import RuleSet
from kodomo_pipeline.sqlmodels.history import rule_ids, rule_points
from kodomo_pipeline.storage.feed_tables import fetch_one
from kodomo_pipeline.storage.snapshots import has_table

FORMATS = ("text", "json", "html")

_ALERT_COLUMNS = ("subject_resident_id", "subject_type", "difficulty_type", "type_code", "level", "score",
                  "indicators", "not_linked", "known_case", "change", "rule_set_version", "as_of", "suppressed",
                  "economic_only")  # fmt: skip


class AlertNotFound(LookupError):
    """No such alert in the town (or not in the run asked for); names the alert ID, which is no personal value."""


@dataclass(frozen=True)
class Fact:
    hit: int
    points: int
    feed: str
    source_file: str
    source_sha256: str
    source_row: int
    fact_date: dt.date | None
    archived_as: str | None  # where the ingested export is kept, None when unknown
    file_present: bool  # an archived file whose SHA-256 matches exists (False once retention purged it)


@dataclass(frozen=True)
class Indicator:
    rule_id: str
    name: str
    reason: str
    listed: bool  # in the alert's `indicators`; False for evidence without points (R02 known case)
    points: int
    facts: list[Fact]


@dataclass(frozen=True)
class Explanation:
    town: str
    town_ja: str
    alert_id: str
    as_of: dt.date
    subject_resident_id: str | None
    subject_type: str
    difficulty_type: str
    type_code: str
    level: str
    score: int
    known_case: bool
    change: str
    suppressed: bool
    economic_only: bool
    not_linked: list[str]
    rule_set_version: str
    overrides: dict | None  # the town's overrides when the alert's version is the one in force, else None
    current_rule_set_version: str
    indicators: list[Indicator]

    @property
    def points_total(self) -> int:
        return sum(indicator.points for indicator in self.indicators if indicator.listed)

    def as_dict(self) -> dict:
        """The auditor's record (JSON-ready); includes the resident ID of the subject, never a name."""
        data = asdict(self)
        data["points_total"] = self.points_total
        return json.loads(json.dumps(data, default=str, ensure_ascii=False))


def _alert_row(con: duckdb.DuckDBPyConnection, alert_id: str, asof: dt.date | None) -> dict:
    if not has_table(con, "alert_history"):
        raise AlertNotFound(f"no alerts have been made in this town yet (looked for {alert_id})")
    if asof is None:
        asof = fetch_one(con, "SELECT max(as_of) FROM alert_history WHERE alert_id = ?", [alert_id])[0]
        if asof is None:
            raise AlertNotFound(f"no alert {alert_id} in any run of this town")
    row = fetch_one(
        con, f"SELECT {', '.join(_ALERT_COLUMNS)} FROM alert_history WHERE alert_id = ? AND as_of = ?", [alert_id, asof]
    )
    if row is None:
        raise AlertNotFound(f"no alert {alert_id} in the run as of {asof}")
    return dict(zip(_ALERT_COLUMNS, row, strict=True))


def _facts(con: duckdb.DuckDBPyConnection, alert_id: str, asof: dt.date) -> dict[str, list[Fact]]:
    archive = "(SELECT sha256, archived_as FROM ingested_files)" if has_table(con, "ingested_files") else None
    join = f"LEFT JOIN {archive} AS i ON i.sha256 = f.source_sha256" if archive else ""
    archived = "i.archived_as" if archive else "NULL"
    rows = con.execute(
        f"""SELECT f.rule_id, f.hit, f.points, f.feed, f.source_file, f.source_sha256, f.source_row, f.fact_date,
                   {archived}
            FROM alert_fact_history AS f {join}
            WHERE f.alert_id = ? AND f.as_of = ?
            ORDER BY f.rule_id, f.hit, f.source_file, f.source_row""",
        [alert_id, asof],
    ).fetchall()
    facts: dict[str, list[Fact]] = {}
    for rule_id, hit, points, feed, file, sha, row, date, archived_as in rows:
        # Only a file whose bytes hash to the recorded SHA-256 is the source (either archive layout).
        found = resolve_archived(archived_as, feed, file, sha)
        archived = str(found) if found else archived_as
        facts.setdefault(rule_id, []).append(Fact(hit, points, feed, file, sha, row, date, archived, found is not None))
    return facts


def explain_alert(
    con: duckdb.DuckDBPyConnection, town: TownConfig, rules: RuleSet, alert_id: str, asof: dt.date | None = None
) -> Explanation:
    """The alert as of `asof` (default: the newest run in which it exists) with the facts behind it."""
    alert = _alert_row(con, alert_id, asof)
    facts = _facts(con, alert_id, alert["as_of"])
    listed = rule_ids(alert["indicators"])
    points = rule_points(con, alert["as_of"], alert_id)
    order = listed + sorted(set(facts) - set(listed))
    found = []
    for rule_id in order:
        rule = rules.rules.get(rule_id)
        found.append(
            Indicator(
                rule_id=rule_id,
                name=rule.name if rule else "(not in the rule set in force)",
                reason=rule.reason if rule else "",
                listed=rule_id in listed,
                points=points.get((alert_id, rule_id), 0),
                facts=facts.get(rule_id, []),
            )
        )
    version = alert["rule_set_version"]
    return Explanation(
        town=town.town,
        town_ja=town.name_ja,
        alert_id=alert_id,
        as_of=alert["as_of"],
        subject_resident_id=alert["subject_resident_id"],
        subject_type=alert["subject_type"],
        difficulty_type=alert["difficulty_type"],
        type_code=alert["type_code"],
        level=alert["level"],
        score=alert["score"],
        known_case=bool(alert["known_case"]),
        change=alert["change"],
        suppressed=bool(alert["suppressed"]),
        economic_only=bool(alert["economic_only"]),
        not_linked=rule_ids(alert["not_linked"]),
        rule_set_version=version,
        overrides=dict(rules.overrides) if version == rules.version else None,
        current_rule_set_version=rules.version,
        indicators=found,
    )


def _overrides_text(explanation: Explanation) -> str:
    if explanation.overrides is None:
        return f"overrides of that version are not in force now (in force: {explanation.current_rule_set_version})"
    if not explanation.overrides:
        return "no overrides"
    return "overrides " + json.dumps(explanation.overrides, ensure_ascii=False, sort_keys=True)


def render_text(explanation: Explanation) -> str:
    """For the terminal: IDs, rules, files, hashes and row numbers only — no resident ID, name or date."""
    e = explanation
    lines = [
        f"alert {e.alert_id}  {e.town} ({e.town_ja})  as of {e.as_of}",
        f"  {e.difficulty_type} ({e.type_code})  level {e.level}  score {e.score}  change {e.change}  "
        f"subject {e.subject_type}  known case {'yes' if e.known_case else 'no'}"
        + ("  suppressed (対応不要 in force)" if e.suppressed else "")
        + ("  economic indicators only" if e.economic_only else ""),
        f"  rule set {e.rule_set_version}: {_overrides_text(e)}",
        f"  not linked (未連携): {', '.join(e.not_linked) or 'none'}",
        f"  indicators: {len([i for i in e.indicators if i.listed])}, points {e.points_total}",
    ]
    for indicator in e.indicators:
        label = f"{indicator.points} point(s)" if indicator.listed else "no points (evidence)"
        lines.append(f"  {indicator.rule_id} {indicator.name} — {label}")
        if indicator.reason:
            lines.append(f"      {indicator.reason}")
        for fact in indicator.facts:
            kept = "archived, SHA-256 verified" if fact.file_present else "archived file not found"
            lines.append(
                f"      hit {fact.hit}: {fact.feed}  {fact.source_file}  row {fact.source_row}  "
                f"sha256 {fact.source_sha256}  ({kept})"
            )
    return "\n".join(lines) + "\n"


def render_json(explanation: Explanation, generated_at: dt.datetime) -> str:
    return json.dumps(
        explanation.as_dict() | {"generated_at": generated_at.isoformat(timespec="seconds")},
        ensure_ascii=False,
        indent=2,
    )


def render_html(explanation: Explanation, generated_at: dt.datetime) -> str:
    return render_template(
        "explain.html.j2",
        e=explanation,
        overrides_text=_overrides_text(explanation),
        generated_at=generated_at.isoformat(timespec="seconds"),
    )


def render(explanation: Explanation, form: str, generated_at: dt.datetime) -> str:
    """The explanation in one of FORMATS."""
    if form == "text":
        return render_text(explanation)
    if form == "json":
        return render_json(explanation, generated_at)
    if form == "html":
        return render_html(explanation, generated_at)
    raise ValueError(f"unknown format {form!r}; use one of {', '.join(FORMATS)}")
