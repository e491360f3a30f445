"""Reports per town after the alerts: the rule matrix page and the column-lineage report for auditors."""
# No `from __future__ import annotations` here: Dagster inspects the context annotation at runtime.

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, MetadataValue

from kodomo_pipeline.config.feeds import load_feeds
from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.orchestration.resource import KodomoResource
from kodomo_pipeline.orchestration.town_asset import judged_database, town_asset, written_files
from kodomo_pipeline.reports.lineage_report import lineage_columns, model_lineage, write_lineage_report
from kodomo_pipeline.reports.rule_matrix import write_rule_matrix
from kodomo_pipeline.rules.ruleset import apply_overrides
from kodomo_pipeline.sqlmodels.project import load_models


def build_rule_matrix_asset(town: TownConfig) -> AssetsDefinition:
    @town_asset(town, "rule_matrix", after="alerts", kinds={"html"})
    def rule_matrix(context: AssetExecutionContext, kodomo: KodomoResource) -> MaterializeResult:
        """判定条件の設定と可視化: reports/rule_matrix_<YYYYMMDD>.html — every rule in words, points per type, this
        town's overrides, 未連携 rules and how many subjects each rule hit this run (counts only)."""
        rules = apply_overrides(town.path, town.rule_overrides)
        with judged_database(kodomo, town) as (con, asof):
            path, column = write_rule_matrix(con, town, rules, asof, kodomo.output_dir(town))
        not_linked = sorted(rule_id for rule_id, linked in column.linked.items() if not linked)
        return MaterializeResult(
            metadata={
                "as_of": asof.isoformat(),
                "rule_set_version": rules.version,
                "rules": len(rules.rules),
                "rules_enabled": len(rules.enabled_rules()),
                "rules_not_linked": MetadataValue.json(not_linked),
                "rules_with_hits": sum(1 for count in (column.hits or {}).values() if count),
                "subjects_hit_by_rule": MetadataValue.json(column.hits or {}),
                "rule_matrix_html": MetadataValue.path(str(path)),
            }
        )

    return rule_matrix


def build_lineage_report_asset(town: TownConfig) -> AssetsDefinition:
    @town_asset(town, "lineage_report", after="alerts", kinds={"html", "csv"})
    def lineage_report(context: AssetExecutionContext, kodomo: KodomoResource) -> MaterializeResult:
        """Column lineage for auditors (the OSS UI does not draw it): reports/lineage_<YYYYMMDD>.html and .csv —
        every output column of every SQL model, its direct sources and the feed columns it rests on."""
        feeds = load_feeds()
        models = load_models(feeds=frozenset(feeds))
        rules = apply_overrides(town.path, town.rule_overrides)
        with kodomo.database(town) as con:
            asof = kodomo.prepare(con, town, rules)  # the staging views the lineage is resolved against
            columns = lineage_columns(model_lineage(con, models), models, feeds)
        written = write_lineage_report(columns, models, town.name_ja, asof, kodomo.output_dir(town))
        return MaterializeResult(
            metadata=written_files(asof, written)
            | {
                "models": len({item.model for item in columns}),
                "columns": len(columns),
                "columns_without_source": sum(1 for item in columns if not item.sources),
                "columns_from_special_care": sum(1 for item in columns if item.special_care),
            }
        )

    return lineage_report


def build_report_assets(town: TownConfig) -> list[AssetsDefinition]:
    return [build_rule_matrix_asset(town), build_lineage_report_asset(town)]
