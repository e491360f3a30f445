"""Column lineage of each model from sqlglot: output column → the upstream table columns it comes from."""

from __future__ import annotations

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
    columns = [row[0] for row in con.execute(f"DESCRIBE {model.name}").fetchall()]
    found: dict[str, list[tuple[str, str]]] = {}
    sql = expand_row_macros(model.sql)  # an indicator's columns come from macros (dbt_like_sql/macros.sql)
    for column in columns:
        try:
            root = lineage(column, sql.copy(), schema=schema, dialect="duckdb")
        except (sqlglot.errors.SqlglotError, KeyError, ValueError):
            found[column] = []
            continue
        sources = set()
        for node in root.walk():
            if isinstance(node.expression, sqlglot.exp.Table):
                sources.add((node.expression.name, node.name.split(".")[-1]))
        found[column] = sorted(sources)
    return found
