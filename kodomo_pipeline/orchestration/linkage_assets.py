"""名寄せ per town: persons (the registry at T), resident links, and the crosswalk of nursery/school records."""
# No `from __future__ import annotations` here: Dagster inspects the context annotation at runtime.

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, MetadataValue, asset

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.linkage.assign import Bands
from kodomo_pipeline.linkage.crosswalk import feed_figures, link_attendance, run_linkage
from kodomo_pipeline.linkage.export import export_crosswalk
from kodomo_pipeline.linkage.inputs import LINKED_FEEDS
from kodomo_pipeline.linkage.persons import (
    build_mother_of_child,
    build_persons,
    build_unknown_residents,
    person_references,
)
from kodomo_pipeline.orchestration.resource import KodomoResource
from kodomo_pipeline.storage.faults import crash_point
from kodomo_pipeline.storage.feed_tables import fetch_one


def valid_key(town: TownConfig, feed: str) -> AssetKey:
    return AssetKey([town.town, f"valid_{feed}"])


def build_persons_asset(town: TownConfig) -> AssetsDefinition:
    has_postpartum = "sango_shitsumon" in town.feeds
    deps = [valid_key(town, "jumin")] + ([valid_key(town, "sango_shitsumon")] if has_postpartum else [])

    @asset(
        key=AssetKey([town.town, "persons"]),
        group_name=town.town,
        kinds={"duckdb"},
        deps=deps,
        description="The registry at T as the master person index (age at T), and each child's identified "
        "mother (postpartum questionnaire pair, else the household rule of rules v1).",
    )
    def persons(context: AssetExecutionContext, kodomo: KodomoResource) -> MaterializeResult:
        with kodomo.database(town) as con:
            asof = kodomo.judgment_date(con)
            count = build_persons(con, asof)
            mothers = build_mother_of_child(con, asof, has_postpartum)
            children = fetch_one(con, "SELECT count(*) FROM persons WHERE status = '住民' AND age BETWEEN 0 AND 17")[0]
            by_basis = dict(con.execute("SELECT basis, count(*) FROM mother_of_child GROUP BY basis").fetchall())
        context.log.info(f"persons at {asof}: {count} ({children} children 0-17), mothers identified: {mothers}")
        return MaterializeResult(
            metadata={
                "as_of": asof.isoformat(),
                "persons": count,
                "children_0_17_resident": children,
                "mothers_identified": mothers,
                "mothers_by_basis": MetadataValue.json(by_basis),
            }
        )

    return persons


def build_resident_links_asset(town: TownConfig) -> AssetsDefinition:
    references = person_references(town)
    feeds = sorted({feed for feed, _, _ in references})

    @asset(
        key=AssetKey([town.town, "resident_links"]),
        group_name=town.town,
        kinds={"duckdb"},
        deps=[AssetKey([town.town, "persons"])] + [valid_key(town, feed) for feed in feeds],
        description="Feeds that carry a resident (or household) ID join the registry directly; a row naming "
        "nobody in the registry is kept in `unknown_residents` with its file and row, never dropped.",
    )
    def resident_links(context: AssetExecutionContext, kodomo: KodomoResource) -> MaterializeResult:
        with kodomo.database(town) as con:
            asof = kodomo.judgment_date(con)
            unknown = build_unknown_residents(con, town, asof)
        context.log.info(f"rows naming nobody in the registry: {sum(unknown.values())}")
        return MaterializeResult(
            metadata={"as_of": asof.isoformat(), "unknown_by_feed": MetadataValue.json(unknown)}
            | {f"unknown_{feed}": count for feed, count in unknown.items()}
        )

    return resident_links


def build_crosswalk_asset(town: TownConfig, feeds: list[str]) -> AssetsDefinition:
    deps = [AssetKey([town.town, "persons"])] + [
        valid_key(town, f) for f in [*feeds, "meiyose_kekka"] if f in town.feeds
    ]

    @asset(
        key=AssetKey([town.town, "crosswalk"]),
        group_name=town.town,
        kinds={"duckdb", "splink"},
        deps=deps,
        description="名寄せ: nursery and school records (no resident ID) linked to registry children by Splink, "
        "trained on this town's data; matched / review / unmatched bands; staff decisions honoured; the model "
        "JSON kept with the run.",
    )
    def crosswalk(context: AssetExecutionContext, kodomo: KodomoResource) -> MaterializeResult:
        with kodomo.database(town) as con:
            asof = kodomo.judgment_date(con)
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
    @asset(
        key=AssetKey([town.town, "crosswalk_export"]),
        group_name=town.town,
        kinds={"csv", "html"},
        deps=[AssetKey([town.town, "crosswalk"])],
        description="crosswalk_<YYYYMMDD>.csv (spec/outputs.md) and the review list people read "
        "(review_<YYYYMMDD>.html) with the decision template, in the town's output folder.",
    )
    def crosswalk_export(context: AssetExecutionContext, kodomo: KodomoResource) -> MaterializeResult:
        with kodomo.database(town) as con:
            asof = kodomo.judgment_date(con)
            written = export_crosswalk(con, town, asof, kodomo.output_dir(town))
        return MaterializeResult(
            metadata={"as_of": asof.isoformat()}
            | {name: MetadataValue.path(str(path)) for name, path in written.items()}
        )

    return crosswalk_export


def build_linkage_assets(town: TownConfig) -> list[AssetsDefinition]:
    assets = [build_persons_asset(town), build_resident_links_asset(town)]
    linked = [feed for feed in LINKED_FEEDS if feed in town.feeds]
    if linked:
        assets += [build_crosswalk_asset(town, linked), build_crosswalk_export_asset(town)]
    return assets
