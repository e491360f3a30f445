"""Read one export file into canonical raw text columns, keeping row numbers and dropping what is not needed.

The csv module (not pandas' C parser) reads the records because a row with a
wrong number of fields must be quarantined, not dropped or fatal; it is fast
enough (about a million rows a second) and keeps record numbers exact.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from kodomo_pipeline.config.towns import FeedLayout

ROW = "_row"  # 1-based record number in the file, header = row 0
ALTERNATIVE_ENCODINGS = ("utf-8-sig", "cp932")


class UnreadableFile(Exception):
    """The file as a whole cannot be read; the message names the file and the cause, never a value."""

    def __init__(self, path: Path, cause: str) -> None:
        self.path = path
        self.cause = cause
        super().__init__(f"{path.name}: {cause}")


@dataclass
class RawExport:
    """A decoded export: kept columns as text, plus what was dropped and which rows were malformed."""

    file_name: str
    sha256: str
    size_bytes: int
    frame: pd.DataFrame  # canonical columns as text + ROW, for rows with the right field count
    malformed: dict[int, str]  # row number → reason (wrong_field_count, empty_row)
    dropped_columns: list[str]
    missing_optional: list[str] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return len(self.frame) + len(self.malformed)


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _decode(path: Path, data: bytes, encoding: str) -> str:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        cause = f"wrong encoding: not valid {encoding} at byte {exc.start} (line {line})"
        readable_as = [name for name in ALTERNATIVE_ENCODINGS if name != encoding and _decodes(data, name)]
        if readable_as:
            cause += f"; the file reads as {readable_as[0]}"
        raise UnreadableFile(path, cause) from None
    return text.removeprefix("\ufeff")


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _records(text: str) -> list[list[str]]:
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise UnreadableFile(Path("?"), f"not CSV: {exc}") from None


def _header(path: Path, data: bytes, feed: FeedLayout) -> tuple[list[str], list[list[str]]]:
    text = _decode(path, data, feed.layout.encoding)
    try:
        records = _records(text)
    except UnreadableFile as exc:
        raise UnreadableFile(path, exc.cause) from None
    header = [name.strip() for name in records[0]] if records else []
    return header, records[1:]


def _explain_missing_headers(path: Path, data: bytes, feed: FeedLayout, missing: list[str]) -> str:
    """Say why required headers are missing: often the file is in another encoding than the layout's."""
    for encoding in ALTERNATIVE_ENCODINGS:
        if encoding.replace("-sig", "") == feed.layout.encoding.replace("-sig", ""):
            continue
        try:
            header = [name.strip() for name in data.decode(encoding).removeprefix("\ufeff").splitlines()[0].split(",")]
        except (UnicodeDecodeError, IndexError):
            continue
        if not [name for name in missing if name not in header]:
            return f"wrong encoding: the file is {encoding}, the layout ({feed.source}) expects {feed.layout.encoding}"
    return f"missing required header(s): {', '.join(missing)} (layout: {feed.source})"


def read_export(path: Path, feed: FeedLayout) -> RawExport:
    """Decode a town export by its layout; raise UnreadableFile if the file as a whole cannot be used."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(path, f"cannot be opened: {exc.strerror}") from None
    if not data.strip():
        raise UnreadableFile(path, "empty file")
    if b"\x00" in data:
        raise UnreadableFile(path, "not a CSV text file (it contains NUL bytes; a spreadsheet or archive?)")
    header, records = _header(path, data, feed)
    if len(set(header)) != len(header):
        duplicated = sorted({name for name in header if header.count(name) > 1})
        raise UnreadableFile(path, f"duplicate header(s): {', '.join(duplicated)}")
    mapping = feed.header_to_canonical
    required_headers = [h for h, canonical in mapping.items() if feed.spec.columns[canonical].required]
    missing_required = [h for h in required_headers if h not in header]
    if missing_required:
        raise UnreadableFile(path, _explain_missing_headers(path, data, feed, missing_required))
    while records and not any(value.strip() for value in records[-1]):
        records.pop()  # trailing empty lines are not rows
    width = len(header)
    malformed: dict[int, str] = {}
    good: list[list[str]] = []
    rows: list[int] = []
    for number, record in enumerate(records, start=1):
        if len(record) == width:
            good.append(record)
            rows.append(number)
        elif not any(value.strip() for value in record):
            malformed[number] = "empty_row"
        else:
            malformed[number] = "wrong_field_count"
    columns = list(zip(*good, strict=True)) if good else [()] * width
    frame = pd.DataFrame(
        {
            canonical: pd.Series(columns[header.index(h)], dtype=object)
            for h, canonical in mapping.items()
            if h in header
        }
    )
    frame[ROW] = pd.Series(rows, dtype="int64")
    return RawExport(
        file_name=path.name,
        sha256=file_sha256(data),
        size_bytes=len(data),
        frame=frame,
        malformed=malformed,
        dropped_columns=[h for h in header if h not in mapping],
        missing_optional=[h for h in mapping if h not in header],
    )
