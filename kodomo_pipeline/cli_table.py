"""Plain-text tables for the terminal whose columns stay apart at any size (a million rows, long feed names).

Widths come from the values themselves (full-width characters count twice), with two spaces between
columns; numbers get thousands separators and are right-aligned. Written here rather than with rich's Table
because the output must stay plain text for job schedulers' logs (no box characters, no terminal width).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

GAP = "  "


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def cell(value: object) -> str:
    """A number with thousands separators; missing as empty; anything else as text."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[object]], numeric: set[int]) -> list[str]:
    """Lines of a table; columns whose index is in `numeric` are right-aligned."""
    texts = [[cell(value) for value in row] for row in rows]
    widths = [max([display_width(h), *(display_width(row[i]) for row in texts)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        padded = []
        for i, value in enumerate(values):
            fill = " " * (widths[i] - display_width(value))
            padded.append(fill + value if i in numeric else value + fill)
        return GAP.join(padded).rstrip()

    return [line(list(headers)), *(line(row) for row in texts)]
