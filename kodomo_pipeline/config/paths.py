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


GROUP_ENV = "KODOMO_GROUP"  # a group that may read the data root (e.g. the backup operator's); default none


def apply_file_modes(root: Path) -> None:
    """Everything the tool writes is owner-only (folders 0700, files 0600) from its creation: the town database,
    outputs and error logs hold personal data. With KODOMO_GROUP set, that group may read (0750/0640; the
    data root gets the group and the setgid bit, so new folders inherit it). Sets this process's umask."""
    group = os.environ.get(GROUP_ENV, "").strip()
    os.umask(0o027 if group else 0o077)
    root.mkdir(parents=True, exist_ok=True)
    if group:
        import shutil

        shutil.chown(root, group=group)
        root.chmod(0o2750)
    else:
        root.chmod(0o700)
