"""Canonical feed contracts (assets/<feed>.yaml): what each feed means, whatever town sends it."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kodomo_pipeline.config.errors import ConfigError, load_folder, read_yaml, validate_model
from kodomo_pipeline.config.paths import config_root

ColumnType = Literal["id", "resident_id", "text", "name", "kana", "date", "month", "int", "category", "flag", "sex"]
PersonalClass = Literal["identifier", "name", "kana", "birth_date", "address"]
SEX_VALUES = ("男", "女")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    type: ColumnType
    required: bool = False
    allowed: tuple[str, ...] | None = None
    min: int | None = None
    max: int | None = None
    personal: PersonalClass | None = None
    special_care: bool = False
    not_after_extract: bool = False
    references: Literal["resident", "household"] | None = None  # names a registry person or household
    description: str | None = None

    @model_validator(mode="after")
    def _allowed_only_for_categories(self) -> ColumnSpec:
        if (self.type == "category") != (self.allowed is not None):
            raise ValueError("a category column needs `allowed`, and only a category column may have it")
        if (self.min is not None or self.max is not None) and self.type != "int":
            raise ValueError("`min`/`max` apply to int columns only")
        if self.not_after_extract and self.type != "date":
            raise ValueError("`not_after_extract` applies to date columns only")
        return self


class RowCheck(_Strict):
    check: Literal["not_before", "at_most"]
    column: str
    other: str


class FeedSpec(_Strict):
    feed: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title_ja: str
    department: str
    purpose: str = Field(min_length=10)  # 日本語 first: staff and the privacy review read it
    purpose_en: str | None = None  # the same in English, shown after it in small type
    record_scope: str | None = None  # 記録範囲: whose records the feed holds (個人情報ファイル簿)
    collection: str | None = None  # 収集方法: how the town receives it (個人情報ファイル簿)
    subject_key: str | None
    # A feed without resident ID: the columns that name one of its records (the 名寄せ's source_key, joined by ":").
    record_key: tuple[str, ...] = ()
    unique: tuple[str, ...] = ()
    columns: dict[str, ColumnSpec]
    row_checks: tuple[RowCheck, ...] = ()

    @model_validator(mode="after")
    def _references_exist(self) -> FeedSpec:
        known = set(self.columns)
        for name in self.unique:
            if name not in known:
                raise ValueError(f"unique names unknown column {name!r}")
        for check in self.row_checks:
            for name in (check.column, check.other):
                if name not in known:
                    raise ValueError(f"row_checks names unknown column {name!r}")
        for name in self.record_key:
            if name not in known:
                raise ValueError(f"record_key names unknown column {name!r}")
        if self.subject_key is not None and self.subject_key not in known:
            raise ValueError(f"subject_key names unknown column {self.subject_key!r}")
        return self

    @property
    def required_columns(self) -> list[str]:
        return [name for name, col in self.columns.items() if col.required]

    @property
    def personal_columns(self) -> dict[str, PersonalClass]:
        return {name: col.personal for name, col in self.columns.items() if col.personal}


def load_feed(path: Path) -> FeedSpec:
    spec = validate_model(FeedSpec, read_yaml(path), path)
    if spec.feed != path.stem:
        raise ConfigError(path, "feed", f"is {spec.feed!r} but the file is named {path.name}")
    return spec


@cache
def _load_feeds_from(folder: Path) -> dict[str, FeedSpec]:
    return load_folder(folder, load_feed, "feed")


def load_feeds(folder: Path | None = None) -> dict[str, FeedSpec]:
    """Every canonical feed, by name."""
    return _load_feeds_from((folder or config_root() / "assets").resolve())
