"""One Dagster asset per SQL model per town; the graph comes from the models' own SQL (sqlglot)."""
# No `from __future__ import annotations` here: Dagster inspects the context annotation at runtime.

import dagster as dg

from kodomo_pipeline.config.feeds import load_feeds
from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.orchestration.resource import KodomoResource
from kodomo_pipeline.privacy.services.pseudonym import load_key
from kodomo_pipeline.rules.ruleset import apply_overrides
from kodomo_pipeline.sqlmodels.lifecycle import DECISIONS_MODEL, decision_figures
from kodomo_pipeline.sqlmodels.lineage import column_lineage
from kodomo_pipeline.sqlmodels.project import LINKAGE_TABLES, STAGING_PREFIX, Model, load_models
from kodomo_pipeline.sqlmodels.registry import REGISTRY_FIGURES
from kodomo_pipeline.sqlmodels.runner import run_model
from kodomo_pipeline.sqlmodels.schema import SchemaError, run_tests

# Operator figures (counts only, never an ID) some models add to their asset's metadata.
MODEL_FIGURES = {DECISIONS_MODEL: decision_figures, **REGISTRY_FIGURES}


def _table_key(town: TownConfig, table: str, model: Model) -> dg.AssetKey:
    """The asset that makes a table the model reads: a model, a feed's valid rows (stg_<feed>) or 名寄せ."""
    if table in model.models:
        return dg.AssetKey([town.town, table])
    if table.startswith(STAGING_PREFIX):
        return dg.AssetKey([town.town, f"valid_{table.removeprefix(STAGING_PREFIX)}"])
    return dg.AssetKey([town.town, LINKAGE_TABLES.get(table, table)])


def _deps(town: TownConfig, model: Model, has_crosswalk: bool) -> list[dg.AssetKey]:
    keys = [dg.AssetKey([town.town, dep]) for dep in sorted(model.models)]
    keys += [dg.AssetKey([town.town, f"valid_{feed}"]) for feed in sorted(model.feeds) if feed in town.feeds]
    if has_crosswalk:
        keys += [dg.AssetKey([town.town, LINKAGE_TABLES[t]]) for t in sorted(model.upstream & set(LINKAGE_TABLES))]
    return list(dict.fromkeys(keys))


def _lineage_metadata(town: TownConfig, model: Model, lineage: dict, known: set[dg.AssetKey]) -> dg.TableColumnLineage:
    deps = {}
    for column, sources in lineage.items():
        found = [
            dg.TableColumnDep(asset_key=_table_key(town, table, model), column_name=name) for table, name in sources
        ]
        deps[column] = [dep for dep in found if dep.asset_key in known]
    return dg.TableColumnLineage(deps_by_column=deps)


def check_specs(town: TownConfig, model: Model) -> list[dg.AssetCheckSpec]:
    """One asset check per test of the model's schema (<layer>/schema.yaml); blocking where the layer says so."""
    key = dg.AssetKey([town.town, model.name])
    return [
        dg.AssetCheckSpec(name=test.name, asset=key, description=test.description(), blocking=model.schema.blocking)
        for test in model.schema.tests
    ]


def check_results(model: Model, failing: dict) -> list[dg.AssetCheckResult]:
    """Counts only in metadata: how many rows break the test, never which."""
    severity = dg.AssetCheckSeverity.ERROR if model.schema.blocking else dg.AssetCheckSeverity.WARN
    return [
        dg.AssetCheckResult(
            check_name=test.name, passed=count == 0, severity=severity, metadata={"failing_rows": count}
        )
        for test, count in failing.items()
    ]


def build_model_asset(town: TownConfig, model: Model, has_crosswalk: bool) -> dg.AssetsDefinition:
    deps = _deps(town, model, has_crosswalk)
    first_line = model.sql.strip().splitlines()[0].removeprefix("--").strip()
    figures_of = MODEL_FIGURES.get(model.name)

    @dg.asset(
        key=dg.AssetKey([town.town, model.name]),
        group_name=town.town,
        kinds={"duckdb", "sql"},
        deps=deps,
        description=f"{model.layer}/{model.name}.sql — {first_line}",
        metadata={"sql_file": dg.MetadataValue.path(str(model.path)), "layer": model.layer},
        check_specs=check_specs(town, model),
    )
    def sql_model(context: dg.AssetExecutionContext, kodomo: KodomoResource) -> dg.MaterializeResult:
        rules = apply_overrides(town.path, town.rule_overrides)
        with kodomo.database(town) as con:
            key = load_key(town.town, kodomo.root)
            if key.announcement:
                context.log.warning(key.announcement)  # where the new key file is; never the key
            asof = kodomo.prepare(con, town, rules, key)  # the tables once per run, the session per step
            try:
                rows = run_model(con, model)
            except SchemaError as exc:  # names model and column, never a value: shown to the operator as it is
                raise dg.Failure(description=f"{town.town}: {exc}", allow_retries=False) from None
            lineage = column_lineage(con, model)
            figures = figures_of(con) if figures_of else {}  # counts, never an ID
            failing = run_tests(con, model.schema, rules)
        return dg.MaterializeResult(
            check_results=check_results(model, failing),
            metadata={
                "as_of": asof.isoformat(),
                "rule_set_version": rules.version,
                "rows": rows,
                "dagster/column_lineage": _lineage_metadata(town, model, lineage, set(deps)),
                "sql": dg.MetadataValue.md(f"```sql\n{model.sql}\n```"),
                **{name: dg.MetadataValue.json(v) if isinstance(v, dict) else v for name, v in figures.items()},
            },
        )

    return sql_model


def build_model_assets(town: TownConfig, has_crosswalk: bool) -> list[dg.AssetsDefinition]:
    models = load_models(feeds=frozenset(load_feeds()))
    return [build_model_asset(town, model, has_crosswalk) for model in models.values()]
