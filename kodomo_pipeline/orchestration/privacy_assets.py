"""Per town: the disclosure exports (one set per profile) and the privacy review report, after the alerts."""
# No `from __future__ import annotations` here: Dagster inspects the context annotation at runtime.

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, MetadataValue, asset

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.exports.disclosure import export_disclosures
from kodomo_pipeline.orchestration.resource import KodomoResource
from kodomo_pipeline.privacy.reports.review_report import build_privacy_report


def build_disclosure_asset(town: TownConfig) -> AssetsDefinition:
    @asset(
        key=AssetKey([town.town, "disclosure_exports"]),
        group_name=town.town,
        kinds={"csv"},
        deps=[AssetKey([town.town, "alerts"])],
        description="Per disclosure profile (resources/disclosure/): the meeting's full list, each nursery's and "
        "school's watch list (own children only, no reasons), the analyst's pseudonymised file with its "
        "small-groups report; every file recorded in the access log.",
    )
    def disclosure_exports(context: AssetExecutionContext, kodomo: KodomoResource) -> MaterializeResult:
        with kodomo.database(town) as con:
            asof = kodomo.judgment_date(con)
            result = export_disclosures(con, town, asof, kodomo.output_dir(town), kodomo.root)
        if result.key_notice:
            context.log.warning(result.key_notice)  # where the new key file is; never the key
        metadata: dict = {"as_of": result.as_of, "folder": MetadataValue.path(str(result.folder))}
        metadata["manifest"] = MetadataValue.path(str(result.manifest))
        if result.key_source:
            metadata["pseudonym_key_source"] = result.key_source
        for name, export in result.profiles.items():
            metadata[f"{name}_files"] = len(export.files)
            metadata[f"{name}_rows"] = export.rows
            metadata[f"{name}_subjects"] = export.subjects
            if export.small_groups is not None:
                metadata[f"{name}_small_groups"] = export.small_groups
        return MaterializeResult(metadata=metadata)

    return disclosure_exports


def build_privacy_report_asset(town: TownConfig) -> AssetsDefinition:
    @asset(
        key=AssetKey([town.town, "privacy_review_report"]),
        group_name=town.town,
        kinds={"html"},
        deps=[AssetKey([town.town, "disclosure_exports"])],
        description="個人情報保護の整理: per feed its purpose, department, columns kept (要配慮 marked) and dropped, "
        "rows read/valid/quarantined by reason, 名寄せ figures, which profile receives which columns, retention. "
        "Counts and column names only.",
    )
    def privacy_review_report(context: AssetExecutionContext, kodomo: KodomoResource) -> MaterializeResult:
        with kodomo.database(town) as con:
            asof = kodomo.judgment_date(con)
            report = build_privacy_report(con, town, asof, kodomo.output_dir(town))
        context.log.info(f"privacy review report for {asof}: {report.path.name}")
        return MaterializeResult(
            metadata={
                "as_of": asof.isoformat(),
                "report": MetadataValue.path(str(report.path)),
                "feeds": report.feeds,
                "special_care_columns": report.special_care_columns,
                "rows_quarantined": report.rows_quarantined,
                "profiles": report.profiles,
                "snapshots_due_for_purge": report.purge_due,
            }
        )

    return privacy_review_report


def build_privacy_assets(town: TownConfig) -> list[AssetsDefinition]:
    return [build_disclosure_asset(town), build_privacy_report_asset(town)]
