"""One 名寄せ run in the town's database: inputs at T, Splink scores, assignment, and what is kept.

Kept per run: `crosswalk` (the current result, one row per nursery/school record),
`crosswalk_history` (every run's result with its as-of date, for stable identity and
audit), and `linkage_models` (the trained model JSON with each run).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from kodomo_pipeline.linkage.assign import Bands, assign_links
from kodomo_pipeline.linkage.inputs import build_link_persons, build_link_records
from kodomo_pipeline.linkage.model import COMPARISONS, ChartTargets, score_pairs
from kodomo_pipeline.storage.feed_tables import insert_frame, read_frame, valid_table
from kodomo_pipeline.storage.snapshots import current_rows_sql, has_table

CROSSWALK_COLUMNS = ["feed", "source_key", "resident_id", "match_probability", "status"]  # spec/outputs.md
STORED_COLUMNS = [
    "feed", "source_key", "record_id", "resident_id", "candidate_resident_id", "match_probability", "status",
    "reason", "top_comparisons", "field_weights", "fingerprint", "_file", "_sha256", "_row",
]  # fmt: skip
FINGERPRINT_FIELDS = ["name_kanji", "name_kana", "birth_date", "sex", "guardian_name", "address"]


@dataclass
class LinkageRun:
    crosswalk: pd.DataFrame
    persons: pd.DataFrame
    records: pd.DataFrame
    model_json: dict
    blocking_counts: dict[str, int]
    charts: dict[str, Path] = field(default_factory=dict)


def fingerprint(records: pd.DataFrame) -> pd.Series:
    """A short hash of the fields linkage reads: unchanged fingerprint = unchanged record."""
    text = records[FINGERPRINT_FIELDS].astype(str).apply(lambda row: "\x1f".join(row), axis=1, result_type="reduce")
    return pd.Series([hashlib.sha256(t.encode()).hexdigest()[:16] for t in text], index=records.index, dtype=object)


def load_decisions(con: duckdb.DuckDBPyConnection, asof: dt.date) -> pd.DataFrame | None:
    """Every decision file up to T counts (not only the newest): the latest decision on a pair wins."""
    if not has_table(con, valid_table("meiyose_kekka")):
        return None
    return read_frame(
        con,
        f"""SELECT feed, source_key, resident_id, decision FROM {valid_table("meiyose_kekka")}
            WHERE _extract_date <= ? AND decided_on <= ?
            QUALIFY row_number() OVER (PARTITION BY feed, source_key, resident_id
                                       ORDER BY decided_on DESC, _extract_date DESC, _row DESC) = 1""",
        [asof, asof],
    )


def load_previous(con: duckdb.DuckDBPyConnection, asof: dt.date) -> pd.DataFrame | None:
    """The latest earlier run's crosswalk (for stable identity across nights)."""
    if not has_table(con, "crosswalk_history"):
        return None
    return read_frame(
        con,
        """SELECT feed, source_key, resident_id, status, fingerprint FROM crosswalk_history
           WHERE as_of = (SELECT max(as_of) FROM crosswalk_history WHERE as_of < ?)""",
        [asof],
    )


def _pair_positions(pairs: pd.DataFrame, record_ids: pd.Series, resident_ids: pd.Series) -> np.ndarray:
    """Row of `pairs` holding each (record_id, resident_id), -1 where none: on integer codes, because a merge or a
    MultiIndex on the two text columns of millions of pairs took seconds."""
    records = pd.Index(record_ids.dropna().astype(str).unique())
    residents = pd.Index(resident_ids.dropna().astype(str).unique())

    def code(record: pd.Series, resident: pd.Series) -> np.ndarray:
        r, s = records.get_indexer(record.astype(str)), residents.get_indexer(resident.astype(str))
        return np.where((r >= 0) & (s >= 0), r.astype(np.int64) * max(len(residents), 1) + s, -1)

    in_pairs = code(pairs["record_id"], pairs["resident_id"])
    rows = np.flatnonzero(in_pairs >= 0)
    found = pd.Index(in_pairs[rows]).get_indexer(code(record_ids, resident_ids.fillna("")))
    return np.where(found >= 0, rows[found], -1)


def field_weights(crosswalk: pd.DataFrame, pairs: pd.DataFrame, model: dict) -> pd.Series:
    """Per row, the evidence for its candidate as JSON: prior, each comparison's match weight and the term-frequency
    adjustment (what the names' frequency added) — weights only, no values. The review page draws it as a waterfall.
    """
    lam = float(model.get("probability_two_random_records_match") or 0.0)
    prior = math.log2(lam / (1 - lam)) if 0 < lam < 1 else 0.0
    at = _pair_positions(pairs, crosswalk["record_id"], crosswalk["candidate_resident_id"])
    weights = pairs[[f"mw_{c}" for c in COMPARISONS]].to_numpy(dtype=float)[at]
    total = pairs["match_weight"].to_numpy(dtype=float)[at]
    tf = total - prior - np.nansum(weights, axis=1)
    head = {"prior": round(prior, 2)}
    out = [
        None
        if position < 0
        else json.dumps({**head, **dict(zip(COMPARISONS, row, strict=True)), "tf": extra, "total": whole})
        for position, row, extra, whole in zip(
            at, np.round(weights, 2).tolist(), np.round(tf, 2).tolist(), np.round(total, 2).tolist(), strict=True
        )
    ]
    return pd.Series(out, index=crosswalk.index, dtype=object)


