"""Column lineage for auditors: every output column of every SQL model and the tables/columns it derives from.

The OSS Dagster UI does not draw column lineage, and auditors should not need Dagster anyway: this writes the
same sqlglot lineage the model assets carry as a page (HTML) and a spreadsheet (CSV). Besides the direct
sources, each column is traced back through the other models to the feed columns it finally rests on, and
those that are 要配慮個人情報 (special care) are marked. Structure only: no value of the data is read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from kodomo_pipeline.config.feeds import FeedSpec
from kodomo_pipeline.exports.csvfile import write_contract_csv
from kodomo_pipeline.reports import render_template
from kodomo_pipeline.sqlmodels.lineage import column_lineage
from kodomo_pipeline.sqlmodels.project import STAGING_PREFIX, Model, run_order
from kodomo_pipeline.storage.snapshots import has_table

CSV_COLUMNS = ["model", "layer", "output_column", "source_table", "source_column", "source_kind",
               "origin_feed_columns", "special_care"]  # fmt: skip

Source = tuple[str, str]  # (table, column)


@dataclass(frozen=True)
class ColumnLineage:
    model: str
    layer: str
    column: str
    sources: list[Source]  # direct: the tables/columns the model's SQL reads for it
    origins: list[str]  # feed.column (or linkage table.column) it finally rests on, through other models
    special_care: bool  # one of the origins is 要配慮個人情報


def model_lineage(con: duckdb.DuckDBPyConnection, models: dict[str, Model]) -> dict[str, dict[str, list[Source]]]:
    """{model: {column: direct sources}} for every model materialised in the town's database.

    The connection must be prepared (`sqlmodels.runner.prepare`) so the staging views exist.
    """
    return {name: column_lineage(con, models[name]) for name in run_order(models) if has_table(con, name)}


def source_kind(table: str, models: dict[str, Model]) -> str:
    if table in models:
        return "model"
    if table.startswith(STAGING_PREFIX):
        return "feed"
    return "rule_set" if table == "rule_set" else "linkage"


def _origins(
    lineage: dict[str, dict[str, list[Source]]], table: str, column: str, memo: dict[Source, frozenset[str]]
) -> frozenset[str]:
    """The feed (or linkage) columns a model column finally rests on; models form no cycles (checked on load)."""
    key = (table, column)
    if key not in memo:
        if table in lineage:
            memo[key] = frozenset().union(*(_origins(lineage, t, c, memo) for t, c in lineage[table].get(column, [])))
        elif table.startswith(STAGING_PREFIX):
            memo[key] = frozenset({f"{table.removeprefix(STAGING_PREFIX)}.{column}"})
        else:
            memo[key] = frozenset({f"{table}.{column}"})
    return memo[key]


def _special_care(origin: str, feeds: dict[str, FeedSpec]) -> bool:
    feed, _, column = origin.partition(".")
    spec = feeds.get(feed)
    return bool(spec and column in spec.columns and spec.columns[column].special_care)


def lineage_columns(
    lineage: dict[str, dict[str, list[Source]]], models: dict[str, Model], feeds: dict[str, FeedSpec]
) -> list[ColumnLineage]:
    """Every output column of every model, in run order, with its direct sources and final origins."""
    memo: dict[Source, frozenset[str]] = {}
    found = []
    for name, columns in lineage.items():
        for column, sources in columns.items():
            origins = sorted(_origins(lineage, name, column, memo))
            found.append(
                ColumnLineage(
                    model=name,
                    layer=models[name].layer,
                    column=column,
                    sources=list(sources),
                    origins=origins,
                    special_care=any(_special_care(origin, feeds) for origin in origins),
                )
            )
    return found


def lineage_frame(columns: list[ColumnLineage], models: dict[str, Model]) -> pd.DataFrame:
    """One CSV row per (output column, direct source); a column from constants or variables gets one empty row."""
    rows = []
    for item in columns:
        base = {"model": item.model, "layer": item.layer, "output_column": item.column,
                "origin_feed_columns": ";".join(item.origins), "special_care": int(item.special_care)}  # fmt: skip
        for table, source in item.sources or [("", "")]:
            kind = source_kind(table, models) if table else ""
            rows.append(base | {"source_table": table, "source_column": source, "source_kind": kind})
    return pd.DataFrame(rows, columns=CSV_COLUMNS)


def write_lineage_report(
    columns: list[ColumnLineage], models: dict[str, Model], town_ja: str, as_of: dt.date, out_dir: Path
) -> dict[str, Path]:
    """`reports/lineage_<YYYYMMDD>.html` and `.csv` in the town's output folder."""
    folder = out_dir / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = write_contract_csv(lineage_frame(columns, models), CSV_COLUMNS, folder / f"lineage_{as_of:%Y%m%d}.csv")
    by_model: dict[str, list[ColumnLineage]] = {}
    for item in columns:
        by_model.setdefault(item.model, []).append(item)
    html = render_template(
        "lineage.html.j2",
        town_ja=town_ja,
        as_of=as_of,
        models=[(models[name], items) for name, items in by_model.items()],
        kind=lambda table: source_kind(table, models),
        generated_at=dt.datetime.now().isoformat(timespec="seconds"),
    )
    html_path = folder / f"lineage_{as_of:%Y%m%d}.html"
    html_path.write_text(html, encoding="utf-8")
    return {"lineage_html": html_path, "lineage_csv": csv_path}
