"""The review meeting's files per town, and the operator's view of them in the Dagster UI (counts only)."""
# No `from __future__ import annotations` here: Dagster inspects the context annotation at runtime.

from typing import Any

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, MetadataValue

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.exports.alerts import export_alerts_csv
from kodomo_pipeline.exports.meeting_xlsx import export_meeting_xlsx
from kodomo_pipeline.exports.operator_summary import LEVELS, operator_summary, summary_markdown
from kodomo_pipeline.orchestration.resource import KodomoResource
from kodomo_pipeline.orchestration.town_asset import judged_database, town_asset
from kodomo_pipeline.rules.ruleset import apply_overrides
from kodomo_pipeline.storage.faults import crash_point


def summary_metadata(summary: dict[str, Any]) -> dict[str, Any]:
    """Dagster metadata from the operator summary: numbers the UI can plot, tables as JSON and Markdown."""
    return {
        "as_of": summary["as_of"],
        "rule_set_version": summary["rule_set_version"],
        "alerts": summary["alerts"],
        **{f"level_{level}": summary["by_level"][level] for level in LEVELS},
        "new": summary["new"],
        "raised": summary["raised"],
        "suppressed": summary["suppressed"],
        "economic_only_share": MetadataValue.float(float(summary["economic_only_share"])),
        "by_type": MetadataValue.json(summary["by_type"]),
        "by_level_and_type": MetadataValue.json(summary["by_level_and_type"]),
        "not_linked_rules": MetadataValue.json(summary["not_linked_rules"]),
        "column_gaps": MetadataValue.json(summary.get("column_gaps", [])),
        "failed_feeds": MetadataValue.json(summary.get("failed_feeds", [])),
        "summary": MetadataValue.md(summary_markdown(summary)),
    }


def build_export_assets(town: TownConfig) -> list[AssetsDefinition]:
    @town_asset(town, "alerts_export", after="alerts", kinds={"csv", "xlsx"})
    def alerts_export(context: AssetExecutionContext, kodomo: KodomoResource) -> MaterializeResult:
        """alerts_<YYYYMMDD>.csv (spec/outputs.md) and the meeting list people read (meeting_<town>_<YYYYMMDD>.xlsx:
        names, ages, reasons in words, counts, 判定 to fill in) in the town's output folder; suppressed (対応不要)
        alerts are left out. Metadata: counts only."""
        levels = apply_overrides(town.path, town.rule_overrides).levels
        out_dir = kodomo.output_dir(town)
        with judged_database(kodomo, town) as (con, asof):
            summary = operator_summary(con, asof)
            csv_path = export_alerts_csv(con, asof, out_dir)
            crash_point("export")  # test-only (KODOMO_FAULT_AT): a kill -9 between the two files
            xlsx_path = export_meeting_xlsx(con, asof, out_dir, summary, levels, town)
        context.log.info(f"alerts at {asof}: {summary['alerts']} exported, {summary['suppressed']} suppressed")
        return MaterializeResult(
            metadata=summary_metadata(summary)
            | {"alerts_csv": MetadataValue.path(str(csv_path)), "meeting_xlsx": MetadataValue.path(str(xlsx_path))}
        )

    return [alerts_export]
