"""The one code location: every configured town's assets, checks (GX, leak guard), job, schedule and sensor."""

from __future__ import annotations

from pathlib import Path

from dagster import AssetKey, Definitions

from kodomo_pipeline.config.paths import data_root
from kodomo_pipeline.config.towns import load_towns
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


def build_definitions(root: Path | None = None) -> Definitions:
    root = root or data_root()
    assets, asset_checks, jobs, schedules, sensors = [], [], [], [], []
    for town in load_towns().values():
        linkage = build_linkage_assets(town)
        has_crosswalk = any(AssetKey([town.town, "crosswalk"]) in a.keys for a in linkage)
        town_assets = build_feed_assets(town) + linkage + build_model_assets(town, has_crosswalk)
        town_assets += build_export_assets(town) + build_privacy_assets(town) + build_report_assets(town)
        assets.extend(town_assets)
        assets.append(build_leak_guard_asset(town, town_assets))  # after every other asset of the town
        assets.extend(build_backtest_assets(town))  # on demand, outside the nightly group
        jobs.append(build_backtest_job(town))
        asset_checks.extend(build_quality_checks(town))
        job = build_town_job(town)
        jobs.append(job)
        schedules.append(build_schedule(town, job, root))
        sensors.append(build_inbox_sensor(town, job, root))
        sensors.extend(build_failed_run_guard(town, job, root))  # failed/canceled runs are scanned too
    return Definitions(
        assets=assets,
        asset_checks=asset_checks,
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources={"kodomo": KodomoResource(home=str(root))},
    )


defs = build_definitions()
