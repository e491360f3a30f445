"""Per town: the disclosure exports (one set per profile) and the privacy review report, after the alerts."""
# No `from __future__ import annotations` here: Dagster inspects the context annotation at runtime.

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.exports.disclosure import export_disclosures
from kodomo_pipeline.orchestration.resource import KodomoResource
from kodomo_pipeline.orchestration.town_asset import judged_database, town_asset, written_files
from kodomo_pipeline.privacy.reports.review_report import build_privacy_report


def build_disclosure_asset(town: TownConfig) -> AssetsDefinition:
    @town_asset(town, "disclosure_exports", after="alerts", kinds={"csv"})
    def disclosure_exports(context: AssetExecutionContext, kodomo: KodomoResource) -> MaterializeResult:
        """Per disclosure profile (resources/disclosure/): the meeting's full list, each nursery's and school's watch
        list (own children only, no reasons), the analyst's pseudonymised file with its small-groups report; every
        file recorded in the access log."""
        with judged_database(kodomo, town) as (con, asof):
            result = export_disclosures(con, town, asof, kodomo.output_dir(town), kodomo.root)
        if result.key_notice:
            context.log.warning(result.key_notice)  # where the new key file is; never the key
        metadata = written_files(asof, {"folder": result.folder, "manifest": result.manifest})
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
    @town_asset(town, "privacy_review_report", after="disclosure_exports", kinds={"html"})
    def privacy_review_report(context: AssetExecutionContext, kodomo: KodomoResource) -> MaterializeResult:
        """個人情報保護の整理: per feed its purpose, department, columns kept (要配慮 marked) and dropped, rows
        read/valid/quarantined by reason, 名寄せ figures, which profile receives which columns, retention. Counts and
        column names only."""
        with judged_database(kodomo, town) as (con, asof):
            report = build_privacy_report(con, town, asof, kodomo.output_dir(town))
        context.log.info(f"privacy review report for {asof}: {report.path.name}")
        return MaterializeResult(
            metadata=written_files(asof, {"report": report.path})
            | {
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
