"""Read one export file into canonical raw text columns, keeping row numbers and dropping what is not needed.

A row with a wrong number of fields must be quarantined, not dropped or fatal,
and every row keeps its record number. pyarrow's parser does both for files
without quote characters (one record per line, the usual system export); a
file with quoted fields, which may hold line breaks, goes through the csv
module record by record instead.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from kodomo_pipeline.config.towns import FeedLayout
from kodomo_pipeline.ingest.lines import marker_reason, screen_lines
from kodomo_pipeline.ingest.settings import ingestion_settings

ROW = "_row"  # 1-based record number in the file, header = row 0
TEXT = pd.StringDtype("pyarrow")
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
        readable_as = [name for name in ALTERNATIVE_ENCODINGS if name != encoding and decodes(data, name)]
        if readable_as:
            cause += f"; the file reads as {readable_as[0]}"
        raise UnreadableFile(path, cause) from None
    return text.removeprefix("\ufeff")


def decodes(data: bytes, encoding: str) -> bool:
    """Whether the bytes decode as a whole in that encoding."""
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _split_header(path: Path, text: str) -> tuple[list[str], str]:
    first, _, rest = text.partition("\n")
    try:
        header = next(csv.reader([first.rstrip("\r")]), [])
    except csv.Error as exc:
        raise UnreadableFile(path, f"not CSV: {exc}") from None
    return [name.strip() for name in header], rest


def _malformed_reason(text: str) -> str:
    """Why a record with the wrong field count is malformed: a screened line (lines.py), empty, or not."""
    return marker_reason(text) or ("empty_row" if not text.replace(",", "").strip() else "wrong_field_count")


Parsed = tuple[pa.Table, np.ndarray, dict[int, str]]  # good rows, their record numbers, malformed records


def _parse_unquoted(body: str, width: int) -> Parsed:
    """Fast path for files without quote characters, where every line is one record: pyarrow's parser.

    Parsed on both cores first; only a file with malformed lines is parsed again on one thread, the
    mode in which pyarrow reports their line numbers.
    """
    data = body.encode("utf-8")
    names = [f"c{i}" for i in range(width)]
    if not data.strip():  # a header-only file: a valid export with no rows today
        return pa.table({name: pa.array([], pa.string()) for name in names}), np.array([], dtype=np.int64), {}
    bad: dict[int, str] = {}

    def invalid(row: pacsv.InvalidRow) -> str:
        bad[row.number or 0] = _malformed_reason(row.text)
        return "skip"

    def parse(threads: bool) -> pa.Table:
        bad.clear()
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=threads, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(invalid_row_handler=invalid, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False
            ),
        )

    table = parse(threads=True)
    if bad:
        table = parse(threads=False)
    # Every line is a record: good rows are the line numbers that were not malformed, in order.
    is_good = np.ones(table.num_rows + len(bad), dtype=bool)
    is_good[np.fromiter(bad, dtype=np.int64, count=len(bad)) - 1] = False
    return table, np.flatnonzero(is_good) + 1, bad


def _swallows_rows(span: str, width: int) -> bool:
    """A record over three or more lines whose inner lines are each a whole row of the file (no quote, the
    header's field count): a stray quote ran over rows and a later one closed it in the same column. A quoted
    field holding line breaks (an address, free text) does not look like that.
    """
    inner = span.split("\n")[1:-1]
    return bool(inner) and all('"' not in line and line.count(",") == width - 1 for line in inner)


def _parse_quoted(body: str, width: int) -> Parsed:
    """Exact path for files with quoted fields (which may hold line breaks): the csv module, record by record.

    A quote opened and never closed (a stray " typed into a name) would make the rest of the file one field:
    the line it opens on is quarantined as `unbalanced_quote` and reading goes on with the next line. So does a
    record that runs over several lines to a later stray quote, whether it has the wrong field count or, by
    chance, the right one while whole rows lie inside it (`_swallows_rows`) — each such line costs itself, not
    the lines after it.
    """
    bad: dict[int, str] = {}
    good: list[list[str]] = []
    numbers: list[int] = []
    number = 0
    stream = io.StringIO(body, newline="")  # one stream, sought past a broken line: never a copy of the rest
    while stream.tell() < len(body):
        reader = csv.reader(stream)  # a fresh reader after a broken line: the old one is inside the open quote
        broken_at = None
        while broken_at is None:
            at = stream.tell()
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error:  # the csv module's field limit: the quote ran on for 128 KB
                broken_at = at
                continue
            span = body[at : stream.tell()].rstrip("\r\n")
            whole = len(record) == width and not (len(record) == 1 and marker_reason(record[0]))
            if whole and not ("\n" in span and _swallows_rows(span, width)):
                number += 1
                good.append(record)
                numbers.append(number)
            elif "\n" in span:
                broken_at = at
            else:
                number += 1
                bad[number] = _malformed_reason(",".join(record))
        if broken_at is None:
            break
        number += 1
        bad[number] = "unbalanced_quote"
        line_end = body.find("\n", broken_at)
        stream.seek(len(body) if line_end < 0 else line_end + 1)
    columns = list(zip(*good, strict=True)) if good else [()] * width
    table = pa.table({f"c{i}": pa.array(col, pa.string()) for i, col in enumerate(columns)})
    return table, np.array(numbers, dtype=np.int64), bad


def _set_aside_empty_rows(parsed: Parsed) -> Parsed:
    """Empty lines at the end are not rows (exports often end with one); empty lines inside are `empty_row`."""
    table, numbers, bad = parsed
    empty = np.zeros(table.num_rows, dtype=bool)
    if table.num_columns:
        # Only rows whose first field is empty can be empty rows: check the other fields for those alone.
        candidates = np.flatnonzero(pc.equal(pc.utf8_trim_whitespace(table.column(0)), "").to_numpy(False))
        if len(candidates):
            subset = table.take(pa.array(candidates))
            blank = np.ones(len(candidates), dtype=bool)
            for column in subset.columns:
                blank &= pc.equal(pc.utf8_trim_whitespace(column), "").to_numpy(zero_copy_only=False)
            empty[candidates[blank]] = True
    last_content = max(
        [*numbers[~empty].tolist()[-1:], *(n for n, why in bad.items() if why != "empty_row")], default=0
    )
    bad = {n: why for n, why in bad.items() if n <= last_content}
    bad |= {int(n): "empty_row" for n in numbers[empty] if n <= last_content}
    return table.filter(pa.array(~empty)), numbers[~empty], bad


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


def read_bytes(path: Path) -> bytes:
    """The file's bytes, read once: the same bytes are hashed, archived and parsed."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(path, f"cannot be opened: {exc.strerror}") from None


def _refuse_duplicate_headers(path: Path, header: list[str], mapping: dict[str, str]) -> None:
    """A header name given twice makes the file ambiguous. Linear (a Counter; the earlier `list.count` per
    name was quadratic: minutes for a 10 MB line). Only names the layout knows are repeated in the cause."""
    counts = Counter(header)
    duplicated = sorted(name for name, n in counts.items() if n > 1)
    if not duplicated:
        return
    known = [name for name in duplicated if name in mapping]
    unknown = len(duplicated) - len(known)
    named = ", ".join(known) if known else ""
    other = f"{unknown} column name(s) the layout does not know" if unknown else ""
    raise UnreadableFile(path, f"duplicate header(s): {'; '.join(part for part in (named, other) if part)}")


def _mark_cut_last_row(data: bytes, numbers: np.ndarray, malformed: dict[int, str]) -> dict[int, str]:
    """A file that stops without a line end after a malformed last record was cut mid-row (a copy or an
    export interrupted): that record is `truncated_row`, not an ordinary wrong field count."""
    if data.endswith((b"\n", b"\r")) or not malformed:
        return malformed
    last = max([*numbers.tolist()[-1:], *malformed])
    if malformed.get(last) == "wrong_field_count":
        return malformed | {last: "truncated_row"}
    return malformed


def read_export(
    path: Path,
    feed: FeedLayout,
    data: bytes | None = None,
    sha256: str | None = None,
    max_line_bytes: int | None = None,
) -> RawExport:
    """Decode a town export by its layout; raise UnreadableFile if the file as a whole cannot be used.

    `data`, `sha256`: the file's bytes and their hash when the caller has them already (not read or hashed
    again). `max_line_bytes`: longer lines are quarantined (default: resources/ingestion.yaml).
    """
    if data is None:
        data = read_bytes(path)
    if not data.strip():
        raise UnreadableFile(path, "empty file")
    screened = screen_lines(data, max_line_bytes or ingestion_settings("", feed.spec.feed).max_line_bytes)
    if screened.header_problem:
        raise UnreadableFile(path, screened.header_problem)
    header, body = _split_header(path, _decode(path, screened.data, feed.layout.encoding))
    mapping = feed.header_to_canonical
    required_headers = [h for h, canonical in mapping.items() if feed.spec.columns[canonical].required]
    present = set(header)
    missing_required = [h for h in required_headers if h not in present]
    if missing_required:
        # Checked before duplicates: a file without its header line has a data row there, whose cells
        # must never be repeated back as "header names".
        raise UnreadableFile(path, _explain_missing_headers(path, data, feed, missing_required))
    _refuse_duplicate_headers(path, header, mapping)
    parse = _parse_quoted if '"' in body else _parse_unquoted
    table, numbers, malformed = _set_aside_empty_rows(parse(body, len(header)))
    malformed = _mark_cut_last_row(screened.data, numbers, malformed)
    frame = pd.DataFrame(
        {
            canonical: table.column(header.index(h)).to_pandas(types_mapper={pa.string(): TEXT}.get)
            for h, canonical in mapping.items()
            if h in header
        }
    )
    frame[ROW] = numbers
    return RawExport(
        file_name=path.name,
        sha256=sha256 or file_sha256(data),
        size_bytes=len(data),
        frame=frame,
        malformed=malformed,
        dropped_columns=[h for h in header if h not in mapping],
        missing_optional=[h for h in mapping if h not in header],
    )
