"""The alert lifecycle (rules/alert_lifecycle.yaml): one test per row of the table, on hand-made nights.

Fifteen misato households, each a child walking one situation through three monthly runs T1, T2, T3 (plus a
decision for an alert ID nobody has): the exports are written in the town's layout, ingested and validated
the real way, and judged by the real SQL models (persons → facts → indicators → risk_scores → taio_decisions →
alerts). The meeting's decisions come back as taio_kekka files at T2 and T3, made from the alert IDs the
earlier runs gave. Scores (rules v1):
R01 虐待相談歴 4, R10 経済的困難 1 per source (生活保護, 児童扶養手当), R15 育児不安 1; C ≥ 3, B ≥ 5.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import duckdb
import pytest

from kodomo_pipeline.config import load_towns
from kodomo_pipeline.config.errors import ConfigError
from kodomo_pipeline.exports.meeting_xlsx import LIST_COLUMNS, meeting_rows
from kodomo_pipeline.rules.ruleset import apply_overrides
from kodomo_pipeline.sqlmodels.lifecycle import lifecycle_markdown, load_lifecycle, quarantine_meaning
from kodomo_pipeline.sqlmodels.runner import judge_at
from kodomo_pipeline.storage.feed_tables import conservation, file_figures
from tests.conftest import ingest_rows

T1, T2, T3 = dt.date(2026, 11, 26), dt.date(2026, 12, 26), dt.date(2027, 1, 26)
REVIEW = "2026/12/10"  # the meeting on T1's list
LATER_REVIEW = "2027/01/12"  # the meeting on T2's list
UNKNOWN_ID = "AL-Q7XK2M9P4T8B"  # shaped like an alert ID; no alert of the town has it

# Household → the situation its child walks (the lifecycle row it proves).
STORY = {
    1: "same",  # R01 throughout
    2: "risen",  # R01; public assistance from T2
    3: "fallen",  # R01 + assistance + allowance; allowance stops (T2), assistance ends (T3)
    4: "returned",  # an old consultation leaves the 36-month window at T2; a new one at T3
    5: "suppressed",  # 対応不要 on R01 + assistance; nothing changes
    6: "suppressed_fallen",  # 対応不要 on R01 + two sources; the allowance stops
    7: "lifted_by_score",  # 対応不要 on R01 + assistance; an allowance from T3 (same indicators, higher score)
    8: "lifted_same_score",  # 対応不要 on R01 + assistance; assistance ends and R15 fires at T3
    9: "lifted_lower_score",  # 対応不要 on R01 + two sources; both end and R15 fires at T3
    10: "decision_replaced",  # 対応不要 at T2, 見守り at T3
    11: "replaced_by_dismissal",  # 見守り at T2, 対応不要 at T3
    13: "decision_before_alert",  # first alert at T2; a 対応不要 dated before T2 arrives at T3
    14: "decision_after_t",  # 対応不要 dated two days after T2's extract; valid in T3's file
    15: "decision_conflict",  # 対応不要 and 見守り on one date
    16: "returned_after_dismissal",  # 対応不要 on R01 + assistance; the consultation leaves the window; a new one
}
YOUNG = {8, 9}  # born 2025-06-01: their 1歳6か月 check-up (R15) is attended between T2 and T3


def child(n: int) -> str:
    return f"5000{n:02d}02"


def mother(n: int) -> str:
    return f"5000{n:02d}01"


def _jumin() -> list[list[str]]:
    # 住民コード,世帯コード,氏名,カナ氏名,生年月日,性別,続柄,住所,住民となった日,住民区分,転出日
    rows = []
    for n in STORY:
        born = "2025/06/01" if n in YOUNG else "2018/04/01"
        rows.append([mother(n), f"H{n:02d}", "森田　恵子", "モリタ　ケイコ", "1988/05/05", "女", "世帯主",
                     f"美里町甘粕{n}", "1988/05/05", "住民", ""])  # fmt: skip
        rows.append([child(n), f"H{n:02d}", "森田　翔", "モリタ　ショウ", born, "男", "子",
                     f"美里町甘粕{n}", born, "住民", ""])  # fmt: skip
    return rows


def _consultation(case: str, n: int, received: str) -> list[str]:
    # 記録番号,住民コード,受付年月日,相談区分,虐待の種類,状況,要対協
    return [case, child(n), received, "虐待", "心理的", "継続", "無"]


def _consultations(night: dt.date) -> list[list[str]]:
    rows = [_consultation(f"K{n:02d}", n, "2026/06/01") for n in STORY if n not in (4, 13, 16)]
    for n in (4, 16):  # T1 − 36 months + 1 day: in the window at T1 only
        rows.append(_consultation(f"K{n:02d}", n, "2023/11/27"))
    if night >= T2:
        rows.append(_consultation("K13", 13, "2026/12/01"))
    if night >= T3:
        rows += [_consultation(f"K{n:02d}B", n, "2027/01/10") for n in (4, 16)]
    return rows


def _assistance(night: dt.date) -> list[list[str]]:
    # 世帯コード,開始日,廃止日
    ends = "2027/01/05" if night >= T3 else ""
    rows = [[f"H{n:02d}", "2025/01/01", ""] for n in (5, 6, 7, 10, 11, 16)]
    rows += [[f"H{n:02d}", "2025/01/01", ends] for n in (3, 8, 9)]
    if night >= T2:
        rows.append(["H02", "2026/12/01", ""])
    return rows


def _allowance(night: dt.date) -> list[list[str]]:
    # 受給者住民コード,認定日,支給状況
    rows = [
        [mother(3), "2025/01/01", "全部停止" if night >= T2 else "全部支給"],
        [mother(6), "2025/01/01", "全部停止" if night >= T2 else "全部支給"],
        [mother(9), "2025/01/01", "全部停止" if night >= T3 else "全部支給"],
    ]
    if night >= T3:
        rows.append([mother(7), "2027/01/05", "全部支給"])
    return rows


def _checkups(night: dt.date) -> list[list[str]]:
    # 住民コード,健診名,対象月,受診年月日,判定,運動,言語,社会性,体重(g),育児不安
    rows = []
    for n in sorted(YOUNG):
        rows.append([child(n), "4か月", "2025/10", "2025/10/15", "異常なし", "無", "無", "無", "6500", "無"])
        rows.append([child(n), "10か月", "2026/04", "2026/04/15", "異常なし", "無", "無", "無", "8500", "無"])
        if night >= T3:  # attended, with parenting anxiety (R15); due 2026-12, so never missed (R03: 2 months)
            rows.append([child(n), "1歳6か月", "2026/12", "2027/01/10", "異常なし", "無", "無", "無", "10000", "有"])
        else:  # invited, not yet attended
            rows.append([child(n), "1歳6か月", "2026/12", "", "", "", "", "", "", ""])
    return rows


def _decisions(night: dt.date, ids: dict[int, str]) -> list[list[str]]:
    """The meeting's decisions as staff type them (アラートID,検討日,判定); every file holds all decisions so far."""
    rows = [[ids[n], REVIEW, "対応不要"] for n in (5, 6, 7, 8, 9, 10)]  # rows 1–6
    rows += [
        [ids[11], REVIEW, "見守り"],
        [UNKNOWN_ID, REVIEW, "対応不要"],
        [ids[14], "2026/12/28", "対応不要"],  # two days after T2: quarantined at T2, valid at T3
        [ids[15], REVIEW, "対応不要"],
        [ids[15], REVIEW, "見守り"],
        [ids[16], REVIEW, "対応不要"],
        [ids[1], REVIEW, "様子見"],  # not one of the four 判定
    ]
    if night >= T3:
        rows += [
            [ids[10], LATER_REVIEW, "見守り"],
            [ids[11], LATER_REVIEW, "対応不要"],
            [ids[13], "2026/12/20", "対応不要"],  # S13's alert was first on the list of T2 (12-26)
        ]
    return rows


