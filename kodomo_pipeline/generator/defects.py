"""Planted contract defects: single cells made unreadable or invalid in the written export text.

The writer only accepts valid canonical values (a Timestamp cannot be 30
February), so defects are patched into the file after writing. Each
defective row gets exactly one defect, on a column where it breaks no other
rule (never a unique key, never a row check's compared value), and the
expected quarantine reason is recorded for the truth file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kodomo_pipeline.config.towns import FeedLayout
from kodomo_pipeline.generator.rng import Rng
from kodomo_pipeline.layout.values import encode_column

REASONS = (
    "unreadable_date",
    "unreadable_month",
    "not_an_integer",
    "unknown_code",
    "missing_required",
    "not_allowed_value",
    "out_of_range",
    "bad_format",
)
# Values above the column's max that keep every row check true (the larger side of `at_most`).
OUT_OF_RANGE: dict[str, tuple[str, ...]] = {
    "weeks_at_notification": ("45", "48"),
    "visit_no": ("15", "16"),
    "epds_total": ("31", "33"),
    "epds_q10": ("4", "5"),
    "bonding_total": ("31", "35"),
    "weight_g": ("45000", "800"),
    "nurse_visits": ("230", "999"),
    "required_days": ("35", "40"),
    "late_days": ("32", "45"),
    "open_days": ("35", "40"),
}
NOT_ALLOWED: dict[str, tuple[str, ...]] = {
    "relationship": ("叔父", "兄", "内縁"),
    "status": ("転居", "保留", "不明"),
    "category": ("DV", "いじめ", "相談"),
    "abuse_type": ("経済的", "不明"),
    "techo_type": ("難病", "療養"),
    "grade": ("C", "7", "高1"),
    "exam": ("2歳", "5歳"),
    "result": ("要観察", "再検査"),
    "feeling": ("ふつう", "不明"),
    "qu_result": ("要支援群", "未実施"),
    "decision": ("保留",),
}
_INT_SUFFIX = {
    "weight_g": "g",
    "visit_no": "回",
    "weeks_at_notification": "週",
    "epds_total": "点",
    "nurse_visits": "回",
}


@dataclass(frozen=True)
class Defect:
    """One planted defect, as recorded in defects.csv."""

    feed: str
    file: str
    row_number: int  # 1-based data row (header = row 0)
    column: str  # canonical name
    reason: str
    frame_row: int  # 0-based row of the canonical frame


def _excluded_columns(feed: FeedLayout) -> set[str]:
    spec = feed.spec
    out = set(spec.unique)
    for check in spec.row_checks:
        out.add(check.column)
        if check.check == "not_before":
            out.add(check.other)
    return out


def _bad_date(text: str, style: str, pick: int) -> str:
    if style == "wareki":
        head = text.split(".")[0] if "." in text else "R05"
        return (f"{head}.02.30", "H31.05.01", "S64.01.08", f"{head}.04.31")[pick % 4]
    year = text[:4] if text[:4].isdigit() else "2023"
    if style == "slash_unpadded":
        return (f"{year}/2/30", f"{year}/4/31", f"{year}/13/1")[pick % 3]
    sep = "/" if style == "slash" else "-"
    return (f"{year}{sep}02{sep}30", f"{year}{sep}04{sep}31", f"{year}{sep}13{sep}01")[pick % 3]


def _bad_month(text: str, style: str, pick: int) -> str:
    if style == "wareki":
        head = text.split(".")[0] if "." in text else "R05"
        return (f"{head}.13", "H31.06", f"{head}.00")[pick % 3]
    year = text[:4] if text[:4].isdigit() else "2023"
    sep = "-" if style == "iso" else "/"
    return (f"{year}{sep}13", f"{year}{sep}00")[pick % 2]


def _candidates(feed: FeedLayout, column: str, text: str) -> list[tuple[str, str]]:
    """(reason, new text) options for one cell; empty when the cell should not carry a defect."""
    spec = feed.spec.columns[column]
    layout = feed.layout
    excluded = column in _excluded_columns(feed)
    out: list[tuple[str, str]] = []
    if spec.type == "resident_id" and text:
        out.append(("bad_format", text[1:] if len(text) > 6 else text + "0"))
        out.append(("bad_format", text + "9"))
    if excluded:
        if column in OUT_OF_RANGE and text:
            out.append(("out_of_range", OUT_OF_RANGE[column][0]))
        return out
    if spec.type == "date" and text:
        out.append(("unreadable_date", _bad_date(text, layout.date_style, len(text))))
    if spec.type == "month" and text:
        out.append(("unreadable_month", _bad_month(text, layout.month_style, len(text))))
    if spec.type == "int" and text:
        out.append(("not_an_integer", text + _INT_SUFFIX.get(column, "日")))
        if column in OUT_OF_RANGE:
            out.append(("out_of_range", OUT_OF_RANGE[column][len(text) % 2]))
    codes = feed.codes_for(column)
    if codes is not None and text:
        unknown = next(v for v in ("3", "9", "不明", "-") if v not in codes)
        out.append(("unknown_code", unknown))
    if spec.type == "category" and column in NOT_ALLOWED and text:
        options = [v for v in NOT_ALLOWED[column] if v not in (spec.allowed or ())]
        out.append(("not_allowed_value", options[len(text) % len(options)]))
    if spec.required and text:
        out.append(("missing_required", ""))
    return out


def plan_defects(rng: Rng, feed: FeedLayout, frame: pd.DataFrame, rate: float, file: str) -> list[tuple[Defect, str]]:
    """Choose defective rows (hash of seed, feed, row < rate) and one defect per row."""
    n_rows = len(frame)
    if n_rows == 0 or rate <= 0 or feed.feed == "taio_kekka":
        return []
    tag = f"defect:{feed.feed}"
    rows = np.flatnonzero(rng.uniform(tag, np.arange(n_rows)) < rate)
    if not len(rows):
        return []
    texts = cell_texts(frame.iloc[rows], feed)
    columns = list(feed.header_to_canonical.values())
    planned: list[tuple[Defect, str]] = []
    for j, row in enumerate(rows):
        options: list[tuple[str, str, str]] = []
        for column in columns:
            for reason, new in _candidates(feed, column, texts[column][j]):
                options.append((column, reason, new))
        if not options:
            continue
        # Spread over reasons first, then over columns.
        reasons = sorted({o[1] for o in options})
        reason = reasons[int(rng.integers(tag + ":reason", 0, len(reasons), np.array([row]))[0])]
        pool = [o for o in options if o[1] == reason]
        column, reason, new = pool[int(rng.integers(tag + ":col", 0, len(pool), np.array([row]))[0])]
        planned.append((Defect(feed.feed, file, int(row) + 1, column, reason, int(row)), new))
    return planned


def apply_defects(path: Path, feed: FeedLayout, planned: list[tuple[Defect, str]]) -> None:
    """Patch the planned cells into the written file, keeping encoding, line ends and a trailing blank line."""
    if not planned:
        return
    layout = feed.layout
    text = path.read_bytes().decode(layout.encoding)
    lines = text.split(layout.newline)
    position = {c: i for i, c in enumerate(feed.header_to_canonical.values())}
    n_cells = len(feed.header_to_canonical) + len(feed.mapping.exported_but_dropped)
    for defect, new in planned:
        cells = lines[defect.row_number].split(",")
        if len(cells) != n_cells or '"' in lines[defect.row_number]:
            raise ValueError(f"{path.name}: row {defect.row_number} is not a plain CSV line")
        cells[position[defect.column]] = new
        lines[defect.row_number] = ",".join(cells)
    path.write_bytes(layout.newline.join(lines).encode(layout.encoding))


def cell_texts(frame: pd.DataFrame, feed: FeedLayout) -> dict[str, list[str]]:
    """The exported text of each mapped column (what write_feed_csv writes), to choose defects on."""
    out = {}
    for canonical in feed.header_to_canonical.values():
        if canonical in frame:
            out[canonical] = encode_column(frame[canonical], canonical, feed).tolist()
        else:
            out[canonical] = [""] * len(frame)
    return out
