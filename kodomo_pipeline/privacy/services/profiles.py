"""Disclosure profiles (resources/disclosure/<profile>.yaml): who receives which columns of which children.

権限管理 as data: a privacy reviewer reads and changes who gets what in git, without code. The exporter
(kodomo_pipeline.exports.disclosure) writes exactly a profile's columns for exactly its children; this module
checks each file against the vocabulary the exporter knows, so a typo or a forbidden column stops the run with
the file and key named instead of exporting something nobody reviewed.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kodomo_pipeline.config.errors import ConfigError, load_folder, read_yaml, validate_model
from kodomo_pipeline.config.paths import config_root
from kodomo_pipeline.rules.ruleset import LevelName

# The columns an export can carry: from the alert, and about its subject (registry at T, enrolment, profile).
ALERT_COLUMNS = (
    "alert_id",
    "subject_type",
    "difficulty_type",
    "type_code",
    "level",
    "score",
    "indicators",
    "not_linked",
    "known_case",
    "economic_only",
    "change",
    "rule_set_version",
    "as_of",
)
SUBJECT_COLUMNS = (
    "subject_resident_id",
    "name_kanji",
    "name_kana",
    "birth_date",
    "sex",
    "address",
    "age",
    "facility",  # the nursery at T (toen)
    "school",  # the school and grade at T (gakko_meibo)
    "grade",
    "watch",  # the fixed request 見守り
    "contact_department",  # the profile's
)
# Columns that say something about an alert, not only who the child is: never in a per-subject export.
PER_ALERT = {name for name in ALERT_COLUMNS if name not in ("subject_type", "as_of")}
KNOWN_COLUMNS = {*ALERT_COLUMNS, *SUBJECT_COLUMNS}
# Direct identifiers: a profile with `identified: false` may carry them only through a rule.
DIRECT_IDENTIFIERS = ("subject_resident_id", "alert_id", "name_kanji", "name_kana", "address", "birth_date")
ENROLMENT_FEED = {"facility": "toen", "school": "gakko_meibo", "grade": "gakko_meibo"}
RULE_SOURCES = {"pseudonymise": ("subject_resident_id",), "year_month": ("birth_date",)}
WATCH = "見守り"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnRule(_Strict):
    """One exported column: a known column as it is, or a new column derived from one by a rule."""

    column: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1)
    rule: Literal["copy", "pseudonymise", "year_month"] = "copy"
    from_: str | None = Field(default=None, alias="from")

    @property
    def source(self) -> str:
        return self.from_ or self.column


class Subjects(_Strict):
    levels: tuple[LevelName, ...] = Field(min_length=1)
    subject_types: tuple[Literal["child", "expectant_mother"], ...] = Field(min_length=1)
    enrolled_in: Literal["toen", "gakko_meibo"] | None = None


class SmallGroups(_Strict):
    k: int = Field(ge=2, le=100)
    by: tuple[str, ...] = Field(min_length=1)


class DisclosureProfile(_Strict):
    profile: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title_ja: str = Field(min_length=1)
    recipient: str = Field(min_length=1)
    purpose: str = Field(min_length=10, max_length=400)  # 日本語 first; recorded in the access log
    purpose_en: str | None = Field(default=None, max_length=600)  # the same in English, in small type
    legal_basis: str = Field(min_length=10)
    identified: bool = True
    contact_department: str | None = None
    split_by: Literal["facility", "school"] | None = None
    header: Literal["name", "label"]
    one_row_per: Literal["alert", "subject"]
    subjects: Subjects
    small_groups: SmallGroups | None = None
    columns: tuple[ColumnRule, ...] = Field(min_length=1)

    @property
    def column_names(self) -> list[str]:
        return [c.column for c in self.columns]

    @property
    def header_names(self) -> list[str]:
        """The CSV header as the recipient reads it."""
        return [c.label if self.header == "label" else c.column for c in self.columns]

    @property
    def pseudonymised(self) -> bool:
        return any(c.rule == "pseudonymise" for c in self.columns)


def _check(profile: DisclosureProfile, path: Path) -> None:
    """Rules across keys that the schema alone cannot say; each error names the key."""
    seen: set[str] = set()
    for number, col in enumerate(profile.columns):
        key = f"columns.{number}"
        if col.column in seen:
            raise ConfigError(path, f"{key}.column", f"{col.column!r} is listed twice")
        seen.add(col.column)
        if col.rule == "copy":
            if col.column not in KNOWN_COLUMNS:
                raise ConfigError(
                    path, f"{key}.column", f"unknown column {col.column!r} (resources/disclosure/README.md)"
                )
            if col.from_ not in (None, col.column):
                raise ConfigError(path, f"{key}.from", "a copied column keeps its name; use a rule to derive one")
            if not profile.identified and col.column in DIRECT_IDENTIFIERS:
                raise ConfigError(path, f"{key}.column", f"{col.column!r} identifies a person: not allowed here")
        else:
            if col.column in KNOWN_COLUMNS:
                raise ConfigError(path, f"{key}.column", "a derived column needs a new name")
            if col.source not in RULE_SOURCES[col.rule]:
                allowed = ", ".join(RULE_SOURCES[col.rule])
                raise ConfigError(path, f"{key}.from", f"rule {col.rule!r} applies to {allowed} only")
        if profile.one_row_per == "subject" and col.source in PER_ALERT:
            raise ConfigError(path, f"{key}.column", f"{col.source!r} describes an alert, not a subject")
        feed = ENROLMENT_FEED.get(col.source)
        if feed and profile.subjects.enrolled_in != feed:
            raise ConfigError(path, f"{key}.column", f"{col.source!r} needs subjects.enrolled_in: {feed}")
        if col.source in ("watch", "contact_department") and not profile.contact_department:
            raise ConfigError(path, "contact_department", f"is required for column {col.source!r}")
    if profile.header == "label":
        labels = [c.label for c in profile.columns]
        if len(set(labels)) != len(labels):
            raise ConfigError(path, "columns", "labels must differ from each other (they are the CSV header)")
    if profile.split_by and profile.subjects.enrolled_in != ENROLMENT_FEED[profile.split_by]:
        raise ConfigError(path, "split_by", f"needs subjects.enrolled_in: {ENROLMENT_FEED[profile.split_by]}")
    if profile.small_groups:
        for number, name in enumerate(profile.small_groups.by):
            if name not in seen:
                raise ConfigError(path, f"small_groups.by.{number}", f"{name!r} is not one of this profile's columns")


def load_profile(path: Path) -> DisclosureProfile:
    profile = validate_model(DisclosureProfile, read_yaml(path), path)
    if profile.profile != path.stem:
        raise ConfigError(path, "profile", f"is {profile.profile!r} but the file is named {path.name}")
    _check(profile, path)
    return profile


@cache
def _load_profiles_from(folder: Path) -> dict[str, DisclosureProfile]:
    return load_folder(folder, load_profile, "disclosure profile")


def load_profiles(folder: Path | None = None) -> dict[str, DisclosureProfile]:
    """Every disclosure profile, by name."""
    return _load_profiles_from((folder or config_root() / "resources" / "disclosure").resolve())
