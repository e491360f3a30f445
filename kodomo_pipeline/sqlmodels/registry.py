"""The registry layer (dbt_like_sql/registry/): persons at T, each child's identified mother, and the rows of
other feeds that name nobody in the registry — SQL models like the others, built by one path.

The nightly job runs them as Dagster assets (orchestration/model_assets.py); the backtest and the tests call
`build_registry`, which runs the same model files on the same staging views. The operator's figures for each
registry asset (counts only, never an ID) are here too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import duckdb

from kodomo_pipeline.config.feeds import load_feeds
from kodomo_pipeline.sqlmodels.project import load_models, run_order
from kodomo_pipeline.sqlmodels.runner import CHILD_MAX_AGE, run_model, stage
from kodomo_pipeline.storage.feed_tables import fetch_one

REGISTRY_LAYER = "registry"


def build_registry(con: duckdb.DuckDBPyConnection, asof: dt.date) -> dict[str, int]:
    """Every model of the registry layer for T, in dependency order; returns the rows of each."""
    stage(con, asof, load_feeds())
    models = load_models()
    return {name: run_model(con, models[name]) for name in run_order(models) if models[name].layer == REGISTRY_LAYER}


def _persons(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    sql = "SELECT count(*) FROM persons WHERE status = '住民' AND age BETWEEN 0 AND ?"
    return {"children_0_17_resident": fetch_one(con, sql, [CHILD_MAX_AGE])[0]}


def _mothers(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    rows = con.execute("SELECT basis, count(*) FROM mother_of_child GROUP BY ALL ORDER BY ALL").fetchall()
    return {"mothers_by_basis": dict(rows)}


def _unknown(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    counts = dict(con.execute("SELECT feed, count(*) FROM unknown_residents GROUP BY ALL ORDER BY ALL").fetchall())
    return {"unknown_by_feed": counts} | {f"unknown_{feed}": count for feed, count in counts.items()}


# Figures per registry model for its Dagster asset (counts only).
REGISTRY_FIGURES: dict[str, Callable[[duckdb.DuckDBPyConnection], dict[str, object]]] = {
    "persons": _persons,
    "mother_of_child": _mothers,
    "unknown_residents": _unknown,
}
