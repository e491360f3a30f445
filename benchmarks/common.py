"""What every benchmark needs: a generated town in a fresh database, a measured child process, its own peak RSS."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ASOF = dt.date(2026, 11, 26)


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM): unlike ru_maxrss, it is not inherited across fork and exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(script: str, *args: str) -> dict:
    """Run `script` again in a fresh process (its own memory peak) and read the JSON of its last line."""
    out = subprocess.run([sys.executable, script, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def prepare_town(town_name: str, work: Path, population: int | None, seed: int, **generator_options: object) -> float:
    """Generate the town into work/inbox and ingest every feed into work/home; returns the generation seconds.

    `generator_options` go to generate_town as they are (e.g. noise="hard").
    """
    from kodomo_pipeline.config import load_towns
    from kodomo_pipeline.generator import generate_town
    from kodomo_pipeline.ingest.inbox import list_snapshots, newest_snapshot
    from kodomo_pipeline.ingest.steps import TownPaths, ingest_raw, validate_feed
    from kodomo_pipeline.storage.town_db import open_town_db

    town = load_towns()[town_name]
    inbox, home = work / "inbox", work / "home"
    t0 = time.perf_counter()
    generate_town(town, inbox, work / "truth", ASOF, population, seed, **generator_options)
    generated = time.perf_counter() - t0
    paths = TownPaths.for_town(town, home, inbox)
    with open_town_db(town.database(home)) as con:
        # Earlier registry extracts in the inbox (the hard preset writes the ones that show old surnames) are
        # ingested as the nights they stand for would have: each as the current snapshot of its own run.
        newest = newest_snapshot(inbox, "jumin")
        for snapshot in list_snapshots(inbox, {"jumin"}):
            if newest is not None and snapshot.extract_date < newest.extract_date:
                run_id = f"benchmark-{snapshot.extract_date:%Y%m%d}"
                ingest_raw(con, town, "jumin", paths, run_id, snapshot.extract_date)
                validate_feed(con, town, "jumin", run_id)
        for feed in town.feeds:
            ingest_raw(con, town, feed, paths, "benchmark", None)
            validate_feed(con, town, feed, "benchmark")
    return generated


def town_parser(doc: str, town: str, population: int | None, town_help: str | None = None) -> argparse.ArgumentParser:
    """The options every benchmark shares: --population, --town, --seed, --workdir (each script adds its own)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    default_help = "default: the town's own population" if population is None else None
    parser.add_argument("--population", type=int, default=population, help=default_help)
    parser.add_argument("--town", default=town, help=town_help)
    parser.add_argument("--seed", type=int, default=0, help="generator seed")
    parser.add_argument("--workdir", type=Path, default=None)
    return parser
