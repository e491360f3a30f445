"""Draft the extras file of a new feed (expectations/<feed>.yaml): only what its contract does not say.

The contract (assets/<feed>.yaml) becomes expectations at run time, so the draft holds the extras a
reviewer decides on: freshness and plausible dates (the rest: see expectations/README.md). A person
reviews and edits the draft before it is committed. Run:
`python -m kodomo_pipeline.quality.draft <feed> > expectations/<feed>.yaml`.
"""

from __future__ import annotations

import sys

from kodomo_pipeline.config.feeds import FeedSpec, load_feeds

DEFAULT_FRESHNESS_DAYS = 7
EARLIEST_DATE = "1900-01-01"


def draft_suite(spec: FeedSpec) -> str:
    """YAML text of a first extras file for the feed, with a comment per section."""
    lines = [
        f"# {spec.title_ja} ({spec.feed}): what Great Expectations checks on each export BEYOND its contract.",
        f"# The contract (assets/{spec.feed}.yaml: required columns, types, codes, ranges, formats, keys, row rules)",
        "# is turned into expectations at run time; do not repeat it here (the loader refuses copies).",
        f"feed: {spec.feed}",
        f"title_ja: {spec.title_ja}",
        "# Freshness: the export is at most this many days older than the run's date (null: not checked).",
        f"freshness_days: {DEFAULT_FRESHNESS_DAYS}",
    ]
    dates = []
    for name, col in spec.columns.items():
        if col.type in ("date", "month"):
            bound = "" if col.not_after_extract else ", not_after: as_of"
            dates.append(f"  {name}: {{not_before: {EARLIEST_DATE}{bound}}}")
    if dates:
        lines += [
            "# Plausible dates: not before 1900 (and not after the run's date where the contract has no bound).",
            "dates:",
            *dates,
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    feeds = load_feeds()
    for name in sys.argv[1:] or sorted(feeds):
        sys.stdout.write(draft_suite(feeds[name]))
