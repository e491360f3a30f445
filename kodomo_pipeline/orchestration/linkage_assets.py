"""名寄せ per town: the crosswalk of nursery/school records to the registry (persons, a SQL model), and its files."""
# No `from __future__ import annotations` here: Dagster inspects the context annotation at runtime.

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, MetadataValue

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.linkage.assign import Bands
from kodomo_pipeline.linkage.crosswalk import feed_figures, link_attendance, run_linkage
from kodomo_pipeline.linkage.export import export_crosswalk
from kodomo_pipeline.linkage.inputs import LINKED_FEEDS
from kodomo_pipeline.orchestration.resource import KodomoResource
from kodomo_pipeline.orchestration.town_asset import judged_database, town_asset, written_files
from kodomo_pipeline.storage.faults import crash_point

REGISTRY_MODEL = "persons"  # dbt_like_sql/registry/persons.sql: the registry children 名寄せ links to


def build_crosswalk_asset(town: TownConfig, feeds: list[str]) -> AssetsDefinition:
    decisions = [f"valid_{f}" for f in [*feeds, "meiyose_kekka"] if f in town.feeds]

    @town_asset(
        town,
        "crosswalk",
        after=[REGISTRY_MODEL, *decisions],
        kinds={"duckdb", "splink"},
    )
    def crosswalk(context: AssetExecutionContext, kodomo: KodomoResource) -> MaterializeResult:
        """名寄せ: nursery and school records (no resident ID) linked to registry children by Splink, trained on
        this town's data; matched / review / unmatched bands; staff decisions honoured; the model JSON kept with
        the run."""
        with judged_database(kodomo, town) as (con, asof):
            bands = Bands(town.linkage.match_threshold, town.linkage.review_threshold)  # town config
            run = run_linkage(con, asof, context.run_id, bands, out_dir=kodomo.output_dir(town))
            crash_point("linkage")  # test-only (KODOMO_FAULT_AT): a kill -9 between two linkage writes
            attendance_linked, attendance_unlinked = link_attendance(con, asof)
        figures = feed_figures(run.crosswalk)
        context.log.info(f"crosswalk at {asof}: {len(run.crosswalk)} records")
        metadata: dict = {"as_of": asof.isoformat(), "by_feed": MetadataValue.json(figures)}
        metadata |= {"blocking_comparisons": MetadataValue.json(run.blocking_counts)}
        metadata |= {"attendance_rows_linked": attendance_linked, "attendance_rows_not_linked": attendance_unlinked}
        # Splink's model charts (parameters only); the comparison viewer holds records and stays out of metadata.
        charts = {name: path for name, path in run.charts.items() if name != "comparison_viewer"}
        metadata |= {f"chart_{name}": MetadataValue.path(str(path)) for name, path in charts.items()}
        for feed, values in figures.items():
            metadata |= {f"{feed}_{name}": value for name, value in values.items()}
        return MaterializeResult(metadata=metadata)

    return crosswalk


def build_crosswalk_export_asset(town: TownConfig) -> AssetsDefinition:
    @town_asset(
        town,
        "crosswalk_export",
        after="crosswalk",
        kinds={"csv", "html"},
    )
    def crosswalk_export(context: AssetExecutionContext, kodomo: KodomoResource) -> MaterializeResult:
        """crosswalk_<YYYYMMDD>.csv (spec/outputs.md) and the review list people read (review_<YYYYMMDD>.html)
        with the decision template, in the town's output folder."""
        with judged_database(kodomo, town) as (con, asof):
            written = export_crosswalk(con, town, asof, kodomo.output_dir(town))
        return MaterializeResult(metadata=written_files(asof, written))

    return crosswalk_export


def build_linkage_assets(town: TownConfig) -> list[AssetsDefinition]:
    """The crosswalk and its files, where the town has nursery or school feeds (else none: models read empty)."""
    linked = [feed for feed in LINKED_FEEDS if feed in town.feeds]
    return [build_crosswalk_asset(town, linked), build_crosswalk_export_asset(town)] if linked else []
