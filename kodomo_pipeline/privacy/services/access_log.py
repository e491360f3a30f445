"""Who accessed the town's personal data, when, what and why: the `access_log` table of the town's database.

APPI (as applied to local governments) asks for a record of use; every export of personal data calls
`record_access` with what it exported and the purpose. The entries describe an export (its file, its
consumer), never a person: `what` and `purpose` are free text that must not carry a personal value.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from dataclasses import asdict, dataclass

import duckdb

from kodomo_pipeline.storage.snapshots import has_table

OPERATOR_ENV = "KODOMO_OPERATOR"
MAX_TEXT = 500

_ACCESS_LOG = """
CREATE TABLE IF NOT EXISTS access_log (
    accessed_at TIMESTAMP NOT NULL,
    operator VARCHAR NOT NULL,
    what VARCHAR NOT NULL,      -- e.g. "alerts_20261126.csv for the review meeting", never a person
    purpose VARCHAR NOT NULL    -- why (APPI art. 61/69): the meeting, the decision, the legal duty
)
"""


@dataclass(frozen=True)
class AccessRecord:
    accessed_at: dt.datetime
    operator: str
    what: str
    purpose: str

    def as_dict(self) -> dict:
        return asdict(self) | {"accessed_at": self.accessed_at.isoformat(timespec="seconds")}


def current_operator() -> str:
    """$KODOMO_OPERATOR (set per person on a shared service account), else the OS user."""
    name = os.environ.get(OPERATOR_ENV, "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def ensure_access_log(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_ACCESS_LOG)


def _text(value: str, field: str) -> str:
    text = " ".join(str(value).split())
    if not text:
        raise ValueError(f"{field} is required: an access without a stated {field} is not recorded")
    if len(text) > MAX_TEXT:
        raise ValueError(f"{field} is longer than {MAX_TEXT} characters")
    return text


def record_access(con: duckdb.DuckDBPyConnection, what: str, purpose: str, operator: str | None = None) -> AccessRecord:
    """Append one access (now, by the current operator); both `what` and `purpose` are required."""
    record = AccessRecord(
        accessed_at=dt.datetime.now().replace(microsecond=0),
        operator=_text(operator or current_operator(), "operator"),
        what=_text(what, "what"),
        purpose=_text(purpose, "purpose"),
    )
    ensure_access_log(con)
    con.execute(
        "INSERT INTO access_log VALUES (?, ?, ?, ?)", [record.accessed_at, record.operator, record.what, record.purpose]
    )
    return record


def read_access_log(
    con: duckdb.DuckDBPyConnection, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> list[AccessRecord]:
    """Accesses in time order, optionally within [since, until)."""
    if not has_table(con, "access_log"):
        return []
    rows = con.execute(
        """SELECT accessed_at, operator, what, purpose FROM access_log
           WHERE (?::TIMESTAMP IS NULL OR accessed_at >= ?::TIMESTAMP)
             AND (?::TIMESTAMP IS NULL OR accessed_at < ?::TIMESTAMP)
           ORDER BY accessed_at, operator""",
        [since, since, until, until],
    ).fetchall()
    return [AccessRecord(*row) for row in rows]


def accesses_by_operator(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """How many accesses each operator recorded: the first question of an audit."""
    if not has_table(con, "access_log"):
        return {}
    return dict(con.execute("SELECT operator, count(*) FROM access_log GROUP BY 1 ORDER BY 1").fetchall())
