"""Leak guard: a clean night passes; a name logged, a kana printed or an ID put in metadata fails the check,
which reports counts and kinds only; the scan finds every export form and keeps up with a million residents."""

# No `from __future__ import annotations` here: Dagster inspects the planted asset's context annotation.

import datetime as dt
import json
import time
from pathlib import Path

import duckdb
import jaconv
import pandas as pd
import pytest
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    DagsterInstance,
    Definitions,
    MaterializeResult,
    asset,
    define_asset_job,
    in_process_executor,
)

from kodomo_pipeline.config import load_towns
from kodomo_pipeline.generator import generate_town
from kodomo_pipeline.layout.wareki import format_wareki_date
from kodomo_pipeline.orchestration.feed_assets import build_feed_assets
from kodomo_pipeline.orchestration.instance import prepare_dagster_home
from kodomo_pipeline.orchestration.linkage_assets import build_linkage_assets
from kodomo_pipeline.orchestration.model_assets import build_model_asset
from kodomo_pipeline.orchestration.quality_assets import (
    GX_CHECK,
    LEAK_CHECK,
    LEAK_GUARD,
    build_leak_guard_asset,
    build_quality_checks,
)
from kodomo_pipeline.orchestration.resource import KodomoResource
from kodomo_pipeline.orchestration.town_jobs import run_config_for
from kodomo_pipeline.privacy.services.leak_guard import date_candidates, scan
from kodomo_pipeline.sqlmodels.project import load_models
from kodomo_pipeline.storage import feed_tables as tables

ASOF = dt.date(2026, 11, 26)
POPULATION = 800
TOWN = "kawashima"
PLANTED_KEY = AssetKey([TOWN, "planted_leak"])


def _victim(truth: Path, inbox: Path) -> dict[str, str]:
    """Registry residents of the generated town, in the forms a careless log line would carry: one person's
    name, kana, ID, birth date and address (as exported), and the town's shortest name (2–5 characters)."""
    people = pd.read_csv(truth / "persons.csv", dtype=str, keep_default_na=False)
    residents = people[(people["resident_id"] != "") & (people["status"] == "住民")]
    person = residents.iloc[3]
    born = dt.date.fromisoformat(person["birth_date"])
    jumin = load_towns()[TOWN].feeds["jumin"]
    export = pd.read_csv(next(inbox.glob("jumin_*.csv")), dtype=str, encoding=jumin.layout.encoding)
    lengths = residents["name_kanji"].str.replace("\u3000", "").str.len()
    return {
        "name": person["name_kanji"],
        "halfwidth_kana": jaconv.z2h(person["name_kana"], kana=True, ascii=False, digit=False).replace("\u3000", " "),
        "resident_id": person["resident_id"],
        "wareki_birth": format_wareki_date(born, True),
        "address": export.loc[export["宛名番号"] == person["resident_id"], "住所"].iloc[0],
        "short_name": residents.loc[lengths.idxmin(), "name_kanji"],
    }


def _planted_asset(victim: dict[str, str]):
    @asset(key=PLANTED_KEY, group_name=TOWN)
    def planted_leak(context: AssetExecutionContext) -> MaterializeResult:
        context.log.info(f"row 12 rejected: {victim['name']}")  # event log
        context.log.warning(f"address check failed for {victim['address']}")
        context.log.info(f"duplicate: {victim['short_name']}")  # a 2-character name, whole field
        print(f"debug: {victim['halfwidth_kana']} born {victim['wareki_birth']}")  # compute log (stdout)
        return MaterializeResult(metadata={"checked": victim["resident_id"]})  # metadata

    return planted_leak


@pytest.fixture(scope="module")
def town_run(tmp_path_factory: pytest.TempPathFactory):
    """A generated town, its definitions with the leak guard and a planted leaking asset, and an instance."""
    root = tmp_path_factory.mktemp("leak") / "data"
    town = load_towns()[TOWN]
    generate_town(town, town.inbox(root), root / "truth" / TOWN, ASOF, POPULATION, seed=11)
    victim = _victim(root / "truth" / TOWN, town.inbox(root))
    registry = [build_model_asset(town, m, has_crosswalk=True) for m in load_models().values() if m.layer == "registry"]
    town_assets = build_feed_assets(town) + registry + build_linkage_assets(town)
    planted = _planted_asset(victim)
    guard = build_leak_guard_asset(town, [*town_assets, planted])
    guard_key = AssetKey([TOWN, LEAK_GUARD])
    clean = define_asset_job(
        "clean_night",
        selection=AssetSelection.groups(TOWN) - AssetSelection.assets(PLANTED_KEY),
        executor_def=in_process_executor,
    )
    leaky = define_asset_job(
        "leaky_night", selection=AssetSelection.assets(PLANTED_KEY, guard_key), executor_def=in_process_executor
    )
    defs = Definitions(
        assets=[*town_assets, planted, guard],
        asset_checks=build_quality_checks(town),
        jobs=[clean, leaky],
        resources={"kodomo": KodomoResource(home=str(root))},
    )
    patch = pytest.MonkeyPatch()
    patch.delenv("DAGSTER_HOME", raising=False)
    patch.setenv("DAGSTER_HOME", str(prepare_dagster_home(root)))
    try:
        with DagsterInstance.get() as instance:
            yield defs, instance, root, victim
    finally:
        patch.undo()


