"""The canonical feed contract as a Pandera schema, and the split of decoded rows into valid and quarantine.

Values are parsed before Pandera sees them (Pandera's own coercion loses the
row of a failure, see STACK_NOTES); Pandera then checks requiredness, allowed
values, ranges, formats, uniqueness and cross-column rules, lazily, so every
failure of every row is known. Check names are our reason codes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from kodomo_pipeline.config.feeds import ColumnSpec
from kodomo_pipeline.config.towns import FeedLayout
from kodomo_pipeline.ingest.reader import ROW, RawExport
from kodomo_pipeline.layout.values import decode_column

KANA_PATTERN = "^[ァ-ー]+(　[ァ-ー]+)*$"  # katakana words (ァ U+30A1 … ー U+30FC), full-width spaces between
_DTYPES = {"date": "datetime64[ns]", "month": "datetime64[ns]", "int": "Int64", "flag": "boolean"}
TEXT = pd.StringDtype("pyarrow")
_PANDERA_REASONS = {
    "not_nullable": "missing_required",
    "field_uniqueness": "duplicate_key",
    "multiple_fields_uniqueness": "duplicate_key",
}
QUARANTINE_COLUMNS = [ROW, "column", "check", "reason"]


@dataclass
class ContractResult:
    valid: pd.DataFrame  # typed canonical columns + ROW
    quarantine: pd.DataFrame  # one row per failure: ROW, column, check, reason

    @property
    def rows_quarantined(self) -> int:
        return int(self.quarantine[ROW].nunique())


def _column_checks(col: ColumnSpec, resident_id_pattern: str, extract: dt.date) -> list[tuple[pa.Check, str]]:
    """The column's checks, each with the reason code its failures are quarantined under."""
    checks: list[tuple[pa.Check, str]] = []
    if col.allowed is not None:
        checks.append((pa.Check.isin(list(col.allowed)), "not_allowed_value"))
    if col.min is not None:
        checks.append((pa.Check.ge(col.min), "out_of_range"))
    if col.max is not None:
        checks.append((pa.Check.le(col.max), "out_of_range"))
    if col.type == "resident_id":
        checks.append((pa.Check.str_matches(resident_id_pattern), "bad_format"))
    if col.type == "kana":
        checks.append((pa.Check.str_matches(KANA_PATTERN), "bad_format"))
    if col.not_after_extract:
        checks.append((pa.Check.le(pd.Timestamp(extract)), "date_after_extract"))
    return checks


def _row_check(kind: str, column: str, other: str) -> pa.Check:
    def holds(frame: pd.DataFrame) -> pd.Series:
        left, right = frame[column], frame[other]
        ok = left >= right if kind == "not_before" else left <= right
        return ok.fillna(True).astype(bool) | left.isna() | right.isna()

    return pa.Check(holds, error=f"{kind}:{column},{other}")


@dataclass
class FeedSchema:
    """A Pandera schema plus the reason code of each check, by (column or None, check number)."""

    schema: pa.DataFrameSchema
    reasons: dict[tuple[str | None, int], str]


def build_schema(feed: FeedLayout, resident_id_pattern: str, extract: dt.date) -> FeedSchema:
    """The Pandera schema of one feed for one town and one extract date."""
    spec = feed.spec
    columns: dict[str, pa.Column] = {}
    reasons: dict[tuple[str | None, int], str] = {}
    for name, col in spec.columns.items():
        checks = _column_checks(col, resident_id_pattern, extract)
        reasons.update({(name, number): reason for number, (_, reason) in enumerate(checks)})
        columns[name] = pa.Column(
            _DTYPES.get(col.type, TEXT), nullable=not col.required, checks=[check for check, _ in checks]
        )
    row_checks = [_row_check(rc.check, rc.column, rc.other) for rc in spec.row_checks]
    reasons.update({(None, number): "inconsistent_row" for number in range(len(row_checks))})
    schema = pa.DataFrameSchema(columns, checks=row_checks, unique=list(spec.unique) or None, name=spec.feed)
    return FeedSchema(schema, reasons)


