"""Screen an export's lines before parsing: NUL bytes and over-long lines cost one row each, never the file.

One vectorised pass over the bytes (numpy), linear in the file size, so a 10 MB single-line file is refused
in well under a second instead of reaching the CSV parsers. A bad line is replaced by a marker line that
both parsers see as one malformed record; the reader turns the marker back into the reason code, so the
row is quarantined under its own row number. The header line (line 0) cannot be replaced: a bad header
makes the file unreadable, with the cause and never the line's content.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MARKER = "\x1a"  # ASCII SUB: never in a department's text export; starts a replaced line
NUL_BYTE = "nul_byte"
LINE_TOO_LONG = "line_too_long"


@dataclass
class Screened:
    data: bytes  # the file's bytes with each bad line replaced by MARKER + reason
    bad_lines: dict[int, str]  # line number (header = 0) → reason
    header_problem: str | None  # why the header line itself cannot be used, or None


def marker_reason(text: str) -> str | None:
    """The reason code of a replaced line, or None for an ordinary line."""
    if text.startswith(MARKER) and text[1:].strip() in (NUL_BYTE, LINE_TOO_LONG):
        return text[1:].strip()
    return None


def screen_lines(data: bytes, max_line_bytes: int) -> Screened:
    """Find lines holding a NUL byte or longer than `max_line_bytes` (line ends not counted)."""
    has_nul = b"\x00" in data
    if not has_nul and len(data) <= max_line_bytes:
        return Screened(data, {}, None)
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [len(data)]))
    lengths = stops - starts
    lengths -= (lengths > 0) & (raw[np.maximum(stops - 1, 0)] == 13)  # a CR before the LF is the line end
    bad: dict[int, str] = {int(n): LINE_TOO_LONG for n in np.flatnonzero(lengths > max_line_bytes)}
    if has_nul:
        lines = np.unique(np.searchsorted(ends, np.flatnonzero(raw == 0), side="left"))
        bad |= {int(n): NUL_BYTE for n in lines}
    if not bad:
        return Screened(data, {}, None)
    if 0 in bad:
        cause = {
            NUL_BYTE: "not a CSV text file (NUL bytes in the header line; a spreadsheet or archive?)",
            LINE_TOO_LONG: f"the header line is longer than {max_line_bytes:,} bytes (the limit of "
            "resources/ingestion.yaml): not an export in the agreed layout",
        }[bad[0]]
        return Screened(data, bad, cause)
    parts: list[bytes] = []
    position = 0
    for number in sorted(bad):
        parts += [data[position : starts[number]], f"{MARKER}{bad[number]}".encode("ascii")]
        position = int(stops[number])
    parts.append(data[position:])
    return Screened(b"".join(parts), bad, None)
