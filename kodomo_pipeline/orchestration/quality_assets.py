"""Per town: a Great Expectations check on every raw_<feed> (the export as sent), and the leak guard that ends
each run.

Great Expectations is imported inside the check functions (it takes ~4 s), so loading the code location
stays fast. What reaches Dagster is counts and paths, never a value of the data.
"""
# No `from __future__ import annotations` here: Dagster inspects the context annotation at runtime.

import json
from collections.abc import Sequence
from pathlib import Path

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
    serialize_value,
)

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.orchestration.resource import KodomoResource
from kodomo_pipeline.privacy.services.leak_guard import LeakReport, operational_dates, read_texts, scan
from kodomo_pipeline.privacy.services.storage_scan import json_strings

GX_CHECK = "great_expectations"
LEAK_GUARD = "leak_guard"
LEAK_CHECK = "no_personal_values"


def _quality_metadata(summary, docs_index: Path) -> dict:
    """Counts per expectation type and per rule of the suite file, and where the Data Docs are."""
    metadata: dict = {
        "file": summary.file or "",
        "extract_date": summary.extract_date.isoformat() if summary.extract_date else "",
        "rows": summary.rows,
        "rows_unreadable": summary.rows_unreadable,
        "rows_undecodable": summary.rows_undecodable,
        "expectations_run": summary.expectations_run,
        "expectations_failed": summary.expectations_failed,
        "by_expectation_type": MetadataValue.json(summary.by_type),
        "by_rule": MetadataValue.json(summary.by_rule),
        "data_docs": MetadataValue.path(str(docs_index)),
    }
    from kodomo_pipeline.quality.suites import CONTRACT_RULES

    failed = {rule: counts["failed"] for rule, counts in summary.by_rule.items()}
    metadata["failed_from_contract"] = sum(n for rule, n in failed.items() if rule in CONTRACT_RULES)
    metadata["failed_from_extras"] = sum(n for rule, n in failed.items() if rule not in CONTRACT_RULES)
    for gx_type, counts in summary.by_type.items():
        metadata[f"failed/{gx_type}"] = counts["failed"]
    if summary.docs_page:
        metadata["data_docs_page"] = MetadataValue.path(str(summary.docs_page))
    if summary.docs_online_references:
        metadata["data_docs_online_references"] = summary.docs_online_references  # should stay 0
    return metadata


def build_quality_check(town: TownConfig, feed: str) -> AssetChecksDefinition:
    key = AssetKey([town.town, f"raw_{feed}"])

    @asset_check(
        asset=key,
        name=GX_CHECK,
        blocking=False,
        description=f"Great Expectations on the newest {feed} export as the department sent it (before "
        f"quarantine): the contract assets/{feed}.yaml (readable lines, types, completeness, codes, ranges, "
        f"formats, keys, row rules) plus the extras of expectations/{feed}.yaml (freshness, plausible dates, "
        "distributions). Warns, never stops the run; Data Docs per town.",
    )
    def quality_check(context: AssetCheckExecutionContext, kodomo: KodomoResource) -> AssetCheckResult:
        from kodomo_pipeline.quality.runner import docs_index, latest_export, validate_export
        from kodomo_pipeline.quality.suites import load_suites

        suite = load_suites()[feed]
        with kodomo.database(town) as con:
            asof = kodomo.judgment_date(con)
            export = latest_export(con, town, feed, asof)
        if export is None:
            return AssetCheckResult(
                passed=True,
                severity=AssetCheckSeverity.WARN,
                metadata={"as_of": asof.isoformat(), "note": "no export of this feed in force yet"},
            )
        summary = validate_export(town, kodomo.root, suite, export, asof, context.run.run_id)
        context.log.info(
            f"{feed}: {export.file_name}: {summary.expectations_failed} of {summary.expectations_run} "
            f"expectations failed on {summary.rows} rows"
        )
        return AssetCheckResult(
            passed=summary.success,
            severity=AssetCheckSeverity.WARN,
            metadata={"as_of": asof.isoformat(), **_quality_metadata(summary, docs_index(kodomo.root, town.town))},
        )

    return quality_check


def build_quality_checks(town: TownConfig) -> list[AssetChecksDefinition]:
    """One Great Expectations check per raw_<feed> asset of the town."""
    return [build_quality_check(town, feed) for feed in town.feeds]


# --- leak guard ------------------------------------------------------------------------------------------


def event_log_texts(instance, run_id: str) -> list[str]:
    """The run's event log as Dagster stores it, decoded back to text (its JSON escapes non-ASCII)."""
    texts = []
    for entry in instance.all_logs(run_id):
        texts.append("\n".join(json_strings(json.loads(serialize_value(entry)))))
    return texts


def compute_log_texts(instance, run_id: str) -> list[str]:
    """Captured stdout/stderr of the run's steps (LocalComputeLogManager: DAGSTER_HOME/storage/<run_id>/)."""
    return read_texts(Path(instance.root_directory) / "storage" / run_id)


def _leak_metadata(report: LeakReport) -> dict:
    metadata: dict = {
        "leaks_found": report.leaks,
        "found_by_place_and_kind": MetadataValue.json(report.found),
        "personal_values_looked_for": MetadataValue.json(report.values_by_kind),
        "texts_scanned": report.texts,
        "characters_scanned": report.characters,
        "seconds": report.seconds,
    }
    for kind, count in report.kinds_found().items():
        metadata[f"found/{kind}"] = count
    return metadata


def build_leak_guard_asset(town: TownConfig, town_assets: Sequence[AssetsDefinition]) -> AssetsDefinition:
    """`[town, "leak_guard"]`: runs after every other asset of the town and scans this run's logs.

    Its check fails with ERROR severity, and is blocking so the run is marked failed and `kodomo run`
    exits 1: a leak needs a person now. A run whose earlier step failed skips it (Dagster skips
    downstream steps); the next successful run scans only its own logs.
    """
    key = AssetKey([town.town, LEAK_GUARD])
    upstream = sorted({k for a in town_assets for k in a.keys if k != key}, key=lambda k: k.to_user_string())

    @asset(
        key=key,
        group_name=town.town,
        kinds={"duckdb"},
        deps=upstream,
        description="Leak guard: this run's Dagster event log and compute logs must hold no personal value of "
        f"{town.name_ja} (names, kana, addresses, birth dates, IDs of the snapshots in force). Counts only.",
        check_specs=[
            AssetCheckSpec(
                LEAK_CHECK,
                asset=key,
                blocking=True,
                description="No name, kana, address, birth date or identifier of the town in this run's logs.",
            )
        ],
    )
    def leak_guard(context: AssetExecutionContext, kodomo: KodomoResource) -> MaterializeResult:
        sources = {
            "event_log": event_log_texts(context.instance, context.run_id),
            "compute_logs": compute_log_texts(context.instance, context.run_id),
        }
        with kodomo.database(town) as con:
            asof = kodomo.judgment_date(con)
            report = scan(con, town, asof, sources, operational_dates(con, asof))
        metadata = {"as_of": asof.isoformat(), **_leak_metadata(report)}
        if report.leaks:
            context.log.error(f"personal values in this run's logs: {report.kinds_found()} (counts by kind)")
        return MaterializeResult(
            metadata=metadata,
            check_results=[
                AssetCheckResult(
                    check_name=LEAK_CHECK,
                    passed=report.leaks == 0,
                    severity=AssetCheckSeverity.ERROR,
                    metadata=metadata,
                )
            ],
        )

    return leak_guard
