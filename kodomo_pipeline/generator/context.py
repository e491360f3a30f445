"""What every feed builder needs: the town, the timeline, the snapshot at as-of, IDs and names.

Kept in one object so the feed modules stay small functions of (context) → frame.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.generator import dates as D
from kodomo_pipeline.generator.places import TownPlaces
from kodomo_pipeline.generator.population import Names, Snapshot, World, person_names
from kodomo_pipeline.generator.rng import Rng, scramble


def id_width(pattern: str) -> int:
    """Digits of a resident ID from the town's pattern (`^[0-9]{10}$` → 10); 10 when unreadable."""
    match = re.search(r"(?:\[0-9\]|\\d)\{(\d+)\}", pattern)
    return int(match[1]) if match else 10


@dataclass
class Context:
    """One generation run: town, timeline, snapshot at as-of, and derived lookups."""

    town: TownConfig
    places: TownPlaces
    rng: Rng
    world: World
    snap: Snapshot
    asof_date: dt.date
    town_digit: int
    population: int
    _names_cache: dict[str, Names] = field(default_factory=dict)

    @property
    def asof(self) -> int:
        return self.snap.asof

    @cached_property
    def width(self) -> int:
        return id_width(self.town.resident_id_pattern)

    @cached_property
    def _prefix(self) -> str:
        return "00" if self.width >= 10 else "3"

    def check_id_space(self) -> None:
        """IDs are a bijection of the timeline index: refuse a population the town's ID width cannot number."""
        if self.world.n_persons >= 10 ** (self.width - len(self._prefix)):
            raise ValueError(f"population too large for {self.width}-digit resident IDs")

    def resident_ids(self, persons: np.ndarray) -> np.ndarray:
        """Stable resident IDs (宛名番号/住民コード): a bijection of the person index, town-specific prefix."""
        digits = self.width - len(self._prefix)
        nums = scramble(np.asarray(persons, dtype=np.int64), 10**digits, salt=11 + self.town_digit)
        return np.array([f"{self._prefix}{n:0{digits}d}" for n in nums], dtype=object)

    def household_ids(self, households: np.ndarray) -> np.ndarray:
        """Stable household IDs (世帯番号): digits, the same width as resident IDs."""
        digits = self.width - 1
        nums = scramble(np.asarray(households, dtype=np.int64), 10**digits, salt=29 + self.town_digit)
        return np.array([f"1{n:0{digits}d}" for n in nums], dtype=object)

    @cached_property
    def snap_pos(self) -> np.ndarray:
        """Person index → row in the jumin snapshot (-1 when not in the extract)."""
        pos = np.full(self.world.n_persons, -1, dtype=np.int64)
        pos[self.snap.persons] = np.arange(len(self.snap.persons))
        return pos

    @cached_property
    def snap_names(self) -> Names:
        return person_names(self.world, self.snap.persons, self.asof)

    def names(self, persons: np.ndarray) -> Names:
        """Names of any persons (from the snapshot cache when they are in the extract)."""
        pos = self.snap_pos[persons]
        if len(persons) and (pos >= 0).all():
            sn = self.snap_names
            return Names(sn.kanji[pos], sn.kanji_standard[pos], sn.kana[pos])
        return person_names(self.world, persons, self.asof)

    @cached_property
    def in_extract(self) -> np.ndarray:
        out = np.zeros(self.world.n_persons, dtype=bool)
        out[self.snap.persons] = True
        return out

    def month_window(self, months_back: int) -> np.ndarray:
        """Month indices month(asof)-months_back … month(asof)."""
        m = int(D.month_index(np.array([self.asof]))[0])
        return np.arange(m - months_back, m + 1, dtype=np.int64)
