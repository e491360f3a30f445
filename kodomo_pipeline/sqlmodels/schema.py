"""What each SQL model promises: its columns and types, and tests on its rows (the idea of dbt's schema.yml).

`dbt_like_sql/<layer>/schema.yaml` declares every model of the layer. The runner compares a model's output with
its columns (a missing or extra column, or a wrong type, fails naming model and column — never a value), and
every test becomes a Dagster asset check on the model's asset, reporting counts only. Accepted values that the
rule file or the lifecycle file own are named by source (`from: difficulty_types`), never re-typed here.

dbt itself is not used: the models are plain DuckDB SELECTs run by our own runner (sqlmodels/runner.py), and
the few test kinds dbt has (not_null, unique, accepted_values, relationships) are each one COUNT query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import yaml

from kodomo_pipeline.config.feeds import load_feeds
from kodomo_pipeline.rules.ruleset import RuleSet
from kodomo_pipeline.sqlmodels.lifecycle import load_lifecycle

SCHEMA_FILE = "schema.yaml"
TEST_KINDS = ("not_null", "unique", "accepted_values", "relationships")

# Where accepted values live (one owner each): the rule set in force, the lifecycle file, the feed contracts.
VALUE_SOURCES: dict[str, Callable[[RuleSet], list[str]]] = {
    "difficulty_types": lambda rules: list(rules.difficulty_types),
    "difficulty_type_names": lambda rules: list(rules.difficulty_types.values()),
    "levels": lambda rules: list(rules.levels),
    "rule_ids": lambda rules: list(rules.rules),
    "change_labels": lambda rules: list(load_lifecycle().change.values()),
    "feeds": lambda rules: list(load_feeds()),
    "decision_problems": lambda rules: list(load_lifecycle().decision_problems),
}
FEED_VALUES = "feed:"  # `from: feed:taio_kekka.decision` — the `allowed` list of a category column of a feed contract


def _known_source(source: object) -> bool:
    if not isinstance(source, str):
        return False
    if not source.startswith(FEED_VALUES):
        return source in VALUE_SOURCES
    feed, _, column = source.removeprefix(FEED_VALUES).partition(".")
    spec = load_feeds().get(feed)
    return spec is not None and column in spec.columns and spec.columns[column].allowed is not None


class SchemaError(ValueError):
    """A schema file that cannot be read, or a model whose output breaks it; names file, model and column."""


@dataclass(frozen=True)
class ColumnTest:
    """One test on a model's rows; `name` is the Dagster asset check name."""

    kind: str
    columns: tuple[str, ...]
    values: tuple[str, ...] = ()  # accepted_values, literal
    values_from: str | None = None  # accepted_values, a VALUE_SOURCES name
    to: str | None = None  # relationships: table
    field: str | None = None  # relationships: column of `to`

    @property
    def name(self) -> str:
        return f"{self.kind}__{'__'.join(self.columns)}"

    def description(self) -> str:
        columns = ", ".join(self.columns)
        if self.kind == "not_null":
            return f"{columns}: 空欄なし (no NULL)"
        if self.kind == "unique":
            return f"({columns}): 重複なし (unique)"
        if self.kind == "accepted_values":
            source = f"from {self.values_from}" if self.values_from else ", ".join(self.values)
            return f"{columns}: 決められた値のみ (accepted values: {source})"
        return f"{columns}: {self.to}.{self.field} に存在 (relationship)"


@dataclass(frozen=True)
class ModelSchema:
    model: str
    columns: tuple[tuple[str, str], ...]  # (name, DuckDB type), in the declared order
    tests: tuple[ColumnTest, ...]
    blocking: bool  # a failing test stops the assets downstream (wrong data would reach the meeting)


def _test(raw: object, column: str | None, where: str) -> ColumnTest:
    """`not_null` | `unique` | `{unique: [a, b]}` | `{accepted_values: [..] or {from: src}}` |
    `{relationships: {to: t, field: f}}`; `column` is the column the test sits under (None: model level)."""
    kind, arg = (raw, None) if not isinstance(raw, dict) or len(raw) != 1 else next(iter(raw.items()))
    if kind not in TEST_KINDS:
        raise SchemaError(f"{where}: unknown test {raw!r} (known: {', '.join(TEST_KINDS)})")
    if kind == "unique" and isinstance(arg, list):
        return ColumnTest("unique", tuple(str(c) for c in arg))
    if column is None:
        raise SchemaError(f"{where}: a model-level test is `unique: [columns]`")
    if kind in ("not_null", "unique"):
        return ColumnTest(kind, (column,))
    if kind == "accepted_values":
        if isinstance(arg, list) and arg:
            return ColumnTest(kind, (column,), values=tuple(str(v) for v in arg))
        if isinstance(arg, dict) and _known_source(arg.get("from")):
            return ColumnTest(kind, (column,), values_from=arg["from"])
        known = ", ".join([*VALUE_SOURCES, f"{FEED_VALUES}<feed>.<category column>"])
        raise SchemaError(f"{where}: accepted_values needs a list or `from:` one of {known}")
    if isinstance(arg, dict) and set(arg) == {"to", "field"}:
        return ColumnTest(kind, (column,), to=str(arg["to"]), field=str(arg["field"]))
    raise SchemaError(f"{where}: relationships needs `to:` and `field:`")


