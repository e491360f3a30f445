"""The backtest report: metrics on a tiny hand-made history whose answers are known, the threshold sweep, two rule
sets side by side, economic-only shares, and a self-contained HTML file.

The history (horizon 6M, replay dates T1 = 2024-01-01 with 10 children and T2 = 2024-02-01 with 8):
outcomes  K01 虐待 2024-03-15 (twice, two sources), K02 虐待 2024-05-01, K03 虐待 2024-07-15 (after T1 + 6M, inside
          T2 + 6M), K04 発達障がい 2024-04-01; K09 before T1 and K05 after T2 + 6M never count.
rule set `v1` (file not given → levels C3/B5/A8, R13 override):
  T1: K01 虐待 A 9 (TP), K02 虐待 C 3 economic only (TP), K06 虐待 B 5 (FP), K04 発達 C 3 (TP),
      K07 産後うつ A 0 R13 (FP)
  T2: K01 虐待 A 9 (TP), K06 虐待 B 5 (FP), K08 虐待 C 4 (FP), K10 虐待 C 3 (FP); K02, K03 虐待 and K04 発達 missed
rule set `strict` (levels C4/B6/A9 in backtest.json): T1 K01 虐待 A 9; T2 K01 虐待 A 9, K08 虐待 C 4
"""

from __future__ import annotations

import csv
import json
import logging
import re
from pathlib import Path

import pytest

from kodomo_pipeline.backtest.metrics import ALL_TYPES, compute, horizon_end, load, quartiles
from kodomo_pipeline.backtest.report import headline, write_report

AB, PP, DD = "虐待", "産後うつ", "発達障がい"
T1, T2 = "2024-01-01", "2024-02-01"

ALERTS = [  # rule_set, as_of, subject_key, subject_type, difficulty_type, level, score, indicators, economic_only
    ("v1", T1, "K01", "child", AB, "A", 9, "R01;R03;R10", 0),
    ("v1", T1, "K02", "child", AB, "C", 3, "R10", 1),  # as with a raised R10 cap
    ("v1", T1, "K06", "child", AB, "B", 5, "R03;R10", 0),
    ("v1", T1, "K04", "child", DD, "C", 3, "R20", 0),
    ("v1", T1, "K07", "expectant_mother", PP, "A", 0, "R13", 0),
    ("v1", T2, "K01", "child", AB, "A", 9, "R01;R03;R10", 0),
    ("v1", T2, "K06", "child", AB, "B", 5, "R03;R10", 0),
    ("v1", T2, "K08", "child", AB, "C", 4, "R16;R10", 0),
    ("v1", T2, "K10", "child", AB, "C", 3, "R16", 0),
    ("strict", T1, "K01", "child", AB, "A", 9, "R01;R03;R10", 0),
    ("strict", T2, "K01", "child", AB, "A", 9, "R01;R03;R10", 0),
    ("strict", T2, "K08", "child", AB, "C", 4, "R16;R10", 0),
]
OUTCOMES = [  # subject_key, subject_type, difficulty_type, outcome_date, source
    ("K01", "child", AB, "2024-03-15", "要対協登録"),
    ("K01", "child", AB, "2024-03-15", "虐待相談"),
    ("K02", "child", AB, "2024-05-01", "緊急対応"),
    ("K03", "child", AB, "2024-07-15", "虐待相談"),
    ("K04", "child", DD, "2024-04-01", "療育手帳"),
    ("K09", "child", AB, "2023-12-01", "要対協登録"),
    ("K05", "child", AB, "2025-01-01", "要対協登録"),
]
REPLAYS = [("v1", T1, 10, 0.5), ("v1", T2, 8, 0.4), ("strict", T1, 10, 0.5), ("strict", T2, 8, 0.4)]


def _write(path: Path, header: str, rows: list[tuple]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header.split(","))
        writer.writerows(rows)


