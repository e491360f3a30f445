"""Column values between a town's export text and the canonical form, per column type.

Decoding works on the distinct values of a column (dates, codes and names
repeat a lot), so a million-row feed parses a few thousand strings.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import jaconv
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kodomo_pipeline.config.feeds import ColumnSpec
from kodomo_pipeline.config.towns import DateStyle, FeedLayout, Layout
from kodomo_pipeline.layout.wareki import (
    ERA_NAMES,
    WarekiError,
    format_wareki_date,
    format_wareki_month,
    parse_kanji_wareki_date,
    parse_wareki_date,
    parse_wareki_month,
)

FULLWIDTH_SPACE = "\u3000"
_SPACES = re.compile(r"[\s\u3000]+")
_YMD = {
    "slash": re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    "slash_unpadded": re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    "iso": re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
}
_YM = {
    "slash": re.compile(r"^(\d{4})/(\d{1,2})$"),
    "slash_unpadded": re.compile(r"^(\d{4})/(\d{1,2})$"),
    "iso": re.compile(r"^(\d{4})-(\d{2})$"),
}
_INT = re.compile(r"^-?\d+$")
ANY_STYLES: tuple[DateStyle, ...] = ("wareki", "iso", "slash")  # what style `any` tries, in this order
_SEIREKI_KANJI = re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日$")
_ERA_LETTER_KANJI = re.compile(r"^([MTSHR])\s*(?:元|\d{1,2})\s*年")


@dataclass(frozen=True)
class Decoded:
    """A decoded column: canonical values, and a reason code where a value could not be read."""

    values: pd.Series
    failed: pd.Series  # bool mask: a non-empty value that could not be decoded
    reason: str


class ValueUnreadable(ValueError):
    pass


def _parse_ymd(text: str, style: DateStyle) -> dt.date:
    if style == "wareki":
        return parse_wareki_date(text)
    if style == "any":
        return parse_typed_date(text)
    match = _YMD[style].match(text)
    if not match:
        raise ValueUnreadable(f"not a {style} date")
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError as exc:
        raise ValueUnreadable(str(exc)) from None


def parse_typed_date(text: str) -> dt.date:
    """A date as staff type it (date style `any`): R8.11.4, R08.11.04, 令和8年11月4日, 2026/11/4, 2026-11-04
    (also R8年11月4日 and 2026年11月4日).

    Full-width digits and letters (Ｒ８．１１．４) are folded by NFKC first."""
    text = unicodedata.normalize("NFKC", text).strip().upper()
    if letter := _ERA_LETTER_KANJI.match(text):  # R8年11月4日: the letter with 年月日
        text = ERA_NAMES[letter[1]] + text[1:]
    try:
        return parse_kanji_wareki_date(text)
    except WarekiError:
        pass
    if seireki := _SEIREKI_KANJI.match(text):  # 2026年11月4日
        try:
            return dt.date(int(seireki[1]), int(seireki[2]), int(seireki[3]))
        except ValueError as exc:
            raise ValueUnreadable(str(exc)) from None
    if (day := _in_any_style(_parse_ymd, text)) is not None:
        return day
    raise ValueUnreadable("not a date in any accepted style")


def _in_any_style(parse: Callable[[str, DateStyle], dt.date], text: str) -> dt.date | None:
    """The first reading of `text` in the styles `any` accepts (wareki, iso, slash, in that order), or None."""
    for candidate in ANY_STYLES:
        try:
            return parse(text, candidate)
        except (ValueUnreadable, WarekiError):
            continue
    return None


def _parse_ym(text: str, style: DateStyle) -> dt.date:
    if style == "wareki":
        return parse_wareki_month(text)
    if style == "any":
        if (month := _in_any_style(_parse_ym, text)) is not None:
            return month
        raise ValueUnreadable("not a month in any accepted style")
    match = _YM[style].match(text)
    if not match or not 1 <= int(match[2]) <= 12:
        raise ValueUnreadable(f"not a {style} month")
    return dt.date(int(match[1]), int(match[2]), 1)


def canonical_kana(text: str) -> str:
    """Full-width katakana, one full-width space between surname and given name.

    NFKC joins half-width kana with their separate dakuten (ﾀﾞ → ダ);
    jaconv turns the school system's hiragana into katakana.
    """
    text = jaconv.hira2kata(unicodedata.normalize("NFKC", text))
    return _SPACES.sub(FULLWIDTH_SPACE, text.strip())


def canonical_name(text: str) -> str:
    """Kanji name as registered (variant kanji kept), one full-width space between the parts."""
    return _SPACES.sub(FULLWIDTH_SPACE, text.strip())


_TEXT = pd.StringDtype("pyarrow")


def _typed(values: list[object], dtype: str) -> pd.api.extensions.ExtensionArray | pd.DatetimeIndex:
    if dtype == "date":
        return pd.DatetimeIndex(pd.to_datetime(pd.Series(values, dtype=object)))
    if dtype == "Int64":
        return pd.array(values, dtype="Int64")
    if dtype == "boolean":
        return pd.array(values, dtype="boolean")
    return pd.array(values, dtype=_TEXT)


def _map_unique(raw: pd.Series, parse: Callable[[str], object], reason: str, dtype: str) -> Decoded:
    """Parse each distinct value once (surrounding spaces ignored); empty stays missing; failures are marked."""
    codes, uniques = pd.factorize(raw, sort=False, use_na_sentinel=True)
    parsed: list[object] = []
    bad = np.zeros(len(uniques) + 1, dtype=bool)  # the extra slot is for missing (code -1)
    for i, value in enumerate(uniques):
        text = str(value).strip()
        if not text:
            parsed.append(None)
            continue
        try:
            parsed.append(parse(text))
        except (ValueUnreadable, WarekiError, KeyError, ValueError):
            parsed.append(None)
            bad[i] = True
    table = _typed([*parsed, None], dtype)
    codes = np.where(codes < 0, len(uniques), codes)
    values = pd.Series(table.take(codes), index=raw.index)
    return Decoded(values, pd.Series(bad[codes], index=raw.index), reason)


def _code_parser(codes: dict[str, bool | str]) -> Callable[[str], bool | str]:
    def parse(text: str) -> bool | str:
        return codes[text]

    return parse


def _arrow_text(raw: pd.Series) -> pa.ChunkedArray | pa.Array:
    """Trimmed text, empty as missing, computed by Arrow over the whole column (no per-value Python)."""
    text = pc.utf8_trim_whitespace(pa.array(raw, type=pa.string()))
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _as_text(values: pa.Array, index: pd.Index) -> Decoded:
    series = pd.Series(pd.array(values, dtype=_TEXT), index=index)
    return Decoded(series, pd.Series(False, index=index), "")


def decode_column(raw: pd.Series, column: str, feed: FeedLayout) -> Decoded:
    """Export text → canonical values for one column, by the column's type and the feed's layout."""
    spec: ColumnSpec = feed.spec.columns[column]
    layout: Layout = feed.layout
    kind = spec.type
    if kind == "date":
        return _map_unique(raw, lambda t: _parse_ymd(t, layout.date_style), "unreadable_date", "date")
    if kind == "month":
        return _map_unique(raw, lambda t: _parse_ym(t, layout.month_style), "unreadable_month", "date")
    if kind == "int":

        def parse_int(text: str) -> int:
            text = unicodedata.normalize("NFKC", text)
            if not _INT.match(text):
                raise ValueUnreadable("not an integer")
            return int(text)

        return _map_unique(raw, parse_int, "not_an_integer", "Int64")
    codes = feed.codes_for(column)
    if codes is not None:
        is_bool = all(isinstance(v, bool) for v in codes.values())
        return _map_unique(raw, _code_parser(codes), "unknown_code", "boolean" if is_bool else "string")
    if kind == "kana":
        if layout.kana_style == "hiragana":
            return _map_unique(raw, canonical_kana, "unreadable_kana", "string")
        # Same result as canonical_kana for katakana input, done by Arrow for the whole column.
        text = pc.utf8_normalize(_arrow_text(raw), form="NFKC")
        return _as_text(pc.replace_substring_regex(text, r"[\s\x{3000}]+", FULLWIDTH_SPACE), raw.index)
    if kind == "name":
        return _as_text(pc.replace_substring_regex(_arrow_text(raw), r"[\s\x{3000}]+", FULLWIDTH_SPACE), raw.index)
    return _as_text(_arrow_text(raw), raw.index)


# --- the other direction, for the sample-data generator -------------------------------------------


# A western date style's (date, month) patterns; `iso` and `any` are written as ISO.
_WESTERN_PATTERNS = {
    "slash_unpadded": ("{0.year}/{0.month}/{0.day}", "{0.year}/{0.month}"),
    "slash": ("{0.year}/{0.month:02d}/{0.day:02d}", "{0.year}/{0.month:02d}"),
}
_ISO_PATTERNS = ("{0.year:04d}-{0.month:02d}-{0.day:02d}", "{0.year}-{0.month:02d}")


def _format_date(day: dt.date, style: DateStyle, gannen: bool, month: bool = False) -> str:
    """A date (or, with month=True, its month) as a system of that style writes it."""
    if style == "wareki":
        return format_wareki_month(day, gannen) if month else format_wareki_date(day, gannen)
    date_pattern, month_pattern = _WESTERN_PATTERNS.get(style, _ISO_PATTERNS)
    return (month_pattern if month else date_pattern).format(day)


def export_kana(kana: str, layout: Layout) -> str:
    """Canonical katakana → the layout's kana style (half-width, full-width or hiragana)."""
    if layout.kana_style == "halfwidth_katakana":
        return jaconv.z2h(kana, kana=True, ascii=False, digit=False).replace(FULLWIDTH_SPACE, " ")
    if layout.kana_style == "hiragana":
        return jaconv.kata2hira(kana).replace(FULLWIDTH_SPACE, " ")
    return kana


