"""Draft an expectations file from a feed contract (assets/<feed>.yaml), for a new feed.

The checked-in files in expectations/ are the source of truth: a person reviews and edits the
draft (freshness, plausible ranges) before it is committed. Run:
`python -m kodomo_pipeline.quality.draft <feed> > expectations/<feed>.yaml`.
"""

from __future__ import annotations

import sys

import yaml

from kodomo_pipeline.config.feeds import SEX_VALUES, FeedSpec, load_feeds

DEFAULT_FRESHNESS_DAYS = 7
EARLIEST_DATE = "1900-01-01"


def _flow(items: list | dict) -> str:
    return yaml.safe_dump(items, allow_unicode=True, default_flow_style=True, sort_keys=False, width=1000).strip()


def draft_suite(spec: FeedSpec) -> str:
    """YAML text of a first expectations file for the feed, with a comment per section."""
    lines = [
        f"# {spec.title_ja} ({spec.feed}): data-quality expectations, checked by Great Expectations on every",
        "# run against the snapshot in force at the run's date (as_of). Failures warn; values are never shown.",
        f"feed: {spec.feed}",
        f"title_ja: {spec.title_ja}",
        "# The export must be at most this many days older than as_of (null: not checked).",
        f"freshness_days: {DEFAULT_FRESHNESS_DAYS}",
    ]
    required = spec.required_columns
    if required:
        lines += ["# Completeness: filled on every row.", "required:"] + [f"  - {c}" for c in required]
    allowed = {n: list(c.allowed) for n, c in spec.columns.items() if c.allowed}
    allowed |= {n: list(SEX_VALUES) for n, c in spec.columns.items() if c.type == "sex"}
    if allowed:
        lines += [
            "# Validity of codes: one of these values (empty optional fields are not counted).",
            "allowed_values:",
        ]
        lines += [f"  {n}: {_flow(v)}" for n, v in allowed.items()]
    ranges = {n: c for n, c in spec.columns.items() if c.type == "int" and (c.min is not None or c.max is not None)}
    if ranges:
        lines += ["# Ranges: whole numbers within min..max.", "ranges:"]
        lines += [f"  {n}: {_flow({'min': c.min, 'max': c.max})}" for n, c in ranges.items()]
    ids = [n for n, c in spec.columns.items() if c.type == "resident_id"]
    if ids:
        lines += [
            "# Resident IDs in the town's format (resident_id_pattern in resources/towns/<town>.yaml).",
            "resident_id_format:",
        ] + [f"  - {c}" for c in ids]
    if spec.unique:
        lines += ["# Uniqueness: no two rows share these values.", "unique:", f"  - {_flow(list(spec.unique))}"]
    dates = {}
    for name, col in spec.columns.items():
        if col.type in ("date", "month"):
            bounds = {"not_before": EARLIEST_DATE}
            if col.not_after_extract:
                bounds["not_after"] = "as_of"
            dates[name] = bounds
    if dates:
        lines += [
            "# Plausible dates: not before 1900, not after the run's date (as_of) where the past is meant.",
            "dates:",
        ] + [f"  {n}: {_flow(b)}" for n, b in dates.items()]
    if spec.row_checks:
        lines += [
            "# Consistency across the columns of one row (rows with either value empty are not counted).",
            "comparisons:",
        ]
        for check in spec.row_checks:
            word = "not_before" if check.check == "not_before" else "at_most"
            lines.append(f"  - {_flow({'column': check.column, word: check.other})}")
    return "\n".join(lines).replace(f"'{EARLIEST_DATE}'", EARLIEST_DATE) + "\n"


if __name__ == "__main__":
    feeds = load_feeds()
    for name in sys.argv[1:] or sorted(feeds):
        sys.stdout.write(draft_suite(feeds[name]))
