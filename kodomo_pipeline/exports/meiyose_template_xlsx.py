"""meiyose_kekka_template_<YYYYMMDD>.xlsx: the 名寄せ decision template as a workbook, beside the CSV one.

Same rows and headers as the CSV template (it is read back from that file, so the two never differ); 判定 is a
dropdown of the words the town's meiyose_kekka layout maps (同一人物 / 別人, resources/systems), 確認日 takes a
date as staff type it. Filled in and dropped in the inbox as meiyose_kekka_<YYYYMMDD>.xlsx, it is read by
ingest/xlsx_reader.py like the CSV; rows left without 判定 and 確認日 are not decisions.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from kodomo_pipeline.config.feed_roles import LINKAGE_DECISIONS
from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.exports.meeting_xlsx import HEADER_FILL, add_dropdown, print_setup

SHEET = "名寄せ確認"
WIDTHS = {"feed": 14, "source_key": 18, "resident_id": 16, "decision": 12, "decided_on": 16}


def write_meiyose_template_xlsx(template_csv: Path, town: TownConfig, asof: dt.date) -> Path | None:
    """Write the workbook next to `template_csv` (same name, .xlsx) with the 判定 dropdown; returns its path.
    None when the town takes no 名寄せ decisions file (no meiyose_kekka feed): there is nothing to return it as."""
    layout = town.feeds.get(LINKAGE_DECISIONS)
    if layout is None:
        return None
    canonical = layout.header_to_canonical
    with template_csv.open(encoding="utf-8-sig", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    book = Workbook()
    sheet = book.active
    sheet.title = SHEET
    sheet.append(header)
    for row in rows:
        sheet.append([value or None for value in row])
    for index, name in enumerate(header, start=1):
        cell = sheet.cell(1, index)
        cell.font, cell.fill = Font(bold=True), HEADER_FILL
        sheet.column_dimensions[get_column_letter(index)].width = WIDTHS.get(canonical.get(name, ""), 14)
        for (body,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
            body.alignment = Alignment(vertical="top")
    words = list(layout.codes_for("decision") or {})
    column = header.index(_header_of(canonical, "decision")) + 1
    add_dropdown(sheet, column, len(rows) + 1, words, "判定", prompt=False)
    sheet.freeze_panes = "A2"
    print_setup(sheet, town, asof, "名寄せ確認 判定記入用")
    path = template_csv.with_suffix(".xlsx")
    book.save(path)
    return path


def _header_of(canonical: dict[str, str], column: str) -> str:
    return next(header for header, name in canonical.items() if name == column)