@pytest.fixture()
def result_dir(tmp_path: Path) -> Path:
    out = tmp_path / "backtest_testtown_20240201"
    out.mkdir()
    _write(
        out / "alerts.csv",
        "rule_set,as_of,subject_key,subject_type,difficulty_type,level,score,indicators,economic_only",
        ALERTS,
    )
    _write(out / "outcomes.csv", "subject_key,subject_type,difficulty_type,outcome_date,source", OUTCOMES)
    _write(out / "replays.csv", "rule_set,as_of,children,seconds", REPLAYS)
    meta = {
        "town": "testtown",
        "from": T1,
        "to": T2,
        "every": "1M",
        "horizon": "6M",
        "rule_sets": [
            {"name": "v1", "version": "v1", "file": ""},
            {"name": "strict", "version": "v1+levels", "file": "", "levels": {"A": 9, "B": 6, "C": 4}},
        ],
        "outcome_definitions": "rules/outcomes_v1.yaml",
    }
    (out / "backtest.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return out


def test_horizon_and_quartiles() -> None:
    import datetime as dt

    assert horizon_end(dt.date(2024, 1, 1), "6M") == dt.date(2024, 7, 1)
    assert horizon_end(dt.date(2024, 8, 31), "6M") == dt.date(2025, 2, 28)
    assert horizon_end(dt.date(2024, 1, 1), "1Y") == dt.date(2025, 1, 1)
    assert quartiles([74, 121]) == (85.75, 97.5, 109.25)
    assert quartiles([]) == (None, None, None)


def test_precision_recall_workload_and_lead_time_at_each_level(result_dir: Path) -> None:
    m = compute(result_dir)
    c = m.level("v1", AB, "A+B+C")
    assert [(d.alerts, d.true_positives, d.positives, d.caught) for d in c.by_date] == [(3, 2, 2, 2), (4, 1, 3, 1)]
    assert c.precision == pytest.approx(3 / 7)  # pooled: (2 + 1) / (3 + 4)
    assert c.precision_mean == pytest.approx((2 / 3 + 1 / 4) / 2)
    assert c.recall == pytest.approx(3 / 5)  # pooled: (2 + 1) / (2 + 3)
    assert c.recall_mean == pytest.approx((1 + 1 / 3) / 2)
    assert [d.alerts_per_100 for d in c.by_date] == [30.0, 50.0]
    assert c.alerts_per_100 == pytest.approx(700 / 18)
    assert c.alerts_per_100_mean == pytest.approx(40.0)
    # K01: first alert T1, outcome 2024-03-15 → 74 days; K02: T1 → 2024-05-01 = 121 days; K03 never alerted
    assert c.lead_days == [74, 121] and c.lead == (85.75, 97.5, 109.25)

    a = m.level("v1", AB, "A")
    assert (a.alerts, a.true_positives, a.precision) == (2, 2, 1.0)
    assert a.recall == pytest.approx(2 / 5) and a.recall_mean == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert a.alerts_per_100 == pytest.approx(200 / 18) and a.alerts_per_100_mean == pytest.approx(11.25)
    assert a.lead_days == [74]
    ab = m.level("v1", AB, "A+B")
    assert (ab.alerts, ab.true_positives, ab.caught, ab.positives) == (4, 2, 2, 5)

    dd = m.level("v1", DD, "A+B+C")  # T2 has no 発達 alert: left out of the mean precision, counted in recall
    assert dd.precision == 1.0 and dd.precision_mean == 1.0
    assert dd.recall == 0.5 and dd.recall_mean == 0.5 and dd.lead_days == [91]
    pp = m.level("v1", PP, "A")  # the R13 override alert, no 産後うつ outcome
    assert (pp.alerts, pp.precision, pp.recall, pp.recall_mean) == (1, 0.0, None, None)
    whole = m.level("v1", ALL_TYPES, "A+B+C")
    assert (whole.alerts, whole.true_positives, whole.positives, whole.caught) == (9, 4, 7, 4)
    assert whole.alerts_per_100 == pytest.approx(900 / 18)


def test_sweep_starts_at_the_c_boundary_and_keeps_overrides(result_dir: Path) -> None:
    m = compute(result_dir)
    assert m.sweep_from == {"v1": 3, "strict": 4}
    assert m.threshold("v1", AB, 2).precision is None and not m.threshold("v1", AB, 2).derivable
    t3 = m.threshold("v1", AB, 3)
    assert (t3.alerts, t3.true_positives, t3.caught, t3.positives) == (7, 3, 3, 5)  # = level ≥ C
    t5 = m.threshold("v1", AB, 5)
    assert (t5.alerts, t5.true_positives, t5.caught) == (4, 2, 2)
    t9 = m.threshold("v1", AB, 9)
    assert (t9.precision, t9.recall) == (1.0, pytest.approx(2 / 5))
    t10 = m.threshold("v1", AB, 10)
    assert (t10.alerts, t10.precision, t10.recall) == (0, None, 0.0)
    assert m.threshold("v1", PP, 15).alerts == 1  # R13 makes level A whatever the score or boundary
    assert m.threshold("strict", AB, 3).precision is None and m.threshold("strict", AB, 4).alerts == 3


def test_two_rule_sets_side_by_side_and_headline(result_dir: Path) -> None:
    m = compute(result_dir)
    strict = m.level("strict", AB, "A+B+C")
    assert (strict.alerts, strict.true_positives, strict.caught, strict.positives) == (3, 2, 2, 5)
    head = headline(result_dir)
    assert [r["rule_set"] for r in head["rule_sets"]] == ["v1", "strict"]
    assert head["horizon"] == "6M" and head["level"] == ">=C"
    v1, st = head["rule_sets"]
    assert v1["by_type"][AB] == {
        "precision": 0.429,
        "recall": 0.6,
        "alerts_per_100_children": 38.89,
        "alerts": 7,
        "alerts_evaluated": 7,
        "alerts_with_outcome": 3,
        "outcomes": 5,
        "outcomes_caught": 3,
    }
    assert st["by_type"][AB]["precision"] == 0.667 and st["by_type"][AB]["recall"] == 0.4
    assert v1["alerts_per_100_children"] == 50.0 and st["version"] == "v1+levels"
    json.dumps(head, ensure_ascii=False)  # plain values only, for Dagster metadata


def test_economic_only_shares_of_alerts_and_misses(result_dir: Path) -> None:
    m = compute(result_dir)
    c = m.level("v1", AB, "A+B+C")
    assert c.economic_only_alerts == 1 and c.economic_only_share == pytest.approx(1 / 7)
    # misses at ≥ C have no alert at all: their indicators are unknown without below_c.csv
    assert (c.misses, c.misses_known, c.misses_unknown, c.misses_economic_only_share) == (2, 0, 2, None)
    a = m.level("v1", AB, "A")  # K02 at T1 had a C alert resting on R10 only: known and economic only
    assert (a.misses, a.misses_known, a.misses_economic_only, a.misses_economic_only_share) == (3, 1, 1, 1.0)


def test_below_c_rows_make_low_thresholds_and_misses_derivable(result_dir: Path) -> None:
    _write(
        result_dir / "below_c.csv",
        "rule_set,as_of,subject_key,subject_type,difficulty_type,level,score,indicators,economic_only",
        [("v1", T2, "K02", "child", AB, "", 1, "R15", 0), ("v1", T2, "K03", "child", AB, "", 2, "R10", 1)],
    )
    m = compute(result_dir)
    assert m.sweep_from["v1"] == 1
    c = m.level("v1", AB, "A+B+C")
    assert (c.misses, c.misses_known, c.misses_economic_only, c.misses_economic_only_share) == (2, 2, 1, 0.5)
    assert c.alerts == 7  # below_c rows are not alerts
    t2 = m.threshold("v1", AB, 2)
    assert (t2.alerts, t2.true_positives, t2.caught, t2.positives) == (8, 4, 4, 5)


def test_report_is_self_contained_and_metrics_csv(result_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    path = write_report(result_dir)
    assert path == result_dir / "report.html"
    html = path.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower() and "<link" not in html.lower() and not re.search(r"\ssrc=", html)
    assert "<svg" in html and "<polyline" in html and "<rect" in html and "<style>" in html
    assert "効果検証レポート" in html and "precision" in html and "strict" in html and "v1" in html
    assert not re.search(r"K0\d|K10", html)  # no subject key in the page
    assert not any(re.search(r"K0\d|K10", r.getMessage()) for r in caplog.records)  # nor in the logs

    rows = list(csv.DictReader((result_dir / "metrics.csv").open(encoding="utf-8")))
    level = next(
        r
        for r in rows
        if (r["section"], r["rule_set"], r["difficulty_type"], r["level"]) == ("level", "v1", AB, "A+B+C")
    )
    assert (level["alerts"], level["true_positives"], level["outcomes"], level["alerted_outcomes"]) == (
        "7",
        "3",
        "5",
        "3",
    )
    assert float(level["precision"]) == pytest.approx(3 / 7, abs=1e-4) and float(level["recall"]) == 0.6
    assert float(level["lead_days_median"]) == 97.5 and level["lead_days_n"] == "2"
    sweep = [r for r in rows if r["section"] == "sweep" and r["rule_set"] == "v1" and r["difficulty_type"] == AB]
    assert [r["threshold"] for r in sweep] == [str(t) for t in range(1, 16)]
    assert sweep[0]["precision"] == "" and float(sweep[2]["precision"]) == pytest.approx(3 / 7, abs=1e-4)
    by_date = [
        r
        for r in rows
        if r["section"] == "by_date"
        and r["rule_set"] == "strict"
        and r["level"] == "A+B+C"
        and r["difficulty_type"] == AB
    ]
    assert [(r["as_of"], r["alerts"], r["children"]) for r in by_date] == [(T1, "1", "10"), (T2, "2", "8")]


def test_a_missing_file_or_column_is_named(result_dir: Path) -> None:
    from kodomo_pipeline.backtest.metrics import BacktestFormatError

    (result_dir / "replays.csv").write_text("rule_set,as_of,children\nv1,2024-01-01,10\n", encoding="utf-8")
    with pytest.raises(BacktestFormatError, match=r"replays\.csv lacks column"):
        load(result_dir)
    (result_dir / "outcomes.csv").unlink()
    with pytest.raises(BacktestFormatError, match=r"outcomes\.csv is missing"):
        load(result_dir)


def test_the_engine_format_bom_parameters_incomplete_horizon_and_subject_types(result_dir: Path) -> None:
    """As engine.py writes it: UTF-8 with BOM and CRLF, extra columns, `parameters` in backtest.json, T2's horizon
    not complete (workload only), and a subject matched on its type too (K07 the expectant mother ≠ K07 a child)."""
    import pandas as pd

    from kodomo_pipeline.exports.csvfile import write_contract_csv

    alert_cols = "rule_set,as_of,subject_key,subject_type,difficulty_type,level,score,indicators,economic_only"
    alerts = pd.DataFrame(ALERTS, columns=alert_cols.split(","))
    alerts["known_case"] = [1] + [0] * (len(ALERTS) - 1)
    alerts["suppressed"] = [0, 0, 1] + [0] * (len(ALERTS) - 3)
    write_contract_csv(alerts, [*alert_cols.split(","), "known_case", "suppressed"], result_dir / "alerts.csv")
    outcome_cols = ["subject_key", "subject_type", "difficulty_type", "outcome_date", "source", "first_seen"]
    outcomes = pd.DataFrame([(*o, "") for o in [*OUTCOMES, ("K07", "child", PP, "2024-03-01", "EPDS")]],
                            columns=outcome_cols)  # fmt: skip
    write_contract_csv(outcomes, outcome_cols, result_dir / "outcomes.csv")
    replay_cols = ["rule_set", "as_of", "children", "seconds", "horizon_end", "horizon_complete"]
    replays = pd.DataFrame([(*r, "", str(r[1] == T1)) for r in REPLAYS], columns=replay_cols)
    write_contract_csv(replays, replay_cols, result_dir / "replays.csv")
    assert (result_dir / "alerts.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    manifest = {
        "parameters": {"town": "testtown", "from": T1, "to": T2, "every": "1M", "horizon": "6M",
                       "outcomes_file": "/x/rules/outcomes_v1.yaml", "outcomes_version": "v1",
                       "outcome_events": {"AB": {"y": "要対協登録"}, "PP": {"e": "EPDS高得点"}}},
        "rule_sets": [{"name": "v1", "file": "", "version": "v1", "sha256": "0" * 64},
                      {"name": "strict", "file": "", "version": "v1+levels", "levels": {"A": 9, "B": 6, "C": 4}}],
        "notes": ["note without personal data"],
    }  # fmt: skip
    (result_dir / "backtest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")

    m = compute(result_dir)
    c = m.level("v1", AB, "A+B+C")
    assert [d.complete for d in c.by_date] == [True, False] and c.evaluated_replays == 1
    assert (c.alerts, c.evaluated_alerts, c.true_positives, c.positives, c.caught) == (7, 3, 2, 2, 2)
    assert c.precision == pytest.approx(2 / 3) and c.recall == 1.0 and c.precision_mean == pytest.approx(2 / 3)
    assert c.alerts_per_100 == pytest.approx(700 / 18)  # the workload still counts both dates
    assert c.lead_days == [74, 121] and c.misses == 0
    pp = m.level("v1", PP, "A+B+C")  # K07's alert is as expectant mother, the outcome as a child
    assert (pp.alerts, pp.true_positives, pp.positives, pp.caught, pp.recall) == (1, 0, 1, 0, 0.0)
    assert m.backtest.flags["v1"] == {"suppressed": 1, "known_case": 1}
    head = headline(result_dir)
    assert head["town"] == "testtown" and head["from"] == T1 and head["rule_sets"][0]["replays_evaluated"] == 1
    html = write_report(result_dir).read_text(encoding="utf-8")
    assert "要対協登録" in html and "EPDS高得点" in html and "note without personal data" in html
    assert "http://" not in html and "https://" not in html
