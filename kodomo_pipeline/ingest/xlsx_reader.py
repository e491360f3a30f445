"""Read a workbook dropped in the inbox (`<feed>_<YYYYMMDD>.xlsx`) into the same RawExport the CSV reader gives.

Meant for what staff fill in: the meeting list returned as taio_kekka_<YYYYMMDD>.xlsx and the 名寄せ decision
template. Cells become the text a CSV of the same sheet would hold (dates as YYYY-MM-DD, whole numbers without
`.0`), so the feed's layout, contract and quarantine apply unchanged. openpyxl reads the file (a well-kept
library); only the mapping of cells to text and row numbers is ours.

Which rows are records:
- every sheet with a row holding the layout's required headers (the first row, or one of the first ten when a
  title sits above) is read, in workbook order (the meeting list and its これまでの判定 sheet); other sheets
  (件数, レベルの意味) are not;
- row numbers count from the header (header = row 0, as in a CSV): on the meeting list, the Excel row - 1; a
  further sheet's rows continue after the last row of the sheet before, so every row has its own number;
- a row with no value in any column the layout reads is a blank spreadsheet row, not a record;
- a row where every column of the layout's `filled_in_by_staff` is empty is a printed row nobody decided on
  (an alert the meeting did not discuss): not a record either. A row with only some of them goes to the
  contract, which quarantines what is missing.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from kodomo_pipeline.config.towns import FeedLayout
from kodomo_pipeline.ingest.reader import ROW, TEXT, RawExport, UnreadableFile, decodes, file_sha256, read_export

XLSX_SUFFIX = ".xlsx"
HEADER_SEARCH_ROWS = 10  # the header may sit below a title the staff added; it is looked for this far down


def cell_text(value: object) -> str:
    """A cell as the text a CSV export of it would hold."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _header(row: tuple[object, ...]) -> list[str]:
    return [cell_text(value) for value in row]


def _find_header(rows: Iterator[tuple[object, ...]], required: list[str]) -> tuple[list[str] | None, int]:
    """The first of the sheet's top rows holding every required header (a title row may sit above it), and
    its Excel row number; (None, 0) when there is none. Consumes the rows up to the header."""
    for number, row in enumerate(rows, start=1):
        header = _header(row)
        if all(name in header for name in required):
            return header, number
        if number >= HEADER_SEARCH_ROWS:
            break
    return None, 0


def read_xlsx_export(path: Path, feed: FeedLayout, data: bytes | None = None) -> RawExport:
    """Read the workbook's record sheets by the feed's layout; raise UnreadableFile if it cannot be used at all.

    `data`: the file's bytes when the caller has read (and hashed) them already: those bytes are the ones read."""
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UnreadableFile(path, f"cannot be opened: {exc.strerror}") from None
    try:
        # read_only streams rows; data_only gives the value Excel computed for a formula cell (e.g. =TODAY()).
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError):
        raise UnreadableFile(
            path, "XLSX として読めません（Excel で .xlsx として保存してください）/ not a readable XLSX workbook"
        ) from None
    mapping = feed.header_to_canonical
    required = [h for h, canonical in mapping.items() if feed.spec.columns[canonical].required]
    staff = list(feed.mapping.filled_in_by_staff)
    records: list[list[str]] = []
    numbers: list[int] = []
    seen_headers: list[str] = []
    offset = 0
    try:
        for sheet in book.worksheets:
            rows = sheet.iter_rows(values_only=True)
            header, header_at = _find_header(rows, required)
            if header is None:
                continue  # not a record sheet (件数, レベルの意味, a sheet of notes)
            named = [name for name in header if name]
            if len(set(named)) != len(named):
                duplicated = sorted({name for name in named if named.count(name) > 1})
                raise UnreadableFile(
                    path, f"シート {sheet.title} の見出しが重複 / duplicate header(s): {', '.join(duplicated)}"
                )
            seen_headers += [name for name in named if name not in seen_headers]
            where = {h: header.index(h) for h in mapping if h in header}
            last = 0
            for number, row in enumerate(rows, start=1):
                texts = {h: cell_text(row[i]) if i < len(row) else "" for h, i in where.items()}
                if not any(texts.values()):
                    continue  # a blank spreadsheet row
                if staff and not any(texts.get(h) for h in staff):
                    continue  # a printed row nobody filled in
                records.append([texts.get(h, "") for h in mapping])
                numbers.append(offset + number)
                last = number
            offset += max(last, (sheet.max_row or 1) - header_at)
    finally:
        book.close()
    if not seen_headers:
        raise UnreadableFile(
            path,
            f"必須の見出しがあるシートがありません / no sheet has the required header(s) {', '.join(required)} "
            f"(layout: {feed.source})",
        )
    present = [h for h in mapping if h in seen_headers]
    frame = pd.DataFrame(
        {
            mapping[h]: pd.array([record[i] for record in records], dtype=TEXT)
            for i, h in enumerate(mapping)
            if h in present
        }
    )
    frame[ROW] = pd.array(numbers, dtype="int64")
    return RawExport(
        file_name=path.name,
        sha256=file_sha256(data),
        size_bytes=len(data),
        frame=frame,
        malformed={},
        dropped_columns=[h for h in seen_headers if h not in mapping],
        missing_optional=[h for h in mapping if h not in seen_headers],
    )


def layout_for_bytes(data: bytes, feed: FeedLayout) -> FeedLayout:
    """The feed's layout, or the same with an encoding it also accepts when the file is in that one.

    Files people save (decision CSVs from Japanese Excel are cp932) may come in another encoding than the
    layout's; `also_accepted_encodings` says which, tried in order, only when the layout's own fails."""
    if not feed.layout.also_accepted_encodings or decodes(data, feed.layout.encoding):
        return feed
    for encoding in feed.layout.also_accepted_encodings:
        if decodes(data, encoding):
            return feed.model_copy(update={"layout": feed.layout.model_copy(update={"encoding": encoding})})
    return feed


def read_inbox_file(path: Path, feed: FeedLayout, *args: Any) -> RawExport:
    """The reader for an inbox file: a workbook here, a CSV export by the CSV reader (`args` go to it as they are),
    in the layout's encoding or one it also accepts."""
    if path.suffix.lower() == XLSX_SUFFIX:
        return read_xlsx_export(path, feed, args[0] if args and isinstance(args[0], bytes) else None)
    if feed.layout.also_accepted_encodings:
        try:
            data = args[0] if args and isinstance(args[0], bytes) else path.read_bytes()
        except OSError:
            data = None  # the CSV reader reports the file as unreadable, with the cause
        if data is not None:
            feed = layout_for_bytes(data, feed)
    return read_export(path, feed, *args)
