"""Data quality: Great Expectations suites built from the feed contracts (assets/) plus per-feed extras
(expectations/), run on each export as sent, with offline Data Docs per town."""
