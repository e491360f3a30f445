"""The one reader of a backtest period ("1M", "6M", "2W", "14D", "1Y"): the step between replayed dates and the
outcome horizon. The engine, the report, the CLI and the Dagster asset all parse with it, so "6M" means the same
window everywhere (calendar months: same day of month, clipped to the month's end)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from kodomo_pipeline.datemath import months_before

_PERIOD = re.compile(r"^(\d+)\s*([DWMY])$")


@dataclass(frozen=True)
class Period:
    """A whole number of days, weeks, months or years (not zero)."""

    count: int
    unit: str

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PERIOD.match(str(text).strip().upper())
        if not match or int(match[1]) == 0:
            raise ValueError(f"{text!r}: use a number and D, W, M or Y, e.g. 1M or 6M")
        return cls(int(match[1]), match[2])

    def after(self, day: dt.date, times: int = 1) -> dt.date:
        """`day` plus `times` periods (negative: before); months keep the day of month, clipped."""
        n = self.count * times
        if self.unit == "D":
            return day + dt.timedelta(days=n)
        if self.unit == "W":
            return day + dt.timedelta(weeks=n)
        return months_before(day, -n * (12 if self.unit == "Y" else 1))

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"
