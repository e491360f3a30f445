"""Leak guard: find the town's personal values in texts that leave its database (Dagster's event log, compute logs).

Personal values never belong in orchestration logs or metadata (DOMAIN.md); this scan proves it per run.
The values are the personal columns (assets/<feed>.yaml `personal`) of every feed's snapshot in force at T,
as stored (valid_<feed>) and as exported (raw_<feed>: half-width kana, 和暦 dates).

Why not one big regex of the values: with a million residents that alternation is slow to build and run.
Instead the texts are cut into candidate substrings of the shapes a value can take, and the candidates
are joined against the values inside DuckDB (a hash join: ~2 s for a million residents):
- identifiers: runs of ASCII letters and digits, of the lengths the town's identifiers have (numbers with
  a decimal point, such as timestamps, are skipped);
- birth dates: date-shaped strings (2019-04-01, 2019/4/1, 2019年4月1日, H31.04.01, 平成31年4月1日), compared
  as ISO dates; operational dates (T, extract dates, today) are not counted, being every run's dates;
- names, kana, addresses of 3 characters or more: windows of the value lengths starting at each Japanese
  character, with spaces removed, as written, after NFKC (half-width kana) and after hiragana → katakana;
- every name, kana and address however short (a 2-character name such as 林薫): whole fields only — see
  `field_tokens`. A window of 2 characters would match ordinary words (林 in 小林市, 大翔 in a sentence), so
  a short value counts only when it is the whole field or token it was written as.
A report holds counts of places (a Japanese segment of a line, an ID token, a date) per source and kind,
and about how many values were looked for; never a value.
Limits, by design: a name or kana shorter than 3 characters inside a longer run of Japanese text (この人林薫さん)
and IDs shorter than 4 are not seen (they would match ordinary words and numbers); an ID glued inside a
longer run of letters and digits is not seen; only the snapshots in force at T are read (a person who left
the town before T is not looked for).
`storage_texts` reads a whole Dagster home (its SQLite databases and compute logs) for the same scan.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import jaconv
import pyarrow as pa

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.layout.wareki import ERAS, WarekiError, parse_wareki_date
from kodomo_pipeline.storage.feed_tables import raw_table, valid_table
from kodomo_pipeline.storage.snapshots import has_table

KINDS = ("identifier", "name", "kana", "birth_date", "address")
TEXT_KINDS = ("name", "kana", "address")
MIN_TEXT_LENGTH = 3  # shorter values are matched as whole fields only (a 2-kanji window matches ordinary words)
MIN_ID_LENGTH = 4
VALUES_TABLE = "_leak_guard_values"  # temporary: lives in memory with the connection

_SPACES_SQL = "replace(replace({col}, ' ', ''), '\u3000', '')"
_ID_TOKEN = re.compile(r"(?<![0-9A-Za-z.])[0-9A-Za-z]+(?![0-9A-Za-z]|\.\d)")
_SEGMENT = re.compile(r"(?:[^\x00-\x7f]|[0-9A-Za-z \-])+")
_ISO_LIKE = re.compile(r"(?<!\d)(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?!\d)")
_KANJI_WESTERN = re.compile(r"(?<!\d)(\d{4})年(\d{1,2})月(\d{1,2})日")
_WAREKI_LETTER = re.compile(r"(?<![A-Za-z])([MTSHR](?:元|\d{1,2})\.\d{1,2}\.\d{1,2})(?!\d)")
_WAREKI_KANJI = re.compile(r"(明治|大正|昭和|平成|令和)(元|\d{1,2})年(\d{1,2})月(\d{1,2})日")
_ERA_LETTER = {era.name: era.letter for era in ERAS}
# What ends a field inside a Japanese segment: punctuation, brackets, quotes, '=', '/', digits (not ー: カー).
_FIELD_BREAK = re.compile(
    r"[、。，．,.・:：;；!！?？「」『』【】（）()〔〕［］\[\]｛｝{}<>＜＞\"'“”‘’=＝/／|｜…~〜\d０-９\-−]+"
)
_WORD_SPAN = 4  # a field written with spaces (氏名 林 薫): joins of up to 4 neighbouring words


@dataclass
class LeakReport:
    """Counts only: places holding a personal value, per source and kind; and how many values were looked for."""

    found: dict[str, dict[str, int]] = field(default_factory=dict)
    values_by_kind: dict[str, int] = field(default_factory=dict)
    texts: int = 0
    characters: int = 0
    candidates: int = 0
    seconds: float = 0.0

    @property
    def leaks(self) -> int:
        return sum(sum(kinds.values()) for kinds in self.found.values())

    def kinds_found(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for kinds in self.found.values():
            for kind, count in kinds.items():
                total[kind] = total.get(kind, 0) + count
        return total


# --- the values --------------------------------------------------------------------------------------


def _sha_in_force(feed: str) -> str:
    return f"""(SELECT sha256 FROM ingested_files WHERE feed = '{feed}' AND extract_date <= ?::DATE
               ORDER BY extract_date DESC, ingested_at DESC LIMIT 1)"""


def _value_selects(con: duckdb.DuckDBPyConnection, town: TownConfig, asof: dt.date) -> tuple[list[str], list]:
    """One SELECT per personal column: valid rows as stored; of the export text, the forms that differ
    (kana, dates) and every column of the rows the contract held back."""
    selects: list[str] = []
    params: list = []
    for feed, layout in town.feeds.items():
        personal = layout.spec.personal_columns
        if not personal:
            continue
        for table, typed in ((valid_table(feed), True), (raw_table(feed), False)):
            if not has_table(con, table):
                continue
            for column, kind in personal.items():
                quoted = f'"{column}"'
                if kind == "birth_date":
                    expr = f"strftime({quoted}, '%Y-%m-%d')" if typed else f"trim({quoted})"
                else:
                    expr = _SPACES_SQL.format(col=f"CAST({quoted} AS VARCHAR)")
                where = f"_sha256 = {_sha_in_force(feed)}"
                params.append(asof)
                if not typed and kind not in ("kana", "birth_date"):
                    where += (
                        f" AND (_problem IS NOT NULL OR _row IN (SELECT row_number FROM quarantine"
                        f" WHERE feed = '{feed}' AND sha256 = {_sha_in_force(feed)}))"
                    )
                    params.append(asof)
                selects.append(f"SELECT '{kind}' AS kind, {expr} AS value FROM {table} WHERE {where}")
    return selects, params


def load_values(con: duckdb.DuckDBPyConnection, town: TownConfig, asof: dt.date) -> dict[str, tuple[int, list[int]]]:
    """The town's personal values at T in a temporary table (one pass over the snapshots);
    per kind, about how many distinct values there are (HyperLogLog) and their lengths."""
    selects, params = _value_selects(con, town, asof) if has_table(con, "ingested_files") else ([], [])
    body = " UNION ALL ".join(selects) or "SELECT NULL::VARCHAR AS kind, NULL::VARCHAR AS value WHERE false"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {VALUES_TABLE} AS SELECT kind, value FROM ({body})
            WHERE value IS NOT NULL
              AND length(value) >= CASE WHEN kind = 'identifier' THEN {MIN_ID_LENGTH}
                                        WHEN kind = 'birth_date' THEN 6 ELSE 1 END""",
        params,
    )
    rows = con.execute(
        f"SELECT kind, approx_count_distinct(value), list(DISTINCT length(value)) FROM {VALUES_TABLE} GROUP BY kind"
    ).fetchall()
    return {kind: (count, sorted(lengths)) for kind, count, lengths in rows}


