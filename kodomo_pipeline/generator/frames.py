"""numpy arrays → a canonical frame with the dtypes the writer expects (datetime64, Int64, boolean, text).

Feed builders work in plain arrays (day numbers, month indices, int sentinels);
this module is the one place that knows the conversion conventions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kodomo_pipeline.config.feeds import FeedSpec
from kodomo_pipeline.generator import dates as D

INT_NA = np.int64(-(2**62))  # missing int
FLAG_NA = np.int8(-1)  # missing flag


def sex_text(female: np.ndarray) -> np.ndarray:
    return np.where(female, "女", "男").astype(object)


def flags(values: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    """bool → int8 flag array, with -1 where `missing`."""
    out = np.asarray(values, dtype=np.int8).copy()
    if missing is not None:
        out[missing] = FLAG_NA
    return out


def make_frame(spec: FeedSpec, data: dict[str, np.ndarray], extra: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Canonical frame of `spec`'s columns (absent ones stay out) plus export-only columns in `extra`."""
    out: dict[str, pd.Series] = {}
    n = len(next(iter(data.values()))) if data else 0
    for name, col in spec.columns.items():
        if name not in data:
            continue
        values = np.asarray(data[name])
        if col.type == "date":
            out[name] = D.to_datetime(values)
        elif col.type == "month":
            days = D.month_first_day(np.where(values >= D.NEVER, 0, values))
            out[name] = D.to_datetime(days, missing=values >= D.NEVER)
        elif col.type == "int":
            series = pd.Series(np.where(values == INT_NA, 0, values), dtype="Int64")
            series[values == INT_NA] = pd.NA
            out[name] = series
        elif col.type == "flag":
            v = values.astype(np.int8)
            series = pd.Series(v == 1, dtype="boolean")
            series[v == FLAG_NA] = pd.NA
            out[name] = series
        else:
            out[name] = pd.Series(values, dtype=object)
    for header, values in (extra or {}).items():
        out[header] = pd.Series(np.asarray(values, dtype=object), dtype=object)
    frame = pd.DataFrame(out)
    if len(frame) != n:
        raise ValueError("columns of unequal length")
    return frame
