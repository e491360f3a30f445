"""Ground truth files (UTF-8 CSV): links, persons, planted risk and planted defects.

They state what a correct pipeline should conclude, so linkage, validation
and risk judgment can be measured rather than eyeballed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kodomo_pipeline.generator.defects import Defect

LINK_COLUMNS = ["feed", "source_key", "resident_id", "person_uid", "noise", "is_twin"]
PERSON_COLUMNS = [
    "person_uid", "resident_id", "household_id", "name_kanji", "name_kana", "birth_date", "sex",
    "relationship", "status", "twin_group", "outsider",
]  # fmt: skip
DEFECT_COLUMNS = ["feed", "file", "row_number", "column", "reason"]


def person_uid(person: np.ndarray) -> np.ndarray:
    """Residents `P` + timeline index; stable across as-of dates."""
    return np.array([f"P{p:08d}" for p in person], dtype=object)


def outsider_uid(outsider: np.ndarray) -> np.ndarray:
    return np.array([f"O{o:07d}" for o in outsider], dtype=object)


def _write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    return path


def write_links(rows: list[pd.DataFrame], path: Path) -> Path:
    """links.csv: one row per nursery/school record."""
    frame = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=LINK_COLUMNS)
    return _write(frame[LINK_COLUMNS], path)


def write_persons(frame: pd.DataFrame, path: Path) -> Path:
    """persons.csv: the extract and the outsiders."""
    return _write(frame[PERSON_COLUMNS], path)


def write_planted(frame: pd.DataFrame, path: Path) -> Path:
    """planted_risk.csv: expected alerts under rules v1."""
    return _write(frame, path)


def write_defects(defects: list[Defect], path: Path) -> Path:
    """defects.csv: planted defects with their expected reason."""
    frame = pd.DataFrame([(d.feed, d.file, d.row_number, d.column, d.reason) for d in defects], columns=DEFECT_COLUMNS)
    return _write(frame, path)
