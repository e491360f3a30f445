"""Expectation suites as data (expectations/<feed>.yaml): what a reviewer reads, what Great Expectations runs.

The files are grouped by the kind of rule (completeness, codes, ranges, keys, dates, freshness) so a
non-programmer can review them; `expectations()` turns one into plain Great Expectations
configurations (type + keyword arguments), without importing Great Expectations.
Dates that depend on the run (as_of, the freshness floor) are suite parameters filled in at run time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kodomo_pipeline.config.errors import ConfigError, read_yaml, validate_model
from kodomo_pipeline.config.feeds import FeedSpec, load_feeds
from kodomo_pipeline.config.paths import config_root

EXTRACT_DATE = "_extract_date"  # provenance column: the extract date of the file a row came from
AS_OF = "as_of"
DateBound = dt.date | Literal["as_of"]

# The kinds of rule, in the order a reviewer reads them; each becomes one Great Expectations type.
RULES = ("freshness", "completeness", "codes", "ranges", "id_format", "uniqueness", "dates", "consistency")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Strict):
    min: int | None = None
    max: int | None = None

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


class SuiteFile(_Strict):
    feed: str
    title_ja: str
    freshness_days: int | None = Field(default=None, ge=0)
    required: tuple[str, ...] = ()
    allowed_values: dict[str, tuple[str, ...]] = {}
    ranges: dict[str, Range] = {}
    resident_id_format: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    dates: dict[str, DateRule] = {}
    comparisons: tuple[Comparison, ...] = ()


@dataclass(frozen=True)
class ExpectationSpec:
    """One Great Expectations expectation as data; `rule` is the section of the suite file it came from."""

    type: str
    kwargs: dict
    rule: str
    meta: dict = field(default_factory=dict)


def _param(name: str) -> dict:
    return {"$PARAMETER": name}


def _bound_param(bound: DateBound) -> str:
    return AS_OF if bound == AS_OF else f"date_{bound:%Y%m%d}"


@dataclass(frozen=True)
class Suite:
    """A checked suite file of one feed."""

    source: Path
    data: SuiteFile

    @property
    def feed(self) -> str:
        return self.data.feed

    def expectations(self, resident_id_pattern: str) -> list[ExpectationSpec]:
        """The suite as Great Expectations configurations, in reading order."""
        s = self.data
        out: list[ExpectationSpec] = []
        if s.freshness_days is not None:
            out.append(
                ExpectationSpec(
                    "expect_column_values_to_be_between",
                    {"column": EXTRACT_DATE, "min_value": _param("freshness_floor"), "max_value": _param(AS_OF)},
                    "freshness",
                    {"max_age_days": s.freshness_days},
                )
            )
        out += [
            ExpectationSpec("expect_column_values_to_not_be_null", {"column": c}, "completeness") for c in s.required
        ]
        out += [
            ExpectationSpec("expect_column_values_to_be_in_set", {"column": c, "value_set": list(v)}, "codes")
            for c, v in s.allowed_values.items()
        ]
        for column, bounds in s.ranges.items():
            kwargs = {"column": column, "min_value": bounds.min, "max_value": bounds.max}
            out.append(ExpectationSpec("expect_column_values_to_be_between", kwargs, "ranges"))
        out += [
            ExpectationSpec(
                "expect_column_values_to_match_regex", {"column": c, "regex": resident_id_pattern}, "id_format"
            )
            for c in s.resident_id_format
        ]
        for columns in s.unique:
            if len(columns) == 1:
                out.append(ExpectationSpec("expect_column_values_to_be_unique", {"column": columns[0]}, "uniqueness"))
            else:
                kwargs = {"column_list": list(columns)}
                out.append(ExpectationSpec("expect_compound_columns_to_be_unique", kwargs, "uniqueness"))
        for column, rule in s.dates.items():
            kwargs = {"column": column}
            if rule.not_before is not None:
                kwargs["min_value"] = _param(_bound_param(rule.not_before))
            if rule.not_after is not None:
                kwargs["max_value"] = _param(_bound_param(rule.not_after))
            out.append(ExpectationSpec("expect_column_values_to_be_between", kwargs, "dates"))
        for comparison in s.comparisons:
            later, earlier = (
                (comparison.column, comparison.other)
                if comparison.not_before
                else (comparison.other, comparison.column)
            )
            kwargs = {
                "column_A": later,
                "column_B": earlier,
                "or_equal": True,
                "ignore_row_if": "either_value_is_missing",
            }
            out.append(ExpectationSpec("expect_column_pair_values_a_to_be_greater_than_b", kwargs, "consistency"))
        return out

    def parameters(self, asof: dt.date) -> dict[str, dt.datetime]:
        """Values of the suite parameters for a run judging as of `asof` (datetimes: date columns are datetimes)."""
        start = dt.datetime.combine(asof, dt.time())
        values = {AS_OF: start}
        if self.data.freshness_days is not None:
            values["freshness_floor"] = start - dt.timedelta(days=self.data.freshness_days)
        for rule in self.data.dates.values():
            for bound in (rule.not_before, rule.not_after):
                if bound is not None and bound != AS_OF:
                    values[_bound_param(bound)] = dt.datetime.combine(bound, dt.time())
        return values


def _check_columns(suite: SuiteFile, spec: FeedSpec, path: Path) -> None:
    known = set(spec.columns)
    named: list[tuple[str, str]] = [(f"required.{c}", c) for c in suite.required]
    named += [(f"allowed_values.{c}", c) for c in suite.allowed_values]
    named += [(f"ranges.{c}", c) for c in suite.ranges]
    named += [(f"resident_id_format.{c}", c) for c in suite.resident_id_format]
    named += [(f"unique.{i}", c) for i, cols in enumerate(suite.unique) for c in cols]
    named += [(f"dates.{c}", c) for c in suite.dates]
    named += [(f"comparisons.{i}", c) for i, comp in enumerate(suite.comparisons) for c in (comp.column, comp.other)]
    for key, column in named:
        if column not in known:
            raise ConfigError(path, key, f"names column {column!r}, which feed {spec.feed!r} does not have")
    for column in suite.dates:
        if spec.columns[column].type not in ("date", "month"):
            raise ConfigError(path, f"dates.{column}", "is not a date or month column")
    for column in suite.ranges:
        if spec.columns[column].type != "int":
            raise ConfigError(path, f"ranges.{column}", "is not a whole-number (int) column")


def load_suite(path: Path, feeds: dict[str, FeedSpec] | None = None) -> Suite:
    """One suite file, schema-checked and checked against its feed's contract; errors name file and key."""
    data = validate_model(SuiteFile, read_yaml(path), path)
    if data.feed != path.stem:
        raise ConfigError(path, "feed", f"is {data.feed!r} but the file is named {path.name}")
    feeds = feeds if feeds is not None else load_feeds()
    if data.feed not in feeds:
        raise ConfigError(path, "feed", f"{data.feed!r} is not a canonical feed (assets/)")
    _check_columns(data, feeds[data.feed], path)
    return Suite(path, data)


@cache
def _load_suites_from(folder: Path) -> dict[str, Suite]:
    feeds = load_feeds()
    return {path.stem: load_suite(path, feeds) for path in sorted(folder.glob("*.yaml"))}


def load_suites(folder: Path | None = None) -> dict[str, Suite]:
    """Every suite in expectations/, by feed name."""
    return _load_suites_from((folder or config_root() / "expectations").resolve())
