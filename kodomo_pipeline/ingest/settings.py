"""resources/ingestion.yaml: the line-length limit and the shrinking-snapshot rule, per town and feed, as data."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kodomo_pipeline.config.errors import ConfigError, read_yaml, validate_model
from kodomo_pipeline.config.paths import config_root


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ShrinkRule(_Strict):
    threshold: float = Field(gt=0, le=1)
    action: Literal["warn", "hold"]
    min_previous_rows: int = Field(ge=0)


class ShrinkOverride(_Strict):
    threshold: float | None = Field(default=None, gt=0, le=1)
    action: Literal["warn", "hold"] | None = None
    min_previous_rows: int | None = Field(default=None, ge=0)


class _FeedOverride(_Strict):
    shrink: ShrinkOverride = ShrinkOverride()


class _TownOverride(_Strict):
    max_line_bytes: int | None = Field(default=None, ge=1024)
    shrink: ShrinkOverride = ShrinkOverride()
    feeds: dict[str, _FeedOverride] = {}


class _Defaults(_Strict):
    max_line_bytes: int = Field(ge=1024)
    shrink: ShrinkRule


class _File(_Strict):
    defaults: _Defaults
    towns: dict[str, _TownOverride] = {}


class FeedIngestion(_Strict):
    """The settings in force for one town's feed."""

    max_line_bytes: int
    shrink: ShrinkRule
    source: str


def _merge(rule: ShrinkRule, override: ShrinkOverride) -> ShrinkRule:
    return rule.model_copy(update=override.model_dump(exclude_none=True))


@lru_cache(maxsize=8)
def _load(path: Path) -> _File:
    return validate_model(_File, read_yaml(path), path)


def ingestion_settings(town: str, feed: str, path: Path | None = None) -> FeedIngestion:
    """Defaults, then the town's overrides, then the feed's; errors name the file and the key."""
    path = path or config_root() / "resources" / "ingestion.yaml"
    data = _load(path)
    town_part = data.towns.get(town, _TownOverride())
    for name in town_part.feeds:
        if not name.replace("_", "").isalnum():
            raise ConfigError(path, f"towns.{town}.feeds.{name}", "is not a feed name")
    shrink = _merge(data.defaults.shrink, town_part.shrink)
    if feed in town_part.feeds:
        shrink = _merge(shrink, town_part.feeds[feed].shrink)
    return FeedIngestion(
        max_line_bytes=town_part.max_line_bytes or data.defaults.max_line_bytes, shrink=shrink, source=str(path)
    )
