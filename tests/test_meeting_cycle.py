"""The meeting cycle through `kodomo run`: print the list, decide on it, drop it back, the next night honours it.

One generated town is run at T1; its meeting list is filled in as staff would (a dropdown value, a kanji 和暦
date typed as text, a date Excel stored as a date, a 備考, an unknown 判定, a date after the file's date) and
dropped in the inbox as taio_kekka_<YYYYMMDD>.xlsx. Assertions compare IDs, counts and reason codes only.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from kodomo_pipeline.cli import main
from kodomo_pipeline.config import TownConfig, load_towns
from kodomo_pipeline.exports.meeting_xlsx import DECIDED_SHEET, LIST_SHEET, meeting_xlsx_name
from tests.conftest import generated_data_root

TOWN = "misato"
T1, T2, T3 = dt.date(2026, 11, 26), dt.date(2026, 11, 27), dt.date(2026, 11, 28)
POPULATION = 2500
NOTE = "母の実家に転居予定と聞いた（備考は取り込まれない）"
pytestmark = pytest.mark.slow


def _run(asof: dt.date) -> None:
    result = CliRunner().invoke(main, ["run", "--town", TOWN, "--asof", asof.isoformat()])
    assert result.exit_code == 0, result.output


def _exported_ids(town: TownConfig, root: Path, asof: dt.date) -> list[str]:
    with (town.output(root) / f"alerts_{asof:%Y%m%d}.csv").open(encoding="utf-8-sig", newline="") as handle:
        return [row["alert_id"] for row in csv.DictReader(handle)]


def _fill_in(list_path: Path, decisions: dict[str, tuple[object, str]], target: Path) -> None:
    """Type 検討日 and choose 判定 on the rows of the given alerts, as staff do in Excel; save under `target`."""
    book = load_workbook(list_path)
    sheet = book[LIST_SHEET]
    header = [cell.value for cell in sheet[1]]
    column = {name: header.index(name) + 1 for name in ("アラートID", "判定", "検討日", "備考")}
    for row in range(2, sheet.max_row + 1):
        alert_id = sheet.cell(row, column["アラートID"]).value
        if alert_id in decisions:
            reviewed_on, decision = decisions[alert_id]
            sheet.cell(row, column["検討日"]).value = reviewed_on
            sheet.cell(row, column["判定"]).value = decision
            sheet.cell(row, column["備考"]).value = NOTE
    book.save(target)


@pytest.fixture(scope="module")
def cycle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    with generated_data_root(tmp_path_factory, [TOWN], T1, POPULATION, seed=11) as root:
        town = load_towns()[TOWN]
        listed = _exported_ids(town, root, T1)
        assert len(listed) >= 6
        not_needed, watch, unknown, future = listed[:3], listed[3], listed[4], listed[5]
        decisions: dict[str, tuple[object, str]] = {
            not_needed[0]: ("令和8年11月27日", "対応不要"),  # kanji 和暦 typed as text
            not_needed[1]: (dt.datetime(2026, 11, 27), "対応不要"),  # a date cell, as Excel stores a typed date
            not_needed[2]: ("R8.11.27", "対応不要"),
            watch: ("2026/11/27", "見守り"),
            unknown: ("2026-11-27", "様子見"),  # not one of the allowed 判定
            future: ("2026-12-04", "見守り"),  # after the file's date
        }
        inbox = town.inbox(root)
        _fill_in(town.output(root) / meeting_xlsx_name(town, T1), decisions, inbox / f"taio_kekka_{T2:%Y%m%d}.xlsx")
        _run(T2)
        # The next meeting's list goes back untouched: the decisions it carries keep suppressing.
        second = load_workbook(town.output(root) / meeting_xlsx_name(town, T2))
        carried = [[cell for cell in row] for row in second[DECIDED_SHEET].iter_rows(values_only=True)]
        second.save(inbox / f"taio_kekka_{T3:%Y%m%d}.xlsx")
        _run(T3)
        yield {"root": root, "town": town, "not_needed": not_needed, "watch": watch, "carried": carried}


def test_filled_in_list_suppresses_at_the_next_run(cycle: dict) -> None:
    town, root = cycle["town"], cycle["root"]
    exported = _exported_ids(town, root, T2)
    assert not set(cycle["not_needed"]) & set(exported)
    assert cycle["watch"] in exported  # 見守り keeps the alert on the list
    with duckdb.connect(str(town.database(root)), read_only=True) as con:
        suppressed = {
            row[0]
            for row in con.execute("SELECT alert_id FROM alert_history WHERE as_of = ? AND suppressed", [T2]).fetchall()
        }
        assert set(cycle["not_needed"]) <= suppressed
        stored = con.execute(
            "SELECT alert_id, reviewed_on, decision FROM valid_taio_kekka WHERE _file = ? ORDER BY _row",
            [f"taio_kekka_{T2:%Y%m%d}.xlsx"],
        ).fetchall()
        assert [(alert_id, day) for alert_id, day, _ in stored] == [
            (alert_id, T2) for alert_id in [*cycle["not_needed"], cycle["watch"]]
        ]


def test_bad_decision_rows_go_to_quarantine_with_their_reason(cycle: dict) -> None:
    town, root = cycle["town"], cycle["root"]
    with duckdb.connect(str(town.database(root)), read_only=True) as con:
        held = con.execute(
            "SELECT row_number, column_name, reason FROM quarantine WHERE file_name = ? ORDER BY row_number",
            [f"taio_kekka_{T2:%Y%m%d}.xlsx"],
        ).fetchall()
        read, valid, quarantined = con.execute(
            "SELECT rows_read, rows_valid, rows_quarantined FROM ingested_files WHERE file_name = ?",
            [f"taio_kekka_{T2:%Y%m%d}.xlsx"],
        ).fetchone()
    # Rows 5 and 6 of the list (Excel rows 6 and 7): the unknown 判定 and the date after the file's date.
    assert [(row, column, reason) for row, column, reason in held] == [
        (5, "decision", "not_allowed_value"),
        (6, "reviewed_on", "date_after_extract"),
    ]
    assert (read, valid, quarantined) == (6, 4, 2)  # undecided rows of the list are not decisions


def test_notes_are_never_ingested(cycle: dict) -> None:
    town, root = cycle["town"], cycle["root"]
    with duckdb.connect(str(town.database(root)), read_only=True) as con:
        columns = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE data_type = 'VARCHAR'"
        ).fetchall()
        found = [
            (table, column)
            for table, column in columns
            if con.execute(f'SELECT count(*) FROM "{table}" WHERE "{column}" LIKE ?', ["%実家%"]).fetchone()[0]
        ]
    assert found == []


def test_returned_list_carries_earlier_decisions(cycle: dict) -> None:
    town, root = cycle["town"], cycle["root"]
    header, *rows = cycle["carried"]
    assert header == ["アラートID", "検討日", "判定"]
    assert {row[0] for row in rows} == {*cycle["not_needed"], cycle["watch"]}
    assert not set(cycle["not_needed"]) & set(_exported_ids(town, root, T3))
    with duckdb.connect(str(town.database(root)), read_only=True) as con:
        suppressed = {
            row[0]
            for row in con.execute("SELECT alert_id FROM alert_history WHERE as_of = ? AND suppressed", [T3]).fetchall()
        }
    assert set(cycle["not_needed"]) <= suppressed
