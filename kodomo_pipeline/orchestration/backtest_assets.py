"""Per town: the backtest (効果検証) as an on-demand asset and job, outside the nightly graph.

The asset is in group `<town>_backtest`, so the nightly job (AssetSelection.groups(town)) never runs it. Its
run config names the dates, step, horizon and rule files; its metadata carries headline figures only (counts,
precision and recall per rule set and type) — no personal value.
"""
# No `from __future__ import annotations` here: Dagster inspects the annotations at runtime.

import datetime as dt
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    Config,
    JobDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
    define_asset_job,
    in_process_executor,
)
from pydantic import Field

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.datemath import months_before
from kodomo_pipeline.orchestration.resource import KodomoResource, hidden_failure

BACKTEST_TAG = "kodomo/backtest"
DEFAULT_MONTHS = 24


def backtest_key(town: TownConfig) -> AssetKey:
    return AssetKey([town.town, "backtest"])


def backtest_group(town: TownConfig) -> str:
    return f"{town.town}_backtest"


class BacktestConfig(Config):
    """Run config of a backtest (the Dagster launchpad shows these fields)."""

    from_date: str | None = Field(
        default=None, description=f"first replayed date T, YYYY-MM-DD (default: {DEFAULT_MONTHS} months before to_date)"
    )
    to_date: str | None = Field(
        default=None,
        description="last replayed date T, YYYY-MM-DD, inclusive (default: the town's newest extract minus the "
        "horizon, so that every replayed date's outcomes are known)",
    )
    every: str = Field(default="1M", description="step between replayed dates: 1M, 2W, 14D …")
    horizon: str = Field(default="6M", description="outcomes are counted in (T, T + horizon]")
    rules: list[str] = Field(default=[], description="rule-set YAML files (default: rules/risk_rules_v1.yaml)")
    inbox: str | None = Field(default=None, description="a history inbox (default: a copy of the town database)")
    out: str | None = Field(default=None, description="results folder (default: the town's output folder)")
    outcomes: str | None = Field(default=None, description="outcome definitions (default: rules/outcomes_v1.yaml)")
    town_overrides: bool = Field(default=True, description="apply the town's rule_overrides on each rule set")


def replay_window(town: TownConfig, root: Path, config: BacktestConfig) -> tuple[dt.date, dt.date]:
    """The dates the run config names, else the last DEFAULT_MONTHS whose horizon has passed (Materialize in the
    UI with no config backtests the town's own history)."""
    from kodomo_pipeline.backtest.period import Period
    from kodomo_pipeline.storage.snapshots import newest_extract
    from kodomo_pipeline.storage.town_db import open_town_db

    if config.to_date:
        last = dt.date.fromisoformat(config.to_date)
    else:
        newest = None
        if town.database(root).exists():
            with open_town_db(town.database(root), read_only=True) as con:
                newest = newest_extract(con)
        if newest is None:
            raise ValueError(f"{town.town} has ingested nothing yet: name from_date and to_date and an inbox")
        last = Period.parse(config.horizon).after(newest, -1)
    first = dt.date.fromisoformat(config.from_date) if config.from_date else months_before(last, DEFAULT_MONTHS)
    return first, last


def _metadata(result, report: Path) -> dict:
    figures = result.headline()
    metadata: dict = {
        "from": result.parameters["from"],
        "to": result.parameters["to"],
        "every": result.parameters["every"],
        "horizon": result.parameters["horizon"],
        "replays": figures["replays"],
        "rule_sets": MetadataValue.json(result.rule_sets),
        "alerts": len(result.alerts),
        "outcomes": len(result.outcomes),
        "outcomes_by_type": MetadataValue.json(figures["outcomes_by_type"]),
        "seconds": MetadataValue.json({k: round(v, 1) for k, v in result.seconds.items()}),
        "result_dir": MetadataValue.path(str(result.result_dir)),
        "notes": MetadataValue.md("\n".join(f"- {line}" for line in result.notes)),
    }
    for entry in figures["rule_sets"]:  # the report's figures (level ≥ C, pooled over replay dates)
        metadata[f"{entry['rule_set']}_headline"] = MetadataValue.json(entry["by_type"])
        for kind, values in entry["by_type"].items():
            for name in ("precision", "recall"):
                if values[name] is not None:
                    metadata[f"{entry['rule_set']}_{kind}_{name}"] = float(values[name])
    metadata["report"] = MetadataValue.path(str(report))
    return metadata


def build_backtest_asset(town: TownConfig) -> AssetsDefinition:
    @asset(
        key=backtest_key(town),
        group_name=backtest_group(town),
        kinds={"duckdb", "html"},
        description=f"{town.name_ja}: 効果検証 — replay rule sets as of past dates (only data known at each date) "
        "and compare their alerts with later outcomes; on demand, in a scratch copy of the town's data.",
    )
    def backtest(context: AssetExecutionContext, config: BacktestConfig, kodomo: KodomoResource) -> MaterializeResult:
        from kodomo_pipeline.backtest.engine import run_backtest
        from kodomo_pipeline.backtest.report import write_report

        try:
            first, last = replay_window(town, kodomo.root, config)
            result = run_backtest(
                town,
                kodomo.root,
                first,
                last,
                config.every,
                config.horizon,
                [Path(p) for p in config.rules],
                Path(config.inbox) if config.inbox else None,
                Path(config.out) if config.out else (Path(kodomo.out) / town.town if kodomo.out else None),
                Path(config.outcomes) if config.outcomes else None,
                town_overrides=config.town_overrides,
                progress=context.log.info,  # dates, counts and seconds only
            )
            assert result.result_dir is not None
            report = write_report(result.result_dir)
        except Exception as exc:
            raise hidden_failure(town, kodomo.root, exc, "the backtest") from None
        return MaterializeResult(metadata=_metadata(result, report))

    return backtest


def build_backtest_assets(town: TownConfig) -> list[AssetsDefinition]:
    return [build_backtest_asset(town)]


def build_backtest_job(town: TownConfig) -> JobDefinition:
    """On demand only (no schedule): launched from the UI's launchpad with the run config above."""
    return define_asset_job(
        f"{town.town}_backtest",
        selection=AssetSelection.assets(backtest_key(town)),
        description=f"{town.name_ja}: 効果検証 (backtest) on demand; configure dates, horizon and rule files.",
        executor_def=in_process_executor,
        tags={BACKTEST_TAG: town.town},
    )
