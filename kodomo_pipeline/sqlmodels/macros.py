"""The shared SQL expressions (`dbt_like_sql/macros.sql`: 満年齢, the nursery key) on a connection.

DuckDB macros rather than Jinja: the models stay plain SQL, run and parsed (sqlglot) exactly as written,
and an expression such as 満年齢 has one definition for the models and the registry step alike.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import duckdb

from kodomo_pipeline.config.paths import config_root


@cache
def macro_statements(path: Path | None = None) -> tuple[str, ...]:
    """The CREATE MACRO statements of the macro file, in order."""
    text = (path or config_root() / "dbt_like_sql" / "macros.sql").read_text(encoding="utf-8")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return tuple(statement.strip() for statement in code.split(";") if statement.strip())


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create the macros for this connection (temporary: they live as long as the session)."""
    for statement in macro_statements():
        con.execute(statement)
