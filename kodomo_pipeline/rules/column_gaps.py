"""Columns missing from the files a judgment reads, and the rules they make 未連携 for that run.

The town's layout says which headers a feed's export carries; a night's file may still lack one (a vendor
renamed 受診日 to 受診年月日). Read as empty, such a column would mean "not done" for every row (every child
"missed" the checkup). So for the snapshot in force at T of each feed, every header the layout maps but the
file lacks is a gap, and every rule that reads that column (its `columns:` in the rule file) is 未連携 for the
run — reported, never scored. Headers the file has but the layout does not know are reported the same way.
Only header names (from the town's configuration or the file's header line) are kept, never a value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from kodomo_pipeline.config.feeds import FeedSpec
from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.rules.coverage import delivered_columns, rule_is_linked
from kodomo_pipeline.rules.ruleset import RuleSet
from kodomo_pipeline.storage.snapshots import has_table

MISSING = "missing"  # a header the layout maps is absent from the file
UNKNOWN = "unknown"  # a header in the file the layout neither maps nor drops on purpose
NO_FILE = "no_file"  # the town has the feed but no file of it is in force at T (never sent, or failed first)

_TABLE = """CREATE OR REPLACE TABLE column_gaps (
    feed VARCHAR NOT NULL, file_name VARCHAR NOT NULL, header VARCHAR NOT NULL, column_name VARCHAR,
    kind VARCHAR NOT NULL, rule_ids VARCHAR[] NOT NULL)"""


@dataclass(frozen=True)
class ColumnGap:
    feed: str
    file_name: str
    header: str  # as the export names it
    column: str | None  # the canonical column (None for an unknown header)
    kind: str  # MISSING / UNKNOWN
    rules: tuple[str, ...] = field(default=())  # rules this gap makes 未連携 for the run

    def as_dict(self) -> dict:
        return {
            "feed": self.feed,
            "file": self.file_name,
            "header": self.header,
            "column": self.column,
            "kind": self.kind,
            "rules": list(self.rules),
        }


def rules_reading(rules: RuleSet, feed: str, column: str, feeds: dict[str, FeedSpec]) -> tuple[str, ...]:
    """Rules that read `column` of `feed` (declared in the rule file's `columns:`), enabled ones only."""
    return tuple(
        rule_id
        for rule_id, rule in rules.rules.items()
        if rule.enabled and feed in rule.feeds and column in rule.columns and column in feeds[feed].columns
    )


def files_in_force(con: duckdb.DuckDBPyConnection, asof: dt.date) -> dict[str, tuple[str, list[str], list[str]]]:
    """feed → (file name, headers missing, headers dropped) of the snapshot each feed has in force at T."""
    if not has_table(con, "ingested_files"):
        return {}
    rows = con.execute(
        """SELECT feed, file_name, missing_columns, dropped_columns FROM ingested_files WHERE extract_date <= ?
           QUALIFY row_number() OVER (PARTITION BY feed ORDER BY extract_date DESC, ingested_at DESC) = 1""",
        [asof],
    ).fetchall()
    return {feed: (name, list(missing), list(dropped)) for feed, name, missing, dropped in rows}


def column_gaps(
    con: duckdb.DuckDBPyConnection, town: TownConfig, rules: RuleSet, feeds: dict[str, FeedSpec], asof: dt.date
) -> list[ColumnGap]:
    """Every missing or unknown header of the files in force at T, with the rules each gap unlinks."""
    gaps: list[ColumnGap] = []
    in_force = files_in_force(con, asof)
    for feed, (file_name, missing, dropped) in sorted(in_force.items()):
        layout = town.feeds.get(feed)
        if layout is None:
            continue
        mapping = layout.header_to_canonical
        for header in missing:
            column = mapping.get(header)
            if column is None:  # the layout no longer maps it: nothing reads it
                continue
            gaps.append(ColumnGap(feed, file_name, header, column, MISSING, rules_reading(rules, feed, column, feeds)))
        expected_drops = set(layout.mapping.exported_but_dropped)
        gaps += [ColumnGap(feed, file_name, h, None, UNKNOWN) for h in dropped if h not in expected_drops]
    return gaps + _feeds_without_file(town, rules, feeds, set(in_force))


def _feeds_without_file(
    town: TownConfig, rules: RuleSet, feeds: dict[str, FeedSpec], present: set[str]
) -> list[ColumnGap]:
    """Feeds the town has but with no file in force at T, and the rules left with none of their feeds to read
    (an empty feed would answer "no" for everyone)."""
    delivered = delivered_columns(town)
    tonight = {feed: columns for feed, columns in delivered.items() if feed in present}
    lost = [
        (rule_id, rule)
        for rule_id, rule in rules.rules.items()
        if rule.enabled and rule_is_linked(rule, delivered, feeds) and not rule_is_linked(rule, tonight, feeds)
    ]
    gaps = [
        ColumnGap(feed, "", "", None, NO_FILE, tuple(rule_id for rule_id, rule in lost if feed in rule.feeds))
        for feed in sorted(set(town.feeds) - present)
    ]
    return [gap for gap in gaps if gap.rules]  # a feed no rule reads (taio_kekka) is not a gap


def unlinked_by_gaps(gaps: list[ColumnGap]) -> set[str]:
    return {rule_id for gap in gaps for rule_id in gap.rules}


def write_column_gaps(con: duckdb.DuckDBPyConnection, gaps: list[ColumnGap]) -> None:
    """Replace `column_gaps` (the judgment's view at T): status, the meeting list and reports read it."""
    con.execute(_TABLE)
    if gaps:
        con.executemany(
            "INSERT INTO column_gaps VALUES (?, ?, ?, ?, ?, ?)",
            [[g.feed, g.file_name, g.header, g.column, g.kind, list(g.rules)] for g in gaps],
        )


def read_column_gaps(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The gaps of the latest judgment, as plain dicts (empty before any judgment)."""
    if not has_table(con, "column_gaps"):
        return []
    rows = con.execute(
        "SELECT feed, file_name, header, column_name, kind, rule_ids FROM column_gaps ORDER BY feed, kind, header"
    ).fetchall()
    return [ColumnGap(f, n, h, c, k, tuple(r)).as_dict() for f, n, h, c, k, r in rows]


def describe_gap(gap: dict) -> str:
    """One line for operators, Japanese first: which column of which file, and what it means for the rules."""
    if gap["kind"] == MISSING:
        rules = "、".join(gap["rules"]) or "なし"
        return (
            f"{gap['file']}: 列「{gap['header']}」({gap['column']}) がありません — 未連携になる判定項目: {rules}"
            f" (column missing; rules not evaluated this run)"
        )
    if gap["kind"] == NO_FILE:
        rules = "、".join(gap["rules"]) or "なし"
        return (
            f"{gap['feed']}: 基準日までに取り込んだファイルがありません — 未連携になる判定項目: {rules}"
            f" (no file of this feed in force; rules not evaluated)"
        )
    return f"{gap['file']}: 形式の定義にない列「{gap['header']}」 (header unknown to the layout; not read)"
