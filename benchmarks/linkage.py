"""Benchmark: probabilistic 名寄せ (Splink model + assignment) on a generated town, against its ground truth.

    .venv/bin/python benchmarks/linkage.py [--population 1000000] [--town kawashima] [--seed S] [--noise hard]

Generates the town and ingests every feed into a fresh town database (untimed), then in a
fresh process builds the two linkage inputs, trains and scores (`score_pairs`) and assigns
(`assign_links`), timed, with that process's own peak RSS (VmHWM; ru_maxrss would carry the
parent's peak across exec). The same process then scores the result against links.csv /
persons.csv, and a deterministic baseline (exact kana keys + birth date, one-to-one) for
comparison. Prints counts and rates only, never a personal value.
Also: recall per truth tag, the share of review rows whose candidate is the right child (over all review rows,
the issue's figure, and over those whose child is registered: an outsider's row has no right candidate), and the
town's own thresholds (resources/towns/<town>.yaml `linkage`).
Targets (issue 11), hard preset: recall >= 0.995 at precision >= 0.999, twins merged 0, review <= 1% of records
with the right candidate in >= 90% of review rows; clean preset F1 >= 0.999; 1,000,000 residents: linkage
<= 90 s (aim 45 s) on 2 cores, peak RSS <= 4 GB.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import ASOF, peak_rss_mb, prepare_town, run_child, town_parser

FEEDS = ("toen", "gakko_meibo")


def _scores(predicted: pd.Series, truth: pd.Series) -> dict:
    """Precision / recall / F1 of matched pairs: predicted and truth are resident ids per record (None = none)."""
    made = predicted.notna()
    should = truth.notna()
    tp = int((made & should & (predicted == truth)).sum())
    fp = int((made & ~(should & (predicted == truth))).sum())
    fn = int((should & ~(made & (predicted == truth))).sum())
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1}


def _per_feed(frame: pd.DataFrame, predicted: str) -> dict:
    out = {feed: _scores(part[predicted], part["truth"]) for feed, part in frame.groupby("feed")}
    out["overall"] = _scores(frame[predicted], frame["truth"])
    return out


def baseline(persons: pd.DataFrame, records: pd.DataFrame) -> pd.Series:
    """Exact surname + given-name kana keys and birth date, kept only where one record meets one resident."""
    key = ["surname_kana", "given_kana", "birth_date"]
    left = persons[["resident_id", *key]].astype({"birth_date": str})
    right = records[["unique_id", *key]].astype({"birth_date": str})
    pairs = right.merge(left, on=key)
    pairs = pairs[~pairs["unique_id"].duplicated(keep=False) & ~pairs["resident_id"].duplicated(keep=False)]
    return pairs.set_index("unique_id")["resident_id"]  # record → resident, for the records it links


def _twins_merged(frame: pd.DataFrame, predicted: str, twin_group: pd.Series) -> int:
    """Records matched to the wrong twin, plus twin groups whose twins' records went to one of them."""
    group_true = frame["truth"].map(twin_group)
    group_pred = frame[predicted].map(twin_group)
    wrong_twin = int((group_true.notna() & (group_true == group_pred) & (frame[predicted] != frame["truth"])).sum())
    twins = frame[group_true.notna() & frame[predicted].notna()]
    one_for_two = twins.groupby(twins[predicted])["truth"].nunique()
    return wrong_twin + int((one_for_two > 1).sum())


