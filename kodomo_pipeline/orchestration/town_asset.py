"""What every step of a town's nightly graph declares alike, said once: its asset key and group, the steps it
follows, the town's database opened with the run's judgment date T, and the files it wrote as metadata."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import AssetKey, AssetsDefinition, MetadataValue, asset

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.orchestration.resource import KodomoResource


def town_asset(
    town: TownConfig, name: str, *, after: str | Sequence[str], kinds: set[str]
) -> Callable[[Callable[..., object]], AssetsDefinition]:
    """`@asset` of the step `name` of the town: key `[town, name]` in the town's group (one group per town in
    the UI), run after the town's step(s) `after`. The decorated function's docstring is the description the UI
    shows (Dagster's own rule), so each step says what it makes where it is defined."""
    steps = [after] if isinstance(after, str) else list(after)
    return asset(
        key=AssetKey([town.town, name]),
        group_name=town.town,
        kinds=kinds,
        deps=[AssetKey([town.town, step]) for step in steps],
    )


@contextmanager
def judged_database(kodomo: KodomoResource, town: TownConfig) -> Iterator[tuple[duckdb.DuckDBPyConnection, dt.date]]:
    """The town's database and this run's judgment date T (resolved once per run, see KodomoResource)."""
    with kodomo.database(town) as con:
        yield con, kodomo.judgment_date(con)


def written_files(asof: dt.date, files: Mapping[str, Path]) -> dict[str, object]:
    """Metadata of a step that writes files: T and a path entry per file (the UI shows where each one is)."""
    return {"as_of": asof.isoformat()} | {name: MetadataValue.path(str(path)) for name, path in files.items()}
