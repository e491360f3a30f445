"""Expectation suites built at run time: the feed's contract (assets/<feed>.yaml) plus the feed's extras.

The contract already says which columns are required, their types, allowed codes, ranges, formats,
keys and row rules; Great Expectations runs exactly those on the decoded export, before quarantine,
so Data Docs describe what the department sent. Nothing of the contract is copied by hand:
`expectations/<feed>.yaml` keeps only what the contract does not say (freshness, plausible dates,
completeness shares of optional columns, row counts, value distributions), and the loader refuses a
file that repeats a contract rule. `expectations()` returns plain Great Expectations configurations
(type + keyword arguments), without importing Great Expectations. Dates that depend on the run
(as_of, the file's extract date, the freshness floor) are suite parameters filled in at run time.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kodomo_pipeline.config.errors import ConfigError, read_yaml, validate_model
from kodomo_pipeline.config.feeds import SEX_VALUES, FeedSpec, load_feeds
from kodomo_pipeline.config.paths import config_root
from kodomo_pipeline.ingest.contract import KANA_PATTERN

EXTRACT_DATE = "_extract_date"  # provenance column: the extract date of the file a row came from
UNDECODABLE = "_undecodable"  # columns of the row whose text could not be read as the contract's type
PROBLEM = "_problem"  # why a line of the file could not be split into fields (reason code), else empty
AS_OF = "as_of"
EXTRACT = "extract_date"
DateBound = dt.date | Literal["as_of"]
# Column types whose text the layout decodes and which can therefore fail to read (layout/values.py).
DECODED_TYPES = frozenset({"date", "month", "int", "flag", "sex", "category", "kana"})
CODE_TYPES = frozenset({"category", "sex"})  # codes_seen lists text codes

# The kinds of rule, in the order a reviewer reads them, with the note Data Docs show for each (Japanese first).
CONTRACT_RULES = {
    "readable": "行を項目に分けられること (readable line)",
    "types": "値を契約の型として読めること (decodes as its contract type)",
    "completeness": "必須項目が入力されていること (required)",
    "codes": "値が契約のコード一覧にあること (allowed codes)",
    "ranges": "数値が契約の範囲内であること (range)",
    "id_format": "宛名番号が町の形式であること (town's resident-ID format)",
    "kana_format": "カナが全角カタカナであること (full-width katakana)",
    "uniqueness": "キーが重複しないこと (unique key)",
    "not_after_extract": "日付が抽出日より後でないこと (not after the extract date)",
    "consistency": "同じ行の項目どうしが矛盾しないこと (row rule)",
}
EXTRA_RULES = {
    "freshness": "データが古すぎないこと (freshness)",
    "row_count": "行数が想定の範囲内であること (row count)",
    "completeness_share": "任意項目の入力率が下限以上であること (share filled)",
    "plausible_dates": "日付があり得る範囲にあること (plausible dates)",
    "comparisons": "同じ行の項目どうしの追加の比較 (extra row rule)",
    "means": "平均値が想定の範囲内であること (mean)",
    "codes_seen": "これらのコードがすべて現れること (codes present)",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Strict):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is greater than max")
        return self


class DateRule(_Strict):
    not_before: DateBound | None = None
    not_after: DateBound | None = None


class Comparison(_Strict):
    column: str
    not_before: str | None = None  # column >= other (dates)
    at_most: str | None = None  # column <= other (numbers)

    @model_validator(mode="after")
    def _one_other(self) -> Comparison:
        if (self.not_before is None) == (self.at_most is None):
            raise ValueError("give exactly one of not_before, at_most")
        return self

    @property
    def other(self) -> str:
        return self.not_before or self.at_most or ""

    @property
    def check(self) -> str:
        return "not_before" if self.not_before else "at_most"


class ExtrasFile(_Strict):
    """expectations/<feed>.yaml: only what the feed's contract does not already say."""

    feed: str
    title_ja: str
    freshness_days: int | None = Field(default=None, ge=0)
    row_count: Range | None = None
    completeness: dict[str, float] = {}  # share of rows filled, 0..1, for optional columns
    dates: dict[str, DateRule] = {}
    comparisons: tuple[Comparison, ...] = ()
    means: dict[str, Range] = {}
    codes_seen: dict[str, tuple[str, ...]] = {}