def measure(town_name: str, home: Path, truth_dir: Path, seed: int) -> dict:
    """Run in a fresh process: inputs, model, assignment (timed), then the scoring against the truth."""
    from kodomo_pipeline.config import load_towns
    from kodomo_pipeline.linkage.assign import Bands, assign_links
    from kodomo_pipeline.linkage.inputs import build_link_persons, build_link_records
    from kodomo_pipeline.linkage.model import score_pairs, splink_objects
    from kodomo_pipeline.storage.town_db import open_town_db

    town = load_towns()[town_name]
    bands = Bands(town.linkage.match_threshold, town.linkage.review_threshold)
    with open_town_db(town.database(home)) as con:
        t0 = time.perf_counter()
        persons = build_link_persons(con, ASOF)
        records = build_link_records(con, ASOF)
        t1 = time.perf_counter()
        result = score_pairs(con, persons, records, seed=seed)
        t2 = time.perf_counter()
        crosswalk = assign_links(result.pairs, records, persons, bands)
        t3 = time.perf_counter()
        leftover = len(splink_objects(con))
    peak = peak_rss_mb()

    links = pd.read_csv(truth_dir / "links.csv", dtype=str, keep_default_na=False)
    people = pd.read_csv(truth_dir / "persons.csv", dtype=str, keep_default_na=False)
    links["record_id"] = links["feed"] + "|" + links["source_key"]
    registered = set(persons["resident_id"].astype(str))
    frame = crosswalk.merge(
        links[["record_id", "resident_id", "person_uid", "noise"]].rename(columns={"resident_id": "true_resident"}),
        on="record_id",
        how="left",
    )
    # A record whose child is not among the registry children (an outsider, or a registry row held in
    # quarantine) has no right answer but "not matched".
    frame["truth"] = frame["true_resident"].where(frame["true_resident"].isin(registered))
    frame["predicted"] = frame["resident_id"].where(frame["status"] == "matched")  # review: a candidate only
    frame["baseline"] = frame["record_id"].map(baseline(persons, records))
    twin_group = people.loc[people["twin_group"] != "", ["resident_id", "twin_group"]].set_index("resident_id")
    twin_group = twin_group["twin_group"]

    true_pairs = frame.loc[frame["truth"].notna(), ["record_id", "truth"]]
    scored = set(zip(result.pairs["record_id"], result.pairs["resident_id"], strict=True))
    blocked = sum((r, t) in scored for r, t in zip(true_pairs["record_id"], true_pairs["truth"], strict=True))

    tags = frame["noise"].fillna("").str.split(";")
    recall_per_tag = {}
    for tag in sorted({t for ts in tags for t in ts if t}):
        has = tags.map(lambda ts, tag=tag: tag in ts) & frame["truth"].notna()
        right = (frame.loc[has, "predicted"] == frame.loc[has, "truth"]).sum()
        recall_per_tag[tag] = {"records": int(has.sum()), "recall": float(right / has.sum()) if has.sum() else 1.0}
    in_review = frame["status"] == "review"
    review_right = int((in_review & (frame["candidate_resident_id"] == frame["truth"])).sum())
    review_with_child = int((in_review & frame["truth"].notna()).sum())  # outsiders' rows have no right candidate
    outsider = frame["person_uid"].fillna("").str.startswith("O")
    namesake = frame["noise"].fillna("").str.contains("namesake")
    status = frame["status"]
    return {
        "persons": len(persons),
        "records": len(records),
        "records_per_feed": {k: int(v) for k, v in records["feed"].value_counts().sort_index().items()},
        "pairs": len(result.pairs),
        "blocking_counts": result.blocking_counts,
        "blocking_recall": blocked / len(true_pairs) if len(true_pairs) else 1.0,
        "true_pairs": len(true_pairs),
        "no_registry_child": int(frame["truth"].isna().sum()),
        "outsiders": int(outsider.sum()),
        "namesakes": int(namesake.sum()),
        "model": _per_feed(frame, "predicted"),
        "baseline": _per_feed(frame, "baseline"),
        "twins_merged": _twins_merged(frame, "predicted", twin_group),
        "baseline_twins_merged": _twins_merged(frame, "baseline", twin_group),
        "twin_records": int(frame["truth"].isin(twin_group.index).sum()),
        "outsiders_matched": int((outsider & (status == "matched")).sum()),
        "outsiders_review": int((outsider & (status == "review")).sum()),
        "baseline_outsiders_matched": int((outsider & frame["baseline"].notna()).sum()),
        "status": {k: int(v) for k, v in status.value_counts().sort_index().items()},
        "recall_per_tag": recall_per_tag,
        "review_candidate_right": review_right / int(in_review.sum()) if in_review.any() else 1.0,
        "review_with_child": review_with_child,
        "review_candidate_right_with_child": review_right / review_with_child if review_with_child else 1.0,
        "review_reasons": {k: int(v) for k, v in frame.loc[status == "review", "reason"].value_counts().items()},
        "seconds": {"inputs": t1 - t0, "score_pairs": t2 - t1, "assign_links": t3 - t2, "linkage": t3 - t1},
        "peak_rss_mb": peak,
        "splink_tables_left": int(leftover),
    }