def _run(defs: Definitions, instance: DagsterInstance, job: str, root: Path):
    return defs.resolve_job_def(job).execute_in_process(
        run_config=run_config_for(root, asof=ASOF.isoformat()), instance=instance, raise_on_error=False
    )


def _evaluations(result) -> list:
    return [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]


def test_a_clean_night_passes_with_every_check_run(town_run) -> None:
    defs, instance, root, _ = town_run
    result = _run(defs, instance, "clean_night", root)
    assert result.success
    evaluations = _evaluations(result)
    [guard] = [e for e in evaluations if e.check_name == LEAK_CHECK]
    metadata = {key: value.value for key, value in guard.metadata.items()}
    assert guard.passed, metadata["found_by_place_and_kind"]
    assert metadata["leaks_found"] == 0
    looked_for = metadata["personal_values_looked_for"]
    assert looked_for["name"] > 200 and looked_for["identifier"] > 200 and looked_for["birth_date"] > 200
    assert metadata["texts_scanned"] > 100  # the whole night's event log was read
    gx_checked = {e.asset_key.path[1] for e in evaluations if e.check_name == GX_CHECK}
    assert gx_checked == {f"raw_{feed}" for feed in load_towns()[TOWN].feeds}


def test_a_planted_leak_fails_the_check_naming_kinds_and_counts_only(town_run) -> None:
    defs, instance, root, victim = town_run
    result = _run(defs, instance, "leaky_night", root)
    assert not result.success  # the blocking check fails the run: `kodomo run` exits 1
    [guard] = [e for e in _evaluations(result) if e.check_name == LEAK_CHECK]
    assert not guard.passed and guard.severity.value == "ERROR"
    metadata = {key: value.value for key, value in guard.metadata.items()}
    found = metadata["found_by_place_and_kind"]
    assert found["event_log"]["name"] >= 2  # context.log.info: the name and the short name
    assert found["event_log"]["address"] >= 1  # context.log.warning
    assert found["event_log"]["identifier"] >= 1  # materialization metadata
    assert found["compute_logs"]["kana"] >= 1  # print() of the half-width export form
    assert found["compute_logs"]["birth_date"] >= 1  # the 和暦 birth date
    assert metadata["leaks_found"] >= 6

    # What the guard itself wrote (its metadata and its error line) holds none of the values.
    written = [json.dumps(metadata, ensure_ascii=False, default=str)]
    written += [r.user_message for r in instance.all_logs(result.run_id) if r.step_key and LEAK_GUARD in r.step_key]
    assert any("counts by kind" in text for text in written)
    for value in victim.values():
        assert not any(value in text for text in written)


def test_every_export_form_is_found(town_run) -> None:
    _, _, root, victim = town_run
    town = load_towns()[TOWN]
    kana = victim["halfwidth_kana"]
    texts = {
        "hiragana": [f"氏名: {jaconv.kata2hira(jaconv.h2z(kana))}"],
        "fullwidth_id": [f"id＝{jaconv.h2z(victim['resident_id'], digit=True)}"],
        "name_in_sentence": [f"この人{victim['name'].replace(chr(0x3000), '')}さんです"],
        "operational": [f"as_of {ASOF.isoformat()} file jumin_{ASOF:%Y%m%d}.csv took 1764161585.123 s"],
    }
    with duckdb.connect(str(town.database(root)), read_only=True) as con:
        report = scan(con, town, ASOF, texts)
    assert report.found.get("hiragana", {}).get("kana") == 1
    assert report.found.get("fullwidth_id", {}).get("identifier") == 1
    assert report.found.get("name_in_sentence", {}).get("name") == 1
    assert "operational" not in report.found  # T, extract dates and timestamps are not leaks