def _columns(raw: object, where: str) -> list[dict]:
    if not isinstance(raw, list) or not raw:
        raise SchemaError(f"{where}: `columns` must be a non-empty list")
    return raw


def load_layer_schema(path: Path) -> dict[str, ModelSchema]:
    """Every model declared in one layer's schema file. `contracts` are shared column lists a model can use
    (`contract: indicator`) instead of repeating them, as every indicator model does."""
    if not path.is_file():
        raise SchemaError(f"{path}: missing (every layer declares its models' columns here)")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    contracts = {name: _columns(spec.get("columns"), f"{path}: contracts.{name}")
                 for name, spec in (raw.get("contracts") or {}).items()}  # fmt: skip
    blocking = bool(raw.get("blocking", False))
    schemas = {}
    for model, spec in (raw.get("models") or {}).items():
        where = f"{path}: models.{model}"
        spec = spec or {}
        if "contract" in spec:
            if spec["contract"] not in contracts:
                raise SchemaError(f"{where}: unknown contract {spec['contract']!r}")
            columns = contracts[spec["contract"]] + (spec.get("columns") or [])
            model_tests = (raw["contracts"][spec["contract"]].get("tests") or []) + (spec.get("tests") or [])
        else:
            columns, model_tests = _columns(spec.get("columns"), where), spec.get("tests") or []
        names = [str(c.get("name")) for c in columns]
        if len(set(names)) != len(names) or any(not c.get("type") for c in columns):
            raise SchemaError(f"{where}: every column needs a unique name and a type")
        tests = [_test(t, str(c["name"]), f"{where}.{c['name']}") for c in columns for t in c.get("tests") or []]
        tests += [_test(t, None, where) for t in model_tests]
        for test in tests:
            if set(test.columns) - set(names):
                raise SchemaError(f"{where}: test {test.name} names an undeclared column")
        schemas[model] = ModelSchema(
            model=model,
            columns=tuple((str(c["name"]), str(c["type"]).upper()) for c in columns),
            tests=tuple(dict.fromkeys(tests)),
            blocking=bool(spec.get("blocking", blocking)),
        )
    return schemas


def check_columns(con: duckdb.DuckDBPyConnection, schema: ModelSchema) -> None:
    """The model's table has exactly the declared columns with the declared types (order free: models are
    combined by name). Raises SchemaError naming model and column, never a value."""
    actual = {name: kind for name, kind, *_ in con.execute(f'DESCRIBE "{schema.model}"').fetchall()}
    declared = dict(schema.columns)
    problems = [f"column {c} is missing" for c in declared if c not in actual]
    problems += [f"column {c} is not declared in {SCHEMA_FILE}" for c in actual if c not in declared]
    problems += [
        f"column {c} is {actual[c]}, declared {kind}"
        for c, kind in declared.items()
        if c in actual and actual[c] != kind
    ]
    if problems:
        raise SchemaError(f"model {schema.model}: output does not match its schema: {'; '.join(problems)}")


def accepted(test: ColumnTest, rules: RuleSet) -> list[str]:
    """The values the test accepts: its own list, or those of the file that owns them."""
    if test.values:
        return list(test.values)
    source = str(test.values_from)
    if source.startswith(FEED_VALUES):
        feed, _, column = source.removeprefix(FEED_VALUES).partition(".")
        return list(load_feeds()[feed].columns[column].allowed or ())
    return VALUE_SOURCES[source](rules)


def failing_rows_sql(table: str, test: ColumnTest) -> tuple[str, list[object]]:
    """A query counting the rows (or, for unique, the surplus rows) that break the test, and its parameters."""
    cols = ", ".join(f'"{c}"' for c in test.columns)
    if test.kind == "not_null":
        return f'SELECT count(*) FROM "{table}" WHERE "{test.columns[0]}" IS NULL', []
    if test.kind == "unique":  # surplus rows of each repeated key; a one-column key ignores NULL, as dbt does
        where = f'WHERE "{test.columns[0]}" IS NOT NULL' if len(test.columns) == 1 else ""
        return (
            f'SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM "{table}" {where} GROUP BY {cols})',
            [],
        )
    if test.kind == "accepted_values":
        column = test.columns[0]
        outside = f'NOT list_contains(?, CAST("{column}" AS VARCHAR))'
        return f'SELECT count(*) FROM "{table}" WHERE "{column}" IS NOT NULL AND {outside}', []
    column = test.columns[0]
    return (
        f'SELECT count(*) FROM "{table}" AS m WHERE m."{column}" IS NOT NULL '
        f'AND m."{column}" NOT IN (SELECT "{test.field}" FROM "{test.to}" WHERE "{test.field}" IS NOT NULL)',
        [],
    )


def run_tests(con: duckdb.DuckDBPyConnection, schema: ModelSchema, rules: RuleSet) -> Mapping[ColumnTest, int]:
    """Failing row count per test of the model (0 = passed). Counts only: no value leaves this function."""
    results = {}
    for test in schema.tests:
        sql, params = failing_rows_sql(schema.model, test)
        if test.kind == "accepted_values":
            params = [accepted(test, rules)]
        results[test] = int(con.execute(sql, params).fetchone()[0])
    return results