class Nights:
    """What each night left: alerts by household, the quarantine of decision files, the meeting list."""

    def __init__(self) -> None:
        self.alerts: dict[dt.date, dict[int, dict]] = {}
        self.quarantine: dict[dt.date, list[dict]] = {}
        self.meeting: dict[dt.date, dict[str, dict[str, object]]] = {}
        self.ids: dict[int, str] = {}
        self.conservation: dict[dt.date, tuple[int, int, int]] = {}
        self.reasons: dict[dt.date, dict[str, int]] = {}  # taio_kekka's quarantine by reason, as status shows it


def _judge(tmp: Path, night: dt.date, files: dict[str, list[list[str]]], nights: Nights) -> None:
    town = load_towns()["misato"]
    con = ingest_rows(tmp, town, files, night)
    try:
        judge_at(con, town, night, apply_overrides(town.path, {}))  # the registry models too
        households = {child(n): n for n in STORY}
        frame = con.execute("SELECT * FROM alerts WHERE type_code = 'AB'").df()
        nights.alerts[night] = {households[row["subject_resident_id"]]: row for row in frame.to_dict("records")}
        for n, row in nights.alerts[night].items():
            nights.ids.setdefault(n, row["alert_id"])
        nights.quarantine[night] = (
            con.execute(
                """SELECT q.row_number, q.column_name, q.check_name, q.reason FROM quarantine AS q
                   JOIN ingested_files AS f ON f.sha256 = q.sha256
                   WHERE q.feed = 'taio_kekka' AND f.extract_date = ? ORDER BY q.row_number, q.reason""",
                [night],
            )
            .df()
            .to_dict("records")
        )
        sha = con.execute("SELECT sha256 FROM ingested_files WHERE feed = 'taio_kekka' AND extract_date = ?", [night])
        found = sha.fetchall()
        if found:
            nights.conservation[night] = conservation(con, "taio_kekka", found[0][0])
            nights.reasons[night] = file_figures(con, found[0][0])["quarantine_reasons"]
        headers = [header for header, _ in LIST_COLUMNS]
        rows = [dict(zip(headers, row, strict=True)) for row in meeting_rows(con, night)]
        nights.meeting[night] = {str(row["アラートID"]): row for row in rows}
    finally:
        con.close()


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> Nights:
    tmp = tmp_path_factory.mktemp("lifecycle")
    result = Nights()
    for night in (T1, T2, T3):
        files = {
            "jido_soudan": _consultations(night),
            "seikatsu_hogo": _assistance(night),
            "jido_fuyo": _allowance(night),
            "nyuyoji_kenshin": _checkups(night),
        }
        if night == T1:
            files["jumin"] = _jumin()
        else:
            files["taio_kekka"] = _decisions(night, result.ids)
        _judge(tmp, night, files, result)
    return result


