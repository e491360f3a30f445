"""Decoding by layout and the contract: every row ends valid or quarantined with the right reason."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kodomo_pipeline.ingest.contract import apply_contract
from kodomo_pipeline.ingest.reader import UnreadableFile, read_export
from tests.conftest import K_JUMIN_ROW as GOOD_K
from tests.conftest import write_export

EXTRACT = dt.date(2026, 11, 1)
# kawashima jumin (layout K): 宛名番号,世帯番号,氏名,氏名カナ,生年月日,性別,続柄,住所,住定日,住民状態,異動日,本籍


def _row(**changes: str) -> list[str]:
    headers = [
        "resident_id",
        "household_id",
        "name_kanji",
        "name_kana",
        "birth_date",
        "sex",
        "relationship",
        "address",
        "resident_since",
        "status",
        "status_date",
        "honseki",
    ]
    row = dict(zip(headers, GOOD_K, strict=True))
    row.update(changes)
    return list(row.values())


def _contract(path: Path, towns, town: str = "kawashima", feed: str = "jumin"):
    layout = towns[town].feeds[feed]
    raw = read_export(path, layout)
    return raw, apply_contract(raw, layout, towns[town].resident_id_pattern, EXTRACT)


def test_layout_k_decodes_wareki_halfwidth_kana_and_codes(tmp_path: Path, towns) -> None:
    path = write_export(tmp_path / "jumin_20261101.csv", towns["kawashima"].feeds["jumin"], [_row()], True)
    raw, result = _contract(path, towns)
    assert raw.rows_read == 1 and raw.dropped_columns == ["本籍"]
    row = result.valid.iloc[0]
    assert row["name_kana"] == "タカハシ\u3000イチロウ"
    assert row["name_kanji"] == "髙橋\u3000一郎"  # the registered variant kanji is kept
    assert row["birth_date"].date() == dt.date(1985, 4, 2)
    assert row["sex"] == "男" and row["_row"] == 1
    assert "本籍" not in result.valid.columns and "honseki" not in result.valid.columns


@pytest.mark.parametrize(
    ("changes", "reason", "column"),
    [
        ({"birth_date": "R05.02.30"}, "unreadable_date", "birth_date"),
        ({"birth_date": "H31.05.01"}, "unreadable_date", "birth_date"),
        ({"birth_date": "2023/04/01"}, "unreadable_date", "birth_date"),
        ({"sex": "3"}, "unknown_code", "sex"),
        ({"address": ""}, "missing_required", "address"),
        ({"relationship": "いとこ"}, "not_allowed_value", "relationship"),
        ({"resident_id": "12345"}, "bad_format", "resident_id"),
        ({"name_kana": "Takahashi"}, "bad_format", "name_kana"),
        ({"resident_since": "R08.12.01"}, "date_after_extract", "resident_since"),
        ({"resident_since": "S50.01.01"}, "inconsistent_row", "resident_since,birth_date"),
    ],
)
def test_each_contract_failure_is_quarantined_with_its_reason(
    tmp_path: Path, towns, changes: dict, reason: str, column: str
) -> None:
    rows = [
        _row(resident_id="0000000001"),
        _row(resident_id="0000000002", **changes) if "resident_id" not in changes else _row(**changes),
    ]
    path = write_export(tmp_path / "jumin_20261101.csv", towns["kawashima"].feeds["jumin"], rows)
    raw, result = _contract(path, towns)
    assert list(result.valid["_row"]) == [1]
    held = result.quarantine
    assert list(held["_row"].unique()) == [2]
    assert (reason, column) in set(zip(held["reason"], held["column"], strict=True))
    assert raw.rows_read == len(result.valid) + result.rows_quarantined


def test_out_of_range_and_not_an_integer(tmp_path: Path, towns) -> None:
    layout = towns["kawashima"].feeds["ninshin_todoke"]
    rows = [
        ["0000000001", "R07.01.10", "12", "R07.08.01", "初産"],
        ["0000000002", "R07.01.10", "50", "R07.08.01", "初産"],
        ["0000000003", "R07.01.10", "十", "R07.08.01", "経産"],
        ["0000000004", "R07.01.10", "8", "R07.08.01", "不明"],
    ]
    path = write_export(tmp_path / "ninshin_todoke_20261101.csv", layout, rows)
    _, result = _contract(path, towns, feed="ninshin_todoke")
    reasons = dict(zip(result.quarantine["_row"], result.quarantine["reason"], strict=True))
    assert reasons == {2: "out_of_range", 3: "not_an_integer", 4: "unknown_code"}
    assert bool(result.valid.iloc[0]["first_pregnancy"]) is True


def test_duplicates_hold_back_every_member(tmp_path: Path, towns) -> None:
    path = write_export(
        tmp_path / "jumin_20261101.csv",
        towns["kawashima"].feeds["jumin"],
        [_row(), _row(), _row(resident_id="0000000009")],
    )
    _, result = _contract(path, towns)
    assert list(result.valid["_row"]) == [3]
    assert set(result.quarantine["reason"]) == {"duplicate_key"}
    assert set(result.quarantine["_row"]) == {1, 2}


def test_malformed_rows_are_kept_as_quarantine_and_trailing_blank_lines_are_not_rows(tmp_path: Path, towns) -> None:
    layout = towns["kawashima"].feeds["jumin"]
    path = write_export(
        tmp_path / "jumin_20261101.csv",
        layout,
        [_row(resident_id="0000000001"), [], _row(resident_id="0000000002")[:-2], _row(resident_id="0000000003")],
        trailing_blank=True,
    )
    raw, result = _contract(path, towns)
    assert raw.rows_read == 4
    reasons = dict(zip(result.quarantine["_row"], result.quarantine["reason"], strict=True))
    assert reasons == {2: "empty_row", 3: "wrong_field_count"}
    assert list(result.valid["_row"]) == [1, 4]


def test_misato_utf8_bom_flags_and_slash_dates(tmp_path: Path, towns) -> None:
    layout = towns["misato"].feeds["ninshin_todoke"]
    rows = [["30000001", "2025/01/10", "9", "2025/08/01", "有", "困った", "無", "有", "無"]]
    path = write_export(tmp_path / "ninshin_todoke_20261101.csv", layout, rows)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    _, result = _contract(path, towns, town="misato", feed="ninshin_todoke")
    row = result.valid.iloc[0]
    assert row["feeling"] == "困った" and not row["has_confidant"] and row["financial_worry"]
    assert row["notified_on"].date() == dt.date(2025, 1, 10)


def test_school_hiragana_and_nursery_unpadded_dates(tmp_path: Path, towns) -> None:
    school = towns["misato"].feeds["gakko_meibo"]
    path = write_export(
        tmp_path / "gakko_meibo_20261101.csv",
        school,
        [
            [
                "S0001",
                "美里小学校",
                "小3",
                "高橋 ゆうこ",
                "たかはし ゆうこ",
                "2017-05-03",
                "女",
                "高橋 一郎",
                "美里町阿那志1-2",
                "無",
                "無",
                "",
                "国4 算3",
            ]
        ],
    )
    raw, result = _contract(path, towns, town="misato", feed="gakko_meibo")
    assert raw.dropped_columns == ["成績"]
    row = result.valid.iloc[0]
    assert row["name_kana"] == "タカハシ\u3000ユウコ" and row["name_kanji"] == "高橋\u3000ゆうこ"
    nursery = towns["kawashima"].feeds["toen"]
    path = write_export(
        tmp_path / "toen_20261101.csv",
        nursery,
        [["かわじま保育園", "12", "ﾀｶﾊｼ ﾕｰｺ", "2021/4/3", "2", "髙橋　一郎", "2026/4", "20", "18", "2", "1"]],
    )
    _, result = _contract(path, towns, feed="toen")
    row = result.valid.iloc[0]
    assert row["birth_date"].date() == dt.date(2021, 4, 3) and row["month"].date() == dt.date(2026, 4, 1)
    assert row["name_kana"] == "タカハシ\u3000ユーコ"


def test_unreadable_files_say_which_file_and_why(tmp_path: Path, towns) -> None:
    k_jumin = towns["kawashima"].feeds["jumin"]
    m_jumin = towns["misato"].feeds["jumin"]
    cases = {
        "empty": (b"", k_jumin, "empty file"),
        "blank": (b"\r\n\r\n", k_jumin, "empty file"),
        "binary": (b"PK\x03\x04\x00\x00xl/workbook.xml", k_jumin, "NUL bytes"),
        "utf8_for_cp932": (
            "宛名番号,世帯番号,氏名,氏名カナ,生年月日,性別,続柄,住所,住定日,住民状態,異動日\n".encode(),
            k_jumin,
            "the file reads as utf-8-sig",
        ),
        "cp932_for_utf8": (
            "住民コード,世帯コード\n".encode("cp932"),
            m_jumin,
            "not valid utf-8-sig at byte 0 (line 1); the file reads as cp932",
        ),
        "missing_header": ("宛名番号,氏名\r\n0000000001,x\r\n".encode("cp932"), k_jumin, "missing required header"),
        "not_csv": (b"<html><body>export failed</body></html>", k_jumin, "missing required header"),
        "duplicate_header": (
            "宛名番号,世帯番号,氏名,氏名カナ,生年月日,性別,続柄,住所,住定日,住民状態,異動日,宛名番号\r\n".encode(
                "cp932"
            ),
            k_jumin,
            "duplicate header(s): 宛名番号",
        ),
    }
    for name, (data, layout, words) in cases.items():
        path = tmp_path / f"{name}_20261101.csv"
        path.write_bytes(data)
        with pytest.raises(UnreadableFile) as caught:
            read_export(path, layout)
        assert words in str(caught.value), name
        assert str(caught.value).startswith(path.name)


def test_quoted_fields_with_line_breaks_keep_record_numbers(tmp_path: Path, towns) -> None:
    """Free text (相談内容) may hold commas and line breaks in quotes; rows still count as records."""
    text = (
        "相談番号,宛名番号,受付日,相談種別,虐待種別,対応状況,要対協登録,相談内容\r\n"
        'C1,0000000001,R07.04.01,虐待,ネグレクト,継続,1,"二行の\r\n記録, 含む"\r\n'
        "C2,0000000002,R07.04.02,育成,,終結,0,短い\r\n"
        'C3,0000000003,R07.04.03,障害,,継続,0,"引用""符"""\r\n'
    )
    path = tmp_path / "jido_soudan_20261101.csv"
    path.write_bytes(text.encode("cp932"))
    raw, result = _contract(path, towns, feed="jido_soudan")
    assert raw.rows_read == 3 and raw.dropped_columns == ["相談内容"]
    assert list(result.valid["_row"]) == [1, 2, 3]
    assert list(result.valid["case_no"]) == ["C1", "C2", "C3"]
    assert "相談内容" not in result.valid.columns


def test_a_header_only_file_is_a_valid_export_with_no_rows(tmp_path: Path, towns) -> None:
    layout = towns["misato"].feeds["taio_kekka"]
    path = write_export(tmp_path / "taio_kekka_20261101.csv", layout, [])
    raw, result = _contract(path, towns, town="misato", feed="taio_kekka")
    assert raw.rows_read == 0 and result.valid.empty and result.quarantine.empty
