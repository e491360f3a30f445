"""外字: kanji outside JIS X 0208, as a cp932 export writes them (a placeholder) and where the truth tags them.

Registries hold variant kanji such as 髙, 﨑, 濵 (in cp932 only as IBM/NEC
extensions) and 𠮷 (not in cp932 at all). Many municipal systems keep such
characters as vendor 外字 and, exporting Shift_JIS/cp932 CSV, write a geta mark
〓 in their place; some nursery systems write ＿. A UTF-8 export keeps them.
JIS X 0208 membership is tested with Python's `shift_jis` codec (JIS X 0201 +
JIS X 0208, without the cp932 extensions), so no character table is copied here.
"""

from __future__ import annotations

from functools import cache

import pandas as pd

from kodomo_pipeline.config.towns import FeedLayout
from kodomo_pipeline.generator.presets import Gaiji
from kodomo_pipeline.linkage.normalize import outside_jis0208

REGISTRY_MARK = "〓"  # 下駄記号, what municipal systems print for a 外字
NURSERY_MARK = "＿"


def has_gaiji(text: object) -> bool:
    if not isinstance(text, str):
        return False
    try:
        text.encode("shift_jis")
        return False
    except UnicodeEncodeError:
        return True


def with_placeholders(text: object, mark: str) -> object:
    """Every character outside JIS X 0208 replaced by `mark` (missing values stay missing)."""
    if not isinstance(text, str):
        return text
    try:
        text.encode("shift_jis")  # the common case, checked in C
        return text
    except UnicodeEncodeError:
        return "".join(mark if outside_jis0208(ch) else ch for ch in text)


def placeholder_mark(feed: str, layout: FeedLayout, rates: Gaiji) -> str | None:
    """The mark a cp932 export writes for 外字 in names, None when it writes them as they are.

    A character cp932 cannot encode at all (𠮷) always becomes the mark in a cp932 export.
    """
    if layout.layout.encoding.lower().replace("-", "").replace("_", "") not in ("cp932", "shiftjis", "sjis"):
        return None
    nursery = feed == "toen"
    if nursery and rates.nursery_placeholder:
        return NURSERY_MARK
    if not nursery and rates.registry_placeholder:
        return REGISTRY_MARK
    return ""  # only characters cp932 lacks


def apply_placeholders(frame: pd.DataFrame, feed: str, layout: FeedLayout, rates: Gaiji) -> pd.DataFrame:
    """The frame as a cp932 export holds its name columns (a copy; other layouts unchanged)."""
    mark = placeholder_mark(feed, layout, rates)
    if mark is None or (mark == "" and rates.rare_variant <= 0):
        return frame
    names = [c for c, col in layout.spec.columns.items() if col.type == "name" and c in frame]
    if not names:
        return frame
    out = frame.copy()
    for column in names:
        if mark:
            out[column] = out[column].map(lambda v: with_placeholders(v, mark))
        else:
            out[column] = out[column].map(lambda v: _cp932_safe(v))
    return out


def _cp932_safe(text: object) -> object:
    if not isinstance(text, str):
        return text
    return "".join(ch if in_cp932(ch) else REGISTRY_MARK for ch in text)


@cache
def in_cp932(ch: str) -> bool:
    try:
        ch.encode("cp932")
    except UnicodeEncodeError:
        return False
    return True
