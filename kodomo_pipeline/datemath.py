"""Calendar arithmetic as the rules read it: same day of month, 29 Feb → 28 Feb."""

from __future__ import annotations

import calendar
import datetime as dt


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months earlier, clipped to the month's last day (31 May − 3 → 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def years_before(day: dt.date, years: int) -> dt.date:
    return months_before(day, 12 * years)
