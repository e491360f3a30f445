"""CSV as the outputs contract asks: UTF-8 with BOM (Excel), CRLF, one header row, formula-injection safe."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t")


def neutralise_formula(value: object) -> str:
    """A cell that a spreadsheet would run as a formula gets a leading apostrophe (OWASP CSV injection)."""
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_contract_csv(frame: pd.DataFrame, columns: list[str], path: Path) -> Path:
    """Write exactly `columns`, in that order; missing values are empty cells."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(columns)
        for row in frame[columns].itertuples(index=False):
            writer.writerow([neutralise_formula(value) for value in row])
    return path
