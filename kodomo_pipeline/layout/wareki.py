"""和暦 (Japanese era) dates as the town systems write them: `R05.04.01`, `H元.01.08`, months `R05.04`;
and as people type them: `令和8年11月4日`, `令和元年5月1日`.

Written here rather than taken from a library because the export style
(era letter + two-digit year, `元` for year 1) is the vendors', and the
boundaries must be strict: `S64.01.08` and `H31.05.01` do not exist.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Era:
    letter: str
    name: str
    first_day: dt.date
    last_day: dt.date


ERAS: tuple[Era, ...] = (
    # Meiji 1 counts from 1868-01-01 (the era was proclaimed retroactively).
    Era("M", "明治", dt.date(1868, 1, 1), dt.date(1912, 7, 29)),
    Era("T", "大正", dt.date(1912, 7, 30), dt.date(1926, 12, 24)),
    Era("S", "昭和", dt.date(1926, 12, 25), dt.date(1989, 1, 7)),
    Era("H", "平成", dt.date(1989, 1, 8), dt.date(2019, 4, 30)),
    Era("R", "令和", dt.date(2019, 5, 1), dt.date(9999, 12, 31)),
)
_BY_LETTER = {era.letter: era for era in ERAS}
_BY_NAME = {era.name: era for era in ERAS}
ERA_NAMES = {era.letter: era.name for era in ERAS}
_DATE = re.compile(r"^([MTSHR])(元|\d{1,2})\.(\d{1,2})\.(\d{1,2})$")
_MONTH = re.compile(r"^([MTSHR])(元|\d{1,2})\.(\d{1,2})$")
_KANJI_DATE = re.compile(r"^(明治|大正|昭和|平成|令和)\s*(元|\d{1,2})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日$")


class WarekiError(ValueError):
    """A value is not a 和暦 date, or names a day outside its era."""


def _gregorian_year(era: Era, year_text: str) -> int:
    year = 1 if year_text == "元" else int(year_text)
    if year < 1:
        raise WarekiError("era year 0 does not exist")
    return era.first_day.year + year - 1


def _era_day(era: Era, year_text: str, month: str, day_text: str) -> dt.date:
    """The day of an era's year, month and day, refused when it does not exist or lies outside the era."""
    try:
        day = dt.date(_gregorian_year(era, year_text), int(month), int(day_text))
    except ValueError as exc:
        raise WarekiError(str(exc)) from None
    if not era.first_day <= day <= era.last_day:
        raise WarekiError(f"outside the {era.name} era")
    return day


def parse_wareki_date(text: str) -> dt.date:
    match = _DATE.match(text)
    if not match:
        raise WarekiError("not in the form E.yy.mm.dd (e.g. R05.04.01)")
    return _era_day(_BY_LETTER[match[1]], match[2], match[3], match[4])


def parse_kanji_wareki_date(text: str) -> dt.date:
    """`令和8年11月4日` / `令和元年5月1日` (digits already half-width): the era's name written out, as staff type it."""
    match = _KANJI_DATE.match(text)
    if not match:
        raise WarekiError("not in the form 令和8年11月4日")
    return _era_day(_BY_NAME[match[1]], match[2], match[3], match[4])


def parse_wareki_month(text: str) -> dt.date:
    """A month `R05.04` → its first day; the month must overlap the era (`H31.04` yes, `H31.05` no)."""
    match = _MONTH.match(text)
    if not match:
        raise WarekiError("not in the form E.yy.mm (e.g. R05.04)")
    era = _BY_LETTER[match[1]]
    month = int(match[3])
    if not 1 <= month <= 12:
        raise WarekiError("month out of range")
    first = dt.date(_gregorian_year(era, match[2]), month, 1)
    next_month = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    if next_month <= era.first_day or first > era.last_day:
        raise WarekiError(f"outside the {era.name} era")
    return first


def era_of(day: dt.date) -> Era:
    for era in reversed(ERAS):
        if day >= era.first_day:
            return era
    raise WarekiError("before the Meiji era")


def format_wareki_date(day: dt.date, gannen: bool = False) -> str:
    """`R05.04.01`; with gannen=True year 1 is written `元` (as some systems do)."""
    era = era_of(day)
    year = day.year - era.first_day.year + 1
    year_text = "元" if gannen and year == 1 else f"{year:02d}"
    return f"{era.letter}{year_text}.{day.month:02d}.{day.day:02d}"


def format_wareki_month(first_day: dt.date, gannen: bool = False) -> str:
    """`R05.04`; a month split by an era change (Jan 1989, May 2019) is written in the new era."""
    last_day = (first_day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    era = era_of(last_day)
    year = first_day.year - era.first_day.year + 1
    year_text = "元" if gannen and year == 1 else f"{year:02d}"
    return f"{era.letter}{year_text}.{first_day.month:02d}"