def test_short_names_match_as_whole_fields_only(tmp_path: Path) -> None:
    """A 2-character name (林　薫) is found where it is a field of its own, never inside ordinary text."""
    from tests.conftest import K_JUMIN_ROW, ingest_rows

    town = load_towns()[TOWN]
    short = [*K_JUMIN_ROW[:2], "林　薫", "ﾊﾔｼ ｶｵﾙ", *K_JUMIN_ROW[4:]]
    short[0] = "0000012346"
    con = ingest_rows(tmp_path, town, {"jumin": [K_JUMIN_ROW, short]}, dt.date(2026, 11, 1))
    texts = {
        "whole": ["row 2 rejected: 林薫", '{"name": "林 薫", "row": 2}', "氏名「林　薫」"],
        "kana": ["カナ=はやしかおる"],
        "ordinary": ["小林薫子さんの件", "この人林薫さんです", "林市で薫風", "林 / 薫"],
    }
    report = scan(con, town, dt.date(2026, 11, 1), texts)
    assert report.found == {"whole": {"name": 3}, "kana": {"kana": 1}}, report.found


def test_date_shapes_become_iso_dates() -> None:
    found = date_candidates("生 H01.02.03 / 平成元年2月3日 / 1989/2/3 / 1989年2月3日 / 1989-02-03 / S64.02.03")
    assert "1989-02-03" in found and "H01.02.03" in found
    assert not any(value.startswith("1989-01") for value in found)  # S64.02.03 does not exist


def test_a_million_residents_are_scanned_in_seconds() -> None:
    """Values from a 1,000,000-person registry (as stored and as exported) against ~4 MB of logs."""
    town = load_towns()[TOWN]
    con = duckdb.connect(":memory:")
    tables.ensure_bookkeeping(con)
    tables.ensure_feed_tables(con, town.feeds["jumin"].spec)
    people = 1_000_000
    con.execute(
        "INSERT INTO ingested_files VALUES ('s1', 'jumin', 'jumin_20261126.csv', DATE '2026-11-26', 1, now(), "
        "'r', ?, ?, 0, [], [], 'archive')",
        [people, people],
    )
    surnames = "['佐藤','鈴木','高橋','田中','伊藤','渡辺','山本','中村','小林','加藤']"
    given = "['太郎','花子','大翔','陽葵','蓮','結菜','湊','凛','樹','美咲']"
    con.execute(
        f"""INSERT INTO valid_jumin (_sha256, _file, _extract_date, _row, resident_id, household_id, name_kanji,
                name_kana, birth_date, sex, relationship, address, resident_since, status)
            SELECT 's1', 'f', DATE '2026-11-26', i, lpad(CAST(i * 7919 % 10000000000 AS VARCHAR), 10, '0'),
                   lpad(CAST(i // 3 AS VARCHAR), 10, '0'),
                   {surnames}[1 + i % 10] || '\u3000' || {given}[1 + (i // 10) % 10]
                       || chr(CAST(12354 + (i // 100) % 80 AS INTEGER)),
                   'ア' || chr(CAST(12450 + i % 80 AS INTEGER)) || chr(CAST(12450 + (i // 80) % 80 AS INTEGER))
                       || '\u3000' || chr(CAST(12450 + (i // 6400) % 80 AS INTEGER)) || 'コ',
                   DATE '1930-01-01' + CAST(i % 34000 AS INTEGER), '男', '子',
                   '比企郡川島町大字' || CAST(i % 5000 AS VARCHAR) || '番地' || CAST(i // 5000 AS VARCHAR),
                   DATE '2000-01-01', '住民'
            FROM range({people}) t(i)"""
    )
    con.execute(
        """INSERT INTO raw_jumin (_sha256, _file, _extract_date, _row, name_kana, birth_date)
           SELECT _sha256, _file, _extract_date, _row, name_kana, 'S45.01.01' FROM valid_jumin"""
    )
    name = con.execute("SELECT name_kanji FROM valid_jumin WHERE _row = 654321").fetchall()[0][0]
    line = '{"message": "valid_jumin: 1234 rows read (%d)", "meta": "dropped_columns: 本籍 住民基本台帳", "ts": %d.5}'
    logs = "\n".join(line % (i, 1764161585 + i) for i in range(40_000)) + f"\nrow 9: {name}"
    started = time.perf_counter()
    report = scan(con, town, ASOF, {"event_log": [logs]})
    seconds = time.perf_counter() - started
    assert report.found == {"event_log": {"name": 1}}
    assert report.values_by_kind["identifier"] > 900_000
    assert seconds < 30, f"{seconds:.1f} s for a million residents"
