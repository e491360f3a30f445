"""Dates as int64 day numbers (days since 1970-01-01), vectorised; school and nursery calendars.

Day numbers keep the timeline arithmetic in plain numpy; conversion to pandas
datetimes happens once, when a feed's frame is built.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import numpy as np
import pandas as pd

EPOCH = dt.date(1970, 1, 1)
NEVER = np.int64(10**6)  # a day number far after any as-of date ("has not happened")
CAL_START = dt.date(1900, 1, 1)
CAL_END = dt.date(2060, 12, 31)


def day(d: dt.date) -> int:
    """A date as its day number."""
    return (d - EPOCH).days


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month, day arrays of day numbers."""
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    months = d.astype("datetime64[M]")
    year = months.astype(np.int64) // 12 + 1970
    month = months.astype(np.int64) % 12 + 1
    dom = (d - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, dom


def from_ymd(year: np.ndarray, month: np.ndarray, dom: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Day numbers of (year, month, day), and a mask of which triples are real dates."""
    year = np.asarray(year, dtype=np.int64)
    month = np.asarray(month, dtype=np.int64)
    dom = np.asarray(dom, dtype=np.int64)
    ok = (month >= 1) & (month <= 12) & (dom >= 1)
    mi = (year - 1970) * 12 + np.clip(month, 1, 12) - 1
    first = month_first_day(mi)
    length = month_first_day(mi + 1) - first
    ok &= dom <= length
    return first + dom - 1, ok


def month_index(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of day numbers."""
    return np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def month_first_day(mi: np.ndarray) -> np.ndarray:
    """Day number of the first day of month index `mi`."""
    return np.asarray(mi, dtype=np.int64).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def add_months(days: np.ndarray, months: int | np.ndarray) -> np.ndarray:
    """Same day of month `months` later, clipped to the month's end (29 Feb + 12 months → 28 Feb)."""
    y, m, d = ymd(days)
    mi = (y - 1970) * 12 + m - 1 + np.asarray(months, dtype=np.int64)
    first = month_first_day(mi)
    length = month_first_day(mi + 1) - first
    return first + np.minimum(d, length) - 1


def add_years(days: np.ndarray, years: np.ndarray | float) -> np.ndarray:
    """Approximate year offsets (365.25 days a year), for timeline spacing."""
    return np.asarray(days, dtype=np.int64) + np.round(np.asarray(years) * 365.25).astype(np.int64)


def fiscal_year(days: np.ndarray) -> np.ndarray:
    """Japanese fiscal/school year (April–March) of day numbers."""
    y, m, _ = ymd(days)
    return np.where(m >= 4, y, y - 1)


def school_cohort(birth: np.ndarray) -> np.ndarray:
    """Children born 2 April Y … 1 April Y+1 share school cohort Y (小1 in the school year Y+7)."""
    y, m, d = ymd(birth)
    early = (m < 4) | ((m == 4) & (d == 1))
    return np.where(early, y - 1, y)


def age_years(birth: np.ndarray, at: int | np.ndarray) -> np.ndarray:
    """満年齢 at day `at`: completed years, a birthday counting on the day itself."""
    by, bm, bd = ymd(birth)
    ty, tm, td = ymd(np.broadcast_to(np.asarray(at, dtype=np.int64), np.shape(birth)))
    before = (tm < bm) | ((tm == bm) & (td < bd))
    return ty - by - before.astype(np.int64)


def to_datetime(days: np.ndarray, missing: np.ndarray | None = None) -> pd.Series:
    """Day numbers → datetime64[ns] Series; `missing` (or NEVER) → NaT."""
    arr = np.asarray(days, dtype=np.int64)
    out = arr.astype("datetime64[D]").astype("datetime64[ns]")
    mask = arr >= NEVER if missing is None else (missing | (arr >= NEVER))
    out = out.copy()
    out[mask] = np.datetime64("NaT")
    return pd.Series(out)


def _equinox(year: int, base: float) -> int:
    return int(base + 0.242194 * (year - 1980) - int((year - 1980) / 4))


def _nth_monday(year: int, month: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    offset = (7 - first.weekday()) % 7
    return first + dt.timedelta(days=offset + 7 * (n - 1))


def japanese_holidays(year: int) -> set[dt.date]:
    """National holidays (current rules, approximated for all years), with substitute Mondays."""
    days = {
        dt.date(year, 1, 1),
        dt.date(year, 2, 11),
        dt.date(year, 3, _equinox(year, 20.8431)),
        dt.date(year, 4, 29),
        dt.date(year, 5, 3),
        dt.date(year, 5, 4),
        dt.date(year, 5, 5),
        dt.date(year, 9, _equinox(year, 23.2488)),
        dt.date(year, 11, 3),
        dt.date(year, 11, 23),
        _nth_monday(year, 1, 2),
        _nth_monday(year, 7, 3),
        _nth_monday(year, 9, 3),
        _nth_monday(year, 10, 2),
    }
    days.add(dt.date(year, 2, 23) if year >= 2020 else dt.date(year, 12, 23))
    if year >= 2016:
        days.add(dt.date(year, 8, 11))
    for holiday in sorted(days):
        if holiday.weekday() == 6:
            sub = holiday + dt.timedelta(days=1)
            while sub in days:
                sub += dt.timedelta(days=1)
            days.add(sub)
    return days


@cache
def _calendars() -> tuple[int, np.ndarray, np.ndarray]:
    """Cumulative counts of school days and nursery open days from CAL_START."""
    start, end = day(CAL_START), day(CAL_END)
    n = end - start + 1
    days = np.arange(start, end + 1, dtype=np.int64)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday (weekday 3, Monday = 0)
    _, m, d = ymd(days)
    holidays = np.zeros(n, dtype=bool)
    for year in range(CAL_START.year, CAL_END.year + 1):
        for holiday in japanese_holidays(year):
            holidays[day(holiday) - start] = True
    md = m * 100 + d
    school_break = (
        ((md >= 401) & (md <= 406))  # spring break until the entrance ceremony
        | ((md >= 721) & (md <= 824))  # summer
        | (md >= 1225)
        | (md <= 107)  # winter
        | (md >= 325) & (md <= 331)  # spring
    )
    school = (weekday < 5) & ~holidays & ~school_break
    new_year = (md >= 1229) | (md <= 103)
    nursery = (weekday < 6) & ~holidays & ~new_year
    return start, np.concatenate([[0], np.cumsum(school)]), np.concatenate([[0], np.cumsum(nursery)])


def school_days_between(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """School days in [first, last] (0 when last < first)."""
    start, school, _ = _calendars()
    lo = np.clip(np.asarray(first, dtype=np.int64) - start, 0, len(school) - 1)
    hi = np.clip(np.asarray(last, dtype=np.int64) - start + 1, 0, len(school) - 1)
    return np.maximum(school[hi] - school[lo], 0)


def nursery_days_between(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Nursery open days (Mon–Sat, not holidays or New Year) in [first, last]."""
    start, _, nursery = _calendars()
    lo = np.clip(np.asarray(first, dtype=np.int64) - start, 0, len(nursery) - 1)
    hi = np.clip(np.asarray(last, dtype=np.int64) - start + 1, 0, len(nursery) - 1)
    return np.maximum(nursery[hi] - nursery[lo], 0)
