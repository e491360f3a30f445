"""meeting_<YYYYMMDD>.xlsx: the review meeting's list in a form people read (spec/outputs.md).

The CSV is for systems; this workbook is for the people at the table: names, ages and the reasons in words,
level A first, printable on landscape A4. Sheet 件数 gives the figures the meeting opens with, sheet
レベルの意味 what the levels mean under the rule set in force and sheet 未連携 which rules were not evaluated and
why (no such data in the town, or a column missing from tonight's file). Every text cell goes through the same formula
guard as the CSV, and the export is recorded in `access_log`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from kodomo_pipeline.exports.alerts import EXPORTED_ALERTS, MEETING_ORDER, MEETING_PURPOSE
from kodomo_pipeline.exports.csvfile import neutralise_formula
from kodomo_pipeline.exports.operator_summary import DIFFICULTY_TYPES, LEVELS
from kodomo_pipeline.privacy.audit import record_access
from kodomo_pipeline.rules.ruleset import Level
from kodomo_pipeline.sqlmodels.history import rule_ids, rule_points
from kodomo_pipeline.storage.fallback import describe_fallback
from kodomo_pipeline.storage.ingest_tables import read_frame

LIST_SHEET = "検討リスト"
COUNTS_SHEET = "件数"
NOTE_SHEET = "レベルの意味"
GAPS_SHEET = "未連携"
# (header, width in characters) of the list sheet, in column order.
LIST_COLUMNS: list[tuple[str, int]] = [
    ("氏名", 16),
    ("カナ", 18),
    ("年齢", 6),
    ("区分", 6),
    ("困難の種類", 11),
    ("レベル", 7),
    ("点数", 6),
    ("該当理由（点数）", 70),
    ("前回比", 8),
    ("要対協", 11),
    ("未連携の項目", 30),
    ("アラートID", 22),
]
WRAPPED = {"該当理由（点数）", "未連携の項目"}
SUBJECT_TYPES = {"child": "児童", "expectant_mother": "妊婦"}
KNOWN_CASE_MARK = "要対協 継続"
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


def meeting_rows(con: duckdb.DuckDBPyConnection, asof: dt.date) -> list[list[object]]:
    """One row per exported alert in meeting order, with the subject's name and age and the reasons in words."""
    alerts = read_frame(
        con,
        f"""SELECT a.*, p.name_kanji, p.name_kana, p.age
            FROM ({EXPORTED_ALERTS}) AS a LEFT JOIN persons AS p ON p.resident_id = a.subject_resident_id
            ORDER BY {MEETING_ORDER}""",
        [asof],
    )
    rules = read_frame(con, "SELECT rule_id, name, reason FROM rule_set", []).set_index("rule_id")
    points = rule_points(con, asof)
    rows: list[list[object]] = []
    for alert in alerts.itertuples(index=False):
        reasons = "\n".join(
            f"{rule_id} {rules.at[rule_id, 'name']}（{points.get((alert.alert_id, rule_id), 0)}点）："
            f"{rules.at[rule_id, 'reason']}"
            for rule_id in rule_ids(alert.indicators)
        )
        not_linked = "、".join(f"{rule_id} {rules.at[rule_id, 'name']}" for rule_id in rule_ids(alert.not_linked))
        rows.append(
            [
                alert.name_kanji,
                alert.name_kana,
                None if pd.isna(alert.age) else int(alert.age),
                SUBJECT_TYPES[alert.subject_type],
                alert.difficulty_type,
                alert.level,
                int(alert.score),
                reasons,
                alert.change,
                KNOWN_CASE_MARK if alert.known_case == 1 else "",
                not_linked,
                alert.alert_id,
            ]
        )
    return rows


def _cell_value(value: object) -> object:
    """Whole numbers stay numbers (sortable, summable); text goes through the formula guard; missing is empty."""
    if value is None or isinstance(value, int):
        return value
    return neutralise_formula(value) or None


def _write_table(sheet: Worksheet, header: list[str], rows: list[list[object]]) -> None:
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
    for row in rows:
        sheet.append([_cell_value(value) for value in row])