@dataclass(frozen=True)
class ExpectationSpec:
    """One Great Expectations expectation as data; `rule` says where it came from (contract or extras)."""

    type: str
    kwargs: dict
    rule: str
    meta: dict = field(default_factory=dict)

    @property
    def note(self) -> str:
        """What Data Docs show beside the expectation: the rule in Japanese, the column decoded, the file."""
        label = {**CONTRACT_RULES, **EXTRA_RULES}[self.rule]
        column = f"{self.meta['decoded_column']} ({self.meta['type']}): " if "decoded_column" in self.meta else ""
        return f"{column}{label} — {self.meta.get('source', '')}"


def _param(name: str) -> dict:
    return {"$PARAMETER": name}


def _bound_param(bound: DateBound) -> str:
    return AS_OF if bound == AS_OF else f"date_{bound:%Y%m%d}"


def _pair(check: str, column: str, other: str, rule: str, source: str) -> ExpectationSpec:
    """column >= other (not_before) or column <= other (at_most), rows with either value empty not counted."""
    later, earlier = (column, other) if check == "not_before" else (other, column)
    kwargs = {"column_A": later, "column_B": earlier, "or_equal": True, "ignore_row_if": "either_value_is_missing"}
    return ExpectationSpec("expect_column_pair_values_a_to_be_greater_than_b", kwargs, rule, {"source": source})


def contract_expectations(spec: FeedSpec, resident_id_pattern: str) -> list[ExpectationSpec]:
    """The feed contract as Great Expectations configurations, read from assets/<feed>.yaml each time."""
    source = f"assets/{spec.feed}.yaml"

    def one(gx_type: str, kwargs: dict, rule: str, **meta: object) -> ExpectationSpec:
        return ExpectationSpec(gx_type, kwargs, rule, {"source": source, **meta})

    out = [one("expect_column_values_to_be_null", {"column": PROBLEM}, "readable")]
    out += [
        one(
            "expect_column_values_to_not_match_regex",
            {"column": UNDECODABLE, "regex": f"(?:^|,){re.escape(name)}(?:,|$)"},
            "types",
            decoded_column=name,
            type=col.type,
        )
        for name, col in spec.columns.items()
        if col.type in DECODED_TYPES
    ]
    out += [one("expect_column_values_to_not_be_null", {"column": c}, "completeness") for c in spec.required_columns]
    for name, col in spec.columns.items():
        codes = col.allowed if col.allowed is not None else SEX_VALUES if col.type == "sex" else None
        if codes is not None:
            out.append(one("expect_column_values_to_be_in_set", {"column": name, "value_set": list(codes)}, "codes"))
    for name, col in spec.columns.items():
        if col.min is not None or col.max is not None:
            kwargs = {"column": name, "min_value": col.min, "max_value": col.max}
            out.append(one("expect_column_values_to_be_between", kwargs, "ranges"))
    for name, col in spec.columns.items():
        if col.type == "resident_id":
            kwargs = {"column": name, "regex": resident_id_pattern}
            out.append(one("expect_column_values_to_match_regex", kwargs, "id_format"))
        elif col.type == "kana":
            out.append(
                one("expect_column_values_to_match_regex", {"column": name, "regex": KANA_PATTERN}, "kana_format")
            )
    if len(spec.unique) == 1:
        out.append(one("expect_column_values_to_be_unique", {"column": spec.unique[0]}, "uniqueness"))
    elif spec.unique:
        out.append(one("expect_compound_columns_to_be_unique", {"column_list": list(spec.unique)}, "uniqueness"))
    for name, col in spec.columns.items():
        if col.not_after_extract:
            kwargs = {"column": name, "max_value": _param(EXTRACT)}
            out.append(one("expect_column_values_to_be_between", kwargs, "not_after_extract"))
    out += [_pair(rc.check, rc.column, rc.other, "consistency", source) for rc in spec.row_checks]
    return out