def operational_dates(con: duckdb.DuckDBPyConnection, asof: dt.date) -> set[str]:
    """Dates every run writes (T, extract dates, today): not evidence of a birth date leaking."""
    dates = {asof.isoformat(), dt.date.today().isoformat()}
    if has_table(con, "ingested_files"):
        dates |= {
            row[0].isoformat() for row in con.execute("SELECT DISTINCT extract_date FROM ingested_files").fetchall()
        }
    return dates


# --- the candidates ----------------------------------------------------------------------------------


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def _date_occurrences(text: str) -> list[tuple[int, str]]:
    """(position, date) for each date-shaped string: as an ISO date, and 和暦 also as written (raw exports)."""
    found: list[tuple[int, str]] = []
    for pattern in (_ISO_LIKE, _KANJI_WESTERN):
        for match in pattern.finditer(text):
            iso = _iso(int(match[1]), int(match[2]), int(match[3]))
            if iso:
                found.append((match.start(), iso))
    for match in _WAREKI_LETTER.finditer(text):
        found.append((match.start(), match[1]))
        with contextlib.suppress(WarekiError):
            found.append((match.start(), parse_wareki_date(match[1]).isoformat()))
    for match in _WAREKI_KANJI.finditer(text):
        year = "元" if match[2] == "元" else f"{int(match[2]):02d}"
        with contextlib.suppress(WarekiError):
            day = parse_wareki_date(f"{_ERA_LETTER[match[1]]}{year}.{int(match[3]):02d}.{int(match[4]):02d}")
            found.append((match.start(), day.isoformat()))
    return found


def date_candidates(text: str) -> set[str]:
    """The date-shaped strings of a text as ISO dates (and 和暦 as written)."""
    return {date for _, date in _date_occurrences(text)}


def _variants(segment: str) -> set[str]:
    plain = segment.replace(" ", "").replace("\u3000", "")
    folded = unicodedata.normalize("NFKC", segment).replace(" ", "")
    return {plain, folded, jaconv.hira2kata(folded)}


def _segments(text: str) -> Iterator[tuple[int, str]]:
    """(position, segment) for each run of Japanese text (with the digits, letters and spaces inside it)."""
    if text.isascii():
        return
    for match in _SEGMENT.finditer(text):
        if not match[0].isascii():
            yield match.start(), match[0]


def _windows(segment: str, lengths: list[int]) -> set[str]:
    """Windows of the value lengths starting at each non-ASCII character, in each variant of the segment."""
    found: set[str] = set()
    for variant in _variants(segment):
        size = len(variant)
        for start, char in enumerate(variant):
            if char.isascii():
                continue
            for length in lengths:
                if start + length > size:
                    break
                found.add(variant[start : start + length])
    return found