def _report(args: argparse.Namespace, got: dict, generated: float) -> None:
    population = f"{args.population:,}" if args.population else "default"
    print(
        f"town {args.town}, population {population}, noise {args.noise or 'default'}, seed {args.seed}, "
        f"as of {ASOF}, generated in {generated:.1f} s"
    )
    print(
        f"registry children {got['persons']:,}; records {got['records']:,} {got['records_per_feed']}; "
        f"scored pairs {got['pairs']:,}"
    )
    print(f"blocking (pairs first produced by each rule): {got['blocking_counts']}")
    print(f"blocking recall: {got['blocking_recall']:.5f} of {got['true_pairs']:,} true pairs")
    print(
        f"records without a registry child: {got['no_registry_child']:,} "
        f"(outsiders {got['outsiders']:,}, of them namesakes {got['namesakes']:,})"
    )
    print(f"{'':<22}{'precision':>10}{'recall':>9}{'F1':>9}{'TP':>9}{'FP':>8}{'FN':>8}")
    for label, key in (("model", "model"), ("baseline", "baseline")):
        for feed in (*FEEDS, "overall"):
            s = got[key].get(feed)
            if s is None:
                continue
            print(
                f"{label + ' ' + feed:<22}{s['precision']:>10.5f}{s['recall']:>9.5f}{s['f1']:>9.5f}"
                f"{s['tp']:>9,}{s['fp']:>8,}{s['fn']:>8,}"
            )
    review = got["status"].get("review", 0)
    print(f"status: {got['status']}; review share {review / got['records']:.3%}")
    print(f"review reasons: {got['review_reasons']}")
    print(
        f"review rows whose candidate is the right child: {got['review_candidate_right']:.1%} of all {review}; "
        f"{got['review_candidate_right_with_child']:.1%} of the {got['review_with_child']} whose child is registered"
    )
    tags = ", ".join(f"{k} {v['recall']:.4f} ({v['records']})" for k, v in got["recall_per_tag"].items())
    print(f"recall per tag: {tags}")
    print(
        f"twins merged: {got['twins_merged']} (baseline {got['baseline_twins_merged']}) "
        f"over {got['twin_records']} twin records; outsiders matched: {got['outsiders_matched']} "
        f"(in review {got['outsiders_review']}; baseline matched {got['baseline_outsiders_matched']})"
    )
    s = got["seconds"]
    print(
        f"seconds: inputs {s['inputs']:.1f}, score_pairs {s['score_pairs']:.1f}, assign_links "
        f"{s['assign_links']:.1f} -> linkage {s['linkage']:.1f}; peak RSS {got['peak_rss_mb']:,.0f} MB; "
        f"__splink__ tables/views left {got['splink_tables_left']}"
    )
    overall = got["model"]["overall"]
    print(
        f"targets: recall {overall['recall']:.5f} (>= 0.995 hard) at precision {overall['precision']:.5f} (>= 0.999),"
        f" F1 {overall['f1']:.5f} (>= 0.999 clean), twins merged {got['twins_merged']} (0), review "
        f"{review / got['records']:.3%} (<= 1%), right candidate {got['review_candidate_right']:.1%} (>= 90%; "
        f"{got['review_candidate_right_with_child']:.1%} where the child is registered), "
        f"linkage {s['linkage']:.0f} s (<= 90 s at 1,000,000), peak {got['peak_rss_mb']:,.0f} MB (<= 4096 MB)"
    )


def main() -> None:
    parser = town_parser(__doc__, "kawashima", None)
    parser.add_argument("--model-seed", type=int, default=42)
    parser.add_argument("--noise", default=None, help="generator noise preset (e.g. hard), when the generator has one")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="kodomo-linkage-"))
    if args.measure:
        print(json.dumps(measure(args.town, work / "home", work / "truth", args.model_seed)))
        return
    for folder in ("inbox", "home", "truth"):
        shutil.rmtree(work / folder, ignore_errors=True)
    options = {"noise": args.noise} if args.noise else {}
    generated = prepare_town(args.town, work, args.population, args.seed, **options)
    got = run_child(
        __file__, "--measure", "--town", args.town, "--workdir", str(work), "--model-seed", str(args.model_seed)
    )
    _report(args, got, generated)
    if args.json:
        print(json.dumps(got))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
