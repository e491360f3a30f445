"""Configuration as data: feeds, towns and shared systems, schema-checked on load."""

from kodomo_pipeline.config.errors import ConfigError
from kodomo_pipeline.config.feeds import ColumnSpec, FeedSpec, load_feeds
from kodomo_pipeline.config.towns import FeedLayout, Layout, TownConfig, load_town, load_towns

__all__ = [
    "ColumnSpec",
    "ConfigError",
    "FeedLayout",
    "FeedSpec",
    "Layout",
    "TownConfig",
    "load_feeds",
    "load_town",
    "load_towns",
]