def _state(nights: Nights, night: dt.date, n: int) -> tuple:
    """(change, level, score, suppressed, reshown) of household n's 虐待 alert at that night (None: no alert)."""
    row = nights.alerts[night].get(n)
    if row is None:
        return None
    reshown = row["reshown"] if isinstance(row["reshown"], str) else None
    return row["change"], row["level"], int(row["score"]), bool(row["suppressed"]), reshown


def _shown(nights: Nights, night: dt.date, n: int) -> str | None:
    """The meeting list's 前回比 cell of household n's alert, and the first line of its 該当理由 when that says
    why the alert is back (None: not on the list)."""
    row = nights.meeting[night].get(nights.ids[n])
    if row is None:
        return None
    first = str(row["該当理由（点数）"]).split("\n")[0]
    return str(row["前回比"]) + (f" | {first}" if first.startswith("【再提示】") else "")


def _decision_rows(nights: Nights, night: dt.date, reason: str) -> list[tuple]:
    return [
        (q["row_number"], q["column_name"], q["check_name"]) for q in nights.quarantine[night] if q["reason"] == reason
    ]


# --- one test per row of rules/alert_lifecycle.yaml -------------------------------------------------------------


def test_row_new(nights: Nights) -> None:
    assert _state(nights, T1, 1) == ("新規", "C", 4, False, None)
    assert _shown(nights, T1, 1) == "新規"


