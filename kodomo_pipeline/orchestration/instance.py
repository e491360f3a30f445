"""The Dagster instance under the data root: a project-local DAGSTER_HOME, SQLite unless configured otherwise."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from kodomo_pipeline.config.paths import apply_file_modes, config_root, data_root


def dagster_home(root: Path | None = None) -> Path:
    return (root or data_root()) / "dagster_home"


def prepare_dagster_home(root: Path | None = None) -> Path:
    """Create DAGSTER_HOME with the default dagster.yaml (telemetry off, one run per town) and point Dagster at it.

    An explicitly set DAGSTER_HOME (a production instance on PostgreSQL) is respected.
    """
    apply_file_modes(root or data_root())  # before Dagster creates its SQLite files and compute logs
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    home = dagster_home(root)
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        shutil.copyfile(config_root() / "resources" / "dagster" / "dagster.yaml", target)
        target.chmod(0o600)  # copyfile keeps the umask but says so explicitly: it may name a database password
    os.environ["DAGSTER_HOME"] = str(home)
    return home
