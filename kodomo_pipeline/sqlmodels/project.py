"""Discover the SQL models and read their dependencies from the SQL (no hand-written lists).

A model is `dbt_like_sql/<layer>/<name>.sql`: one SELECT, materialised as table `<name>`
in the town's database. It may read other models, the staging views `stg_<feed>` (the
feed's snapshot in force at T, made by the runner from the feed contracts), the tables of
the 名寄せ step (`LINKAGE_TABLES`) and those the runner keeps (`RUNNER_TABLES`).
Parameters come from DuckDB variables: `getvariable('as_of')` and one per rule parameter; a file
that must follow the configuration is a Jinja template rendered on load (sqlmodels/templates.py).
Each layer's `schema.yaml` declares its models' columns and tests (sqlmodels/schema.py); a model it does not
declare, or a declared model with no file, is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2
import sqlglot
from sqlglot import exp

from kodomo_pipeline.config.feeds import load_feeds
from kodomo_pipeline.config.paths import config_root
from kodomo_pipeline.sqlmodels.schema import SCHEMA_FILE, ModelSchema, SchemaError, load_layer_schema
from kodomo_pipeline.sqlmodels.templates import render_model, template_context

LAYERS = ("registry", "facts", "indicators", "risk", "alerts")  # run order; within a layer, by dependency
STAGING_PREFIX = "stg_"
# The only tables a model reads that no model makes. 名寄せ (Splink, not SQL) makes these, table → its asset:
LINKAGE_TABLES = {"crosswalk": "crosswalk", "attendance_linked": "crosswalk"}
# The runner: `rule_set` (the rules in force, one row per rule) and the alerts of earlier runs (`alert_history`,
# `alert_ids`, `alert_runs`, kept across runs: sqlmodels/history.py).
RUNNER_TABLES = frozenset({"rule_set", "alert_history", "alert_ids", "alert_runs"})
UPSTREAM_TABLES = frozenset(LINKAGE_TABLES) | RUNNER_TABLES


class ModelError(SchemaError):
    """A model file that cannot be parsed or names a table nobody makes; names the file."""


@dataclass(frozen=True)
class Model:
    name: str
    layer: str
    path: Path
    sql: str
    models: frozenset[str]  # other models it reads
    feeds: frozenset[str]  # feeds it reads through stg_<feed>
    upstream: frozenset[str]  # tables it reads that no model makes (UPSTREAM_TABLES)
    schema: ModelSchema  # its columns and tests (<layer>/schema.yaml)


def _tables(sql: str, path: Path) -> set[str]:
    try:
        tree = sqlglot.parse_one(sql, dialect="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise ModelError(f"{path}: not valid SQL: {exc.errors[0]['description'] if exc.errors else exc}") from None
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    return {table.name for table in tree.find_all(exp.Table)} - ctes


def _render(path: Path, context: dict[str, object]) -> str:
    try:
        return render_model(path.read_text(encoding="utf-8"), context)
    except jinja2.TemplateError as exc:
        raise ModelError(f"{path}: template: {exc.message}") from None


@cache
def load_models(folder: Path | None = None, feeds: frozenset[str] | None = None) -> dict[str, Model]:
    """Every model by name, with dependencies parsed from its SQL; unknown tables are an error."""
    folder = (folder or config_root() / "dbt_like_sql").resolve()
    paths = {path.stem: path for layer in LAYERS for path in sorted((folder / layer).glob("*.sql"))}
    context = template_context(load_feeds())
    raw = {name: _render(path, context) for name, path in paths.items()}
    schemas = _schemas(folder, paths)
    models = {}
    for name, path in paths.items():
        tables = _tables(raw[name], path)
        staged = {t for t in tables if t.startswith(STAGING_PREFIX)}
        unknown = tables - set(paths) - staged - UPSTREAM_TABLES
        if unknown:
            raise ModelError(f"{path}: reads {', '.join(sorted(unknown))}, which no model or step makes")
        feed_names = {t.removeprefix(STAGING_PREFIX) for t in staged}
        if feeds is not None and feed_names - feeds:
            raise ModelError(f"{path}: reads unknown feed(s) {', '.join(sorted(feed_names - feeds))}")
        models[name] = Model(
            name=name,
            layer=path.parent.name,
            path=path,
            sql=raw[name],
            models=frozenset(tables & set(paths)),
            feeds=frozenset(feed_names),
            upstream=frozenset(tables & UPSTREAM_TABLES),
            schema=schemas[name],
        )
    _check_acyclic(models)
    _check_relationships(models)
    return models


def _schemas(folder: Path, paths: dict[str, Path]) -> dict[str, ModelSchema]:
    """Every model's schema; each layer declares exactly the models in its folder."""
    schemas: dict[str, ModelSchema] = {}
    for layer in LAYERS:
        in_folder = {name for name, path in paths.items() if path.parent.name == layer}
        if not in_folder:
            continue
        declared = load_layer_schema(folder / layer / SCHEMA_FILE)
        where = folder / layer / SCHEMA_FILE
        if in_folder - set(declared):
            raise ModelError(f"{where}: no schema for model(s) {', '.join(sorted(in_folder - set(declared)))}")
        if set(declared) - in_folder:
            raise ModelError(
                f"{where}: declares model(s) with no SQL file: {', '.join(sorted(set(declared) - in_folder))}"
            )
        schemas |= declared
    return schemas


def ancestors(models: dict[str, Model], name: str) -> set[str]:
    """Every model `name` reads, directly or through other models."""
    seen: set[str] = set()
    todo = list(models[name].models)
    while todo:
        dep = todo.pop()
        if dep not in seen:
            seen.add(dep)
            todo.extend(models[dep].models)
    return seen


def _check_relationships(models: dict[str, Model]) -> None:
    """A relationships test reads a table that exists when the model runs: one it depends on."""
    for name, model in models.items():
        for test in model.schema.tests:
            if test.to is not None and test.to not in ancestors(models, name) | UPSTREAM_TABLES:
                raise ModelError(f"{model.path.parent / SCHEMA_FILE}: {name}.{test.name}: {test.to} is not upstream")


def _check_acyclic(models: dict[str, Model]) -> None:
    state: dict[str, str] = {}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "active":
            raise ModelError(f"models depend on each other in a circle: {' → '.join((*trail, name))}")
        state[name] = "active"
        for dep in sorted(models[name].models):
            visit(dep, (*trail, name))
        state[name] = "done"

    for name in sorted(models):
        visit(name, ())


def run_order(models: dict[str, Model]) -> list[str]:
    """Models in an order where each comes after what it reads (of these models: a subset runs in order too,
    its other dependencies built already)."""
    done: list[str] = []
    pending = dict(models)
    while pending:
        ready = sorted(n for n, m in pending.items() if m.models & set(models) <= set(done))
        done.extend(ready)
        for name in ready:
            pending.pop(name)
    return done
