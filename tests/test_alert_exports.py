"""The review meeting's files (alerts CSV, meeting XLSX) and the operator's counts, on a hand-made town database.

The tables follow the alerts contract (alerts, alert_fact_history, rule_set, persons) with names from the
generator's lists. Assertions compare booleans and counts so that a failure never prints a name.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import duckdb
import pytest
from dagster import materialize
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.exports.alerts import ALERT_COLUMNS, MEETING_PURPOSE, export_alerts_csv
from kodomo_pipeline.exports.meeting_xlsx import (
    COUNTS_SHEET,
    DECIDED_SHEET,
    GAPS_SHEET,
    LIST_COLUMNS,
    LIST_SHEET,
    NOTE_SHEET,
    export_meeting_xlsx,
    wrapped_lines,
)
from kodomo_pipeline.exports.operator_summary import operator_summary, summary_markdown
from kodomo_pipeline.generator.names import FEMALE_NAMES, FULLWIDTH_SPACE, MALE_NAMES, SURNAMES
from kodomo_pipeline.orchestration.export_assets import build_export_assets
from kodomo_pipeline.orchestration.resource import KodomoResource
from kodomo_pipeline.privacy.services.access_log import read_access_log
from kodomo_pipeline.rules.ruleset import load_base_rules

ASOF = dt.date(2026, 11, 26)
NOT_LINKED = "R16"  # the town has no nursery feed
DISABLED_NOT_LINKED = "R18"  # switched off: not reported as 未連携


def _person(resident_id: str, surname: int, given: tuple[str, tuple[str, ...], str], age: int) -> tuple:
    family, family_kana = SURNAMES[surname][0], SURNAMES[surname][1][0]
    return (resident_id, f"{family}{FULLWIDTH_SPACE}{given[0]}", f"{family_kana} {given[1][0]}", age, ASOF)


PERSONS = [
    _person("0000100001", 0, MALE_NAMES[-1], 7),
    _person("0000100002", 1, FEMALE_NAMES[-1], 2),
    _person("0000100003", 2, FEMALE_NAMES[-2], 17),
    _person("0000100004", 3, MALE_NAMES[-2], 10),
    _person("0000100005", 4, MALE_NAMES[-3], 5),
    _person("0000100006", 5, FEMALE_NAMES[-3], 9),
]
FORMULA_NAME_ID = "0000100007"  # a registry name a spreadsheet would run as a formula

# alert_id, resident, subject_type, type, code, level, score, indicators, not_linked, known_case, change,
# suppressed, economic_only
ALERTS = [
    ("AL-B-6", "0000100001", "child", "虐待", "AB", "B", 6, "R01;R19", "R16", 0, "新規", False, False),
    ("AL-A-10", "0000100002", "child", "虐待", "AB", "A", 10, "R03;R01", "R16", 1, "上昇", False, False),
    ("AL-C-3a", "0000100003", "expectant_mother", "産後うつ", "PP", "C", 3, "R09;R05", "", 0, "継続", False, False),
    ("AL-C-4s", "0000100004", "child", "虐待", "AB", "C", 4, "R01", "R16", 0, "継続", True, False),
    ("AL-C-3b", "0000100005", "child", "虐待", "AB", "C", 3, "R10", "R16", 0, "新規", False, True),
    ("AL-B-5", "0000100006", "child", "発達障がい", "DD", "B", 5, "R22", "", 0, "低下", False, False),
]
# alert_id, rule_id, hit, points: R03 hit twice (3 + 3); R01 one hit resting on two facts (4, not 8).
FACTS = [
    ("AL-A-10", "R03", 1, 3),
    ("AL-A-10", "R03", 2, 3),
    ("AL-A-10", "R01", 1, 4),
    ("AL-A-10", "R01", 1, 4),
    ("AL-B-6", "R01", 1, 4),
    ("AL-B-6", "R19", 1, 1),
]
EXPORTED_ORDER = ["AL-A-10", "AL-B-6", "AL-B-5", "AL-C-3a", "AL-C-3b"]


def build_town_db(path: Path) -> duckdb.DuckDBPyConnection:
    """The tables the alerts models leave behind (contract /work/contract/alerts_tables.md), filled by hand."""
    con = duckdb.connect(str(path))
    con.execute(
        """CREATE TABLE rule_set (rule_id VARCHAR, name VARCHAR, enabled BOOLEAN, points_ab INTEGER,
           points_pp INTEGER, points_dd INTEGER, params JSON, economic BOOLEAN, version VARCHAR, reason VARCHAR,
           feeds VARCHAR[], applies_to VARCHAR[], linked BOOLEAN)"""
    )
    rules = load_base_rules().rules
    con.executemany(
        "INSERT INTO rule_set VALUES (?, ?, ?, ?, ?, ?, '{}', ?, 'v1', ?, ?, ?, ?)",
        [
            [rule_id, rule.name, rule_id != DISABLED_NOT_LINKED, rule.points.get("AB", 0), rule.points.get("PP", 0),
             rule.points.get("DD", 0), rule.economic, rule.reason, list(rule.feeds), list(rule.applies_to),
             rule_id not in (NOT_LINKED, DISABLED_NOT_LINKED)]
            for rule_id, rule in rules.items()
        ],
    )  # fmt: skip
    con.execute(
        "CREATE TABLE persons (resident_id VARCHAR, name_kanji VARCHAR, name_kana VARCHAR, age INTEGER, as_of DATE)"
    )
    con.executemany("INSERT INTO persons VALUES (?, ?, ?, ?, ?)", PERSONS)
    con.execute(
        """CREATE TABLE alerts (alert_id VARCHAR, subject_resident_id VARCHAR, subject_type VARCHAR,
           difficulty_type VARCHAR, type_code VARCHAR, level VARCHAR, score INTEGER, indicators VARCHAR,
           not_linked VARCHAR, known_case INTEGER, change VARCHAR, rule_set_version VARCHAR, as_of DATE,
           suppressed BOOLEAN, economic_only BOOLEAN)"""
    )
    con.executemany(
        "INSERT INTO alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'v1', ?, ?, ?)",
        [[*row[:11], ASOF, *row[11:]] for row in ALERTS],
    )
    con.execute(
        """CREATE TABLE alert_fact_history (as_of DATE, alert_id VARCHAR, rule_id VARCHAR, hit INTEGER,
           points INTEGER, feed VARCHAR, source_file VARCHAR, source_sha256 VARCHAR, source_row INTEGER,
           fact_date DATE)"""
    )
    con.executemany(
        "INSERT INTO alert_fact_history VALUES (?, ?, ?, ?, ?, 'feed', 'file.csv', 'sha', ?, ?)",
        [[ASOF, *fact, row, ASOF] for row, fact in enumerate(FACTS, start=1)],
    )
    return con


@pytest.fixture()
def con(tmp_path: Path):
    connection = build_town_db(tmp_path / "town.duckdb")
    yield connection
    connection.close()


def _csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))


def _levels():
    return load_base_rules().levels


def test_alerts_csv_contract(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = export_alerts_csv(con, ASOF, tmp_path / "out")
    assert path.name == "alerts_20261126.csv"
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.count(b"\r\n") == len(EXPORTED_ORDER) + 1 and raw.count(b"\n") == raw.count(b"\r\n")
    header, *rows = _csv_rows(path)
    assert header == ALERT_COLUMNS
    assert [row[0] for row in rows] == EXPORTED_ORDER  # suppressed AL-C-4s absent; level, then score
    first = dict(zip(header, rows[0], strict=True))
    assert first["indicators"] == "R03;R01" and first["known_case"] == "1" and first["change"] == "上昇"
    assert first["score"] == "10" and first["as_of"] == "2026-11-26" and first["rule_set_version"] == "v1"
    assert dict(zip(header, rows[3], strict=True))["subject_type"] == "expectant_mother"


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_alerts_csv_neutralises_formulas(con: duckdb.DuckDBPyConnection, tmp_path: Path, start: str) -> None:
    con.execute("UPDATE alerts SET not_linked = ? || 'HYPERLINK(1)' WHERE alert_id = 'AL-B-5'", [start])
    header, *rows = _csv_rows(export_alerts_csv(con, ASOF, tmp_path))
    cell = dict(zip(header, rows[EXPORTED_ORDER.index("AL-B-5")], strict=True))["not_linked"]
    assert cell == f"'{start}HYPERLINK(1)"


def test_exports_are_recorded_without_personal_values(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, towns: dict[str, TownConfig]
) -> None:
    export_alerts_csv(con, ASOF, tmp_path)
    export_meeting_xlsx(con, ASOF, tmp_path, operator_summary(con, ASOF), _levels(), towns["kawashima"])
    log = read_access_log(con)
    assert [entry.what for entry in log] == ["alerts_20261126.csv", "meeting_kawashima_20261126.xlsx"]
    assert all(entry.purpose == MEETING_PURPOSE for entry in log)
    values = {value for person in PERSONS for value in person[:3]}
    leaked = any(value in f"{entry.what} {entry.purpose}" for entry in log for value in values)
    assert not leaked


def test_operator_summary_known_answer(con: duckdb.DuckDBPyConnection) -> None:
    summary = operator_summary(con, ASOF)
    assert summary["alerts"] == 5 and summary["suppressed"] == 1
    assert summary["by_level"] == {"A": 1, "B": 2, "C": 2}
    assert summary["by_type"] == {"虐待": 3, "産後うつ": 1, "発達障がい": 1}
    assert summary["by_level_and_type"]["C"] == {"虐待": 1, "産後うつ": 1, "発達障がい": 0}
    assert summary["by_change"] == {"新規": 2, "上昇": 1, "継続": 1, "低下": 1}
    assert summary["new"] == 2 and summary["raised"] == 1
    assert summary["economic_only"] == 1 and summary["economic_only_share"] == 0.2
    assert summary["not_linked_rules"] == {"R16": "登園長期欠席"}
    assert summary["rule_set_version"] == "v1" and summary["as_of"] == "2026-11-26"
    text = summary_markdown(summary)
    assert "| A | 1 | 0 | 0 | 1 |" in text and "20.0% of alerts" in text


def test_operator_summary_of_a_town_without_alerts(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DELETE FROM alerts")
    summary = operator_summary(con, ASOF)
    assert summary["alerts"] == 0 and summary["economic_only_share"] == 0.0
    assert summary["by_level"] == {"A": 0, "B": 0, "C": 0}


def test_meeting_xlsx(con: duckdb.DuckDBPyConnection, tmp_path: Path, towns: dict[str, TownConfig]) -> None:
    con.execute("INSERT INTO persons VALUES (?, '=cmd|calc', '@SUM(1)', 1, ?)", [FORMULA_NAME_ID, ASOF])
    con.execute("UPDATE alerts SET subject_resident_id = ? WHERE alert_id = 'AL-C-3b'", [FORMULA_NAME_ID])
    path = export_meeting_xlsx(con, ASOF, tmp_path / "out", operator_summary(con, ASOF), _levels(), towns["kawashima"])
    assert path.name == "meeting_kawashima_20261126.xlsx"
    book = load_workbook(path)
    assert book.sheetnames == [LIST_SHEET, COUNTS_SHEET, NOTE_SHEET, GAPS_SHEET, DECIDED_SHEET]
    gaps = [list(row) for row in book[GAPS_SHEET].iter_rows(min_row=2, max_row=2, values_only=True)]
    assert gaps == [["R16", "登園長期欠席", "この町のデータにこの判定に必要な項目がありません"]]
    sheet = book[LIST_SHEET]
    header, *rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert header == [name for name, _ in LIST_COLUMNS] + ["判定", "検討日", "備考"]
    column = {name: index for index, name in enumerate(header)}
    assert [row[column["アラートID"]] for row in rows] == EXPORTED_ORDER
    assert [row[column["レベル"]] for row in rows] == ["A", "B", "B", "C", "C"]
    assert [row[column["点数"]] for row in rows] == [10, 6, 5, 3, 3]
    assert [row[column["区分"]] for row in rows] == ["児童", "児童", "児童", "妊婦", "児童"]
    assert [row[column["要対協"]] for row in rows] == ["要対協 継続", None, None, None, None]
    names_match = [row[column["氏名"]] for row in rows[:4]] == [PERSONS[i][1] for i in (1, 0, 5, 2)]
    ages_match = [row[column["年齢"]] for row in rows] == [2, 7, 9, 17, 1]
    assert names_match and ages_match
    formula_safe = rows[4][column["氏名"]] == "'=cmd|calc" and rows[4][column["カナ"]] == "'@SUM(1)"
    assert formula_safe
    reasons = rows[0][column["該当理由（点数）"]].split("\n")
    assert [reason.split("：")[0] for reason in reasons] == ["R03 乳幼児健診未受診（6点）", "R01 虐待相談歴（4点）"]
    assert rows[0][column["未連携の項目"]] == "R16 登園長期欠席"
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:O6"
    assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.fitToWidth == 1
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert sheet.column_dimensions["H"].width == 50

    counts = [list(row) for row in book[COUNTS_SHEET].iter_rows(values_only=True)]
    assert counts[0] == ["レベル", "虐待", "産後うつ", "発達障がい", "計"]
    assert counts[1:5] == [["A", 1, 0, 0, 1], ["B", 1, 0, 1, 2], ["C", 1, 1, 0, 2], ["計", 3, 1, 1, 5]]
    labelled = {row[0]: row[1] for row in counts[5:] if row[0]}
    assert labelled == {"新規": 2, "上昇": 1, "対応不要により除外": 1, "判定基準の版": "v1", "基準日": "2026-11-26"}

    note = [list(row) for row in book[NOTE_SHEET].iter_rows(values_only=True)]
    assert [row[2] for row in note[1:4]] == ["8点以上", "5〜7点", "3〜4点"]
    assert [None, "C未満はアラートになりません。産後うつの自傷念慮（R13）は点数にかかわらずレベルAです。", None] in note


def test_meeting_xlsx_prints_and_takes_decisions(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, towns: dict[str, TownConfig]
) -> None:
    """Read back what the printer and the person filling it in get: page setup, header/footer, heights, dropdown."""
    town = towns["misato"]
    path = export_meeting_xlsx(con, ASOF, tmp_path, operator_summary(con, ASOF), _levels(), town)
    assert path.name == "meeting_misato_20261126.xlsx"
    sheet = load_workbook(path)[LIST_SHEET]
    assert int(sheet.page_setup.paperSize) == 9 and sheet.page_setup.orientation == "landscape"  # 9 = A4
    assert sheet.print_title_rows == "$1:$1"
    assert sheet.oddHeader.left.text == "取扱注意" and sheet.oddFooter.left.text == "取扱注意"
    assert town.name_ja in sheet.oddHeader.center.text
    assert sheet.oddHeader.right.text == "基準日 2026-11-26"
    assert sheet.oddFooter.center.text == "&P / &N"
    header = [cell.value for cell in sheet[1]]
    reasons = header.index("該当理由（点数）") + 1
    width = sheet.column_dimensions["H"].width
    for row in range(2, sheet.max_row + 1):
        text = sheet.cell(row, reasons).value
        lines = wrapped_lines(text, int(width))
        assert lines >= text.count("\n") + 1
        assert sheet.row_dimensions[row].height >= 18 * lines  # two reasons → at least two lines' height
        assert sheet.cell(row, reasons).alignment.wrap_text
    assert sheet.row_dimensions[2].height > sheet.row_dimensions[6].height  # AL-A-10 has two reasons, AL-C-3b one
    [validation] = sheet.data_validations.dataValidation
    decision_column = get_column_letter(header.index("判定") + 1)
    assert validation.type == "list" and str(validation.sqref) == f"{decision_column}2:{decision_column}6"
    allowed = town.feeds["taio_kekka"].spec.columns["decision"].allowed
    assert validation.formula1 == '"' + ",".join(allowed) + '"'
    assert set(allowed) == {"対応不要", "見守り", "要対協登録", "緊急対応"}
    assert all(sheet.cell(row, header.index("判定") + 1).value is None for row in range(2, 7))


def test_wrapped_lines_counts_full_width_twice() -> None:
    assert wrapped_lines("あ" * 30, 60) == 1 and wrapped_lines("あ" * 31, 60) == 2
    assert wrapped_lines("a" * 60 + "\n" + "b", 60) == 2


def test_export_asset_metadata_counts_only(towns: dict[str, TownConfig], tmp_path: Path) -> None:
    town = towns["kawashima"]
    home = tmp_path / "data"
    database = town.database(home)
    database.parent.mkdir(parents=True, exist_ok=True)
    build_town_db(database).close()
    resource = KodomoResource(home=str(home), asof=ASOF.isoformat(), out=str(tmp_path / "out"))
    [export] = build_export_assets(town)
    assert export.key.path == [town.town, "alerts_export"]
    result = materialize([export], resources={"kodomo": resource})
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = {key: value.value for key, value in event.materialization.metadata.items()}
    assert metadata["alerts"] == 5 and metadata["suppressed"] == 1 and metadata["level_A"] == 1
    assert metadata["new"] == 2 and metadata["raised"] == 1 and metadata["economic_only_share"] == 0.2
    assert metadata["not_linked_rules"] == {"R16": "登園長期欠席"}
    assert Path(metadata["alerts_csv"]) == tmp_path / "out" / town.town / "alerts_20261126.csv"
    assert Path(metadata["meeting_xlsx"]).is_file()
    shown = str(metadata)
    personal = [value for person in PERSONS for value in person[:3]] + [row[0] for row in ALERTS]
    assert not any(value in shown for value in personal)


def test_meeting_xlsx_for_a_town_without_decisions_file(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, towns: dict[str, TownConfig]
) -> None:
    """A town that takes no taio_kekka file still gets its list, without decision columns or carried sheet."""
    town = towns["misato"]
    bare = town.model_copy(update={"feeds": {k: v for k, v in town.feeds.items() if k != "taio_kekka"}})
    book = load_workbook(export_meeting_xlsx(con, ASOF, tmp_path, operator_summary(con, ASOF), _levels(), bare))
    assert book.sheetnames == [LIST_SHEET, COUNTS_SHEET, NOTE_SHEET, GAPS_SHEET]
    assert [cell.value for cell in book[LIST_SHEET][1]] == [name for name, _ in LIST_COLUMNS]
    assert book[LIST_SHEET].data_validations.dataValidation == []
