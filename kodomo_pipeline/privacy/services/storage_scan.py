"""Everything a Dagster home stores, as texts for the leak guard: SQLite databases cell by cell, other files whole.

The leak guard's nightly check reads one run's event log through the Dagster API. An audit, or a test,
needs more: every run, schedule tick and asset record the instance ever stored, including what no API
returns. Dagster's SQLite storage keeps events as JSON with non-ASCII escaped (\\u6797), so a raw byte search
would miss a name; each cell holding JSON is decoded and every string in it (keys included) becomes one
line, a field of its own for `leak_guard.field_tokens`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

SQLITE_MAGIC = b"SQLite format 3\x00"


def json_strings(node: object) -> Iterator[str]:
    """Every string of a JSON tree, keys included (a metadata label can carry a value too)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from json_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from json_strings(item)


def _cell_lines(cell: str) -> Iterator[str]:
    stripped = cell.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            yield from json_strings(json.loads(cell))
            return
        except ValueError:
            pass
    yield cell


def _sqlite_texts(path: Path) -> list[str]:
    """One text per table: its text and blob cells (blobs decoded as UTF-8 with replacement), one per line."""
    texts = []
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            lines: list[str] = []
            for row in con.execute(f'SELECT * FROM "{table}"'):
                for cell in row:
                    if isinstance(cell, bytes):
                        cell = cell.decode("utf-8", errors="replace")
                    if isinstance(cell, str):
                        lines.extend(_cell_lines(cell))
            texts.append("\n".join(lines))
    finally:
        con.close()
    return texts


def storage_texts(home: Path) -> dict[str, list[str]]:
    """Texts of a Dagster home by source: `sqlite` (every table of every database), `files` (the rest)."""
    sources: dict[str, list[str]] = {"sqlite": [], "files": []}
    for path in sorted(p for p in Path(home).rglob("*") if p.is_file()):
        with path.open("rb") as handle:
            is_sqlite = handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
        if is_sqlite:
            sources["sqlite"].extend(_sqlite_texts(path))
        elif path.suffix not in (".db-wal", ".db-shm", ".db-journal"):
            text = path.read_text(encoding="utf-8", errors="replace")
            sources["files"].append("\n".join(line for raw in text.splitlines() for line in _cell_lines(raw)))
    return sources
