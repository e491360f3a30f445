"""What every asset of a town shares: its key under the town, its group, and how it names the files it wrote."""
# No `from __future__ import annotations` here: Dagster inspects the annotations of the decorated functions.

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.orchestration.resource import KodomoResource


def town_key(town: TownConfig, name: str) -> dg.AssetKey:
    """`<town>/<name>`: every asset of a town lives under the town's name."""
    return dg.AssetKey([town.town, name])


def town_asset(
    town: TownConfig, name: str, *, deps: Iterable[str], kinds: set[str], description: str, **options: Any
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """`@dg.asset` keyed and grouped under the town; `deps` are asset names of the same town."""
    return dg.asset(
        key=town_key(town, name),
        group_name=town.town,
        kinds=kinds,
        deps=[town_key(town, dep) for dep in deps],
        description=description,
        **options,
    )


def written_files_metadata(asof: dt.date, written: Mapping[str, Path]) -> dict[str, Any]:
    """T and a path entry per file written (file names only: the operator opens them from the UI)."""
    return {"as_of": asof.isoformat()} | {name: dg.MetadataValue.path(str(path)) for name, path in written.items()}


@contextmanager
def judged_database(kodomo: KodomoResource, town: TownConfig) -> Iterator[tuple[duckdb.DuckDBPyConnection, dt.date]]:
    """The town's database and T of this run: what a step after the judgment works with."""
    with kodomo.database(town) as con:
        yield con, kodomo.judgment_date(con)