def test_row_risen(nights: Nights) -> None:
    assert _state(nights, T2, 2) == ("上昇", "B", 5, False, None)
    assert _shown(nights, T2, 2) == "上昇"


def test_row_same(nights: Nights) -> None:
    assert [_state(nights, night, 1) for night in (T2, T3)] == [("継続", "C", 4, False, None)] * 2
    assert _shown(nights, T3, 1) == "継続"


def test_row_fallen(nights: Nights) -> None:
    """低下 within a level (6 → 5, both B) and across one (B 5 → C 4)."""
    assert _state(nights, T1, 3) == ("新規", "B", 6, False, None)
    assert _state(nights, T2, 3) == ("低下", "B", 5, False, None)
    assert _state(nights, T3, 3) == ("低下", "C", 4, False, None)
    assert _shown(nights, T3, 3) == "低下"


def test_row_fell_below_c(nights: Nights) -> None:
    """The old consultation leaves the window: no alert at T2, but T1's alert and its ID are kept."""
    assert _state(nights, T1, 4) == ("新規", "C", 4, False, None)
    assert _state(nights, T2, 4) is None and nights.ids[4] not in nights.meeting[T2]


def test_row_returned(nights: Nights) -> None:
    """Back at T3 with a new consultation: the same alert ID, 新規 against T2, and the list says it is back."""
    assert _state(nights, T3, 4) == ("新規", "C", 4, False, "returned")
    assert nights.alerts[T3][4]["alert_id"] == nights.ids[4]
    assert _shown(nights, T3, 4) == "新規\n再提示 | 【再提示】2026-11-26 の後いったんC未満"
    assert _state(nights, T1, 1)[-1] is None  # a first alert is not "back"


def test_row_returned_after_dismissal(nights: Nights) -> None:
    """対応不要 on T1's state; below C at T2; back at T3 at the same score with the same indicators: the 対応不要
    ended with the list it was made on, so the alert is listed again and says it is back."""
    assert _state(nights, T1, 16) == ("新規", "B", 5, False, None)
    assert _state(nights, T2, 16) is None
    assert _state(nights, T3, 16) == ("新規", "B", 5, False, "returned")
    assert _shown(nights, T3, 16) == "新規\n再提示 | 【再提示】2026-11-26 の後いったんC未満"


def test_row_suppressed(nights: Nights) -> None:
    """対応不要 on T1's state (R01 + R10, 5) holds while nothing changes, and again the night after."""
    assert _state(nights, T2, 5) == ("継続", "B", 5, True, None)
    assert _state(nights, T3, 5) == ("継続", "B", 5, True, None)
    assert _shown(nights, T2, 5) is None and _shown(nights, T3, 5) is None
    # fallen while hidden: 低下 (6 → 5), still hidden — the path that gives 低下 on a suppressed alert
    assert _state(nights, T2, 6) == ("低下", "B", 5, True, None)
    assert _shown(nights, T2, 6) is None


def test_row_lifted_by_score(nights: Nights) -> None:
    assert _state(nights, T2, 7) == ("継続", "B", 5, True, None)
    assert _state(nights, T3, 7) == ("上昇", "B", 6, False, "lifted_by_score")
    assert _shown(nights, T3, 7) == "上昇\n再提示 | 【再提示】対応不要（2026-12-10）の時より点数が上昇（5点→6点）"


