"""Where configuration and state live: the repository's config folders and the data root."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def config_root() -> Path:
    """The folder holding assets/ and resources/: KODOMO_CONFIG, else the checkout."""
    env = os.environ.get("KODOMO_CONFIG")
    return Path(env).resolve() if env else PACKAGE_DIR.parent


def data_root() -> Path:
    """All state (inboxes, databases, outputs, DAGSTER_HOME) lives under KODOMO_HOME, default ./data."""
    return Path(os.environ.get("KODOMO_HOME", "data")).resolve()


def resolve_under(root: Path, value: str | Path) -> Path:
    """A configured path: absolute as written, else relative to the data root."""
    path = Path(value)
    return path if path.is_absolute() else root / path
