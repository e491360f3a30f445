"""Mother and pregnancy rules (R05–R14), the R10 cap, levels, and alerts across runs — boundaries from rules v1.

Hand-made misato exports (the town with every mother feed), ingested the real way, judged by the real models.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from kodomo_pipeline.config.feeds import load_feeds
from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.privacy.services.pseudonym import PseudonymKey, load_key
from kodomo_pipeline.rules.coverage import linked_rules
from kodomo_pipeline.rules.ruleset import apply_overrides
from kodomo_pipeline.sqlmodels.runner import judge_at
from tests.conftest import ingest_rows

T = dt.date(2026, 11, 26)


def _person(rid: str, household: str, born: str, sex: str, relation: str, since: str = "") -> list[str]:
    return [
        rid,
        household,
        "川上　陽子",
        "カワカミ　ヨウコ",
        born,
        sex,
        relation,
        "美里町甘粕2",
        since or born,
        "住民",
        "",
    ]


def _notice(mother: str, notified: str, weeks: int, due: str, feeling: str, confidant: str, psych: str) -> list[str]:
    # 住民コード,届出年月日,妊娠週数,出産予定日,初産,妊娠の受け止め,相談相手,経済的不安,精神科受診歴
    return [mother, notified, str(weeks), due, "有", feeling, confidant, "無", psych]


def _postpartum(mother: str, child: str, on: str, epds: int, q10: int, bonding: int, support: str) -> list[str]:
    # 母住民コード,児住民コード,実施日,EPDS合計点,EPDS項目10,赤ちゃんへの気持ち質問票合計点,支援者
    return [mother, child, on, str(epds), str(q10), str(bonding), support]


def judge(
    con: duckdb.DuckDBPyConnection,
    town: TownConfig,
    asof: dt.date,
    overrides: dict | None = None,
    key: PseudonymKey | None = None,
) -> None:
    """What the nightly job does after ingestion: every SQL model in order (the registry: persons, mothers, …)."""
    judge_at(con, town, asof, apply_overrides(town.path, overrides or {}), key)


def _hits(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str, str]]:
    return set(
        con.execute("SELECT DISTINCT subject_resident_id, subject_type, rule_id FROM indicator_facts").fetchall()
    )


JUMIN = [
    _person("40000001", "H1", "1990/01/01", "女", "世帯主"),
    _person("40000002", "H1", "2025/03/01", "男", "子"),  # born 45 days before the due date of the notice below
    _person("40000011", "H2", "1995/06/01", "女", "世帯主"),
    _person("40000012", "H2", "2025/03/01", "女", "子"),  # born 46 days before the due date: not that pregnancy
    _person("40000021", "H3", "2005/03/02", "女", "世帯主"),
    _person("40000022", "H3", "2025/03/01", "男", "子"),  # mother 19 at the birth (her birthday is the next day)
    _person("40000031", "H4", "2005/03/01", "女", "世帯主"),
    _person("40000032", "H4", "2025/03/01", "男", "子"),  # mother exactly 20 at the birth
    _person("40000041", "H5", "2008/01/01", "女", "世帯主"),  # expectant, 18 at T
    _person("40000051", "H6", "1985/01/01", "女", "世帯主"),
    _person("40000052", "H6", "2015/05/05", "男", "子"),  # public assistance and allowance
    _person("40000061", "H7", "1985/01/01", "女", "世帯主"),
    _person("40000062", "H7", "2015/05/05", "男", "子"),  # assistance ended on T, allowance stopped
    _person("40000071", "H8", "1992/01/01", "女", "世帯主"),
    _person("40000072", "H8", "2026/01/10", "女", "子"),  # under 1
    _person("40000073", "H8", "2025/11/26", "男", "子"),  # turns 1 on T: too old for R12–R14
    _person("40000081", "H9", "1993/01/01", "女", "世帯主"),
    _person("40000082", "H9", "2026/05/01", "男", "子"),  # R13 alone
    _person("40000091", "H10", "1994/01/01", "女", "世帯主"),
    _person("40000092", "H10", "2026/05/01", "男", "子"),  # EPDS 20, one day before the 12-month window
    _person("40000101", "H11", "1990/01/01", "女", "世帯主"),
    _person("40000102", "H11", "2022/11/26", "男", "子"),  # turns 4 on T: too old for R05
]
NOTICES = [
    _notice("40000001", "2024/08/01", 20, "2025/04/15", "困った", "無", "無"),  # R05 (20 weeks), R08, R09
    _notice("40000011", "2024/08/01", 25, "2025/04/16", "困った", "無", "無"),  # 46 days: no pregnancy of the child
    _notice("40000041", "2026/09/01", 19, "2027/03/01", "うれしい", "有", "有"),  # 19 weeks; R11 by history
    _notice("40000101", "2022/06/01", 30, "2022/12/01", "わからない", "無", "無"),  # child is 4 at T
]
VISITS = [  # 住民コード,受診年月日,受診回 — H1: 3 visits inside notified_on … due + 45 days → R06
    ["40000001", "2024/08/10", "1"],
    ["40000001", "2024/12/01", "2"],
    ["40000001", "2025/05/30", "3"],  # due date + 45 days, inclusive
    ["40000001", "2024/07/31", "4"],  # the day before the notice: not counted
]
POSTPARTUM = [
    _postpartum("40000071", "40000072", "2025/11/26", 9, 1, 5, "無"),  # T − 12 months exactly: R12, R13, R14, R09
    _postpartum("40000071", "40000073", "2025/12/01", 3, 0, 0, "有"),
    _postpartum("40000081", "40000082", "2026/06/01", 3, 1, 0, "有"),  # R13 only
    _postpartum("40000091", "40000092", "2025/11/25", 20, 0, 0, "有"),  # a day too old
]
ASSISTANCE = [["H6", "2020/01/01", ""], ["H7", "2020/01/01", "2026/11/26"]]  # 世帯コード,開始日,廃止日
ALLOWANCE = [["40000051", "2021/01/01", "全部支給"], ["40000061", "2021/01/01", "全部停止"]]


def _town_db(tmp_path: Path, town: TownConfig) -> duckdb.DuckDBPyConnection:
    files = {"jumin": JUMIN, "ninshin_todoke": NOTICES, "ninpu_kenshin": VISITS, "sango_shitsumon": POSTPARTUM,
             "seikatsu_hogo": ASSISTANCE, "jido_fuyo": ALLOWANCE}  # fmt: skip
    return ingest_rows(tmp_path, town, files, T)


def test_mother_and_pregnancy_rules_on_their_boundaries(tmp_path: Path, towns) -> None:
    con = _town_db(tmp_path, towns["misato"])
    judge(con, towns["misato"], T)
    child = "child"
    assert _hits(con) == {
        ("40000002", child, "R05"), ("40000002", child, "R06"), ("40000002", child, "R08"), ("40000002", child, "R09"),
        ("40000022", child, "R07"),
        ("40000041", "expectant_mother", "R07"), ("40000041", "expectant_mother", "R11"),
        ("40000052", child, "R10"),
        ("40000072", child, "R12"), ("40000072", child, "R13"), ("40000072", child, "R14"), ("40000072", child, "R09"),
        ("40000082", child, "R13"),
    }  # fmt: skip
    visits = con.execute("SELECT count(*) FROM indicator_facts WHERE rule_id = 'R06' AND feed = 'ninpu_kenshin'")
    assert visits.fetchall()[0][0] == 3


def test_scores_levels_and_the_r13_override(tmp_path: Path, towns) -> None:
    con = _town_db(tmp_path, towns["misato"])
    judge(con, towns["misato"], T)
    alerts = {
        (row[0], row[1]): row[2:]
        for row in con.execute("SELECT subject_resident_id, type_code, level, score, indicators FROM alerts").fetchall()
    }
    assert alerts[("40000002", "AB")] == ("A", 8, "R05;R06;R08;R09")  # 3 + 2 + 2 + 1
    assert alerts[("40000002", "PP")] == ("C", 4, "R09;R05;R08")  # 2 + 1 + 1, ties by rule ID
    assert alerts[("40000082", "PP")] == ("A", 0, "R13")  # an alert on R13 alone, level A whatever the score
    assert alerts[("40000072", "PP")] == ("A", 8, "R12;R09;R14;R13")  # 4 + 2 + 2 (+ R13)
    assert alerts[("40000041", "AB")] == ("C", 4, "R07;R11")
    assert ("40000052", "AB") not in alerts  # R10: two sources, 2 points — below C
    assert {key for key in alerts if key[0] == "40000082"} == {("40000082", "PP")}


def test_economic_sources_count_one_each_up_to_the_cap_and_an_override_changes_it(tmp_path: Path, towns) -> None:
    town = towns["misato"]
    con = _town_db(tmp_path, town)
    judge(con, town, T)
    facts = "SELECT sum(points_ab) FROM (SELECT DISTINCT hit, points_ab FROM indicator_facts WHERE rule_id = 'R10')"
    assert con.execute(facts).fetchall()[0][0] == 2
    judge(con, town, T, {"R10": {"params": {"cap": 1}}})
    assert con.execute(facts).fetchall()[0][0] == 1
    version = con.execute("SELECT DISTINCT version FROM rule_set").fetchall()
    assert len(version) == 1 and version[0][0].startswith("v1+")


def test_a_fact_dated_after_t_is_ignored(tmp_path: Path, towns) -> None:
    """Validation already refuses a row dated after its extract and snapshots extracted after T are never read;
    the rules still check each fact's own date. Here a questionnaire row is moved to T + 1 behind validation's
    back: R13 must not fire on it."""
    town = towns["misato"]
    con = _town_db(tmp_path, town)
    judge(con, town, T)
    assert ("40000082", "child", "R13") in _hits(con)
    con.execute(
        "UPDATE valid_sango_shitsumon SET assessed_on = ? WHERE mother_resident_id = '40000081'",
        [T + dt.timedelta(days=1)],
    )
    judge(con, town, T)
    assert ("40000082", "child", "R13") not in _hits(con)


def test_a_snapshot_extracted_after_t_is_not_read(tmp_path: Path, towns) -> None:
    town = towns["misato"]
    con = _town_db(tmp_path, town)
    judge(con, town, T - dt.timedelta(days=1))
    assert _hits(con) == set() and con.execute("SELECT count(*) FROM subjects").fetchall()[0][0] == 0


def test_rules_without_their_feed_are_not_linked_per_town(tmp_path: Path, towns) -> None:
    # The town-level view (per run, a feed without any file in force unlinks its rules too: test_column_gaps.py).
    found = {}
    for name in ("kawashima", "misato"):
        linked = linked_rules(apply_overrides(towns[name].path, {}), towns[name], load_feeds())
        found[name] = {rule_id for rule_id, ok in linked.items() if not ok}
    # kawashima exports no postpartum questionnaire, no feeling/confidant columns and no parenting-anxiety column;
    # misato has no nursery feed and no certificate feed
    assert found == {"kawashima": {"R08", "R09", "R12", "R13", "R14", "R15"}, "misato": {"R16", "R22"}}


def _alert_state(con: duckdb.DuckDBPyConnection, subject: str, code: str) -> tuple:
    return con.execute(
        "SELECT alert_id, change, suppressed, score FROM alerts WHERE subject_resident_id = ? AND type_code = ?",
        [subject, code],
    ).fetchall()[0]


def test_change_suppression_and_its_lifting_across_runs(tmp_path: Path, towns) -> None:
    town = towns["misato"]
    con = _town_db(tmp_path, town)
    judge(con, town, T)
    first_id, change, suppressed, _ = _alert_state(con, "40000002", "AB")
    assert (change, suppressed) == ("新規", False)
    con.close()

    # A month later the meeting has decided 対応不要; nothing else changed.
    t2 = dt.date(2026, 12, 26)
    con = ingest_rows(tmp_path, town, {"jumin": JUMIN, "taio_kekka": [[first_id, "2026/12/10", "対応不要"]]}, t2)
    judge(con, town, t2)
    assert _alert_state(con, "40000002", "AB") == (first_id, "継続", True, 8)
    assert _alert_state(con, "40000002", "PP")[1:3] == ("継続", False)  # the decision was about the other type
    con.close()

    # A new abuse consultation: the score rises, the suppression lifts, the alert returns as 上昇.
    t3 = dt.date(2027, 1, 26)
    soudan = [["K1", "40000002", "2027/01/20", "虐待", "心理的", "継続", "無"]]
    con = ingest_rows(tmp_path, town, {"jumin": JUMIN, "jido_soudan": soudan}, t3)
    judge(con, town, t3)
    assert _alert_state(con, "40000002", "AB") == (first_id, "上昇", False, 12)
    history = con.execute("SELECT count(DISTINCT as_of) FROM alert_history WHERE alert_id = ?", [first_id])
    assert history.fetchall()[0][0] == 3


def test_alert_ids_come_from_the_towns_key_so_a_rebuilt_database_gives_the_same_ones(tmp_path: Path, towns) -> None:
    town = towns["misato"]
    ids = []
    for attempt, key_root in enumerate((tmp_path / "root", tmp_path / "root", tmp_path / "other")):
        con = _town_db(tmp_path / f"db{attempt}", town)
        judge(con, town, T, key=load_key(town.town, key_root))
        ids.append(sorted(row[0] for row in con.execute("SELECT alert_id FROM alerts").fetchall()))
        con.close()
    assert ids[0] == ids[1] and not set(ids[0]) & set(ids[2])
    assert all(alert_id.startswith("AL-") and len(alert_id) == 15 for alert_id in ids[0])
