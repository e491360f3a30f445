"""効果検証 (backtest): no leakage from after T, outcomes read right, two rule sets in one run, the CLI and asset.

A tiny hand-made misato history (three monthly snapshots, written in the town's layout) whose answer is known;
misato without nursery or school files has no 名寄せ to train, so these run in seconds. The 名寄せ reuse is
checked on a small generated kawashima town: scores from the reused model equal those of a fresh training.
Assertions compare pseudonyms and counts; no personal value is printed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from kodomo_pipeline.backtest.engine import Period, as_of_dates, read_result, run_backtest
from kodomo_pipeline.backtest.outcomes import load_outcomes
from kodomo_pipeline.config.errors import ConfigError
from kodomo_pipeline.privacy.services.pseudonym import load_key
from tests.conftest import write_export

JAN, FEB, MAR = dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)
M1, A, M2, B, C, M3 = "40000001", "40000002", "40000011", "40000012", "40000022", "40000021"


def _person(rid: str, household: str, born: str, sex: str, relation: str) -> list[str]:
    return [rid, household, "川上　陽子", "カワカミ　ヨウコ", born, sex, relation, "美里町甘粕2", born, "住民", ""]


JUMIN = [
    _person(M1, "H1", "1990/01/01", "女", "世帯主"),
    _person(A, "H1", "2020/05/01", "男", "子"),
    _person(M2, "H2", "1992/01/01", "女", "世帯主"),
    _person(B, "H2", "2025/06/01", "女", "子"),
    _person(M3, "H3", "1985/01/01", "女", "世帯主"),
    _person(C, "H3", "2018/04/01", "男", "子"),
]
# 記録番号,住民コード,受付年月日,相談区分,虐待の種類,状況,要対協
CASE_A_OLD = ["S1", A, "2025/06/01", "虐待", "ネグレクト", "継続", "無"]  # R01 for A at every T
CASE_C_OLD = ["S2", C, "2025/12/01", "虐待", "心理的", "継続", "有"]  # before the first T; 要対協 from the start
CASE_A_NEW = ["S3", A, "2026/01/20", "虐待", "身体的", "継続", "無"]  # outcome (T1, T1 + 1M]
CASE_A_NEW_REGISTERED = ["S3", A, "2026/01/20", "虐待", "身体的", "継続", "有"]  # 要対協 first seen on 1 March
CASE_C_DISABILITY = ["S4", C, "2026/02/15", "障害", "", "継続", "無"]


def _write_history(inbox: Path, town, key, plant: bool = False) -> None:
    """Three monthly snapshots; with `plant`, facts only snapshots after 1 February know of."""
    feeds = town.feeds
    decisions = [
        [key.alert_id(A, "child", "AB"), "2026-01-15", "要対協登録"],
        [key.alert_id(C, "child", "DD"), "2026-01-25", "緊急対応"],  # an alert no replay raises: found by its HMAC
        [key.alert_id(B, "child", "PP"), "2026-01-26", "対応不要"],  # not an outcome
    ]
    months = {
        JAN: {"soudan": [CASE_A_OLD, CASE_C_OLD], "sango": [], "taio": []},
        FEB: {"soudan": [CASE_A_OLD, CASE_C_OLD, CASE_A_NEW], "sango": [], "taio": decisions[:1]},
        MAR: {
            "soudan": [CASE_A_OLD, CASE_C_OLD, CASE_A_NEW_REGISTERED, CASE_C_DISABILITY],
            # 母住民コード,児住民コード,実施日,EPDS合計点,EPDS項目10,赤ちゃんへの気持ち質問票合計点,支援者
            "sango": [[M2, B, "2026/02/10", "12", "0", "1", "有"]],
            "taio": decisions,
        },
    }
    if plant:  # B's abuse consultation: received before T2 but first exported after it, and one after T2
        months[MAR]["soudan"] = [*months[MAR]["soudan"], ["S9", B, "2026/02/20", "虐待", "身体的", "継続", "無"]]
        late = [*months[FEB]["soudan"], ["S8", B, "2026/01/28", "虐待", "身体的", "継続", "無"]]
        write_export(inbox / "jido_soudan_20260202.csv", feeds["jido_soudan"], late)
    for day, rows in months.items():
        stamp = f"{day:%Y%m%d}"
        write_export(inbox / f"jumin_{stamp}.csv", feeds["jumin"], JUMIN)
        write_export(inbox / f"jido_soudan_{stamp}.csv", feeds["jido_soudan"], rows["soudan"])
        write_export(inbox / f"sango_shitsumon_{stamp}.csv", feeds["sango_shitsumon"], rows["sango"])
        write_export(inbox / f"taio_kekka_{stamp}.csv", feeds["taio_kekka"], rows["taio"])


@pytest.fixture()
def misato_history(tmp_path: Path, home: Path, towns):
    town = towns["misato"]
    key = load_key(town.town, home)
    inbox = tmp_path / "history"
    _write_history(inbox, town, key)
    return town, key, inbox


def _keys(key, *ids: str) -> dict[str, str]:
    return {key.pseudonym(rid): rid for rid in ids}


def test_outcomes_are_read_right_on_a_hand_made_history(misato_history, home: Path, tmp_path: Path) -> None:
    town, key, inbox = misato_history
    result = run_backtest(town, home, JAN, FEB, "1M", "1M", inbox=inbox, out=tmp_path / "out")
    who = _keys(key, M1, A, M2, B, C, M3)
    got = {
        (who[row.subject_key], row.subject_type, row.difficulty_type, row.outcome_date, row.source)
        for row in result.outcomes.itertuples()
    }
    assert got == {
        (A, "child", "虐待", dt.date(2026, 1, 15), "yotaikyo_decision"),
        (A, "child", "虐待", dt.date(2026, 1, 20), "abuse_consultation"),
        (A, "child", "虐待", MAR, "yotaikyo_registration"),  # the snapshot that first shows it
        (C, "child", "虐待", dt.date(2026, 1, 25), "yotaikyo_decision"),
        (C, "child", "発達障がい", dt.date(2026, 2, 15), "disability_consultation"),
        (B, "child", "産後うつ", dt.date(2026, 2, 10), "epds_high"),  # the mother's EPDS, for her infant
    }
    # A's 虐待 alert (R01) at both dates; C is a known case (R02) with an old consultation.
    alerts = result.alerts.assign(who=result.alerts["subject_key"].map(who))
    a_ab = alerts[(alerts["who"] == A) & (alerts["difficulty_type"] == "虐待")]
    assert list(a_ab["as_of"]) == [JAN, FEB] and set(a_ab["indicators"]) == {"R01"}
    assert set(alerts.loc[alerts["who"] == C, "known_case"]) == {1}
    assert list(result.replays["children"]) == [3, 3]
    assert list(result.replays["horizon_complete"]) == [True, True]
    # The headline: A's alerts meet outcomes at both dates (at T2 1 March's registration), C's at T1 only.
    (headline,) = result.headline()["rule_sets"]
    abuse = headline["by_type"]["虐待"]
    assert (abuse["alerts_evaluated"], abuse["alerts_with_outcome"]) == (4, 3)
    # The files hold pseudonyms only, never a resident ID; they read back as they were written.
    for name in ("alerts.csv", "outcomes.csv", "replays.csv", "backtest.json"):
        text = (result.result_dir / name).read_text(encoding="utf-8-sig")
        assert not any(rid in text for rid in (M1, A, M2, B, C, M3)), name
    back = read_result(result.result_dir)
    assert len(back.alerts) == len(result.alerts) and len(back.outcomes) == len(result.outcomes)
    assert set(back.outcomes["source"]) == set(result.outcomes["source"])


def test_a_fact_or_snapshot_after_t_changes_nothing_at_t(towns, home: Path, tmp_path: Path) -> None:
    town = towns["misato"]
    key = load_key(town.town, home)
    clean, planted = tmp_path / "clean", tmp_path / "planted"
    _write_history(clean, town, key)
    _write_history(planted, town, key, plant=True)
    without = run_backtest(town, home, JAN, FEB, "1M", "1M", inbox=clean, write=False)
    with_plant = run_backtest(town, home, JAN, FEB, "1M", "1M", inbox=planted, write=False)
    columns = ["rule_set", "as_of", "subject_key", "subject_type", "difficulty_type", "level", "score", "indicators"]
    pd.testing.assert_frame_equal(
        without.alerts[columns].sort_values(columns).reset_index(drop=True),
        with_plant.alerts[columns].sort_values(columns).reset_index(drop=True),
    )
    # The plant is real: judged a day later, the late snapshot gives B an abuse alert (R01).
    later = run_backtest(town, home, dt.date(2026, 2, 2), dt.date(2026, 2, 2), "1M", "1M", inbox=planted, write=False)
    b = key.pseudonym(B)
    hit = later.alerts[(later.alerts["subject_key"] == b) & (later.alerts["difficulty_type"] == "虐待")]
    assert list(hit["indicators"]) == ["R01"]
    assert b not in set(with_plant.alerts.loc[with_plant.alerts["difficulty_type"] == "虐待", "subject_key"])


def test_two_rule_sets_in_one_run_through_the_cli(misato_history, home: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kodomo_pipeline.cli import main
    from kodomo_pipeline.config.paths import config_root

    town, key, inbox = misato_history
    base = (config_root() / "rules" / "risk_rules_v1.yaml").read_text(encoding="utf-8")
    strict = tmp_path / "rules_r01_heavy.yaml"
    strict.write_text(base.replace("points: {AB: 4},\n        params: {category: 虐待", "points: {AB: 8},\n"
                                   "        params: {category: 虐待"), encoding="utf-8")  # fmt: skip
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["backtest", "--town", "misato", "--from", "2026-01-01", "--to", "2026-02-01", "--horizon", "1M",
         "--rules", str(config_root() / "rules" / "risk_rules_v1.yaml"), "--rules", str(strict),
         "--inbox", str(inbox), "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not any(rid in result.output for rid in (A, B, C, M1, M2, M3))
    back = read_result(out / "backtest_misato_20260201")
    assert [r["name"] for r in back.rule_sets] == ["risk_rules_v1", "rules_r01_heavy"]
    a = key.pseudonym(A)
    levels = back.alerts[(back.alerts["subject_key"] == a) & (back.alerts["difficulty_type"] == "虐待")]
    assert dict(zip(levels["rule_set"] + "@" + levels["as_of"].astype(str), levels["level"], strict=True)) == {
        "risk_rules_v1@2026-01-01": "C", "risk_rules_v1@2026-02-01": "C",
        "rules_r01_heavy@2026-01-01": "A", "rules_r01_heavy@2026-02-01": "A",
    }  # fmt: skip
    assert sorted(back.replays["rule_set"]) == ["risk_rules_v1", "risk_rules_v1", "rules_r01_heavy", "rules_r01_heavy"]
    # The town's own database was never created or touched.
    assert not town.database(home).exists()


def test_backtest_asset_runs_on_demand_outside_the_nightly_group(misato_history, home: Path, tmp_path: Path) -> None:
    from dagster import materialize

    from kodomo_pipeline.orchestration.backtest_assets import build_backtest_assets, build_backtest_job
    from kodomo_pipeline.orchestration.resource import KodomoResource

    town, _, inbox = misato_history
    assets = build_backtest_assets(town)
    assert assets[0].group_names_by_key[assets[0].key] == "misato_backtest"
    assert build_backtest_job(town).name == "misato_backtest"
    config = {"from_date": "2026-01-01", "to_date": "2026-02-01", "horizon": "1M", "inbox": str(inbox),
              "out": str(tmp_path / "out")}  # fmt: skip
    run = materialize(
        assets,
        resources={"kodomo": KodomoResource(home=str(home))},
        run_config={"ops": {"misato__backtest": {"config": config}}},
    )
    assert run.success
    metadata = run.asset_materializations_for_node("misato__backtest")[0].metadata
    assert metadata["replays"].value == 2 and metadata["outcomes"].value == 6


def test_outcome_definitions_are_checked_naming_file_and_key(tmp_path: Path) -> None:
    assert set(load_outcomes().outcomes) == {"AB", "PP", "DD"}
    bad = tmp_path / "outcomes_bad.yaml"
    bad.write_text(
        "version: v1\noutcomes:\n  AB:\n    x:\n      name: x\n      feed: jido_soudan\n      kind: dated\n"
        "      date: received_on\n      person: resident_id\n      where: {category: [虐待ではない]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as error:
        load_outcomes(bad)
    assert error.value.path == bad.resolve() and error.value.key == "outcomes.AB.x.where.category"


def test_replay_dates_and_periods() -> None:
    assert as_of_dates(dt.date(2026, 1, 31), dt.date(2026, 4, 30), Period.parse("1M")) == [
        dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 3, 31), dt.date(2026, 4, 30)]  # fmt: skip
    assert Period.parse("6m").after(dt.date(2026, 8, 31)) == dt.date(2027, 2, 28)
    with pytest.raises(ValueError):
        Period.parse("six months")


def test_reused_linkage_model_scores_exactly_like_a_fresh_training(tmp_path: Path, towns) -> None:
    import duckdb

    from kodomo_pipeline.generator import generate_town
    from kodomo_pipeline.ingest.steps import TownPaths, ingest_raw, validate_feed
    from kodomo_pipeline.linkage.inputs import build_link_persons, build_link_records
    from kodomo_pipeline.linkage.model import score_pairs, splink_objects

    town, asof = towns["kawashima"], dt.date(2026, 6, 1)
    generate_town(town, tmp_path / "inbox", tmp_path / "truth", asof, 600, seed=3)
    con = duckdb.connect(str(tmp_path / "k.duckdb"))
    paths = TownPaths.for_town(town, tmp_path, tmp_path / "inbox")
    for feed in ("jumin", "toen", "gakko_meibo"):
        ingest_raw(con, town, feed, paths, "t", asof)
        validate_feed(con, town, feed, "t")
    persons, records = build_link_persons(con, asof), build_link_records(con, asof)
    fresh = score_pairs(con, persons, records)
    reused = score_pairs(con, persons, records, model_json=fresh.model_json)
    assert len(fresh.pairs) > 0 and not splink_objects(con)
    pd.testing.assert_frame_equal(fresh.pairs.reset_index(drop=True), reused.pairs.reset_index(drop=True))


def test_a_copy_of_the_town_database_is_replayed_and_the_town_database_is_left_alone(
    misato_history, home: Path, tmp_path: Path
) -> None:
    import hashlib

    import duckdb

    from kodomo_pipeline.ingest.inbox import list_snapshots
    from kodomo_pipeline.ingest.steps import TownPaths, ingest_raw, validate_feed

    town, _, inbox = misato_history
    database = town.database(home)
    database.parent.mkdir(parents=True, exist_ok=True)
    paths = TownPaths.for_town(town, home, inbox)
    with duckdb.connect(str(database)) as con:  # what three nightly runs would have ingested
        for day in sorted({snap.extract_date for snap in list_snapshots(inbox)}):
            for feed in ("jumin", "jido_soudan", "sango_shitsumon", "taio_kekka"):
                ingest_raw(con, town, feed, paths, f"night-{day}", day)
                validate_feed(con, town, feed, f"night-{day}")
    before = hashlib.sha256(database.read_bytes()).hexdigest()
    copied = run_backtest(town, home, JAN, FEB, "1M", "1M", write=False)
    from_inbox = run_backtest(town, home, JAN, FEB, "1M", "1M", inbox=inbox, write=False)
    assert hashlib.sha256(database.read_bytes()).hexdigest() == before
    columns = ["rule_set", "as_of", "subject_key", "difficulty_type", "level", "score", "indicators"]
    pd.testing.assert_frame_equal(copied.alerts[columns], from_inbox.alerts[columns])
    pd.testing.assert_frame_equal(copied.outcomes, from_inbox.outcomes)


def test_the_asset_without_dates_backtests_the_towns_own_history_whose_horizon_has_passed(home: Path, towns) -> None:
    from kodomo_pipeline.orchestration.backtest_assets import BacktestConfig, replay_window
    from kodomo_pipeline.storage.feed_tables import ensure_bookkeeping
    from kodomo_pipeline.storage.town_db import open_town_db

    town = towns["misato"]
    with pytest.raises(ValueError, match="ingested nothing"):
        replay_window(town, home, BacktestConfig())
    with open_town_db(town.database(home)) as con:
        ensure_bookkeeping(con)
        con.execute(
            "INSERT INTO ingested_files VALUES ('x', 'jumin', 'jumin_20261126.csv', DATE '2026-11-26', 1, now(), 'r',"
            " 1, 1, 0, [], [], 'a')"
        )
    assert replay_window(town, home, BacktestConfig()) == (dt.date(2024, 5, 26), dt.date(2026, 5, 26))
    named = BacktestConfig(from_date="2025-01-01", to_date="2025-06-30", horizon="3M")
    assert replay_window(town, home, named) == (dt.date(2025, 1, 1), dt.date(2025, 6, 30))
