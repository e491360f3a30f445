"""Benchmark: ingest + validate every feed of a generated town through the real code, against DuckDB's floor.

    .venv/bin/python benchmarks/ingest.py [--population 1000000] [--town kawashima] [--workdir DIR]

Generates the town (timed apart), then in a fresh process runs both ingestion
steps (decode by layout, drop columns, store raw with provenance, Pandera
contract, store valid + quarantine) for every feed into a fresh town database;
then, in another fresh process, DuckDB's own `read_csv` of the same files into
a table (the files transcoded to UTF-8 beforehand, untimed, since DuckDB has
no cp932 reader offline). Prints rows, seconds, rows/s, peak RSS and the ratio.
Targets on 2 cores: whole town ≤ 90 s, ≤ 6× the floor, peak RSS ≤ 4 GB.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from common import ASOF, peak_rss_mb, run_child, town_parser


def measure_pipeline(town_name: str, inbox: Path, home: Path) -> dict:
    from kodomo_pipeline.config import load_towns
    from kodomo_pipeline.ingest.steps import TownPaths, ingest_raw, validate_feed
    from kodomo_pipeline.storage.town_db import open_town_db

    town = load_towns()[town_name]
    paths = TownPaths.for_town(town, home, inbox)
    feeds = {}
    started = time.perf_counter()
    with open_town_db(town.database(home)) as con:
        for feed in town.feeds:
            t0 = time.perf_counter()
            ingest_raw(con, town, feed, paths, "benchmark", None)
            got = validate_feed(con, town, feed, "benchmark")
            figures = got.figures or {"rows_read": 0, "rows_valid": 0, "rows_quarantined": 0}
            feeds[feed] = {
                "rows": figures["rows_read"],
                "valid": figures["rows_valid"],
                "quarantined": figures["rows_quarantined"],
                "seconds": round(time.perf_counter() - t0, 2),
            }
    return {"seconds": time.perf_counter() - started, "feeds": feeds, "peak_rss_mb": peak_rss_mb()}


def measure_floor(utf8_dir: Path, database: Path) -> dict:
    import duckdb

    started = time.perf_counter()
    rows = 0
    with duckdb.connect(str(database)) as con:
        for path in sorted(utf8_dir.glob("*.csv")):
            table = path.stem.rsplit("_", 1)[0]
            con.execute(
                f"CREATE TABLE {table} AS SELECT * FROM read_csv(?, all_varchar = true, header = true)", [str(path)]
            )
            rows += con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    return {"seconds": time.perf_counter() - started, "rows": rows, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = town_parser(__doc__, "kawashima", 1_000_000)
    parser.add_argument("--measure", choices=["pipeline", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--paths", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure == "pipeline":
        print(json.dumps(measure_pipeline(args.town, *args.paths)))
        return
    if args.measure == "floor":
        print(json.dumps(measure_floor(*args.paths)))
        return

    from kodomo_pipeline.config import load_towns
    from kodomo_pipeline.generator import generate_town

    work = args.workdir or Path(tempfile.mkdtemp(prefix="kodomo-bench-"))
    inbox, home, utf8 = work / "inbox", work / "home", work / "utf8"
    for folder in (inbox, home, utf8):
        shutil.rmtree(folder, ignore_errors=True)
    town = load_towns()[args.town]
    t0 = time.perf_counter()
    generate_town(town, inbox, work / "truth", ASOF, args.population, args.seed)
    generated = time.perf_counter() - t0
    utf8.mkdir()
    for path in inbox.glob("*.csv"):
        layout = town.feeds[path.stem.rsplit("_", 1)[0]].layout
        (utf8 / path.name).write_text(path.read_bytes().decode(layout.encoding), encoding="utf-8")

    ours = run_child(__file__, "--measure", "pipeline", "--town", args.town, "--paths", str(inbox), str(home))
    floor = run_child(__file__, "--measure", "floor", "--paths", str(utf8), str(work / "floor.duckdb"))
    rows = sum(feed["rows"] for feed in ours["feeds"].values())
    print(f"town {args.town}, population {args.population:,}, as of {ASOF}, generated in {generated:.1f} s")
    print(f"{'feed':<16}{'rows':>11}{'valid':>11}{'held':>8}{'seconds':>9}")
    for name, feed in ours["feeds"].items():
        print(f"{name:<16}{feed['rows']:>11,}{feed['valid']:>11,}{feed['quarantined']:>8,}{feed['seconds']:>9.2f}")
    print(
        f"kodomo ingest+validate: {rows:,} rows in {ours['seconds']:.1f} s = {rows / ours['seconds']:,.0f} rows/s, "
        f"peak RSS {ours['peak_rss_mb']:,.0f} MB"
    )
    print(
        f"DuckDB read_csv floor:  {floor['rows']:,} rows in {floor['seconds']:.1f} s = "
        f"{floor['rows'] / floor['seconds']:,.0f} rows/s, peak RSS {floor['peak_rss_mb']:,.0f} MB"
    )
    print(f"ratio to floor: {ours['seconds'] / floor['seconds']:.1f}x   (targets: <= 90 s, <= 6x, <= 4096 MB)")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
