"""Quarantine reason codes: the vocabulary operators and the privacy report see (never values)."""

from __future__ import annotations

REASONS: dict[str, str] = {
    "wrong_field_count": "the row has a different number of fields than the header",
    "empty_row": "an empty line inside the file",
    "truncated_row": "the file ends in the middle of this row (cut short: ask for the export again)",
    "nul_byte": "the line holds a NUL byte (binary data in a text export); the row is not read",
    "unbalanced_quote": "a quote opened on this line and never closed; the row is not read, the next line is",
    "line_too_long": "the line is longer than max_line_bytes (resources/ingestion.yaml); the row is not read",
    "unreadable_date": "a date that cannot be read in the layout's date style (or does not exist)",
    "unreadable_month": "a month that cannot be read in the layout's month style",
    "not_an_integer": "a number field holding something that is not a whole number",
    "unknown_code": "a code value the layout does not define (e.g. sex, flag)",
    "missing_required": "a required value is empty",
    "not_allowed_value": "a value outside the feed's allowed values",
    "out_of_range": "a number outside the feed's allowed range",
    "bad_format": "a value of the wrong shape (resident ID length, kana characters)",
    "duplicate_key": "several rows share a key that must be unique (all of them are held back)",
    "date_after_extract": "a date later than the file's extract date",
    "inconsistent_row": "values of one row contradict each other (e.g. end before start)",
}

# The check of a decision (taio_kekka) row that passed the contract but that no alert state the meeting saw ties
# to; its reason codes and words live in rules/alert_lifecycle.yaml (`decision_problems`). Judged again every
# night, so these rows are also in valid_taio_kekka and row conservation does not count them.
ALERT_STATE_CHECK = "alert_state"
