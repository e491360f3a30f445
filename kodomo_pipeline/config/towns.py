"""Towns (resources/towns/*.yaml) and shared systems (resources/systems/*.yaml).

A town file says which feeds the town has and, per feed, how its export looks.
Feeds exported by a system several towns share (the school system, the
nurseries) point at that system's file, so a third town is one more file.
"""

from __future__ import annotations

import codecs
import re
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kodomo_pipeline.config.errors import ConfigError, load_folder, read_yaml, validate_model
from kodomo_pipeline.config.feeds import SEX_VALUES, FeedSpec, load_feeds
from kodomo_pipeline.config.paths import config_root, data_root, resolve_under

DateStyle = Literal["wareki", "slash", "slash_unpadded", "iso", "any"]
KanaStyle = Literal["halfwidth_katakana", "fullwidth_katakana", "hiragana"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Codes(_Strict):
    """How a system writes coded values: export value → canonical value."""

    sex: dict[str, str]
    flag: dict[str, bool]

    @field_validator("sex")
    @classmethod
    def _sex_maps_to_canonical(cls, value: dict[str, str]) -> dict[str, str]:
        if sorted(set(value.values())) != sorted(SEX_VALUES):
            raise ValueError(f"must map export values onto exactly {', '.join(SEX_VALUES)}")
        return value

    @field_validator("flag")
    @classmethod
    def _flag_has_both(cls, value: dict[str, bool]) -> dict[str, bool]:
        if set(value.values()) != {True, False}:
            raise ValueError("must map one export value to true and one to false")
        return value


class Layout(_Strict):
    """The export format of one system: encoding, line ends, date, kana and name style, codes."""

    encoding: str
    line_end: Literal["crlf", "lf"]
    date_style: DateStyle
    month_style: DateStyle
    kana_style: KanaStyle
    name_separator: Literal["fullwidth", "halfwidth"]
    gannen: bool = False  # the system writes year 1 of an era as 元 (R元.05.01) rather than 01
    codes: Codes
    # Files people save (Japanese Excel writes cp932 by default): tried in order when `encoding` does not read.
    also_accepted_encodings: tuple[str, ...] = ()

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @field_validator("also_accepted_encodings")
    @classmethod
    def _known_encodings(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            cls._known_encoding(name)
        return value

    @property
    def newline(self) -> str:
        return "\r\n" if self.line_end == "crlf" else "\n"


class FeedMapping(_Strict):
    """One feed as a system exports it: header → canonical column, plus columns dropped at the door."""

    columns: dict[str, str] = Field(min_length=1)
    exported_but_dropped: tuple[str, ...] = ()
    codes: dict[str, dict[str, bool | str]] = {}
    # Headers staff fill in on a printed list or template returned as XLSX (ingest/xlsx_reader.py): a row
    # where all of them are empty is a printed row nobody decided on, not a record.
    filled_in_by_staff: tuple[str, ...] = ()


class FeedRef(_Strict):
    system: str


class SystemFile(_Strict):
    system: str
    layout: Layout
    feeds: dict[str, FeedMapping]


class Schedule(_Strict):
    cron: str
    timezone: str = "Asia/Tokyo"


class LinkageSettings(_Strict):
    """名寄せ per town: the match / review thresholds on a record's best candidate (probability) and how many
    automatic matches a night go to the review page as a random audit sample (unbiased labels for calibration).
    `kodomo calibrate --town T` suggests thresholds from the staff decisions so far."""

    match_threshold: float = Field(default=0.99, ge=0, le=1)
    review_threshold: float = Field(default=0.5, ge=0, le=1)
    audit_sample: int = Field(default=20, ge=0)
    # `kodomo calibrate`: the targets a suggested threshold must meet on the staff's labels, and how many labelled
    # matches it takes before m is estimated from them.
    target_precision: float = Field(default=0.999, gt=0, le=1)
    target_recall: float = Field(default=0.995, gt=0, le=1)
    labels_for_m: int = Field(default=200, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> LinkageSettings:
        if self.review_threshold > self.match_threshold:
            raise ValueError("review_threshold must not be above match_threshold")
        return self


class TownFile(_Strict):
    town: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_ja: str
    prefecture: str | None = None
    population: int = Field(gt=0)  # residents; the sample-data generator's default size
    inbox: str
    database: str
    output: str = "out"
    schedule: Schedule = Schedule(cron="0 2 * * *")
    resident_id_pattern: str
    layout: Layout
    feeds: dict[str, FeedMapping | FeedRef] = Field(min_length=1)
    rule_overrides: dict[str, Any] = {}  # checked against the rule set by kodomo_pipeline.rules.ruleset
    linkage: LinkageSettings = LinkageSettings()
    # Feeds without which there is no alert list tonight; any other failed feed is judged from its last good snapshot.
    essential_feeds: tuple[str, ...] = ()
    # A file is read once its size and mtime have not changed for this long (ingest/inbox_scan.py).
    inbox_settle_seconds: float = Field(default=3.0, ge=0, le=600)

    @field_validator("resident_id_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class FeedLayout(BaseModel):
    """Everything needed to read one feed of one town: the contract, the layout and the mapping."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    spec: FeedSpec
    layout: Layout
    mapping: FeedMapping
    source: str  # the file the layout came from, for error messages

    @property
    def feed(self) -> str:
        return self.spec.feed

    @property
    def header_to_canonical(self) -> dict[str, str]:
        return self.mapping.columns

    def codes_for(self, column: str) -> dict[str, bool | str] | None:
        """Export value → canonical value for a coded column (flags, sex, per-column overrides)."""
        if column in self.mapping.codes:
            return self.mapping.codes[column]
        kind = self.spec.columns[column].type
        if kind == "flag":
            return dict(self.layout.codes.flag)
        if kind == "sex":
            return dict(self.layout.codes.sex)
        return None


class TownConfig(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    town: str
    name_ja: str
    prefecture: str | None
    population: int
    path: Path
    inbox_setting: str
    database_setting: str
    output_setting: str
    schedule: Schedule
    resident_id_pattern: str
    feeds: dict[str, FeedLayout]
    rule_overrides: dict[str, Any] = {}
    linkage: LinkageSettings = LinkageSettings()
    essential_feeds: tuple[str, ...] = ()
    inbox_settle_seconds: float = 3.0

    def inbox(self, root: Path | None = None) -> Path:
        return resolve_under(root or data_root(), self.inbox_setting)

    def database(self, root: Path | None = None) -> Path:
        return resolve_under(root or data_root(), self.database_setting)

    def output(self, root: Path | None = None) -> Path:
        return resolve_under(root or data_root(), self.output_setting) / self.town


def _shown(path: Path) -> str:
    """A config path as operators see it: relative to the configuration root when inside it."""
    try:
        return str(path.resolve().relative_to(config_root()))
    except ValueError:
        return str(path)


def _load_system(path: Path, feeds: dict[str, FeedSpec]) -> SystemFile:
    system = validate_model(SystemFile, read_yaml(path), path)
    for feed, mapping in system.feeds.items():
        _check_mapping(path, f"feeds.{feed}", feed, mapping, feeds)
    return system


def _check_mapping(path: Path, key: str, feed: str, mapping: FeedMapping, feeds: dict[str, FeedSpec]) -> None:
    if feed not in feeds:
        raise ConfigError(path, key, f"unknown feed {feed!r} (known: {', '.join(sorted(feeds))})")
    spec = feeds[feed]
    seen: set[str] = set()
    for header, canonical in mapping.columns.items():
        if canonical not in spec.columns:
            raise ConfigError(path, f"{key}.columns.{header}", f"unknown canonical column {canonical!r} of {feed}")
        if canonical in seen:
            raise ConfigError(path, f"{key}.columns.{header}", f"{canonical!r} is mapped twice")
        seen.add(canonical)
    missing = [name for name in spec.required_columns if name not in seen]
    if missing:
        raise ConfigError(path, f"{key}.columns", f"required columns not mapped: {', '.join(missing)}")
    for column in mapping.codes:
        if column not in seen:
            raise ConfigError(path, f"{key}.codes.{column}", "codes given for a column that is not mapped")
    for header in mapping.filled_in_by_staff:
        if header not in mapping.columns:
            raise ConfigError(path, f"{key}.filled_in_by_staff", f"{header!r} is not a header of this feed")


def load_town(path: Path, feeds: dict[str, FeedSpec] | None = None) -> TownConfig:
    """Load and check one town file, resolving feeds that point at shared systems."""
    feeds = feeds or load_feeds()
    town = validate_model(TownFile, read_yaml(path), path)
    if town.town != path.stem:
        raise ConfigError(path, "town", f"is {town.town!r} but the file is named {path.name}")
    for feed in town.essential_feeds:
        if feed not in town.feeds:
            raise ConfigError(path, "essential_feeds", f"{feed!r} is not one of the town's feeds")
    resolved: dict[str, FeedLayout] = {}
    for feed, entry in town.feeds.items():
        if isinstance(entry, FeedRef):
            system_path = path.parent.parent / "systems" / f"{entry.system}.yaml"
            if not system_path.exists():
                raise ConfigError(
                    path, f"feeds.{feed}.system", f"no system file {system_path.name} in resources/systems"
                )
            system = _load_system(system_path, feeds)
            if feed not in system.feeds:
                raise ConfigError(path, f"feeds.{feed}.system", f"system {entry.system!r} does not export {feed}")
            resolved[feed] = FeedLayout(
                spec=feeds[feed], layout=system.layout, mapping=system.feeds[feed], source=_shown(system_path)
            )
        else:
            _check_mapping(path, f"feeds.{feed}", feed, entry, feeds)
            resolved[feed] = FeedLayout(spec=feeds[feed], layout=town.layout, mapping=entry, source=_shown(path))
    as_written = TownConfig.model_fields.keys() & TownFile.model_fields.keys() - {"feeds"}  # the file's own values
    return TownConfig(
        **{name: getattr(town, name) for name in as_written},
        path=path,
        inbox_setting=town.inbox,
        database_setting=town.database,
        output_setting=town.output,
        feeds=resolved,
    )


@cache
def _load_towns_from(folder: Path) -> dict[str, TownConfig]:
    return load_folder(folder, load_town, "town")


def load_towns(folder: Path | None = None) -> dict[str, TownConfig]:
    """Every configured town, by name."""
    return _load_towns_from((folder or config_root() / "resources" / "towns").resolve())