def field_tokens(segment: str) -> set[str]:
    """The whole fields of a Japanese segment, the only places a short value (under 3 characters) may match.

    A field is what punctuation, brackets, quotes, '=', '/' and digits delimit (a JSON string, a CSV cell,
    the text after "row 12:"); it counts with its spaces removed, and so does each run of up to four
    neighbouring space-separated words in it (氏名 林 薫 → 林薫). So 林薫 logged as "row 12: 林薫" or
    {"name": "林 薫"} is found, while 林 in 小林市 or 大翔 inside a sentence (大翔くんの件) is not a field of
    its own and is never compared. Each token is also compared after NFKC and hiragana → katakana.
    """
    found: set[str] = set()
    for piece in _FIELD_BREAK.split(segment):
        words = piece.replace("\u3000", " ").split()
        for start in range(len(words)):
            for end in range(start + 1, min(start + _WORD_SPAN, len(words)) + 1):
                found |= _variants("".join(words[start:end]))
    found.discard("")
    return found


def text_candidates(text: str, lengths: list[int]) -> set[str]:
    return {window for _, segment in _segments(text) for window in _windows(segment, lengths)}


def _id_occurrences(text: str, lengths: set[int]) -> Iterator[tuple[int, str]]:
    for match in _ID_TOKEN.finditer(text):
        if len(match[0]) in lengths:
            yield match.start(), match[0]


def id_candidates(text: str, lengths: set[int]) -> set[str]:
    return {token for _, token in _id_occurrences(text, lengths)}


# --- the scan ----------------------------------------------------------------------------------------


def scan(
    con: duckdb.DuckDBPyConnection,
    town: TownConfig,
    asof: dt.date,
    sources: Mapping[str, Iterable[str]],
    ignore_dates: set[str] | None = None,
) -> LeakReport:
    """Look for the town's personal values at T in each source's texts (source name → texts).

    Counts are places (a log line's Japanese segment, an ID token, a date) holding a value, per kind:
    a name logged once counts once, whichever of its forms matched.
    """
    started = time.perf_counter()
    profile = load_values(con, town, asof)
    report = LeakReport(values_by_kind={kind: count for kind, (count, _) in sorted(profile.items())})
    text_lengths = sorted({n for kind in TEXT_KINDS for n in profile.get(kind, (0, []))[1] if n >= MIN_TEXT_LENGTH})
    id_lengths = set(profile.get("identifier", (0, []))[1])
    ignore = ignore_dates if ignore_dates is not None else operational_dates(con, asof)
    # A unit is what may hold a value (an ID token, a date, a Japanese segment) with the candidate strings it
    # yields; log lines repeat, so each distinct segment is cut into windows once.
    units: dict[str, set[str]] = {}
    places: list[tuple[str, str, str]] = []  # (source, place, unit)
    for source, texts in sources.items():
        for number, text in enumerate(texts):
            report.texts += 1
            report.characters += len(text)
            folded = text if text.isascii() else unicodedata.normalize("NFKC", text)
            for at, token in _id_occurrences(folded, id_lengths):
                units.setdefault(token, {token})
                places.append((source, f"{number}:i{at}", token))
            for at, date in _date_occurrences(folded):
                if date not in ignore:
                    units.setdefault(date, {date})
                    places.append((source, f"{number}:d{at}", date))
            for at, segment in _segments(text):
                if segment not in units:
                    units[segment] = _windows(segment, text_lengths) | field_tokens(segment)
                places.append((source, f"{number}:t{at}", segment))
    tokens = sorted(set().union(*units.values())) if units else []
    report.candidates = len(tokens)
    con.register("_leak_guard_candidates", pa.table({"token": tokens}, schema=_CANDIDATES))
    try:
        matched = con.execute(
            f"""SELECT DISTINCT c.token, v.kind FROM {VALUES_TABLE} v
                JOIN _leak_guard_candidates c ON c.token = v.value"""
        ).fetchall()
    finally:
        con.unregister("_leak_guard_candidates")
        con.execute(f"DROP TABLE IF EXISTS {VALUES_TABLE}")
    kinds_of: dict[str, set[str]] = {}
    for token, kind in matched:
        kinds_of.setdefault(token, set()).add(kind)
    unit_kinds = {unit: set().union(*(kinds_of.get(t, set()) for t in found)) for unit, found in units.items()}
    hits: dict[tuple[str, str], set[str]] = {}
    for source, place, unit in places:
        for kind in unit_kinds[unit]:
            hits.setdefault((source, kind), set()).add(place)
    for (source, kind), where in sorted(hits.items()):
        report.found.setdefault(source, {})[kind] = len(where)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


_CANDIDATES = pa.schema([("token", pa.string())])


def read_texts(folder: Path) -> list[str]:
    """Every file under a folder as text (compute logs): undecodable bytes replaced, never skipped."""
    if not folder.is_dir():
        return []
    return [path.read_text(encoding="utf-8", errors="replace") for path in sorted(folder.rglob("*")) if path.is_file()]
