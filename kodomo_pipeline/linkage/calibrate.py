"""Thresholds per town from the staff's own decisions: every 名寄せ decision so far is a label.

The labelled pairs (同一人物 = a match, 別人 = not) are scored by the town's latest stored model through Splink's
`accuracy_analysis_from_labels_table` (precision and recall at each threshold), and once enough matches are
labelled, Splink's `estimate_m_from_pairwise_labels` gives m per comparison level beside the EM-trained m.
Output: counts and probabilities only, never a personal value; a CSV and a small HTML report under
out/<town>/reports/. The thresholds themselves stay in the town file for a person to change.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
from splink import DuckDBAPI, Linker

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.linkage.crosswalk import load_decisions
from kodomo_pipeline.linkage.inputs import build_link_persons, build_link_records
from kodomo_pipeline.linkage.model import PERSONS, RECORDS, _common_frame, _quiet_splink, drop_splink_objects
from kodomo_pipeline.reports import render_template
from kodomo_pipeline.storage.feed_tables import read_frame
from kodomo_pipeline.storage.snapshots import has_table


@dataclass
class Calibration:
    labels: int
    accepted: int
    rejected: int
    table: pd.DataFrame  # threshold (probability) → tp, fp, fn, precision, recall
    suggested_match: float | None
    suggested_review: float | None
    m_from_labels: dict[str, list[dict]] = field(default_factory=dict)  # comparison → levels with both m
    paths: dict[str, Path] = field(default_factory=dict)


def _labels(con: duckdb.DuckDBPyConnection, asof: dt.date, records: pd.DataFrame) -> pd.DataFrame:
    """Every decision up to T (the latest per pair) as a Splink labels table, for records still on file at T."""
    decisions = load_decisions(con, asof)
    if decisions is None or decisions.empty:
        return pd.DataFrame(columns=["source_dataset_l", "unique_id_l", "source_dataset_r", "unique_id_r"])
    keyed = decisions.astype(str).merge(
        records[["feed", "source_key", "unique_id"]].astype(str), on=["feed", "source_key"], how="inner"
    )
    return pd.DataFrame(
        {
            "source_dataset_l": PERSONS,
            "unique_id_l": keyed["resident_id"],
            "source_dataset_r": RECORDS,
            "unique_id_r": keyed["unique_id"],
            "clerical_match_score": (keyed["decision"].str.lower() == "accept").astype(float),
        }
    )


def _latest_model(con: duckdb.DuckDBPyConnection, asof: dt.date) -> dict | None:
    if not has_table(con, "linkage_models"):
        return None
    rows = read_frame(con, "SELECT model_json FROM linkage_models WHERE as_of <= ? ORDER BY as_of DESC LIMIT 1", [asof])
    return json.loads(rows["model_json"].iloc[0]) if len(rows) else None


def _suggest(table: pd.DataFrame, precision: float, recall: float) -> tuple[float | None, float | None]:
    """Match: the lowest threshold whose labelled precision reaches the target; review: the highest threshold that
    still keeps the target recall (below it, fewer than 1 - recall of the labelled matches)."""
    ok = table[(table["tp"] + table["fp"] > 0) & (table["precision"] >= precision)]
    match = float(ok["threshold"].min()) if len(ok) else None
    kept = table[table["recall"] >= recall]
    review = float(kept["threshold"].max()) if len(kept) else None
    if match is not None and review is not None:
        review = min(review, match)
    return match, review


def _m_from_labels(linker: Linker, labels: str, model: dict) -> dict[str, list[dict]]:
    """m per level estimated from the matches staff confirmed, beside the model's m (EM)."""
    linker.training.estimate_m_from_pairwise_labels(labels)
    learnt = linker.misc.save_model_to_json()
    out: dict[str, list[dict]] = {}
    for before, after in zip(model["comparisons"], learnt["comparisons"], strict=True):
        levels = []
        for old, new in zip(before["comparison_levels"], after["comparison_levels"], strict=True):
            if old.get("is_null_level"):
                continue
            levels.append(
                {
                    "level": old.get("label_for_charts") or old.get("sql_condition", "")[:40],
                    "m_model": old.get("m_probability"),
                    "m_labels": new.get("m_probability"),
                }
            )
        out[before["output_column_name"]] = levels
    return out


def calibrate(con: duckdb.DuckDBPyConnection, town: TownConfig, asof: dt.date, out_dir: Path) -> Calibration:
    """Precision and recall of the town's latest model on every staff decision so far, a suggested match and
    review threshold, and m from labels once `linkage.labels_for_m` matches are labelled. Writes the report."""
    settings = town.linkage
    persons = build_link_persons(con, asof)
    records = build_link_records(con, asof)
    labels = _labels(con, asof, records)
    accepted = int((labels["clerical_match_score"] == 1).sum()) if len(labels) else 0
    model = _latest_model(con, asof)
    table = pd.DataFrame(columns=["threshold", "tp", "fp", "fn", "precision", "recall"])
    m_levels: dict[str, list[dict]] = {}
    if len(labels) and model is not None and not persons.empty and not records.empty:
        drop_splink_objects(con)
        db = DuckDBAPI(connection=con)
        with _quiet_splink():
            try:
                left = db.register(
                    _common_frame(persons, persons=True), dataset_display_name=PERSONS, table_name="__splink__cal_p"
                )
                right = db.register(
                    _common_frame(records, persons=False), dataset_display_name=RECORDS, table_name="__splink__cal_r"
                )
                linker = Linker([left, right], model, log_level=None)
                labels_sdf = db.register(
                    pa.Table.from_pandas(labels, preserve_index=False), table_name="__splink__cal_labels"
                )
                result = linker.evaluation.accuracy_analysis_from_labels_table(
                    labels_sdf, output_type="table", match_weight_round_to_nearest=None
                ).as_pandas_dataframe()
                table = pd.DataFrame(
                    {
                        "threshold": result["match_probability"].astype(float),
                        "tp": result["tp"].astype(int),
                        "fp": result["fp"].astype(int),
                        "fn": result["fn"].astype(int),
                        "precision": result["precision"].astype(float),
                        "recall": result["recall"].astype(float),
                    }
                ).sort_values("threshold")
                if accepted >= settings.labels_for_m:
                    m_levels = _m_from_labels(linker, labels_sdf.physical_name, model)
            finally:
                db.delete_tables_created_by_splink_from_db()
                drop_splink_objects(con)
    match, review = _suggest(table, settings.target_precision, settings.target_recall) if len(table) else (None, None)
    calibration = Calibration(len(labels), accepted, len(labels) - accepted, table, match, review, m_levels)
    calibration.paths = _write(calibration, town, asof, out_dir)
    return calibration


def _write(cal: Calibration, town: TownConfig, asof: dt.date, out_dir: Path) -> dict[str, Path]:
    reports = out_dir / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    stamp = asof.strftime("%Y%m%d")
    csv_path = reports / f"linkage_calibration_{stamp}.csv"
    cal.table.to_csv(csv_path, index=False, encoding="utf-8-sig")
    html = render_template(
        "linkage_calibration.html.j2",
        town_ja=town.name_ja,
        as_of=asof.isoformat(),
        cal=cal,
        settings=town.linkage,
        rows=cal.table.to_dict("records"),
    )
    html_path = reports / f"linkage_calibration_{stamp}.html"
    html_path.write_text(html, encoding="utf-8")
    return {"calibration_csv": csv_path, "calibration_html": html_path}