@dataclass(frozen=True)
class Suite:
    """A feed's suite: its contract, and its extras file if the town has one."""

    spec: FeedSpec
    extras: ExtrasFile
    source: Path | None = None  # expectations/<feed>.yaml, None when the feed has no extras

    @property
    def feed(self) -> str:
        return self.spec.feed

    @property
    def data(self) -> ExtrasFile:
        return self.extras

    def expectations(self, resident_id_pattern: str) -> list[ExpectationSpec]:
        """Contract expectations first, then the extras, in reading order."""
        return contract_expectations(self.spec, resident_id_pattern) + self.extra_expectations()

    def extra_expectations(self) -> list[ExpectationSpec]:
        s = self.extras
        source = f"expectations/{self.source.name}" if self.source else ""

        def one(gx_type: str, kwargs: dict, rule: str, **meta: object) -> ExpectationSpec:
            return ExpectationSpec(gx_type, kwargs, rule, {"source": source, **meta})

        out: list[ExpectationSpec] = []
        if s.freshness_days is not None:
            kwargs = {"column": EXTRACT_DATE, "min_value": _param("freshness_floor"), "max_value": _param(AS_OF)}
            out.append(one("expect_column_values_to_be_between", kwargs, "freshness", max_age_days=s.freshness_days))
        if s.row_count is not None:
            kwargs = {"min_value": _whole(s.row_count.min), "max_value": _whole(s.row_count.max)}
            out.append(one("expect_table_row_count_to_be_between", kwargs, "row_count"))
        for column, share in s.completeness.items():
            kwargs = {"column": column, "min_value": share}
            out.append(one("expect_column_proportion_of_non_null_values_to_be_between", kwargs, "completeness_share"))
        for column, rule in s.dates.items():
            kwargs = {"column": column}
            if rule.not_before is not None:
                kwargs["min_value"] = _param(_bound_param(rule.not_before))
            if rule.not_after is not None:
                kwargs["max_value"] = _param(_bound_param(rule.not_after))
            out.append(one("expect_column_values_to_be_between", kwargs, "plausible_dates"))
        out += [_pair(c.check, c.column, c.other, "comparisons", source) for c in s.comparisons]
        for column, bounds in s.means.items():
            kwargs = {"column": column, "min_value": bounds.min, "max_value": bounds.max}
            out.append(one("expect_column_mean_to_be_between", kwargs, "means"))
        for column, codes in s.codes_seen.items():
            kwargs = {"column": column, "value_set": list(codes)}
            out.append(one("expect_column_distinct_values_to_contain_set", kwargs, "codes_seen"))
        return out

    def parameters(self, asof: dt.date, extract: dt.date) -> dict[str, dt.datetime]:
        """Suite parameters for a file extracted on `extract`, judged as of `asof` (date columns are datetimes)."""
        start = dt.datetime.combine(asof, dt.time())
        values = {AS_OF: start, EXTRACT: dt.datetime.combine(extract, dt.time())}
        if self.extras.freshness_days is not None:
            values["freshness_floor"] = start - dt.timedelta(days=self.extras.freshness_days)
        for rule in self.extras.dates.values():
            for bound in (rule.not_before, rule.not_after):
                if bound is not None and bound != AS_OF:
                    values[_bound_param(bound)] = dt.datetime.combine(bound, dt.time())
        return values


def _whole(value: float | None) -> int | None:
    return None if value is None else int(value)


