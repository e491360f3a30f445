"""meeting_<town>_<YYYYMMDD>.xlsx: the review meeting's list in a form people read (spec/outputs.md).

The CSV is for systems; this workbook is for the people at the table: names, ages and the reasons in words,
level A first, printable on landscape A4 (title row on every page, rows tall enough for the wrapped reasons,
取扱注意 / town / as-of date / page x / y in the header and footer). Sheet 件数 gives the figures the meeting
opens with and sheet レベルの意味 what the levels mean under the rule set in force, sheet
未連携 which rules were not evaluated and why (no such data in the town, or a column missing from tonight's
file).

The list is also the decisions file: staff choose 判定 (a dropdown of the values the taio_kekka contract allows)
and type 検討日, then drop the workbook in the inbox as taio_kekka_<YYYYMMDD>.xlsx (ingest/xlsx_reader.py).
備考 is for the meeting only and is never read back. Because a taio_kekka file is a full snapshot (the newest
file in force replaces the earlier ones), sheet これまでの判定 carries the decisions in force at T, so the
returned workbook holds every decision, as a CSV kept by hand would. Every text cell goes through the same
formula guard as the CSV, and the export is recorded in `access_log`.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, NamedStyle, PatternFill
from openpyxl.styles.fonts import DEFAULT_FONT
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.worksheet import Worksheet

from kodomo_pipeline.config.feed_roles import MEETING_DECISIONS
from kodomo_pipeline.config.towns import FeedLayout, TownConfig
from kodomo_pipeline.exports.alerts import EXPORTED_ALERTS, MEETING_ORDER, MEETING_PURPOSE
from kodomo_pipeline.exports.csvfile import neutralise_formula
from kodomo_pipeline.exports.operator_summary import LEVELS
from kodomo_pipeline.privacy.services.access_log import record_access
from kodomo_pipeline.rules.domain import (
    LEVEL_A_EFFECT,
    difficulty_types,
    level_a_override_rules,
    level_above,
    override_sentence,
)
from kodomo_pipeline.rules.ruleset import Level, load_base_rules
from kodomo_pipeline.sqlmodels import lifecycle
from kodomo_pipeline.sqlmodels.history import rule_ids, rule_points
from kodomo_pipeline.storage.fallback import describe_fallback
from kodomo_pipeline.storage.feed_tables import read_frame, valid_table
from kodomo_pipeline.storage.snapshots import current_rows_sql, has_table

LIST_SHEET = "検討リスト"
COUNTS_SHEET = "件数"
NOTE_SHEET = "レベルの意味"
GAPS_SHEET = "未連携"
DECIDED_SHEET = "これまでの判定"
ALERT_ID_HEADER = "アラートID"
NOTE_HEADER = "備考"  # for the meeting only: not in the taio_kekka layout, so never ingested
DECISION_WIDTHS = {"decision": 11, "reviewed_on": 12}
NOTE_WIDTH = 16
LINE_HEIGHT = 18.0  # points per wrapped line (11 pt Japanese fonts need ~18 pt)
CONFIDENTIAL = "取扱注意"
# (header, width in characters) of the list sheet, in column order.
LIST_COLUMNS: list[tuple[str, int]] = [
    ("氏名", 16),
    ("カナ", 18),
    ("年齢", 6),
    ("区分", 6),
    ("困難の種類", 11),
    ("レベル", 7),
    ("点数", 6),
    ("該当理由（点数）", 50),
    ("前回比", 8),
    ("要対協", 11),
    ("未連携の項目", 24),
    ("アラートID", 17),
]
WRAPPED = {"該当理由（点数）", "前回比", "未連携の項目"}
SUBJECT_TYPES = {"child": "児童", "expectant_mother": "妊婦"}
KNOWN_CASE_MARK = "要対協 継続"
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
# The list's body cells: top-aligned, and wrapped in the columns of long text (names shown in Excel's cell styles).
TOP_STYLE = NamedStyle(name="検討リスト", font=DEFAULT_FONT, alignment=Alignment(vertical="top"))
WRAPPED_STYLE = NamedStyle(
    name="検討リスト（折り返し）", font=DEFAULT_FONT, alignment=Alignment(wrap_text=True, vertical="top")
)


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
        reasons = lifecycle.reasons_shown(alert, reasons, lambda rule_id: rules.at[rule_id, "name"])  # 再提示 first
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
                lifecycle.change_shown(alert),
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


def _named_style(sheet: Worksheet, style: NamedStyle) -> str:
    """The style's name, registered with the sheet's workbook once.

    Thousands of cells share two alignments: a named style is set by name, whereas setting `cell.alignment`
    makes openpyxl hash and look up a new Alignment for every cell (most of the list's export time)."""
    workbook = sheet.parent
    if style.name not in workbook.named_styles:
        workbook.add_named_style(copy.copy(style))
    return style.name


def _write_table(sheet: Worksheet, header: list[str], rows: list[list[object]]) -> None:
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
    for row in rows:
        sheet.append([_cell_value(value) for value in row])


def decision_layout(town: TownConfig) -> FeedLayout | None:
    """The town's taio_kekka layout: the list's decision headers and allowed 判定 come from it, not from here.
    None when the town takes no decisions file: the list then has no decision columns."""
    return town.feeds.get(MEETING_DECISIONS)


def _headers_by_column(layout: FeedLayout) -> dict[str, str]:
    return {canonical: header for header, canonical in layout.header_to_canonical.items()}


def display_width(text: str) -> int:
    """Width in spreadsheet character units: full-width (East Asian wide) characters count twice."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def wrapped_lines(text: str, width: int) -> int:
    """How many printed lines a wrapped cell of `width` characters needs for `text`."""
    return sum(max(1, math.ceil(display_width(line) / width)) for line in text.split("\n"))


def _fit_row_heights(sheet: Worksheet, widths: dict[int, int]) -> None:
    """Excel does not grow rows for wrapped text written by a program: set each row's height from its text."""
    for row in sheet.iter_rows(min_row=2):
        texts = [(str(cell.value), widths[cell.column]) for cell in row if cell.column in widths and cell.value]
        lines = max((wrapped_lines(text, width) for text, width in texts), default=1)
        sheet.row_dimensions[row[0].row].height = LINE_HEIGHT * lines + 4


def print_setup(sheet: Worksheet, town: TownConfig, asof: dt.date, title: str) -> None:
    """A4 landscape, one page wide, header row on every page, 取扱注意 / town / T / page x / y on every page."""
    sheet.print_title_rows = "1:1"
    sheet.page_setup.orientation = sheet.ORIENTATION_LANDSCAPE
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.gridLines = True
    # Narrow side margins: one page wide at a scale still readable (about 70 % for the list).
    sheet.page_margins = PageMargins(left=0.25, right=0.25, top=0.75, bottom=0.6, header=0.3, footer=0.3)
    sheet.oddHeader.left.text = CONFIDENTIAL
    sheet.oddHeader.left.color = "C00000"
    sheet.oddHeader.center.text = f"{town.name_ja} {title}"
    sheet.oddHeader.right.text = f"基準日 {asof:%Y-%m-%d}"
    sheet.oddFooter.left.text = CONFIDENTIAL
    sheet.oddFooter.center.text = "&P / &N"
    sheet.oddFooter.right.text = town.name_ja


def add_dropdown(sheet: Worksheet, column: int, last_row: int, words: Sequence[str], title: str, prompt: bool) -> None:
    """A list dropdown on rows 2..last_row of one column; a typed value outside `words` is refused by Excel
    (ingestion checks it again: the contract's allowed values)."""
    validation = DataValidation(
        type="list",
        formula1='"' + ",".join(words) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle=title,
        error="一覧から選んでください: " + " / ".join(words),
    )
    if prompt:
        validation.promptTitle, validation.prompt, validation.showInputMessage = title, " / ".join(words), True
    letter = get_column_letter(column)
    validation.add(f"{letter}2:{letter}{max(last_row, 2)}")
    sheet.add_data_validation(validation)


def _decision_dropdown(sheet: Worksheet, layout: FeedLayout, column: int, last_row: int) -> None:
    """判定 as a dropdown of the values the taio_kekka contract allows (assets/taio_kekka.yaml)."""
    add_dropdown(sheet, column, last_row, layout.spec.columns["decision"].allowed or (), "判定", prompt=True)


def list_columns(town: TownConfig) -> list[tuple[str, int]]:
    """The list sheet's columns: the alert's (the alert ID headed as the town's decision layout names it), then
    判定 and 検討日 as that layout names them, and 備考."""
    layout = decision_layout(town)
    if layout is None:
        return list(LIST_COLUMNS)
    headers = _headers_by_column(layout)
    columns = [
        (headers["alert_id"], width) if name == ALERT_ID_HEADER else (name, width) for name, width in LIST_COLUMNS
    ]
    decided = [(headers[column], width) for column, width in DECISION_WIDTHS.items()]
    return [*columns, *decided, (NOTE_HEADER, NOTE_WIDTH)]


def _list_sheet(sheet: Worksheet, rows: list[list[object]], town: TownConfig, asof: dt.date) -> None:
    columns = list_columns(town)
    headers = [header for header, _ in columns]
    _write_table(sheet, headers, [row + [None] * (len(columns) - len(row)) for row in rows])
    wrapped: dict[int, int] = {}
    for index, (header, width) in enumerate(columns, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = width
        if header in WRAPPED or header == NOTE_HEADER:
            wrapped[index] = width
        style = _named_style(sheet, WRAPPED_STYLE if index in wrapped else TOP_STYLE)
        for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
            cell.style = style
    _fit_row_heights(sheet, wrapped)
    layout = decision_layout(town)
    if layout is not None:
        decision_header = _headers_by_column(layout)["decision"]
        _decision_dropdown(sheet, layout, headers.index(decision_header) + 1, len(rows) + 1)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    print_setup(sheet, town, asof, "アラート検討リスト")


def decisions_in_force(con: duckdb.DuckDBPyConnection, asof: dt.date) -> pd.DataFrame:
    """The taio_kekka snapshot in force at T (every decision so far), oldest first."""
    if not has_table(con, valid_table(MEETING_DECISIONS)) or not has_table(con, "ingested_files"):
        return pd.DataFrame(columns=["alert_id", "reviewed_on", "decision"])
    return read_frame(
        con,
        f"""SELECT alert_id, reviewed_on, decision FROM ({current_rows_sql(MEETING_DECISIONS)})
            ORDER BY reviewed_on, _row""",
        [asof],
    )


def _decided_sheet(
    sheet: Worksheet, decided: pd.DataFrame, town: TownConfig, layout: FeedLayout, asof: dt.date
) -> None:
    """The decisions in force, carried so the returned workbook is a full taio_kekka snapshot (protected)."""
    headers = _headers_by_column(layout)
    rows = [
        [row.alert_id, pd.Timestamp(row.reviewed_on).date().isoformat(), row.decision]
        for row in decided.itertuples(index=False)
    ]
    _write_table(sheet, [headers["alert_id"], headers["reviewed_on"], headers["decision"]], rows)
    for letter, width in zip("ABC", (24, 14, 12), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.protection.sheet = True  # carried as is; a new decision goes on the list sheet
    print_setup(sheet, town, asof, DECIDED_SHEET)


def _counts_sheet(sheet: Worksheet, summary: Mapping[str, Any]) -> None:
    """Level × difficulty type with totals, then the changes and the rule set the list was judged under."""
    table = summary["by_level_and_type"]
    kinds = list(summary["by_type"])  # the rule file's difficulty types, as operator_summary counted them
    rows: list[list[object]] = [
        [level, *(table[level][kind] for kind in kinds), summary["by_level"][level]] for level in LEVELS
    ]
    rows.append(["計", *(summary["by_type"][kind] for kind in kinds), summary["alerts"]])
    rows += [
        [],
        ["新規", summary["new"]],
        ["上昇", summary["raised"]],
        ["対応不要により除外", summary["suppressed"]],
        [],
        ["判定基準の版", summary["rule_set_version"]],
        ["基準日", summary["as_of"]],
    ]
    _write_table(sheet, ["レベル", *kinds, "計"], rows)
    sheet.column_dimensions["A"].width = 20
    for index in range(2, len(kinds) + 3):
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
    above = level_above(level)
    low = levels[level].min_score
    return f"{low}点以上" if above is None else f"{low}〜{levels[above].min_score - 1}点"


def _level_a_overrides(con: duckdb.DuckDBPyConnection) -> str:
    """The level-A overrides (R13 in v1) in words: from the `rule_set` table of the run (the rule set in force,
    town overrides included), else from the shared rule file."""
    query = "SELECT column_name FROM duckdb_columns() WHERE table_name = 'rule_set'"
    columns = {row[0] for row in con.execute(query).fetchall()}
    if {"rule_id", "name", "enabled", "effect"} <= columns:
        rows = con.execute(
            "SELECT rule_id, name, effect FROM rule_set WHERE enabled AND starts_with(effect, ?)", [LEVEL_A_EFFECT]
        ).fetchall()
        overrides = {rule_id: (name, effect.removeprefix(LEVEL_A_EFFECT)) for rule_id, name, effect in rows}
    else:
        base = load_base_rules()
        found = level_a_override_rules(base)
        overrides = {rule_id: (base.rules[rule_id].name, code) for rule_id, code in found.items()}
    return override_sentence(overrides, difficulty_types())


def _note_sheet(sheet: Worksheet, levels: Mapping[str, Level], overrides: str) -> None:
    rows: list[list[object]] = [[level, levels[level].meaning, _score_range(levels, level)] for level in LEVELS]
    rows += [
        [],
        ["", f"{LEVELS[-1]}未満はアラートになりません。{overrides}"],
        ["", "未連携の項目は、この町にそのデータがないため判定できなかった項目です（リスクなしではありません）。"],
        ["", "要対協 継続: 要保護児童対策地域協議会に登録中（継続）のケースです。"],
        ["", "このリストは判定基準による提案です。支援の要否は会議で判断します。"],
    ]
    _write_table(sheet, ["レベル", "意味", "点数"], rows)
    sheet.column_dimensions["A"].width = 8
    sheet.column_dimensions["B"].width = 90
    sheet.column_dimensions["C"].width = 12


def meeting_xlsx_name(town: TownConfig, asof: dt.date) -> str:
    """meeting_<town>_<YYYYMMDD>.xlsx: the town in the name, so lists of two towns never mix on a desk."""
    return f"meeting_{town.town}_{asof:%Y%m%d}.xlsx"


def export_meeting_xlsx(
    con: duckdb.DuckDBPyConnection,
    asof: dt.date,
    out_dir: Path,
    summary: Mapping[str, Any],
    levels: Mapping[str, Level],
    town: TownConfig,
) -> Path:
    """Write the workbook for T (summary from `operator_summary`, levels of the rule set in force)."""
    workbook = Workbook()
    workbook.active.title = LIST_SHEET
    _list_sheet(workbook.active, meeting_rows(con, asof), town, asof)
    _counts_sheet(workbook.create_sheet(COUNTS_SHEET), summary)
    _note_sheet(workbook.create_sheet(NOTE_SHEET), levels, _level_a_overrides(con))
    _gaps_sheet(workbook.create_sheet(GAPS_SHEET), summary)
    if (layout := decision_layout(town)) is not None:
        _decided_sheet(workbook.create_sheet(DECIDED_SHEET), decisions_in_force(con, asof), town, layout, asof)
    path = out_dir / meeting_xlsx_name(town, asof)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    record_access(con, path.name, MEETING_PURPOSE)
    return path