def test_row_lifted_by_indicator(nights: Nights) -> None:
    """An indicator the meeting did not see (R15) lifts 対応不要 at the same score (継続) and at a lower one
    (低下), and the list names it — the alert used to come back as 継続/低下 with no word why."""
    assert _state(nights, T2, 8) == ("継続", "B", 5, True, None)
    assert _state(nights, T3, 8) == ("継続", "B", 5, False, "lifted_by_indicator")
    assert nights.alerts[T3][8]["new_indicators"] == "R15"
    why = "【再提示】対応不要（2026-12-10）の後に新たな指標 R15 育児不安"
    assert _shown(nights, T3, 8) == f"継続\n再提示 | {why}（5点→5点）"
    assert _state(nights, T2, 9) == ("継続", "B", 6, True, None)
    assert _state(nights, T3, 9) == ("低下", "B", 5, False, "lifted_by_indicator")
    assert _shown(nights, T3, 9) == f"低下\n再提示 | {why}（6点→5点）"


def test_row_decision_replaced(nights: Nights) -> None:
    """対応不要 (12-10) hides the alert at T2; the later 見守り (01-12) brings it back at T3 without a note."""
    assert _state(nights, T2, 10) == ("継続", "B", 5, True, None)
    assert _state(nights, T3, 10) == ("継続", "B", 5, False, None)
    assert _shown(nights, T3, 10) == "継続"


def test_row_decision_replaced_by_dismissal(nights: Nights) -> None:
    """見守り hides nothing (T2); the later 対応不要 is tied to T2's list and hides the unchanged alert (T3)."""
    assert _state(nights, T2, 11) == ("継続", "B", 5, False, None)
    assert _state(nights, T3, 11) == ("継続", "B", 5, True, None)


def test_row_decision_unknown_alert(nights: Nights) -> None:
    """The row for an ID no alert has goes to quarantine (row 8 of each file) and hides nothing."""
    for night in (T2, T3):
        assert _decision_rows(nights, night, "unknown_alert") == [(8, "alert_id", "alert_state")]
    hidden = {n for n, row in nights.alerts[T2].items() if row["suppressed"]}
    assert hidden == {5, 6, 7, 8, 9, 10}  # exactly the tied 対応不要 decisions of T2's file (S16 is below C)


def test_row_decision_before_alert(nights: Nights) -> None:
    """A 対応不要 dated before the alert was ever on a list: quarantined, the alert stays on the list. (It used to
    be compared with the alert itself — coalesce(r.score, c.score) — and hid the child for ever.)"""
    assert _state(nights, T2, 13) == ("新規", "C", 4, False, None)
    assert _state(nights, T3, 13) == ("継続", "C", 4, False, None)
    assert _shown(nights, T3, 13) == "継続"
    assert _decision_rows(nights, T3, "decision_before_alert") == [(16, "reviewed_on", "alert_state")]
    assert _decision_rows(nights, T2, "decision_before_alert") == []


def test_row_decision_after_t(nights: Nights) -> None:
    """Dated after T2's extract: quarantined by the contract and hides nothing at T2; in T3's file it is valid,
    tied to T2's list, and hides the unchanged alert."""
    assert [row[0] for row in _decision_rows(nights, T2, "date_after_extract")] == [9]
    assert _state(nights, T2, 14) == ("継続", "C", 4, False, None)
    assert _decision_rows(nights, T3, "date_after_extract") == []
    assert _state(nights, T3, 14) == ("継続", "C", 4, True, None)


def test_row_decision_unknown_value(nights: Nights) -> None:
    """A 判定 outside the four values: quarantined by the contract (row 13), the alert untouched."""
    for night in (T2, T3):
        assert _decision_rows(nights, night, "not_allowed_value") == [(13, "decision", "isin")]
    assert _state(nights, T2, 1) == ("継続", "C", 4, False, None)


