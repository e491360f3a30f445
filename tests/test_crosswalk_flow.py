"""名寄せ through the real job: the crosswalk file contract, decisions honoured, stable identity next night."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from kodomo_pipeline.cli import main
from kodomo_pipeline.config import load_towns
from kodomo_pipeline.exports.csvfile import write_contract_csv
from kodomo_pipeline.generator import generate_town
from kodomo_pipeline.linkage.review import REASON_JA
from tests.conftest import generated_data_root

pytestmark = pytest.mark.slow
T1 = dt.date(2026, 10, 31)
T2 = dt.date(2026, 11, 30)


def _run(asof: dt.date) -> None:
    result = CliRunner().invoke(main, ["run", "--town", "kawashima", "--asof", asof.isoformat()])
    assert result.exit_code == 0, result.output


def _crosswalk(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with generated_data_root(tmp_path_factory, ["kawashima"], T1, 3000, seed=11) as root:
        yield root


def test_crosswalk_file_is_the_contract(root: Path) -> None:
    path = root / "out" / "kawashima" / f"crosswalk_{T1:%Y%m%d}.csv"
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    rows = _crosswalk(path)
    assert list(rows.columns) == ["feed", "source_key", "resident_id", "match_probability", "status"]
    assert set(rows["status"]) <= {"matched", "review", "unmatched"}
    assert (rows.loc[rows["status"] == "unmatched", ["resident_id", "match_probability"]] == "").all().all()
    assert (rows.loc[rows["status"] == "matched", "resident_id"] != "").all()
    links = pd.read_csv(root / "truth" / "kawashima" / "links.csv", dtype=str, keep_default_na=False)
    assert sorted(zip(rows["feed"], rows["source_key"], strict=True)) == sorted(
        zip(links["feed"], links["source_key"], strict=True)
    )  # every nursery and school record is there, once


def test_decisions_are_honoured_and_identity_is_stable_next_night(root: Path) -> None:
    town = load_towns()["kawashima"]
    first = _crosswalk(root / "out" / "kawashima" / f"crosswalk_{T1:%Y%m%d}.csv")
    matched = first[first["status"] == "matched"]
    rejected = matched.iloc[0]
    with duckdb.connect(str(town.database(root)), read_only=True) as con:
        # A record the model left unmatched that staff identify as a registry child no record is linked to
        # (e.g. enrolled under another surname): the 同一人物 path, always taken.
        unmatched_key = con.execute(
            "SELECT feed, source_key FROM crosswalk WHERE status = 'unmatched' ORDER BY feed, source_key LIMIT 1"
        ).fetchall()
        assert unmatched_key, "the generated town has records the model leaves unmatched"
        candidate = con.execute(
            """SELECT resident_id FROM persons WHERE status = '住民' AND age BETWEEN 6 AND 12
                 AND resident_id NOT IN (SELECT resident_id FROM crosswalk WHERE resident_id IS NOT NULL)
               ORDER BY resident_id LIMIT 1"""
        ).fetchall()[0][0]
    decisions = [
        {
            "対象": rejected["feed"],
            "元キー": rejected["source_key"],
            "宛名番号": rejected["resident_id"],
            "判定": "別人",
            "確認日": "2026-11-20",
        }
    ]
    decisions.append(
        {
            "対象": unmatched_key[0][0],
            "元キー": unmatched_key[0][1],
            "宛名番号": candidate,
            "判定": "同一人物",
            "確認日": "2026-11-20",
        }
    )
    generate_town(town, town.inbox(root), root / "truth2", T2, 3000, seed=11)  # the next month's snapshots
    frame = pd.DataFrame(decisions)  # staff return the filled template (replacing the empty export)
    write_contract_csv(frame, list(frame.columns), town.inbox(root) / f"meiyose_kekka_{T2:%Y%m%d}.csv")
    _run(T2)
    second = _crosswalk(root / "out" / "kawashima" / f"crosswalk_{T2:%Y%m%d}.csv")
    after = second.set_index(["feed", "source_key"])
    relinked = after.loc[(rejected["feed"], rejected["source_key"]), "resident_id"] == rejected["resident_id"]
    assert not relinked, "a pair rejected by staff was linked again"  # no IDs in test output
    accepted = after.loc[unmatched_key[0]]
    honoured = (accepted["status"], accepted["resident_id"]) == ("matched", candidate)
    assert honoured, "a pair accepted by staff was not linked"
    with duckdb.connect(str(town.database(root)), read_only=True) as con:
        reason = con.execute(
            "SELECT reason FROM crosswalk WHERE feed = ? AND source_key = ?", list(unmatched_key[0])
        ).fetchall()
    assert reason == [("decision: accepted",)]
    # Stable identity: a record whose fields did not change keeps its resident when that resident is still in
    # the registry (a registry row held back in quarantine tonight is a change of data), bar the decision made.
    with duckdb.connect(str(town.database(root)), read_only=True) as con:
        kept, changed = con.execute(
            """SELECT count(*), count(*) FILTER (WHERE b.resident_id IS DISTINCT FROM a.resident_id)
               FROM crosswalk_history a JOIN crosswalk_history b USING (feed, source_key)
               WHERE a.as_of = ? AND b.as_of = ? AND a.status = 'matched' AND a.fingerprint = b.fingerprint
                 AND a.resident_id IN (SELECT resident_id FROM persons) AND source_key <> ?""",
            [T1, T2, rejected["source_key"]],
        ).fetchall()[0]
    assert kept > 300 and changed == 0, f"{changed} of {kept} unchanged records changed resident overnight"
    with duckdb.connect(str(town.database(root)), read_only=True) as con:
        runs = con.execute("SELECT count(DISTINCT as_of) FROM linkage_models").fetchall()[0][0]
    assert runs == 2  # the trained model is kept with each run


def test_attendance_reaches_children_through_the_roster(root: Path) -> None:
    town = load_towns()["kawashima"]
    with duckdb.connect(str(town.database(root)), read_only=True) as con:
        linked, total, wrong = con.execute(
            """SELECT count(a.resident_id), count(*),
                      count(*) FILTER (WHERE a.resident_id IS DISTINCT FROM c.resident_id AND c.status = 'matched')
               FROM attendance_linked a
               LEFT JOIN crosswalk c ON c.feed = 'gakko_meibo' AND c.source_key = a.student_no"""
        ).fetchall()[0]
    assert total > 1000 and linked / total > 0.9 and wrong == 0


def test_review_list_and_template_are_written(root: Path) -> None:
    out = root / "out" / "kawashima"
    html = (out / f"review_{T1:%Y%m%d}.html").read_text(encoding="utf-8")
    assert "名寄せ確認リスト" in html and "http" not in html.lower().replace("http-equiv", "")
    with (out / f"meiyose_kekka_template_{T1:%Y%m%d}.csv").open(encoding="utf-8-sig", newline="") as handle:
        assert next(csv.reader(handle)) == ["対象", "元キー", "宛名番号", "判定", "確認日"]
    assert (out / f"meiyose_kekka_template_{T1:%Y%m%d}.xlsx").is_file()  # the same template with a dropdown


def test_review_page_has_evidence_and_the_audit_sample(root: Path) -> None:
    """Review rows carry their candidate; the page shows per-field evidence and the town's audit sample size."""
    town = load_towns()["kawashima"]
    out = root / "out" / "kawashima"
    html = (out / f"review_{T1:%Y%m%d}.html").read_text(encoding="utf-8")
    with duckdb.connect(str(town.database(root)), read_only=True) as con:
        review, without, matched = con.execute(
            """SELECT count(*) FILTER (WHERE status = 'review'),
                      count(*) FILTER (WHERE status = 'review' AND resident_id IS DISTINCT FROM candidate_resident_id),
                      count(*) FILTER (WHERE status = 'matched' AND reason NOT LIKE 'decision%')
               FROM crosswalk_history WHERE as_of = ?""",
            [T1],
        ).fetchall()[0]
    assert without == 0, "a review row without its candidate as resident_id"
    audited = min(town.linkage.audit_sample, matched)
    assert audited > 0 and "抜き取り確認" in html and "項目ごとの根拠" in html
    assert any(words in html for words in REASON_JA.values()), "no reason in the staff's words on the page"
    template = pd.read_csv(out / f"meiyose_kekka_template_{T1:%Y%m%d}.csv", dtype=str, encoding="utf-8-sig")
    assert len(template) == review + audited
    assert html.count('class="pair"') == review + audited


def test_calibrate_uses_the_staff_decisions_as_labels(root: Path) -> None:
    """After the decisions of the second night, `kodomo calibrate` scores them (counts only on the terminal)."""
    result = CliRunner().invoke(main, ["calibrate", "--town", "kawashima", "--asof", T2.isoformat()])
    assert result.exit_code == 0, result.output
    town = load_towns()["kawashima"]
    with duckdb.connect(str(town.database(root)), read_only=True) as con:
        decisions = con.execute("SELECT count(*) FROM valid_meiyose_kekka").fetchall()[0][0]
    assert f"{decisions} decisions" in result.output
    report = root / "out" / "kawashima" / "reports" / f"linkage_calibration_{T2:%Y%m%d}.csv"
    table = pd.read_csv(report, encoding="utf-8-sig")
    assert list(table.columns) == ["threshold", "tp", "fp", "fn", "precision", "recall"]
    assert len(table) >= 1 and int(table["tp"].max() + table["fn"].max()) <= decisions
    assert (root / "out" / "kawashima" / "reports" / f"linkage_calibration_{T2:%Y%m%d}.html").exists()