def _list_sheet(sheet: Worksheet, rows: list[list[object]]) -> None:
    headers = [header for header, _ in LIST_COLUMNS]
    _write_table(sheet, headers, rows)
    for index, (header, width) in enumerate(LIST_COLUMNS, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = width
        if header in WRAPPED:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    sheet.print_title_rows = "1:1"
    sheet.page_setup.orientation = sheet.ORIENTATION_LANDSCAPE
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True


def _counts_sheet(sheet: Worksheet, summary: Mapping[str, Any]) -> None:
    """Level × difficulty type with totals, then the changes and the rule set the list was judged under."""
    table = summary["by_level_and_type"]
    rows: list[list[object]] = [
        [level, *(table[level][kind] for kind in DIFFICULTY_TYPES), summary["by_level"][level]] for level in LEVELS
    ]
    rows.append(["計", *(summary["by_type"][kind] for kind in DIFFICULTY_TYPES), summary["alerts"]])
    rows += [
        [],
        ["新規", summary["new"]],
        ["上昇", summary["raised"]],
        ["対応不要により除外", summary["suppressed"]],
        [],
        ["判定基準の版", summary["rule_set_version"]],
        ["基準日", summary["as_of"]],
    ]
    _write_table(sheet, ["レベル", *DIFFICULTY_TYPES, "計"], rows)
    sheet.column_dimensions["A"].width = 20
    for index in range(2, len(DIFFICULTY_TYPES) + 3):
        sheet.column_dimensions[get_column_letter(index)].width = 12


def _gap_cause(gap: Mapping[str, Any]) -> str:
    if gap["kind"] == "no_file":
        return f"{gap['feed']} のファイルが基準日までに届いていません"
    return f"{gap['file']} に列「{gap['header']}」がありません"


def _gaps_sheet(sheet: Worksheet, summary: Mapping[str, Any]) -> None:
    """Each 未連携 rule and why: the town has no such data, or a file judged tonight lacks a column it reads."""
    gaps = summary.get("column_gaps", [])
    rows: list[list[object]] = []
    for rule_id, name in summary["not_linked_rules"].items():
        causes = [_gap_cause(g) for g in gaps if rule_id in g["rules"]]
        rows.append([rule_id, name, "、".join(causes) or "この町のデータにこの判定に必要な項目がありません"])
    rows += [
        ["", "", f"{g['file']} の列「{g['header']}」は形式の定義にないため読み込んでいません"]
        for g in gaps
        if g["kind"] == "unknown"
    ]
    rows += [["取込失敗", entry["feed"], describe_fallback(entry)] for entry in summary.get("failed_feeds", [])]
    rows += [[], ["", "", "未連携の項目は判定していません（「リスクなし」ではありません）。"]]
    _write_table(sheet, ["判定項目", "名称", "理由"], rows)
    sheet.column_dimensions["A"].width = 10
    sheet.column_dimensions["B"].width = 18
    sheet.column_dimensions["C"].width = 90


def _score_range(levels: Mapping[str, Level], level: str) -> str:
    above = {"A": None, "B": "A", "C": "B"}[level]
    low = levels[level].min_score
    return f"{low}点以上" if above is None else f"{low}〜{levels[above].min_score - 1}点"


def _note_sheet(sheet: Worksheet, levels: Mapping[str, Level]) -> None:
    rows: list[list[object]] = [[level, levels[level].meaning, _score_range(levels, level)] for level in LEVELS]
    rows += [
        [],
        ["", "C未満はアラートになりません。産後うつの自傷念慮（R13）は点数にかかわらずレベルAです。"],
        ["", "未連携の項目は、この町にそのデータがないため判定できなかった項目です（リスクなしではありません）。"],
        ["", "要対協 継続: 要保護児童対策地域協議会に登録中（継続）のケースです。"],
        ["", "このリストは判定基準による提案です。支援の要否は会議で判断します。"],
    ]
    _write_table(sheet, ["レベル", "意味", "点数"], rows)
    sheet.column_dimensions["A"].width = 8
    sheet.column_dimensions["B"].width = 90
    sheet.column_dimensions["C"].width = 12


def export_meeting_xlsx(
    con: duckdb.DuckDBPyConnection,
    asof: dt.date,
    out_dir: Path,
    summary: Mapping[str, Any],
    levels: Mapping[str, Level],
) -> Path:
    """Write the workbook for T (summary from `operator_summary`, levels of the rule set in force)."""
    workbook = Workbook()
    workbook.active.title = LIST_SHEET
    _list_sheet(workbook.active, meeting_rows(con, asof))
    _counts_sheet(workbook.create_sheet(COUNTS_SHEET), summary)
    _note_sheet(workbook.create_sheet(NOTE_SHEET), levels)
    _gaps_sheet(workbook.create_sheet(GAPS_SHEET), summary)
    path = out_dir / f"meeting_{asof:%Y%m%d}.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    record_access(con, path.name, MEETING_PURPOSE)
    return path
