"""Benchmark: 36 monthly replays of rules v1 over a generated kawashima history, through `run_backtest`.

    .venv/bin/python benchmarks/backtest.py [--population N] [--town kawashima] [--months 36] [--workdir DIR]

Untimed setup: a history inbox of monthly snapshots (36 replay months + the 6-month horizon) written by the
generator's `generate_history` (one timeline, the meeting's decisions included).
Timed, in a fresh process with its own peak RSS: the whole backtest — ingesting the history month by month into
the scratch database, persons/mothers/名寄せ and every SQL model at each T, the outcomes, the result files.
Prints counts and seconds only, never a personal value. Target: 36 replays in <= 5 min on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from common import peak_rss_mb, run_child

FIRST = dt.date(2023, 5, 1)
HORIZON_MONTHS = 6
SEED = 0


def history_dates(months: int) -> list[dt.date]:
    from kodomo_pipeline.datemath import months_before

    return [months_before(FIRST, -k) for k in range(months + HORIZON_MONTHS)]


def generate(town_name: str, work: Path, months: int, population: int | None) -> float:
    """Write the history inbox (and the review meeting's decisions); returns seconds."""
    from kodomo_pipeline.config import load_towns
    from kodomo_pipeline.generator.history import generate_history
    from kodomo_pipeline.privacy.services.pseudonym import load_key

    town = load_towns()[town_name]
    started = time.perf_counter()
    key = load_key(town.town, work / "home")
    generate_history(town, work / "inbox", work / "truth", history_dates(months), population, SEED, key)
    return time.perf_counter() - started


def measure(town_name: str, work: Path, months: int) -> dict:
    from kodomo_pipeline.backtest.engine import run_backtest
    from kodomo_pipeline.config import load_towns

    town = load_towns()[town_name]
    dates = history_dates(months)
    result = run_backtest(
        town,
        work / "home",
        dates[0],
        dates[months - 1],
        "1M",
        f"{HORIZON_MONTHS}M",
        inbox=work / "inbox",
        out=work / "out",
    )
    return {
        "seconds": result.seconds,
        "peak_rss_mb": peak_rss_mb(),
        "replays": len(result.replays),
        "children_mean": float(result.replays["children"].mean()),
        "alerts": len(result.alerts),
        "alerts_by_level": {k: int(v) for k, v in result.alerts["level"].value_counts().sort_index().items()},
        "outcomes": len(result.outcomes),
        "outcomes_by_source": {k: int(v) for k, v in result.outcomes["source"].value_counts().items()},
        "headline": result.headline(),
        "parameters": {k: result.parameters[k] for k in ("ingest_counts", "linkage_model_trainings")},
        "result_dir": str(result.result_dir),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=None, help="default: the town's own population")
    parser.add_argument("--town", default="kawashima")
    parser.add_argument("--months", type=int, default=36, help="replayed months")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="kodomo-backtest-"))
    os.environ["KODOMO_HOME"] = str(work / "home")
    if args.measure:
        print(json.dumps(measure(args.town, work, args.months), default=str, ensure_ascii=False))
        return
    for folder in ("inbox", "home", "truth", "out"):
        shutil.rmtree(work / folder, ignore_errors=True)
    generated = generate(args.town, work, args.months, args.population)
    got = run_child(__file__, "--measure", "--town", args.town, "--months", str(args.months), "--workdir", str(work))
    population = f"{args.population:,}" if args.population else "default"
    dates = history_dates(args.months)
    print(f"town {args.town}, population {population}: {len(dates)} monthly snapshots {dates[0]} … {dates[-1]} "
          f"(generate_history, {generated:.1f} s, untimed)")  # fmt: skip
    print(f"replays {got['replays']} (T = {dates[0]} … {dates[args.months - 1]}, every 1M, horizon "
          f"{HORIZON_MONTHS}M); child subjects per T {got['children_mean']:,.0f}")  # fmt: skip
    print(f"alerts {got['alerts']:,} {json.dumps(got['alerts_by_level'])}; outcomes {got['outcomes']:,} "
          f"{json.dumps(got['outcomes_by_source'], ensure_ascii=False)}")  # fmt: skip
    print(f"ingest {json.dumps(got['parameters']['ingest_counts'])}; Splink model trained "
          f"{got['parameters']['linkage_model_trainings']} time(s)")  # fmt: skip
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in got["seconds"].items()))
    print("headline: " + json.dumps(got["headline"], ensure_ascii=False))
    print(f"targets: backtest {got['seconds']['total']:.1f} s (<= 300 s on 2 cores), peak RSS "
          f"{got['peak_rss_mb']:,.0f} MB")  # fmt: skip
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
