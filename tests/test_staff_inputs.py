"""What staff type and save is accepted: decision CSVs in cp932 or UTF-8 (with or without BOM), dates as people
write them, and workbooks (the filled-in meeting list, the 名寄せ template) read as the CSV would be.

Files are hand-made as staff would save them and go through the real ingestion (ingest_raw + validate_feed).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.exports.csvfile import write_contract_csv
from kodomo_pipeline.exports.meiyose_template_xlsx import write_meiyose_template_xlsx
from kodomo_pipeline.ingest.reader import UnreadableFile
from kodomo_pipeline.ingest.steps import TownPaths, ingest_raw, validate_feed
from kodomo_pipeline.ingest.xlsx_reader import cell_text, read_xlsx_export
from kodomo_pipeline.layout.values import parse_typed_date
from kodomo_pipeline.layout.wareki import WarekiError, parse_kanji_wareki_date

EXTRACT = dt.date(2026, 11, 30)
TYPED_DATES = [
    "令和8年11月4日",
    "R8.11.4",
    "R08.11.04",
    "2026/11/4",
    "2026-11-04",
    "令和８年１１月４日",
    "Ｒ８．１１．４",
]


@pytest.mark.parametrize("text", TYPED_DATES)
def test_typed_dates(text: str) -> None:
    assert parse_typed_date(text) == dt.date(2026, 11, 4)


def test_kanji_wareki_boundaries() -> None:
    assert parse_kanji_wareki_date("令和元年5月1日") == dt.date(2019, 5, 1)
    assert parse_kanji_wareki_date("平成31年4月30日") == dt.date(2019, 4, 30)
    assert parse_kanji_wareki_date("昭和64年1月7日") == dt.date(1989, 1, 7)
    for impossible in ("令和元年4月30日", "平成31年5月1日", "令和8年2月30日", "令和8年11月"):
        with pytest.raises(WarekiError):
            parse_kanji_wareki_date(impossible)
    for unreadable in ("2026年2月30日", "R8年2月30日", "11月4日", "R8.11", "昨日"):
        with pytest.raises(ValueError):
            parse_typed_date(unreadable)


def _ingest(tmp_path: Path, town: TownConfig, feed: str, name: str, data: bytes) -> duckdb.DuckDBPyConnection:
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    (inbox / name).write_bytes(data)
    con = duckdb.connect(str(tmp_path / "town.duckdb"))
    paths = TownPaths.for_town(town, tmp_path, inbox)
    ingest_raw(con, town, feed, paths, "run-1", EXTRACT)
    validate_feed(con, town, feed, "run-1")
    return con


DECISIONS_CSV = (
    "アラートID,検討日,判定\r\n"
    "AL-0001,令和8年11月4日,対応不要\r\n"
    "AL-0002,R8.11.4,見守り\r\n"
    "AL-0003,2026/11/4,要対協登録\r\n"
    "AL-0004,令和8年12月1日,緊急対応\r\n"  # after the file's date
    "AL-0005,2026-11-04,様子見\r\n"  # not an allowed 判定
)


@pytest.mark.parametrize("encoding", ["cp932", "utf-8-sig", "utf-8"])
def test_decision_csv_in_any_encoding_staff_save(tmp_path: Path, towns: dict[str, TownConfig], encoding: str) -> None:
    con = _ingest(tmp_path, towns["kawashima"], "taio_kekka", "taio_kekka_20261130.csv", DECISIONS_CSV.encode(encoding))
    valid = con.execute("SELECT alert_id, reviewed_on, decision FROM valid_taio_kekka ORDER BY _row").fetchall()
    assert valid == [
        ("AL-0001", dt.date(2026, 11, 4), "対応不要"),
        ("AL-0002", dt.date(2026, 11, 4), "見守り"),
        ("AL-0003", dt.date(2026, 11, 4), "要対協登録"),
    ]
    held = con.execute("SELECT row_number, column_name, reason FROM quarantine ORDER BY row_number").fetchall()
    assert held == [(4, "reviewed_on", "date_after_extract"), (5, "decision", "not_allowed_value")]


def test_meiyose_decisions_in_cp932_with_typed_dates(tmp_path: Path, towns: dict[str, TownConfig]) -> None:
    text = (
        "対象,元キー,宛名番号,判定,確認日\r\n"
        "toen,N01-0001,0000012345,同一人物,令和8年11月20日\r\n"
        "gakko_meibo,S-000777,0000067890,別人,R08.11.21\r\n"
    )
    con = _ingest(tmp_path, towns["kawashima"], "meiyose_kekka", "meiyose_kekka_20261130.csv", text.encode("cp932"))
    valid = con.execute("SELECT source_key, decision, decided_on FROM valid_meiyose_kekka ORDER BY _row").fetchall()
    assert valid == [("N01-0001", "accept", dt.date(2026, 11, 20)), ("S-000777", "reject", dt.date(2026, 11, 21))]


def _filled_list(path: Path) -> Path:
    """A meeting list as it comes back: extra columns, undecided rows, a blank row, a date cell, a second sheet."""
    book = Workbook()
    sheet = book.active
    sheet.title = "検討リスト"
    sheet.append(["氏名", "レベル", "アラートID", "判定", "検討日", "備考"])
    sheet.append(["（氏名）", "A", "AL-0001", "対応不要", dt.datetime(2026, 11, 4), "メモ"])
    sheet.append(["（氏名）", "B", "AL-0002", None, None, "次回"])  # not decided: not a record
    sheet.append([None] * 6)  # a blank row
    sheet.append(["（氏名）", "C", "AL-0003", "見守り", None, None])  # decided, date forgotten → quarantine
    sheet.append(["（氏名）", "C", "AL-0004", "緊急対応", "令和8年11月5日", None])
    book.create_sheet("件数").append(["レベル", "計"])
    carried = book.create_sheet("これまでの判定")
    carried.append(["アラートID", "検討日", "判定"])
    carried.append(["AL-0009", "2026-10-01", "対応不要"])
    book.save(path)
    return path


def test_xlsx_reads_like_the_csv(tmp_path: Path, towns: dict[str, TownConfig]) -> None:
    layout = towns["misato"].feeds["taio_kekka"]
    raw = read_xlsx_export(_filled_list(tmp_path / "taio_kekka_20261130.xlsx"), layout)
    assert raw.frame["alert_id"].tolist() == ["AL-0001", "AL-0003", "AL-0004", "AL-0009"]
    assert raw.frame["reviewed_on"].tolist() == ["2026-11-04", "", "令和8年11月5日", "2026-10-01"]
    assert raw.frame["_row"].tolist() == [1, 4, 5, 6]  # Excel row - 1; the second sheet continues the count
    assert raw.dropped_columns == ["氏名", "レベル", "備考"] and raw.missing_optional == []
    assert raw.malformed == {} and len(raw.sha256) == 64


def test_filled_in_xlsx_through_ingestion(tmp_path: Path, towns: dict[str, TownConfig]) -> None:
    town = towns["misato"]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _filled_list(inbox / "taio_kekka_20261130.xlsx")
    con = duckdb.connect(str(tmp_path / "town.duckdb"))
    paths = TownPaths.for_town(town, tmp_path, inbox)
    assert ingest_raw(con, town, "taio_kekka", paths, "run-1", EXTRACT).outcome == "ingested"
    figures = validate_feed(con, town, "taio_kekka", "run-1").figures
    assert figures["rows_read"] == 4 and figures["rows_valid"] == 3 and figures["rows_quarantined"] == 1
    held = con.execute("SELECT row_number, column_name, reason FROM quarantine").fetchall()
    assert held == [(4, "reviewed_on", "missing_required")]
    archived = list((tmp_path / "archive" / town.town / "taio_kekka").glob("*_taio_kekka_20261130.xlsx"))
    assert len(archived) == 1  # archived by content: <sha256>_<file name>
    stored = {row[0] for row in con.execute("SELECT DISTINCT _file FROM valid_taio_kekka").fetchall()}
    assert stored == {"taio_kekka_20261130.xlsx"}


def test_unusable_workbooks_are_refused_with_the_cause(tmp_path: Path, towns: dict[str, TownConfig]) -> None:
    layout = towns["misato"].feeds["taio_kekka"]
    not_a_workbook = tmp_path / "taio_kekka_20261130.xlsx"
    not_a_workbook.write_text("アラートID,検討日,判定\n", encoding="utf-8")
    with pytest.raises(UnreadableFile, match="not a readable XLSX workbook"):
        read_xlsx_export(not_a_workbook, layout)
    book = Workbook()
    book.active.append(["アラートID", "判定"])
    no_date = tmp_path / "taio_kekka_20261201.xlsx"
    book.save(no_date)
    with pytest.raises(UnreadableFile, match="no sheet has the required header"):
        read_xlsx_export(no_date, layout)
    book = Workbook()
    book.active.append(["アラートID", "検討日", "判定", "判定"])
    twice = tmp_path / "taio_kekka_20261202.xlsx"
    book.save(twice)
    with pytest.raises(UnreadableFile, match="duplicate header"):
        read_xlsx_export(twice, layout)


def test_cell_text_matches_csv_text() -> None:
    assert cell_text(dt.datetime(2026, 11, 4)) == "2026-11-04" and cell_text(dt.date(2026, 11, 4)) == "2026-11-04"
    assert cell_text(3.0) == "3" and cell_text(12) == "12" and cell_text(None) == "" and cell_text(" x ") == "x"


def test_meiyose_xlsx_template_round_trip(tmp_path: Path, towns: dict[str, TownConfig]) -> None:
    town = towns["kawashima"]
    template = pd.DataFrame(
        {
            "対象": ["toen", "gakko_meibo"],
            "元キー": ["N01-0001", "S-000777"],
            "宛名番号": ["0000012345", "0000067890"],
            "判定": ["", ""],
            "確認日": ["", ""],
        }
    )
    csv_path = write_contract_csv(
        template, list(template.columns), tmp_path / "out" / "meiyose_kekka_template_20261126.csv"
    )
    path = write_meiyose_template_xlsx(csv_path, town, dt.date(2026, 11, 26))
    assert path.name == "meiyose_kekka_template_20261126.xlsx"
    book = load_workbook(path)
    sheet = book.active
    assert [cell.value for cell in sheet[1]] == list(template.columns)
    assert sheet.cell(2, 3).value == "0000012345"  # resident IDs stay text (leading zeros kept)
    [validation] = sheet.data_validations.dataValidation
    assert validation.formula1 == '"同一人物,別人"' and str(validation.sqref) == "D2:D3"
    assert sheet.oddHeader.left.text == "取扱注意" and town.name_ja in sheet.oddHeader.center.text
    sheet.cell(2, 4).value, sheet.cell(2, 5).value = "同一人物", "令和8年11月20日"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    book.save(inbox / "meiyose_kekka_20261130.xlsx")
    con = duckdb.connect(str(tmp_path / "town.duckdb"))
    paths = TownPaths.for_town(town, tmp_path, inbox)
    ingest_raw(con, town, "meiyose_kekka", paths, "run-1", EXTRACT)
    validate_feed(con, town, "meiyose_kekka", "run-1")
    valid = con.execute("SELECT source_key, resident_id, decision, decided_on FROM valid_meiyose_kekka").fetchall()
    assert valid == [("N01-0001", "0000012345", "accept", dt.date(2026, 11, 20))]  # the undecided row is no decision
    assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0


def test_xlsx_header_below_a_title_row(tmp_path: Path, towns: dict[str, TownConfig]) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["第8回 アラート検討会議 判定結果"])  # a title staff added above the list
    sheet.append([])
    sheet.append(["アラートID", "判定", "検討日"])  # columns in another order
    sheet.append(["AL-0001", "見守り", "R8.11.4"])
    path = tmp_path / "taio_kekka_20261130.xlsx"
    book.save(path)
    raw = read_xlsx_export(path, towns["misato"].feeds["taio_kekka"])
    assert raw.frame[["alert_id", "decision", "reviewed_on", "_row"]].values.tolist() == [
        ["AL-0001", "見守り", "R8.11.4", 1]
    ]


def test_no_meiyose_workbook_for_a_town_without_the_decisions_feed(
    tmp_path: Path, towns: dict[str, TownConfig]
) -> None:
    town = towns["kawashima"]
    bare = town.model_copy(update={"feeds": {k: v for k, v in town.feeds.items() if k != "meiyose_kekka"}})
    template = pd.DataFrame(
        {"対象": ["toen"], "元キー": ["N01-0001"], "宛名番号": ["0000012345"], "判定": [""], "確認日": [""]}
    )
    csv_path = write_contract_csv(template, list(template.columns), tmp_path / "meiyose_kekka_template_20261126.csv")
    assert write_meiyose_template_xlsx(csv_path, bare, dt.date(2026, 11, 26)) is None
    assert not csv_path.with_suffix(".xlsx").exists()