def _store(con: duckdb.DuckDBPyConnection, crosswalk: pd.DataFrame, asof: dt.date, run_id: str, model: dict) -> None:
    stored = crosswalk[STORED_COLUMNS].assign(as_of=asof, run_id=run_id)
    con.begin()
    con.register("_crosswalk", stored)
    con.execute("CREATE OR REPLACE TABLE crosswalk AS SELECT * FROM _crosswalk")
    con.execute("CREATE TABLE IF NOT EXISTS crosswalk_history AS SELECT * FROM _crosswalk WHERE false")
    con.execute("ALTER TABLE crosswalk_history ADD COLUMN IF NOT EXISTS field_weights VARCHAR")  # added in v2
    con.unregister("_crosswalk")
    con.execute("DELETE FROM crosswalk_history WHERE as_of = ?", [asof])
    insert_frame(con, "crosswalk_history", stored)
    con.execute("CREATE TABLE IF NOT EXISTS linkage_models (as_of DATE, run_id VARCHAR, model_json JSON)")
    con.execute("DELETE FROM linkage_models WHERE as_of = ?", [asof])
    con.execute("INSERT INTO linkage_models VALUES (?, ?, ?)", [asof, run_id, json.dumps(model, ensure_ascii=False)])
    con.commit()


def link_attendance(con: duckdb.DuckDBPyConnection, asof: dt.date) -> tuple[int, int]:
    """Attendance reaches children through the roster: student number → matched resident.

    Replaces `attendance_linked` (the current attendance rows with `resident_id`, NULL when the
    student is not matched; provenance kept). Returns (rows linked, rows not linked).
    """
    if not has_table(con, valid_table("gakko_shusseki")):
        return 0, 0
    con.execute(
        f"""CREATE OR REPLACE TABLE attendance_linked AS
            SELECT a.*, c.resident_id FROM ({current_rows_sql("gakko_shusseki")}) a
            LEFT JOIN crosswalk c ON c.feed = 'gakko_meibo' AND c.source_key = a.student_no
                                  AND c.status = 'matched'""",
        [asof],
    )
    linked, unlinked = con.execute(
        "SELECT count(resident_id), count(*) - count(resident_id) FROM attendance_linked"
    ).fetchall()[0]
    return int(linked), int(unlinked)


def run_linkage(
    con: duckdb.DuckDBPyConnection,
    asof: dt.date,
    run_id: str,
    bands: Bands,
    model_json: dict | None = None,
    out_dir: Path | None = None,
) -> LinkageRun:
    """名寄せ at T: train (or reuse `model_json`), score, assign with staff decisions and last night's links.

    With `out_dir` (the town's output folder), Splink's charts are written too: the model's under
    reports/linkage_*_<YYYYMMDD>.html, the comparison viewer (records) as linkage_viewer_<YYYYMMDD>.html.
    """
    persons = build_link_persons(con, asof)
    records = build_link_records(con, asof)
    records["record_id"] = records["unique_id"]
    records["fingerprint"] = fingerprint(records)
    charts = None
    if out_dir is not None:
        stamp = f"{asof:%Y%m%d}"
        viewer = out_dir / f"linkage_viewer_{stamp}.html"
        charts = ChartTargets(out_dir / "reports", viewer, stamp)
    scored = score_pairs(con, persons, records, model_json=model_json, charts=charts)
    crosswalk = assign_links(scored.pairs, records, persons, bands, load_decisions(con, asof), load_previous(con, asof))
    crosswalk = crosswalk.merge(
        records[["record_id", "fingerprint", "_file", "_sha256", "_row"]], on="record_id", how="left"
    )
    crosswalk["field_weights"] = field_weights(crosswalk, scored.pairs, scored.model_json)
    _store(con, crosswalk, asof, run_id, scored.model_json)
    return LinkageRun(crosswalk, persons, records, scored.model_json, scored.blocking_counts, scored.charts)


def feed_figures(crosswalk: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per feed: records, matched, review, unmatched, match rate — counts only."""
    figures = {}
    for feed, rows in crosswalk.groupby("feed"):
        counts = rows["status"].value_counts()
        total = len(rows)
        figures[str(feed)] = {
            "records": total,
            "matched": int(counts.get("matched", 0)),
            "review": int(counts.get("review", 0)),
            "unmatched": int(counts.get("unmatched", 0)),
            "match_rate": round(float(counts.get("matched", 0)) / total, 4) if total else 0.0,
        }
    return figures
