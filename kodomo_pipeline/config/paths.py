"""Where configuration and state live: the repository's config folders and the data root."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
INSTALLED_CONFIG = Path(sys.prefix) / "share" / "kodomo-pipeline"  # the wheel's data-files (pyproject.toml)


def config_root() -> Path:
    """The folder holding assets/ and resources/: KODOMO_CONFIG, else the checkout, else the wheel's copy."""
    env = os.environ.get("KODOMO_CONFIG")
    if env:
        return Path(env).resolve()
    checkout = PACKAGE_DIR.parent
    if (checkout / "resources" / "towns").is_dir():
        return checkout
    return INSTALLED_CONFIG.resolve()


def data_root() -> Path:
    """All state (inboxes, databases, outputs, DAGSTER_HOME) lives under KODOMO_HOME, default ./data."""
    return Path(os.environ.get("KODOMO_HOME", "data")).resolve()


def resolve_under(root: Path, value: str | Path) -> Path:
    """A configured path: absolute as written, else relative to the data root."""
    path = Path(value)
    return path if path.is_absolute() else root / path
