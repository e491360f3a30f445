"""One Dagster asset per SQL model per town; the graph comes from the models' own SQL (sqlglot)."""
# No `from __future__ import annotations` here: Dagster inspects the context annotation at runtime.

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    TableColumnDep,
    TableColumnLineage,
    asset,
)

from kodomo_pipeline.config.feeds import load_feeds
from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.orchestration.resource import KodomoResource
from kodomo_pipeline.privacy.services.pseudonym import load_key
from kodomo_pipeline.rules.ruleset import apply_overrides
from kodomo_pipeline.sqlmodels.lifecycle import DECISIONS_MODEL, decision_figures
from kodomo_pipeline.sqlmodels.lineage import column_lineage
from kodomo_pipeline.sqlmodels.project import Model, load_models
from kodomo_pipeline.sqlmodels.runner import run_model
from kodomo_pipeline.sqlmodels.schema import SchemaError, run_tests

# Which asset makes each linkage table a model may read.
UPSTREAM_ASSET = {"persons": "persons", "mother_of_child": "persons", "crosswalk": "crosswalk",
                  "attendance_linked": "crosswalk"}  # fmt: skip


def _table_key(town: TownConfig, table: str, model: Model) -> AssetKey:
    if table in model.models:
        return AssetKey([town.town, table])
    if table.startswith("stg_"):
        return AssetKey([town.town, f"valid_{table.removeprefix('stg_')}"])
    return AssetKey([town.town, UPSTREAM_ASSET.get(table, table)])


def _deps(town: TownConfig, model: Model, has_crosswalk: bool) -> list[AssetKey]:
    keys = [AssetKey([town.town, dep]) for dep in sorted(model.models)]
    keys += [AssetKey([town.town, f"valid_{feed}"]) for feed in sorted(model.feeds) if feed in town.feeds]
    for table in sorted(model.upstream & set(UPSTREAM_ASSET)):
        if UPSTREAM_ASSET[table] != "crosswalk" or has_crosswalk:
            keys.append(AssetKey([town.town, UPSTREAM_ASSET[table]]))
    return list(dict.fromkeys(keys))


def _lineage_metadata(town: TownConfig, model: Model, lineage: dict, known: set[AssetKey]) -> TableColumnLineage:
    deps = {}
    for column, sources in lineage.items():
        found = [TableColumnDep(asset_key=_table_key(town, table, model), column_name=name) for table, name in sources]
        deps[column] = [dep for dep in found if dep.asset_key in known]
    return TableColumnLineage(deps_by_column=deps)


def check_specs(town: TownConfig, model: Model) -> list[AssetCheckSpec]:
    """One asset check per test of the model's schema (<layer>/schema.yaml); blocking where the layer says so."""
    key = AssetKey([town.town, model.name])
    return [
        AssetCheckSpec(name=test.name, asset=key, description=test.description(), blocking=model.schema.blocking)
        for test in model.schema.tests
    ]


def check_results(model: Model, failing: dict) -> list[AssetCheckResult]:
    """Counts only in metadata: how many rows break the test, never which."""
    severity = AssetCheckSeverity.ERROR if model.schema.blocking else AssetCheckSeverity.WARN
    return [
        AssetCheckResult(check_name=test.name, passed=count == 0, severity=severity, metadata={"failing_rows": count})
        for test, count in failing.items()
    ]


def build_model_asset(town: TownConfig, model: Model, has_crosswalk: bool) -> AssetsDefinition:
    deps = _deps(town, model, has_crosswalk)
    first_line = model.sql.strip().splitlines()[0].removeprefix("--").strip()

    @asset(
        key=AssetKey([town.town, model.name]),
        group_name=town.town,
        kinds={"duckdb", "sql"},
        deps=deps,
        description=f"{model.layer}/{model.name}.sql — {first_line}",
        metadata={"sql_file": MetadataValue.path(str(model.path)), "layer": model.layer},
        check_specs=check_specs(town, model),
    )
    def sql_model(context: AssetExecutionContext, kodomo: KodomoResource) -> MaterializeResult:
        rules = apply_overrides(town.path, town.rule_overrides)
        with kodomo.database(town) as con:
            key = load_key(town.town, kodomo.root)
            if key.announcement:
                context.log.warning(key.announcement)  # where the new key file is; never the key
            asof = kodomo.prepare(con, town, rules, key)  # the tables once per run, the session per step
            try:
                rows = run_model(con, model)
            except SchemaError as exc:  # names model and column, never a value: shown to the operator as it is
                raise Failure(description=f"{town.town}: {exc}", allow_retries=False) from None
            lineage = column_lineage(con, model)
            figures = decision_figures(con) if model.name == DECISIONS_MODEL else {}  # counts, never an ID
            failing = run_tests(con, model.schema, rules)
        return MaterializeResult(
            check_results=check_results(model, failing),
            metadata={
                "as_of": asof.isoformat(),
                "rule_set_version": rules.version,
                "rows": rows,
                "dagster/column_lineage": _lineage_metadata(town, model, lineage, set(deps)),
                "sql": MetadataValue.md(f"```sql\n{model.sql}\n```"),
                **{name: MetadataValue.json(v) if isinstance(v, dict) else v for name, v in figures.items()},
            },
        )

    return sql_model


def build_model_assets(town: TownConfig, has_crosswalk: bool) -> list[AssetsDefinition]:
    models = load_models(feeds=frozenset(load_feeds()))
    return [build_model_asset(town, model, has_crosswalk) for model in models.values()]
