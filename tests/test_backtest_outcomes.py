"""Every outcome definition of rules/outcomes_v1.yaml read by the backtest, on hand-made histories.

tests/test_backtest.py covers the abuse decisions and consultations, the 要対協 registration and EPDS ≥ 9;
here the rest: EPDS item 10 and a pregnancy notice with psychiatric history (misato), 療育 and 精神
certificates (kawashima), and a pupil first seen in a 特別支援学級 (through the 名寄せ crosswalk, on a
generated kawashima history). Each event falls in (T, T + 1M] of the first replay date.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from kodomo_pipeline.backtest.engine import run_backtest
from kodomo_pipeline.backtest.outcomes import load_outcomes
from kodomo_pipeline.generator.history import generate_history, month_dates
from kodomo_pipeline.layout.values import decode_column
from kodomo_pipeline.privacy.services.pseudonym import load_key
from tests.conftest import K_JUMIN_ROW, ingest_rows, write_export
from tests.test_backtest import FEB, JAN, JUMIN, M1, M2, M3, MAR, A, B, C

# Outcome definitions each test below exercises (the rest: tests/test_backtest.py).
COVERED_ELSEWHERE = {"yotaikyo_decision", "abuse_consultation", "yotaikyo_registration", "epds_high",
                     "disability_consultation"}  # fmt: skip


def _outcomes(result, key, *ids: str) -> set[tuple]:
    who = {key.pseudonym(rid): rid for rid in ids}
    return {
        (who[row.subject_key], row.subject_type, row.difficulty_type, row.outcome_date, row.source)
        for row in result.outcomes.itertuples()
    }


def test_epds_self_harm_and_psychiatric_history_in_misato(home: Path, towns, tmp_path: Path) -> None:
    town = towns["misato"]
    key = load_key(town.town, home)
    inbox = tmp_path / "history"
    # 母住民コード,児住民コード,実施日,EPDS合計点,EPDS項目10,赤ちゃんへの気持ち質問票合計点,支援者
    sango = [[M2, B, "2026/01/10", "6", "1", "1", "有"]]  # item 10 only: not EPDS ≥ 9
    # 住民コード,届出年月日,妊娠週数,出産予定日,初産,妊娠の受け止め,相談相手,経済的不安,精神科受診歴
    notice = [[M1, "2026/01/12", "11", "2026/08/05", "無", "うれしい", "有", "無", "有"]]
    for day in (JAN, FEB, MAR):
        stamp = f"{day:%Y%m%d}"
        write_export(inbox / f"jumin_{stamp}.csv", town.feeds["jumin"], JUMIN)
        write_export(inbox / f"sango_shitsumon_{stamp}.csv", town.feeds["sango_shitsumon"], sango if day > JAN else [])
        write_export(inbox / f"ninshin_todoke_{stamp}.csv", town.feeds["ninshin_todoke"], notice if day > JAN else [])
    result = run_backtest(town, home, JAN, FEB, "1M", "1M", inbox=inbox, out=tmp_path / "out")
    got = _outcomes(result, key, M1, A, M2, B, C, M3)
    assert (B, "child", "産後うつ", dt.date(2026, 1, 10), "epds_self_harm") in got
    assert (A, "child", "産後うつ", dt.date(2026, 1, 12), "psychiatric_history") in got  # M1's child
    assert {row[4] for row in got} == {"epds_self_harm", "psychiatric_history"}, got


def _k_person(rid: str, household: str, name: str, born: str, sex: str, relation: str) -> list[str]:
    row = list(K_JUMIN_ROW)
    row[0], row[1], row[2], row[4], row[5], row[6], row[8] = rid, household, name, born, sex, relation, born
    return row


def test_ryoiku_and_mental_certificates_in_kawashima(home: Path, towns, tmp_path: Path) -> None:
    town = towns["kawashima"]
    key = load_key(town.town, home)
    mother, child = "0000020001", "0000020002"
    jumin = [
        _k_person(mother, "300001", "小川　美和", "H02.03.04", "2", "世帯主"),
        _k_person(child, "300001", "小川　湊", "R02.05.06", "1", "子"),
    ]
    # 宛名番号,手帳種別,等級,交付日
    techo = [[child, "療育", "B", "R08.01.15"], [mother, "精神", "2", "R08.01.20"]]
    inbox = tmp_path / "history"
    for day in (JAN, FEB, MAR):
        stamp = f"{day:%Y%m%d}"
        write_export(inbox / f"jumin_{stamp}.csv", town.feeds["jumin"], jumin)
        write_export(inbox / f"shogai_techo_{stamp}.csv", town.feeds["shogai_techo"], techo if day > JAN else [])
    result = run_backtest(town, home, JAN, FEB, "1M", "1M", inbox=inbox, out=tmp_path / "out")
    got = _outcomes(result, key, mother, child)
    assert (child, "child", "発達障がい", dt.date(2026, 1, 15), "ryoiku_techo") in got
    assert (child, "child", "産後うつ", dt.date(2026, 1, 20), "mental_certificate") in got  # the mother's
    assert {row[4] for row in got} == {"ryoiku_techo", "mental_certificate"}, got


def test_every_outcome_definition_is_exercised_somewhere() -> None:
    """A new outcome definition in rules/outcomes_v1.yaml needs a test here (or in tests/test_backtest.py)."""
    here = Path(__file__).read_text(encoding="utf-8")
    defined = {name for events in load_outcomes().outcomes.values() for name in events}
    untested = {name for name in defined - COVERED_ELSEWHERE if f'"{name}"' not in here}
    assert not untested, sorted(untested)
    assert defined >= COVERED_ELSEWHERE
    assert all(f'"{name}")' in Path(__file__).with_name("test_backtest.py").read_text("utf-8")
               for name in COVERED_ELSEWHERE)  # fmt: skip


def _rows(path: Path, town, feed: str) -> pd.DataFrame:
    """An export file decoded to canonical columns by the town's layout (as the pipeline reads it)."""
    layout = town.feeds[feed]
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=layout.layout.encoding)
    columns = layout.header_to_canonical.items()
    frame = pd.DataFrame({column: decode_column(raw[header], column, layout).values for header, column in columns})
    # Who, for the test's own truth: the name without spaces and the birth date.
    frame["who"] = frame["name_kanji"].str.replace("\u3000", "").str.replace(" ", "") + frame["birth_date"].astype(str)
    return frame


