"""CSV as the outputs contract asks: UTF-8 with BOM (Excel), CRLF, one header row, formula-injection safe."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t")


def neutralise_formula(value: object) -> str:
    """A cell that a spreadsheet would run as a formula gets a leading apostrophe (OWASP CSV injection)."""
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def cell_texts(values: pd.Series) -> list[str]:
    """The column's cells as `neutralise_formula` writes them, each distinct value turned into text once
    (a per-cell loop over a crosswalk of a 1M-resident town was most of its export time)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    texts = np.array([neutralise_formula(value) for value in uniques] + [""], dtype=object)
    return texts[codes].tolist()  # code -1 (missing) is the trailing ""


def write_contract_csv(frame: pd.DataFrame, columns: list[str], path: Path) -> Path:
    """Write exactly `columns`, in that order; missing values are empty cells."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows(zip(*(cell_texts(frame[name]) for name in columns), strict=True))
    return path