def decode_frame(raw: RawExport, feed: FeedLayout) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Text → canonical typed columns; cells that cannot be read become quarantine entries."""
    typed: dict[str, pd.Series] = {}
    failures: list[pd.DataFrame] = []
    text = raw.frame
    for name, col in feed.spec.columns.items():
        if name not in text:
            typed[name] = pd.Series(pd.NA, index=text.index, dtype=_DTYPES.get(col.type, TEXT))
            continue
        decoded = decode_column(text[name], name, feed)
        typed[name] = decoded.values
        if decoded.failed.any():
            rows = text.loc[decoded.failed.to_numpy(), ROW]
            failures.append(pd.DataFrame({ROW: rows, "column": name, "check": "decode", "reason": decoded.reason}))
    frame = pd.DataFrame(typed, index=text.index)
    frame[ROW] = text[ROW]
    found = pd.concat(failures, ignore_index=True) if failures else pd.DataFrame(columns=QUARANTINE_COLUMNS)
    return frame, found


def _reason(case: pd.Series, reasons: dict[tuple[str | None, int], str]) -> str:
    check = str(case["check"])
    if check in _PANDERA_REASONS:
        return _PANDERA_REASONS[check]
    column = case["column"] if case["schema_context"] == "Column" else None
    number = case["check_number"]
    return reasons.get((column, int(number)), "contract") if pd.notna(number) else "contract"


def _pandera_failures(frame: pd.DataFrame, feed_schema: FeedSchema) -> pd.DataFrame:
    try:
        feed_schema.schema.validate(frame.drop(columns=[ROW]), lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return pd.DataFrame(columns=QUARANTINE_COLUMNS)
    broken = cases[cases["index"].isna()]
    if len(broken):
        # A check that could not run at all is a fault of ours, not of the data: stop loudly.
        first = broken.iloc[0]
        raise RuntimeError(f"contract check {first['check']} on column {first['column']} could not run")
    # Only the check's identity is kept, never `failure_case` (the value itself).
    reason = cases.apply(_reason, axis=1, reasons=feed_schema.reasons) if len(cases) else pd.Series(dtype=str)
    check = cases["check"].astype(str)
    column = cases["column"].where(cases["schema_context"] == "Column", None)
    # Frame-level failures name the columns involved: the unique key, or the row check's pair.
    column = column.mask(reason == "duplicate_key", ",".join(feed_schema.schema.unique or []))
    is_row_check = reason == "inconsistent_row"
    column = column.mask(is_row_check, check.str.partition(":")[2])
    check = check.mask(is_row_check, check.str.partition(":")[0]).str.split("(").str[0]
    return pd.DataFrame(
        {
            ROW: frame.loc[cases["index"].astype(int).to_numpy(), ROW].to_numpy(),
            "column": column.to_numpy(),
            "check": check.to_numpy(),
            "reason": reason.to_numpy(),
        }
    )


def apply_contract(raw: RawExport, feed: FeedLayout, resident_id_pattern: str, extract: dt.date) -> ContractResult:
    """Split a decoded export into valid typed rows and quarantine entries (malformed rows included)."""
    frame, decode_failures = decode_frame(raw, feed)
    schema_failures = _pandera_failures(frame, build_schema(feed, resident_id_pattern, extract))
    if len(decode_failures) and len(schema_failures):
        # A cell that could not be decoded is empty now; its "missing_required" would say the same twice.
        already = set(zip(decode_failures[ROW], decode_failures["column"], strict=True))
        keep = [(r, c) not in already for r, c in zip(schema_failures[ROW], schema_failures["column"], strict=True)]
        schema_failures = schema_failures[keep]
    malformed = pd.DataFrame(
        {ROW: list(raw.malformed), "column": None, "check": "read", "reason": list(raw.malformed.values())}
    )
    parts = [part for part in (malformed, decode_failures, schema_failures) if len(part)]
    quarantine = (
        pd.concat(parts, ignore_index=True).drop_duplicates() if parts else pd.DataFrame(columns=QUARANTINE_COLUMNS)
    )
    quarantine[ROW] = quarantine[ROW].astype("int64")
    bad_rows = set(quarantine[ROW])
    valid = frame[~frame[ROW].isin(bad_rows)].reset_index(drop=True)
    return ContractResult(valid=valid, quarantine=quarantine.sort_values([ROW, "reason"]).reset_index(drop=True))