@pytest.mark.slow
def test_a_pupil_first_seen_in_tokubetsu_shien_is_an_outcome_through_the_crosswalk(
    home: Path, towns, tmp_path: Path
) -> None:
    """A generated kawashima history in which one pupil moves into a 特別支援学級 in the second month: that
    pupil's resident (found here by exact name and birth date in the registry) is the one outcome, dated by
    the snapshot that first shows it; pupils already there in the first snapshot are not outcomes."""
    town = towns["kawashima"]
    key = load_key(town.town, home)
    inbox = tmp_path / "inbox"
    dates = month_dates(dt.date(2024, 2, 29), dt.date(2024, 5, 31))
    generate_history(town, inbox, tmp_path / "truth", dates, 3000, 4, key)
    first = _rows(inbox / f"gakko_meibo_{dates[0]:%Y%m%d}.csv", town, "gakko_meibo")
    jumin = _rows(inbox / f"jumin_{dates[0]:%Y%m%d}.csv", town, "jumin")
    unique = jumin.drop_duplicates("who", keep=False).set_index("who")["resident_id"]
    candidates = first[~first["tokubetsu_shien"].astype(bool) & first["who"].isin(unique.index)]
    pupil = candidates.iloc[0]
    for day in dates[1:]:  # from the second month on, the school lists the pupil in a 特別支援学級
        path = inbox / f"gakko_meibo_{day:%Y%m%d}.csv"
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        raw.loc[raw["児童生徒番号"] == pupil["student_no"], "特別支援学級"] = "有"
        raw.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    result = run_backtest(town, home, dates[0], dates[0], "1M", "3M", inbox=inbox, write=False)
    shien = result.outcomes[result.outcomes["source"] == "tokubetsu_shien"]
    got = {(row.subject_key, row.difficulty_type, row.outcome_date) for row in shien.itertuples()}
    assert got == {(key.pseudonym(unique[pupil["who"]]), "発達障がい", dates[1])}


def test_linkage_inputs_on_29_february(tmp_path: Path, towns) -> None:
    """A nightly run or replay on a leap day: the 19-years-earlier cut-off is 28 February (it used to raise)."""
    from kodomo_pipeline.linkage.inputs import build_link_persons

    leap = dt.date(2024, 2, 29)
    child = _k_person("0000020002", "200001", "髙橋　湊", "H17.02.28", "1", "子")  # 19 the day before T
    younger = _k_person("0000020003", "200001", "髙橋　凛", "H18.03.01", "2", "子")
    con = ingest_rows(tmp_path, towns["kawashima"], {"jumin": [K_JUMIN_ROW, child, younger]}, leap)
    persons = build_link_persons(con, leap)
    assert set(persons["resident_id"]) == {"0000020003"}