def _check_extras(extras: ExtrasFile, spec: FeedSpec, path: Path) -> None:
    """Every column exists and fits its section, and nothing repeats a rule of the contract."""
    columns = spec.columns
    named: list[tuple[str, str]] = [(f"completeness.{c}", c) for c in extras.completeness]
    named += [(f"dates.{c}", c) for c in extras.dates]
    named += [(f"comparisons.{i}", c) for i, comp in enumerate(extras.comparisons) for c in (comp.column, comp.other)]
    named += [(f"means.{c}", c) for c in extras.means]
    named += [(f"codes_seen.{c}", c) for c in extras.codes_seen]
    for key, column in named:
        if column not in columns:
            raise ConfigError(path, key, f"names column {column!r}, which feed {spec.feed!r} does not have")
    for column, share in extras.completeness.items():
        if columns[column].required:
            raise ConfigError(path, f"completeness.{column}", "is required by the contract already (every row)")
        if not 0 <= share <= 1:
            raise ConfigError(path, f"completeness.{column}", "is a share of rows: between 0 and 1")
    for column, rule in extras.dates.items():
        if columns[column].type not in ("date", "month"):
            raise ConfigError(path, f"dates.{column}", "is not a date or month column")
        if rule.not_after is not None and columns[column].not_after_extract:
            raise ConfigError(
                path, f"dates.{column}.not_after", "repeats the contract (not_after_extract in assets/): remove it"
            )
    contract_pairs = {(rc.check, rc.column, rc.other) for rc in spec.row_checks}
    for i, comp in enumerate(extras.comparisons):
        if (comp.check, comp.column, comp.other) in contract_pairs:
            raise ConfigError(path, f"comparisons.{i}", "repeats a row_check of the contract (assets/): remove it")
    for column in extras.means:
        if columns[column].type != "int":
            raise ConfigError(path, f"means.{column}", "is not a whole-number (int) column")
    for column, codes in extras.codes_seen.items():
        col = columns[column]
        if col.type not in CODE_TYPES:
            raise ConfigError(path, f"codes_seen.{column}", "is not a code column (category, sex)")
        allowed = col.allowed if col.allowed is not None else SEX_VALUES if col.type == "sex" else None
        unknown = [c for c in codes if allowed is not None and c not in allowed]
        if unknown:
            raise ConfigError(path, f"codes_seen.{column}", f"{len(unknown)} code(s) the contract does not allow")


def load_extras(path: Path, feeds: dict[str, FeedSpec] | None = None) -> Suite:
    """A feed's suite with the extras file at `path`, checked against the contract; errors name file and key."""
    data = validate_model(ExtrasFile, read_yaml(path), path)
    if data.feed != path.stem:
        raise ConfigError(path, "feed", f"is {data.feed!r} but the file is named {path.name}")
    feeds = feeds if feeds is not None else load_feeds()
    if data.feed not in feeds:
        raise ConfigError(path, "feed", f"{data.feed!r} is not a canonical feed (assets/)")
    _check_extras(data, feeds[data.feed], path)
    return Suite(feeds[data.feed], data, path)


load_suite = load_extras  # the name the rest of the code knew


@cache
def _load_suites_from(folder: Path) -> dict[str, Suite]:
    feeds = load_feeds()
    files = {path.stem: path for path in sorted(folder.glob("*.yaml"))}
    for stem, path in files.items():
        if stem not in feeds:
            raise ConfigError(path, "feed", f"{stem!r} is not a canonical feed (assets/)")
    return {
        name: load_extras(files[name], feeds)
        if name in files
        else Suite(spec, ExtrasFile(feed=name, title_ja=spec.title_ja))
        for name, spec in feeds.items()
    }


def load_suites(folder: Path | None = None) -> dict[str, Suite]:
    """A suite for every canonical feed: contract expectations, plus the extras in expectations/ if any."""
    return _load_suites_from((folder or config_root() / "expectations").resolve())
