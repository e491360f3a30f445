"""What an operator sees per town after the alert export: counts only, never a person, a name or an alert ID.

One pure function over the town's DuckDB (tables `alerts` and `rule_set`); the export asset shows the result as
Dagster metadata, the meeting workbook's 件数 sheet reuses it and the CLI can print it. The share of alerts that
rest on economic indicators alone is there on purpose: poverty by itself must not fill the meeting list.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from kodomo_pipeline.rules.column_gaps import describe_gap, read_column_gaps
from kodomo_pipeline.rules.domain import LEVELS, difficulty_names
from kodomo_pipeline.storage.fallback import describe_fallback, failed_feeds
from kodomo_pipeline.storage.feed_tables import fetch_one

__all__ = ["LEVELS", "operator_summary", "summary_markdown"]
CHANGES = ("新規", "上昇", "継続", "低下")


def operator_summary(con: duckdb.DuckDBPyConnection, asof: dt.date) -> dict[str, Any]:
    """Alerts at T by level, type and change; suppressed ones are counted apart (the meeting never sees them)."""
    rows = con.execute(
        """SELECT suppressed, level, difficulty_type, change, economic_only, count(*)
           FROM alerts WHERE as_of = ? GROUP BY ALL""",
        [asof],
    ).fetchall()
    shown = [
        {"level": level, "difficulty": difficulty, "change": change, "economic_only": bool(economic_only), "n": n}
        for is_suppressed, level, difficulty, change, economic_only, n in rows
        if not is_suppressed
    ]

    def total(**match: object) -> int:
        return sum(row["n"] for row in shown if all(row[key] == value for key, value in match.items()))

    kinds = difficulty_names()  # the rule file's types, in its order
    alerts = total()
    economic_only = total(economic_only=True)
    not_linked = con.execute(
        "SELECT rule_id, name FROM rule_set WHERE enabled AND NOT linked ORDER BY rule_id"
    ).fetchall()
    return {
        "as_of": asof.isoformat(),
        "rule_set_version": fetch_one(con, "SELECT min(version) FROM rule_set")[0],
        "alerts": alerts,
        "by_level": {level: total(level=level) for level in LEVELS},
        "by_type": {kind: total(difficulty=kind) for kind in kinds},
        "by_level_and_type": {level: {kind: total(level=level, difficulty=kind) for kind in kinds} for level in LEVELS},
        "by_change": {change: total(change=change) for change in CHANGES},
        "new": total(change="新規"),
        "raised": total(change="上昇"),
        "suppressed": sum(n for is_suppressed, *_, n in rows if is_suppressed),
        "not_linked_rules": dict(not_linked),
        "column_gaps": read_column_gaps(con),  # missing/unknown headers of the files in force, and what they unlink
        "failed_feeds": failed_feeds(con, asof),  # feeds judged from their last good snapshot tonight
        "economic_only": economic_only,
        "economic_only_share": round(economic_only / alerts, 4) if alerts else 0.0,
    }


def summary_markdown(summary: dict[str, Any]) -> str:
    """The summary as a Markdown table and lines, for the Dagster UI and the terminal alike."""

    def row(*cells: object) -> str:
        return "| " + " | ".join(str(cell) for cell in cells) + " |"

    by_type = summary["by_type"]
    kinds = list(by_type)  # the types the summary counted (the rule file's)
    lines = [row("level", *kinds, "total"), row(*["---"] * (len(kinds) + 2))]
    for level in LEVELS:
        counts = summary["by_level_and_type"][level]
        lines.append(row(level, *(counts[kind] for kind in kinds), summary["by_level"][level]))
    lines.append(row("total", *(by_type[kind] for kind in kinds), summary["alerts"]))
    not_linked = ", ".join(f"{rule_id} {name}" for rule_id, name in summary["not_linked_rules"].items()) or "none"
    lines += [
        "",
        f"- new (新規): {summary['new']}, raised (上昇): {summary['raised']}",
        f"- suppressed (対応不要, not exported): {summary['suppressed']}",
        f"- economic indicators only: {summary['economic_only']} ({summary['economic_only_share']:.1%} of alerts)",
        f"- 未連携 rules: {not_linked}",
        *(f"- 列の欠落 column gap: {describe_gap(gap)}" for gap in summary.get("column_gaps", [])),
        *(f"- 取込失敗 failed feed: {describe_fallback(entry)}" for entry in summary.get("failed_feeds", [])),
        f"- rule set {summary['rule_set_version']}, as of {summary['as_of']}",
    ]
    return "\n".join(lines)
