"""Column lineage of each model from sqlglot: output column → the upstream table columns it comes from."""

from __future__ import annotations

from functools import lru_cache

import duckdb
import sqlglot
from sqlglot.lineage import lineage

from kodomo_pipeline.sqlmodels.macros import expand_row_macros
from kodomo_pipeline.sqlmodels.project import Model


def table_schema(con: duckdb.DuckDBPyConnection, tables: set[str]) -> dict[str, dict[str, str]]:
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_name IN "
        f"({', '.join('?' for _ in tables) or 'NULL'})",
        sorted(tables),
    ).fetchall()
    schema: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        schema.setdefault(table, {})[column] = kind
    return schema


def column_lineage(con: duckdb.DuckDBPyConnection, model: Model) -> dict[str, list[tuple[str, str]]]:
    """{output column: [(upstream table, column), …]} for every column of the model's result."""
    reads = set(model.models) | {f"stg_{feed}" for feed in model.feeds} | set(model.upstream)
    schema = table_schema(con, reads)
    columns = tuple(row[0] for row in con.execute(f"DESCRIBE {model.name}").fetchall())
    frozen = tuple(sorted((table, tuple(sorted(kinds.items()))) for table, kinds in schema.items()))
    return {column: list(sources) for column, sources in _lineage(model.sql, columns, frozen).items()}


@lru_cache(maxsize=128)
def _lineage(
    model_sql: str, columns: tuple[str, ...], schema: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
) -> dict[str, tuple[tuple[str, str], ...]]:
    """Memoised on the model's SQL and the schemas it reads, which decide it wholly: each model asset and the
    nightly lineage report ask for it, in one process (the in-process executor)."""
    tables = {table: dict(kinds) for table, kinds in schema}
    sql = expand_row_macros(model_sql)  # an indicator's columns come from macros (dbt_like_sql/macros.sql)
    try:  # every column at once: sqlglot qualifies the query once and shares the walk between columns
        nodes: dict = lineage(None, sql, schema=tables, dialect="duckdb")  # type: ignore[assignment]
    except (sqlglot.errors.SqlglotError, KeyError, ValueError):
        nodes = {}
    found: dict[str, tuple[tuple[str, str], ...]] = {}
    for column in columns:
        try:
            root = nodes[column] if column in nodes else lineage(column, sql.copy(), schema=tables, dialect="duckdb")
        except (sqlglot.errors.SqlglotError, KeyError, ValueError):
            found[column] = ()
            continue
        sources = {
            (node.expression.name, node.name.split(".")[-1])
            for node in root.walk()
            if isinstance(node.expression, sqlglot.exp.Table)
        }
        found[column] = tuple(sorted(sources))
    return found
