"""One Definitions per town: each holds only its own town's names, and the code location is exactly their union."""

from __future__ import annotations

from pathlib import Path

from dagster import Definitions

from kodomo_pipeline.orchestration.definitions import build_definitions, town_definitions
from kodomo_pipeline.orchestration.resource import KodomoResource


def names(defs: Definitions) -> dict[str, set[str]]:
    """Every name the UI shows for these definitions: asset and check keys, jobs, schedules, sensors."""
    repo = defs.get_repository_def()
    graph = defs.resolve_asset_graph()
    return {
        "assets": {key.to_user_string() for key in graph.get_all_asset_keys()},
        "checks": {key.to_user_string() for key in graph.asset_check_keys},
        "jobs": {job.name for job in repo.get_all_jobs() if not job.name.startswith("__")},
        "schedules": {item.name for item in repo.schedule_defs},
        "sensors": {item.name for item in repo.sensor_defs},
    }


def test_a_town_definitions_hold_only_that_town(home: Path, towns) -> None:
    kodomo = KodomoResource(home=str(home))
    for town in towns.values():
        own = names(town_definitions(town, kodomo))
        assert all(own.values()), f"{town.town}: a kind of definition is missing"
        for kind in ("assets", "checks"):
            assert {name.split("/")[0] for name in own[kind]} == {town.town}, kind
        for kind in ("jobs", "schedules", "sensors"):
            assert all(name.startswith(f"{town.town}_") for name in own[kind]), kind
        assert f"{town.town}_nightly" in own["jobs"] and f"{town.town}_nightly_schedule" in own["schedules"]


def test_the_code_location_is_the_union_of_the_towns(home: Path, towns) -> None:
    kodomo = KodomoResource(home=str(home))
    merged = names(build_definitions(home))
    per_town = [names(town_definitions(town, kodomo)) for town in towns.values()]
    assert len(per_town) >= 2
    for kind, found in merged.items():
        assert found == set().union(*(own[kind] for own in per_town)), kind
