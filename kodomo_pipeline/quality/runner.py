"""Run a feed's suite with Great Expectations 1.24 on the department's newest export, and keep per-town Data Docs.

The export is validated as sent (decoded by the town's layout, before the contract splits off quarantine), so
Data Docs describe what the department sent: readable lines, decodable cells, completeness, codes, keys,
value distributions and freshness.

GX lives under the data root, one file context per town (`<root>/quality/<town>/gx/`), so each town's
validation history and Data Docs (`<root>/quality/<town>/data_docs/`) stay with its other state and
nothing is fetched from a network. Results are requested without example values
(`partial_unexpected_count: 0`), and what this module returns is counts only: an unexpected value of a
personal column (a duplicated resident ID, an implausible birth date) must never reach a log,
metadata or a report. Great Expectations is imported inside the functions: it takes ~4 s.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.ingest.contract import TEXT, decode_frame
from kodomo_pipeline.ingest.reader import ROW
from kodomo_pipeline.ingest.steps import _stored_export as stored_export  # the same reading as validation
from kodomo_pipeline.quality.docs import make_offline, pages_written_since
from kodomo_pipeline.quality.suites import EXTRACT_DATE, PROBLEM, UNDECODABLE, Suite
from kodomo_pipeline.storage.feed_tables import fetch_one, raw_table
from kodomo_pipeline.storage.snapshots import has_table

DATASOURCE = "kodomo"
BATCH = "export"
# Counts, never values: GX would otherwise keep up to 20 unexpected values per expectation.
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0, "include_unexpected_rows": False}
VALIDATION_HISTORY_IN_INDEX = 1000  # newest validation results listed on the index page
# Keys of a GX result that can hold values of the data; dropped before anything leaves this module.
VALUE_KEYS = frozenset(
    {
        "partial_unexpected_list",
        "partial_unexpected_counts",
        "partial_unexpected_index_list",
        "unexpected_list",
        "unexpected_index_list",
        "unexpected_index_query",
        "unexpected_rows",
        "observed_value",
        "details",
    }
)


def quality_home(root: Path, town: str) -> Path:
    return root / "quality" / town


def docs_site(root: Path, town: str) -> Path:
    return quality_home(root, town) / "data_docs"


def docs_index(root: Path, town: str) -> Path:
    return docs_site(root, town) / "index.html"


def strip_values(result: Any) -> Any:
    """A GX result (as dicts and lists) without any key that can carry values of the data."""
    if isinstance(result, dict):
        return {key: strip_values(value) for key, value in result.items() if key not in VALUE_KEYS}
    if isinstance(result, list):
        return [strip_values(item) for item in result]
    return result


@dataclass
class QualitySummary:
    """What one validation found, as counts: safe for logs, metadata and the status report."""

    feed: str
    rows: int
    success: bool
    expectations_run: int
    expectations_failed: int
    by_type: dict[str, dict[str, int]] = field(default_factory=dict)
    by_rule: dict[str, dict[str, int]] = field(default_factory=dict)
    docs_index: Path | None = None
    docs_page: Path | None = None
    docs_online_references: int = 0
    file: str | None = None  # the export validated (a file name: no personal data)
    extract_date: dt.date | None = None
    rows_unreadable: int = 0  # lines that could not be split into the layout's fields
    rows_undecodable: int = 0  # rows with a cell the layout could not read as its contract type

    def as_dict(self) -> dict:
        return {
            "feed": self.feed,
            "file": self.file,
            "extract_date": self.extract_date.isoformat() if self.extract_date else None,
            "rows_unreadable": self.rows_unreadable,
            "rows_undecodable": self.rows_undecodable,
            "rows": self.rows,
            "success": self.success,
            "expectations_run": self.expectations_run,
            "expectations_failed": self.expectations_failed,
            "by_type": self.by_type,
            "by_rule": self.by_rule,
            "docs_index": str(self.docs_index) if self.docs_index else None,
            "docs_page": str(self.docs_page) if self.docs_page else None,
        }


@dataclass
class Export:
    """The newest file of a feed in force at T, decoded by the town's layout but not yet judged by the contract."""

    feed: str
    file_name: str
    sha256: str
    extract_date: dt.date
    frame: pd.DataFrame  # canonical typed columns + provenance, `_undecodable`, `_problem`; one row per line read


