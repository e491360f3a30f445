"""One error type for every configuration problem, naming the file and the key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pydantic
import yaml

M = TypeVar("M", bound=pydantic.BaseModel)
T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or does not fit its schema."""

    def __init__(self, path: Path, key: str, problem: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        super().__init__(f"{path}: {key}: {problem}")


def read_yaml(path: Path) -> dict:
    """Read one YAML mapping; syntax errors become ConfigError with the line."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(top)"
        raise ConfigError(path, where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except OSError as exc:
        raise ConfigError(path, "(file)", f"cannot be read: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise ConfigError(path, "(top)", "must be a mapping of keys to values")
    return data


def load_folder(folder: Path, load: Callable[[Path], T], what: str) -> dict[str, T]:
    """Every `*.yaml` of a folder through `load`, by file stem; an empty folder is an error too."""
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise ConfigError(folder, "(folder)", f"holds no {what} files (*.yaml)")
    return {path.stem: load(path) for path in files}


def validate_model(model: type[M], data: dict, path: Path) -> M:
    """Validate data against a pydantic model, reporting the first bad key by its dotted path."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top)"
        raise ConfigError(path, key, first["msg"]) from None
