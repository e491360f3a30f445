"""The shared SQL expressions (`dbt_like_sql/macros.sql`: 満年齢, the nursery key, an indicator row) on a connection.

DuckDB macros rather than Jinja: the models stay plain SQL, run and parsed (sqlglot) exactly as written,
and an expression such as 満年齢 has one definition for the models and the registry step alike.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

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


@cache
def row_macros() -> dict[str, tuple[tuple[str, ...], exp.Struct]]:
    """The macros that make several columns at once (a struct, selected as `unnest(name(…))`): name →
    (parameters, struct)."""
    found = {}
    for statement in macro_statements():
        tree = sqlglot.parse_one(statement, dialect="duckdb")
        if isinstance(tree, exp.Create) and isinstance(tree.expression, exp.Struct):
            function = tree.this  # UserDefinedFunction: its name (a Table) and parameters
            found[function.this.name] = (tuple(p.name for p in function.expressions), tree.expression)
    return found


def expand_row_macros(sql: str) -> exp.Expression:
    """The model's SQL with every `unnest(<row macro>(…))` written out as the columns it makes.

    For sqlglot's column lineage only, which cannot see inside a DuckDB macro: without this an indicator's
    source_file would trace back to nothing. DuckDB runs the model as written."""
    macros = row_macros()
    tree = sqlglot.parse_one(sql, dialect="duckdb")
    for select in list(tree.find_all(exp.Select)):
        items: list[exp.Expression] = []
        for item in select.expressions:
            call = item.this if isinstance(item, exp.Explode | exp.Unnest) else None
            if isinstance(call, exp.Anonymous) and call.name in macros:
                parameters, struct = macros[call.name]
                arguments = dict(zip(parameters, call.expressions, strict=True))
                items += [exp.alias_(_bound(field.expression, arguments), field.name) for field in struct.expressions]
            else:
                items.append(item)
        select.set("expressions", items)
    return tree


def _bound(body: exp.Expression, arguments: dict[str, exp.Expression]) -> exp.Expression:
    """A macro body with its parameters replaced by the call's arguments (`param.field` → `alias.field`)."""

    def replace(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Column):
            return node
        if node.table in arguments:  # a field of the row (or struct literal) passed
            argument = arguments[node.table]
            if isinstance(argument, exp.Struct):
                return next(f.expression.copy() for f in argument.expressions if f.name == node.name)
            return exp.column(node.name, table=argument.name)
        if not node.table and node.name in arguments:
            return arguments[node.name].copy()
        return node

    return body.copy().transform(replace)