def latest_export(con: duckdb.DuckDBPyConnection, town: TownConfig, feed: str, asof: dt.date) -> Export | None:
    """The raw_<feed> rows of the feed's newest file extracted on or before T, as the department sent them.

    Every line read is a row (before quarantine): cells the layout could not decode are empty and named in
    `_undecodable`, lines that could not be split into fields carry their reason code in `_problem`.
    None before any file of the feed.
    """
    if not has_table(con, raw_table(feed)) or not has_table(con, "ingested_files"):
        return None
    newest = fetch_one(
        con,
        """SELECT sha256, file_name, extract_date FROM ingested_files WHERE feed = ? AND extract_date <= ?
           ORDER BY extract_date DESC, ingested_at DESC LIMIT 1""",
        [feed, asof],
    )
    if newest is None:
        return None
    sha256, file_name, extract = newest
    layout = town.feeds[feed]
    raw = stored_export(con, feed, sha256, list(layout.spec.columns))
    # Text columns the town does not export are absent from the decoded frame, as at validation.
    present = [name for name in layout.spec.columns if name in layout.header_to_canonical.values()]
    raw.frame = raw.frame[[*present, ROW]]
    typed, failures = decode_frame(raw, layout)
    undecodable = failures.groupby(ROW)["column"].agg(lambda names: ",".join(sorted(set(names))))
    typed[UNDECODABLE] = typed[ROW].map(undecodable).astype(TEXT)
    typed[PROBLEM] = pd.Series(pd.NA, index=typed.index, dtype=TEXT)
    malformed = pd.DataFrame({ROW: list(raw.malformed), PROBLEM: pd.array(list(raw.malformed.values()), dtype=TEXT)})
    frame = pd.concat([typed, malformed], ignore_index=True) if len(malformed) else typed
    frame[EXTRACT_DATE] = pd.Series(pd.Timestamp(extract), index=frame.index, dtype="datetime64[ns]")
    frame = frame.sort_values(ROW, kind="stable").reset_index(drop=True)
    return Export(feed, file_name, sha256, extract, for_pandas_engine(frame))


def for_pandas_engine(frame: pd.DataFrame) -> pd.DataFrame:
    """Whole numbers as float64 (empty = NaN) and dates as datetime64[ns], in place.

    GX's pandas `column_values.between` is vectorised only for numpy int/float and datetime64[ns] columns; on a
    nullable Int64 or a datetime64[s] column it calls a Python function per row (most of the run's time on a
    1M-resident town). The values, the nulls and so every expectation's outcome stay the same.
    """
    for name in frame.columns:
        dtype = frame[name].dtype
        if isinstance(dtype, pd.Int64Dtype | pd.Int32Dtype):
            frame[name] = frame[name].astype("float64")
        elif pd.api.types.is_datetime64_dtype(dtype) and dtype != "datetime64[ns]":
            frame[name] = frame[name].astype("datetime64[ns]")
    # One consolidation now: GX filters the whole frame per expectation, and pandas would merge the columns'
    # separate blocks again on every one of those copies.
    return frame.copy()


# Our users are offline: GX's newsletter footer would only show a dead link.
CUSTOM_CSS = "body > footer { display: none; }\n"