def export_name(name: str, layout: Layout) -> str:
    return name if layout.name_separator == "fullwidth" else name.replace(FULLWIDTH_SPACE, " ")


def encode_column(values: pd.Series, column: str, feed: FeedLayout) -> pd.Series:
    """Canonical values → the text a town's system would export (missing → empty field)."""
    kind = feed.spec.columns[column].type
    layout = feed.layout
    gannen = layout.gannen
    codes = feed.codes_for(column)
    if codes is not None:
        inverse = {value: text for text, value in codes.items()}
        to_text: Callable[[object], str] = lambda v: inverse[v]  # noqa: E731
    elif kind == "date":
        to_text = lambda v: _format_date(pd.Timestamp(v).date(), layout.date_style, gannen)  # noqa: E731
    elif kind == "month":
        to_text = lambda v: _format_date(pd.Timestamp(v).date(), layout.month_style, gannen, month=True)  # noqa: E731
    elif kind == "kana":
        to_text = lambda v: export_kana(str(v), layout)  # noqa: E731
    elif kind == "name":
        to_text = lambda v: export_name(str(v), layout)  # noqa: E731
    elif kind == "int":
        to_text = lambda v: str(int(v))  # noqa: E731
    else:
        to_text = str
    codes_, uniques = pd.factorize(values, sort=False, use_na_sentinel=True)
    texts = np.array([to_text(u.item() if hasattr(u, "item") else u) for u in uniques] + [""], dtype=object)
    return pd.Series(texts[codes_], index=values.index, dtype=object)