def test_row_decision_conflict(nights: Nights) -> None:
    """Two decisions for one alert on one date: both rows quarantined, the alert stays on the list."""
    for night in (T2, T3):
        assert sorted({row[0] for row in _decision_rows(nights, night, "duplicate_key")}) == [10, 11]
    assert _state(nights, T2, 15)[3] is False and _state(nights, T3, 15)[3] is False


# --- the table as a whole --------------------------------------------------------------------------------------


def test_every_row_of_the_table_has_its_test() -> None:
    tests = {name.removeprefix("test_row_") for name in dir(sys.modules[__name__]) if name.startswith("test_row_")}
    assert tests == {row.id for row in load_lifecycle().rows}


def test_decision_quarantine_keeps_row_conservation(nights: Nights) -> None:
    """Untied decisions stay valid rows (the contract passed); conservation counts the contract's quarantine."""
    for night in (T2, T3):
        read, valid, held = nights.conservation[night]
        assert read == valid + held
    # quarantined by the contract: the two conflicting rows and the unknown 判定; unknown/before-alert stay valid
    assert nights.conservation[T3] == (16, 13, 3)
    # what `kodomo status` shows the operator for the decision file (counts by reason, no values)
    assert nights.reasons[T3] == {
        "decision_before_alert": 1, "duplicate_key": 2, "not_allowed_value": 1, "unknown_alert": 1,
    }  # fmt: skip


def test_docs_print_the_table() -> None:
    docs = (Path(__file__).parents[1] / "docs" / "alert_lifecycle.md").read_text(encoding="utf-8")
    assert lifecycle_markdown() in docs


def test_a_run_without_alerts_is_still_the_previous_run(tmp_path: Path) -> None:
    """An alert at T1, none at T2 (nothing in the town reaches C), back at T3: 新規 against T2, not 継続
    against T1 — `change` compares with the previous run, not the previous run that had alerts."""
    town = load_towns()["misato"]
    nights = Nights()
    jumin = [row for row in _jumin() if row[1] == "H04"]
    for night in (T1, T2, T3):
        files = {"jido_soudan": [row for row in _consultations(night) if row[1] == child(4)]}
        if night == T1:
            files["jumin"] = jumin
        _judge_one(tmp_path, town, night, files, nights)
    assert [nights.alerts[night].get(4, {}).get("change") for night in (T1, T2, T3)] == ["新規", None, "新規"]
    assert nights.alerts[T3][4]["reshown"] == "returned"


def _judge_one(tmp: Path, town, night: dt.date, files: dict, nights: Nights) -> None:
    con: duckdb.DuckDBPyConnection = ingest_rows(tmp, town, files, night)
    try:
        judge_at(con, town, night, apply_overrides(town.path, {}))  # the registry models too
        frame = con.execute("SELECT * FROM alerts WHERE subject_resident_id = ?", [child(4)]).df()
        rows = frame.to_dict("records")  # the one child's 虐待 alert, or none
        nights.alerts[night] = {4: rows[0]} if rows else {}
    finally:
        con.close()


def test_every_quarantine_reason_of_the_table_has_words() -> None:
    """The privacy report and the docs explain each code a decision row can be quarantined with."""
    for row in load_lifecycle().rows:
        if row.quarantine:
            assert quarantine_meaning(row.quarantine), row.id
    assert quarantine_meaning("unknown_alert").startswith("アラートID")


def test_a_hiding_decision_the_contract_does_not_allow_is_a_config_error(tmp_path: Path) -> None:
    """A typo in suppressing_decision would hide nothing, ever, without a word: the file is refused instead."""
    source = Path(__file__).parents[1] / "rules" / "alert_lifecycle.yaml"
    path = tmp_path / "alert_lifecycle.yaml"
    path.write_text(
        source.read_text(encoding="utf-8").replace("suppressing_decision: 対応不要", "suppressing_decision: 対応不用"),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="suppressing_decision"):
        load_lifecycle(path)