def _context(home: Path, site: str) -> Any:
    """The town's file context, configured once: one site named after the town, no progress bars,
    no links to GX help, no newsletter footer."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    home.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(home))
    sites = context.get_config().data_docs_sites or {}
    styles = home / "gx" / "plugins" / "custom_data_docs" / "styles" / "data_docs_custom_styles.css"
    if not styles.exists() or styles.read_text(encoding="utf-8") != CUSTOM_CSS:
        styles.parent.mkdir(parents=True, exist_ok=True)
        styles.write_text(CUSTOM_CSS, encoding="utf-8")
    if site not in sites:
        for name in list(sites):
            context.delete_data_docs_site(name)
        context.add_data_docs_site(
            site,
            {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": "../data_docs",  # relative: the data root may move
                },
                "site_index_builder": {
                    "class_name": "DefaultSiteIndexBuilder",
                    "show_cta_footer": False,
                    "validation_results_limit": VALIDATION_HISTORY_IN_INDEX,
                },
            },
        )
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()
    return context


def _batch_definition(context: Any, feed: str) -> Any:
    """Look up before adding: `add_dataframe_asset` and batch definitions are not upserts (STACK_NOTES)."""
    try:
        source = context.data_sources.get(DATASOURCE)
    except KeyError:
        source = context.data_sources.add_pandas(DATASOURCE)
    try:
        asset = source.get_asset(feed)
    except LookupError:
        asset = source.add_dataframe_asset(feed)
    try:
        return asset.get_batch_definition(BATCH)
    except KeyError:
        return asset.add_batch_definition_whole_dataframe(BATCH)


def _gx_suite(suite: Suite, resident_id_pattern: str) -> Any:
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    expectations = [
        ExpectationConfiguration(
            type=spec.type, kwargs=spec.kwargs, meta={"rule": spec.rule, **spec.meta}, notes=spec.note
        ).to_domain_obj()
        for spec in suite.expectations(resident_id_pattern)
    ]
    sources = [f"assets/{suite.feed}.yaml"] + ([f"expectations/{suite.source.name}"] if suite.source else [])
    return gx.ExpectationSuite(
        name=suite.feed,
        expectations=expectations,
        meta={"title_ja": suite.spec.title_ja, "built_from": sources},
    )


def _summarise(feed: str, rows: int, results: list[Any]) -> QualitySummary:
    by_type: dict[str, Counter] = {}
    by_rule: dict[str, Counter] = {}
    failed = 0
    for result in results:
        config = result.expectation_config
        rule = (config.meta or {}).get("rule", "other")
        ok = bool(result.success) and not (result.exception_info or {}).get("raised_exception", False)
        unexpected = int((result.result or {}).get("unexpected_count") or 0)
        for table, key in ((by_type, config.type), (by_rule, rule)):
            counts = table.setdefault(key, Counter())
            counts["run"] += 1
            counts["failed"] += 0 if ok else 1
            counts["unexpected_rows"] += unexpected
        failed += 0 if ok else 1
    return QualitySummary(
        feed=feed,
        rows=rows,
        success=failed == 0,
        expectations_run=len(results),
        expectations_failed=failed,
        by_type={key: dict(value) for key, value in sorted(by_type.items())},
        by_rule={key: dict(value) for key, value in by_rule.items()},
    )


def validate_export(
    town: TownConfig, root: Path, suite: Suite, export: Export, asof: dt.date, run_name: str
) -> QualitySummary:
    """Validate one feed's export as sent, store the result in the town's GX context and refresh its Data Docs."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    home = quality_home(root, town.town)
    context = _context(home, town.town)
    gx_suite = context.suites.add_or_update(_gx_suite(suite, town.resident_id_pattern))
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite.feed, data=_batch_definition(context, suite.feed), suite=gx_suite)
    )
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(name=suite.feed, validation_definitions=[definition], result_format=RESULT_FORMAT)
    )
    frame = export.frame
    outcome = checkpoint.run(
        batch_parameters={"dataframe": frame},
        expectation_parameters=suite.parameters(asof, export.extract_date),
        run_id=RunIdentifier(run_name=run_name, run_time=dt.datetime.now(dt.UTC)),
    )
    [(identifier, result)] = outcome.run_results.items()
    summary = _summarise(suite.feed, len(frame), list(result.results))
    summary.file, summary.extract_date = export.file_name, export.extract_date
    summary.rows_unreadable = int(frame[PROBLEM].notna().sum())
    summary.rows_undecodable = int(frame[UNDECODABLE].notna().sum())

    started = time.time_ns() - 2_000_000_000  # file systems with coarse timestamps
    context.build_data_docs(
        site_names=[town.town], resource_identifiers=[identifier, ExpectationSuiteIdentifier(name=suite.feed)]
    )
    site = home / "data_docs"
    summary.docs_online_references = make_offline(site, pages_written_since(site, started))
    summary.docs_index = site / "index.html"
    page = Path(*["validations", suite.feed, *identifier.run_id.to_tuple(), identifier.batch_identifier])
    summary.docs_page = site / page.parent / f"{page.name}.html"
    return summary
