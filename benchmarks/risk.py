"""Benchmark: facts → indicators → risk → alerts (the SQL models) for a generated town, through the real code.

    .venv/bin/python benchmarks/risk.py [--population 1000000] [--town misato] [--workdir DIR]

Untimed setup: generate the town, ingest every feed, build persons and mothers and, where the town has
nursery or school feeds, the 名寄せ crosswalk — what the nightly job has done before its SQL models run.
Timed, in a fresh process with its own peak RSS: `prepare` (rule set, staging views) and every model of
dbt_like_sql in dependency order, as the Dagster assets run them. Every indicator fact (also below the alert
threshold) and every alert is then compared with the generator's own reading of rules v1 (planted_facts.csv,
planted_risk.csv); the exit status is 1 when any disagrees or a rule that can fire in the town (enabled and
linked) was never planted. Prints counts and seconds only, never a personal value.
Target: 1,000,000 residents in ≤ 60 s on 2 cores, peak RSS ≤ 4 GB.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import ASOF, peak_rss_mb, prepare_town, run_child, town_parser


def link(town_name: str, home: Path) -> float:
    """Persons, mothers and the crosswalk: the steps before the SQL models (as the backtest runs them). Seconds."""
    from kodomo_pipeline.backtest.replay import LinkageState, link_at
    from kodomo_pipeline.config import load_towns
    from kodomo_pipeline.storage.town_db import open_town_db

    town = load_towns()[town_name]
    started = time.perf_counter()
    with open_town_db(town.database(home)) as con:
        link_at(con, town, ASOF, "benchmark", LinkageState())
    return time.perf_counter() - started


def measure(town_name: str, home: Path) -> dict:
    from kodomo_pipeline.config import load_towns
    from kodomo_pipeline.rules.ruleset import apply_overrides
    from kodomo_pipeline.sqlmodels.project import load_models, run_order
    from kodomo_pipeline.sqlmodels.runner import prepare, run_model
    from kodomo_pipeline.storage.town_db import open_town_db

    town = load_towns()[town_name]
    models = load_models()
    layers: dict[str, float] = {}
    rows: dict[str, int] = {}
    started = time.perf_counter()
    with open_town_db(town.database(home)) as con:
        t0 = time.perf_counter()
        prepare(con, town, ASOF, apply_overrides(town.path, town.rule_overrides))
        layers["prepare"] = time.perf_counter() - t0
        for name in run_order(models):
            t0 = time.perf_counter()
            rows[name] = run_model(con, models[name])
            layers[models[name].layer] = layers.get(models[name].layer, 0.0) + time.perf_counter() - t0
        seconds = time.perf_counter() - started
        alerts = con.execute(
            """SELECT subject_resident_id AS resident_id, subject_type, difficulty_type, level,
                      CAST(score AS VARCHAR) AS score, indicators, CAST(known_case AS VARCHAR) AS known_case
               FROM alerts"""
        ).df()
        children = con.execute("SELECT count(*) FROM subjects WHERE subject_type = 'child'").fetchall()[0][0]
    return {
        "seconds": seconds,
        "layers": layers,
        "rows": rows,
        "children": children,
        "peak_rss_mb": peak_rss_mb(),
        "alerts": alerts.to_dict(orient="list"),
    }


def agreement(town_name: str, home: Path, truth: Path) -> tuple[dict, set[str]]:
    """Counts per rule (facts) and for the alerts, and the rules that can fire in the town but were never planted."""
    import duckdb

    from kodomo_pipeline.config import load_towns
    from kodomo_pipeline.generator.agreement import compare

    with duckdb.connect(str(load_towns()[town_name].database(home)), read_only=True) as con:
        result = compare(con, truth)
        can_fire = {row[0] for row in con.execute("SELECT rule_id FROM rule_set WHERE enabled AND linked").fetchall()}
    summary = result.summary() | {"ok": result.ok}
    return summary, can_fire - result.rules_planted()


def main() -> None:
    parser = town_parser(__doc__, "misato", None, "misato has every mother feed; kawashima the nursery")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="kodomo-risk-"))
    if args.measure:
        print(json.dumps(measure(args.town, work / "home"), default=str))
        return
    for folder in ("inbox", "home", "truth"):
        shutil.rmtree(work / folder, ignore_errors=True)
    generated = prepare_town(args.town, work, args.population, args.seed)
    linked = link(args.town, work / "home")
    got = run_child(__file__, "--measure", "--town", args.town, "--workdir", str(work))
    alerts = pd.DataFrame(got.pop("alerts"))
    agree, unplanted = agreement(args.town, work / "home", work / "truth")
    population = f"{args.population:,}" if args.population else "default"
    print(f"town {args.town}, population {population}, as of {ASOF}; generated in {generated:.1f} s, "
          f"persons/mothers/名寄せ (untimed setup) {linked:.1f} s")  # fmt: skip
    print(f"child subjects {got['children']:,}; indicator facts {got['rows']['indicator_facts']:,}; "
          f"scored subject×type {got['rows']['risk_scores']:,}; alerts {got['rows']['alerts']:,}")  # fmt: skip
    print("alerts by level: " + json.dumps(alerts["level"].value_counts().sort_index().to_dict()))
    print("seconds by layer: " + ", ".join(f"{layer} {s:.1f}" for layer, s in got["layers"].items()))
    disagree = {rule: c for rule, c in agree["facts"].items() if c["missing"] or c["extra"]}
    print(f"agreement with the generator's reading of rules v1: alerts {agree['alerts']}")
    print("facts per rule (planted/found): " + ", ".join(f"{rule} {c['expected']}/{c['found']}"
                                                       for rule, c in agree["facts"].items()))  # fmt: skip
    print(f"facts disagreeing: {disagree or 'none'}; rules that can fire but were never planted: "
          f"{sorted(unplanted) or 'none'}")  # fmt: skip
    print(f"targets: facts → alerts {got['seconds']:.1f} s (<= 60 s), peak RSS {got['peak_rss_mb']:,.0f} MB "
          f"(<= 4096 MB)")  # fmt: skip
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    if not agree["ok"] or unplanted:
        print("FAILED: the pipeline and the generator's reading of the rules disagree", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
