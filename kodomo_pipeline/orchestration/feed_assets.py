"""Two assets per town and feed: raw_<feed> (decoded, minimised, traceable) and valid_<feed> (contract applied)."""
# No `from __future__ import annotations` here: Dagster inspects the context annotation at runtime.

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset,
)

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.ingest.steps import FeedFailed, ingest_raw, validate_feed
from kodomo_pipeline.orchestration.resource import KodomoResource
from kodomo_pipeline.storage import feed_tables as tables
from kodomo_pipeline.storage.fallback import describe_fallback, last_good_snapshot

MIN_PASS_RATE = 0.95  # below this share of valid rows the operator is warned: the export may have changed


def _definition_metadata(town: TownConfig, feed: str) -> dict:
    layout = town.feeds[feed]
    spec = layout.spec
    return {
        "department": spec.department,
        "purpose": spec.purpose,
        "layout": MetadataValue.path(layout.source),
        "personal_columns": ", ".join(f"{c} ({k})" for c, k in spec.personal_columns.items()) or "none",
        "special_care_columns (要配慮)": ", ".join(c for c, col in spec.columns.items() if col.special_care) or "none",
        "dagster/column_schema": TableSchema(
            columns=[
                TableColumn(name, col.type, description=("required" if col.required else None))
                for name, col in spec.columns.items()
            ]
            + [TableColumn(p, "provenance") for p in tables.PROVENANCE]
        ),
    }


def build_raw_asset(town: TownConfig, feed: str) -> AssetsDefinition:
    spec = town.feeds[feed].spec

    @asset(
        key=AssetKey([town.town, f"raw_{feed}"]),
        group_name=town.town,
        kinds={"duckdb", "csv"},
        description=f"{spec.title_ja}: the current export decoded by {town.name_ja}'s layout, "
        "columns not needed dropped, every row with file, SHA-256 and row number.",
        metadata=_definition_metadata(town, feed),
    )
    def raw_feed(context: AssetExecutionContext, kodomo: KodomoResource) -> MaterializeResult:
        with kodomo.database(town) as con:
            try:
                got = ingest_raw(con, town, feed, kodomo.paths(town), context.run_id, kodomo.asof_date)
            except FeedFailed as exc:
                failed = {"file": exc.file_name, "cause": exc.cause, "report": MetadataValue.path(str(exc.report))}
                if feed in town.essential_feeds:
                    raise Failure(
                        description=f"必須データ {feed} の取込に失敗したため、今夜のアラートリストは作成しません "
                        f"(essential feed failed: no alert list tonight). {exc}",
                        metadata=failed,
                        allow_retries=False,
                    ) from None
                return _fallback_result(context, con, feed, exc, failed, kodomo.asof_date)
        context.log.info(f"{feed}: {got.outcome} {got.file_name or ''} ({got.rows_read} rows read)")
        if got.history or got.history_failed:  # older snapshots of a first run or a backlog (file names only)
            context.log.info(f"{feed}: history stored {got.history}, unreadable {got.history_failed}")
        if got.warning:  # a shrunk snapshot: used with this warning, or held (counts and file names only)
            context.log.warning(f"{feed}: {got.file_name}: {got.warning}")
        return MaterializeResult(
            metadata={
                "outcome": got.outcome,
                "file": got.file_name or "",
                "sha256": got.sha256 or "",
                "rows_read": got.rows_read,
                "dropped_columns": ", ".join(got.dropped_columns) or "none",
                "missing_optional_columns": ", ".join(got.missing_columns) or "none",
                "warning": got.warning or "none",
                "history_files": ", ".join(got.history) or "none",
                "history_files_failed": ", ".join(got.history_failed) or "none",
            }
        )

    return raw_feed


def _fallback_result(context, con, feed: str, exc: FeedFailed, failed: dict, asof) -> MaterializeResult:
    """A non-essential feed failed: the night goes on, judged from the feed's last good snapshot, and says so."""
    used = last_good_snapshot(con, feed, asof)
    entry = {
        "feed": feed,
        "file": exc.file_name,
        "judged_from": used[0] if used else None,
        "judged_from_extract_date": used[1].isoformat() if used else None,
    }
    context.log.warning(f"{describe_fallback(entry)}: {exc.cause}")
    return MaterializeResult(
        metadata=failed
        | {
            "outcome": "failed",
            "judged_from": entry["judged_from"] or "none (no earlier snapshot)",
            "judged_from_extract_date": entry["judged_from_extract_date"] or "",
        }
    )


def _check_results(con, feed: str, sha256: str | None, figures: dict | None) -> list[AssetCheckResult]:
    if sha256 is None or figures is None:
        note = {"note": "no file of this feed in the inbox yet"}
        return [
            AssetCheckResult(check_name="row_conservation", passed=True, metadata=note),
            AssetCheckResult(check_name="contract_pass_rate", passed=True, metadata=note),
        ]
    read, valid, held = tables.conservation(con, feed, sha256)
    rate = valid / read if read else 1.0
    return [
        AssetCheckResult(
            check_name="row_conservation",
            passed=read == valid + held,
            metadata={"file": figures["file"], "rows_read": read, "rows_valid": valid, "rows_quarantined": held},
        ),
        AssetCheckResult(
            check_name="contract_pass_rate",
            passed=rate >= MIN_PASS_RATE,
            severity=AssetCheckSeverity.WARN,
            metadata={"file": figures["file"], "pass_rate": round(rate, 4), "threshold": MIN_PASS_RATE},
        ),
    ]


def build_valid_asset(town: TownConfig, feed: str) -> AssetsDefinition:
    spec = town.feeds[feed].spec
    key = AssetKey([town.town, f"valid_{feed}"])

    @asset(
        key=key,
        group_name=town.town,
        kinds={"duckdb", "pandera"},
        deps=[AssetKey([town.town, f"raw_{feed}"])],
        description=f"{spec.title_ja}: rows that pass the canonical contract (assets/{feed}.yaml); "
        "the others are in the quarantine table with file, row, column and reason.",
        metadata=_definition_metadata(town, feed),
        check_specs=[
            AssetCheckSpec(
                "row_conservation",
                asset=key,
                blocking=True,
                description="Every row read is either valid or quarantined (per file).",
            ),
            AssetCheckSpec(
                "contract_pass_rate",
                asset=key,
                description=f"At least {MIN_PASS_RATE:.0%} of the file's rows pass the contract.",
            ),
        ],
    )
    def valid_feed(context: AssetExecutionContext, kodomo: KodomoResource) -> MaterializeResult:
        with kodomo.database(town) as con:
            got = validate_feed(con, town, feed, context.run_id)
            figures = got.figures
            checks = _check_results(con, feed, figures and figures["sha256"], figures)
        metadata: dict = {"outcome": got.outcome}
        if figures:
            metadata |= {
                "file": figures["file"],
                "sha256": figures["sha256"],
                "extract_date": figures["extract_date"],
                "rows_read": figures["rows_read"],
                "rows_valid": figures["rows_valid"],
                "rows_quarantined": figures["rows_quarantined"],
                "quarantine_by_reason": MetadataValue.json(figures["quarantine_reasons"]),
                "dropped_columns": ", ".join(figures["dropped_columns"]) or "none",
            }
        return MaterializeResult(metadata=metadata, check_results=checks)

    return valid_feed


def build_feed_assets(town: TownConfig) -> list[AssetsDefinition]:
    return [builder(town, feed) for feed in town.feeds for builder in (build_raw_asset, build_valid_asset)]
