"""The one code location: one Definitions per configured town, merged.

Each town's assets, checks (GX, leak guard), jobs, schedule and sensors are built by `town_definitions`
alone, so a town is added or left out as a whole; `defs` merges them for `workspace.yaml`.
"""

from __future__ import annotations

from pathlib import Path

from dagster import AssetKey, Definitions

from kodomo_pipeline.config.paths import data_root
from kodomo_pipeline.config.towns import TownConfig, load_towns
from kodomo_pipeline.orchestration.backtest_assets import build_backtest_assets, build_backtest_job
from kodomo_pipeline.orchestration.export_assets import build_export_assets
from kodomo_pipeline.orchestration.failed_run_guard import build_failed_run_guard
from kodomo_pipeline.orchestration.feed_assets import build_feed_assets
from kodomo_pipeline.orchestration.linkage_assets import build_linkage_assets
from kodomo_pipeline.orchestration.model_assets import build_model_assets
from kodomo_pipeline.orchestration.privacy_assets import build_privacy_assets
from kodomo_pipeline.orchestration.quality_assets import build_leak_guard_asset, build_quality_checks
from kodomo_pipeline.orchestration.report_assets import build_report_assets
from kodomo_pipeline.orchestration.resource import KodomoResource
from kodomo_pipeline.orchestration.town_jobs import build_inbox_sensor, build_schedule, build_town_job


def town_definitions(town: TownConfig, kodomo: KodomoResource) -> Definitions:
    """Everything of one town: its nightly graph and leak guard, the on-demand backtest, the GX checks, the
    nightly and backtest jobs, the schedule, the inbox sensor and the failed/canceled-run scans."""
    root = kodomo.root
    linkage = build_linkage_assets(town)
    has_crosswalk = any(AssetKey([town.town, "crosswalk"]) in a.keys for a in linkage)
    nightly = build_feed_assets(town) + linkage + build_model_assets(town, has_crosswalk)
    nightly += build_export_assets(town) + build_privacy_assets(town) + build_report_assets(town)
    job = build_town_job(town)
    return Definitions(
        # the leak guard after every other asset of the town; the backtest on demand, outside the nightly group
        assets=[*nightly, build_leak_guard_asset(town, nightly), *build_backtest_assets(town)],
        asset_checks=build_quality_checks(town),
        jobs=[job, build_backtest_job(town)],
        schedules=[build_schedule(town, job, root)],
        sensors=[build_inbox_sensor(town, job, root), *build_failed_run_guard(town, job, root)],
        resources={"kodomo": kodomo},
    )


def build_definitions(root: Path | None = None) -> Definitions:
    """Every configured town's Definitions, merged; `root` is the data root (default: KODOMO_HOME or ./data)."""
    # One resource object for all towns: Definitions.merge accepts a key twice only when it is the same object.
    kodomo = KodomoResource(home=str(root or data_root()))
    return Definitions.merge(*(town_definitions(town, kodomo) for town in load_towns().values()))


defs = build_definitions()
