"""Noise presets (clean / default / hard): how often each real-life identity case occurs.

The rates live in noise_presets.yaml so a reviewer can read and change them
without Python; this module only validates and loads them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from kodomo_pipeline.config.errors import ConfigError, read_yaml, validate_model

PRESETS_FILE = Path(__file__).with_name("noise_presets.yaml")

Share = Field(ge=0.0, le=1.0)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecordRates(_Strict):
    long_vowel: float = Share
    kana_typo: float = Share
    dob_slip: float = Share
    dob_fallback_off_by_one: bool
    to_standard: float = Share
    to_variant: float = Share
    kana_only_given: float = Share
    no_address: float = Share
    multi_slip: float = Share


class OutsiderRates(_Strict):
    namesake: float = Share
    namesake_same_birthday: float = Share


class SurnameChange(_Strict):
    households: float = Share
    school_ahead: float = Share
    keep_until_school_end: float = Share


class Gaiji(_Strict):
    rare_variant: float = Share
    registry_placeholder: bool
    nursery_placeholder: bool


class Foreign(_Strict):
    households: float = Share
    romaji: float = Share
    alias_at_school: float = Share
    record_katakana: float = Share  # of romaji households: the record's name column holds katakana, not romaji
    record_spelling: float = Share  # the record's katakana is another spelling than the registry's reading
    given_first: float = Share  # the record writes the given name first


class NoisePreset(_Strict):
    """One preset of noise_presets.yaml."""

    name: str = "default"
    record: RecordRates
    outsiders: OutsiderRates
    surname_change: SurnameChange
    gaiji: Gaiji
    foreign: Foreign
    close_siblings: float = Share
    same_name_residents: float = Share


def preset_names(path: Path = PRESETS_FILE) -> list[str]:
    """The presets the file defines, in its order (the CLI's choices)."""
    return list(read_yaml(path))


@cache
def load_preset(name: str = "default", path: Path = PRESETS_FILE) -> NoisePreset:
    """The named preset of the presets file (ConfigError naming file and key when it is not there or wrong)."""
    data = read_yaml(path)
    if name not in data:
        raise ConfigError(path, name, f"no such noise preset (have: {', '.join(sorted(data))})")
    body = data[name]
    if not isinstance(body, dict):
        raise ConfigError(path, name, "must be a mapping")
    try:
        return validate_model(NoisePreset, {"name": name, **body}, path)
    except ConfigError as exc:
        raise ConfigError(path, f"{name}.{exc.key}", exc.problem) from None
