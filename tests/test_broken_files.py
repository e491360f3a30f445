"""Broken exports cost the broken rows, never the whole feed, and every error is bounded in time and value-free.

Built from real layout rows (kawashima jumin, cp932, CRLF): a NUL byte in one row, an over-long line, a file
cut mid-row, a 10 MB single-line file, and header-less, shifted and garbage files whose planted values must
not come back in any cause.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kodomo_pipeline.ingest.lines import LINE_TOO_LONG, NUL_BYTE, screen_lines
from kodomo_pipeline.ingest.reader import UnreadableFile, read_export
from kodomo_pipeline.ingest.settings import ingestion_settings
from tests.conftest import K_JUMIN_ROW, write_export

PLANTED = "蒼井　澪音"  # a planted name: it must never appear in a cause


def _rows(count: int) -> list[list[str]]:
    return [[f"{1000 + n:010d}", f"{300000 + n}", *K_JUMIN_ROW[2:]] for n in range(count)]


@pytest.fixture()
def layout(towns):
    return towns["kawashima"].feeds["jumin"]


def _bytes(path: Path) -> bytes:
    return path.read_bytes()


def test_nul_byte_quarantines_that_row_only(tmp_path: Path, layout) -> None:
    path = write_export(tmp_path / "jumin_20261101.csv", layout, _rows(200))
    lines = _bytes(path).split(b"\r\n")
    lines[100] = lines[100][:20] + b"\x00" + lines[100][20:]  # row 100 (header is line 0)
    path.write_bytes(b"\r\n".join(lines))
    raw = read_export(path, layout)
    assert raw.malformed == {100: NUL_BYTE}
    assert len(raw.frame) == 199 and 100 not in set(raw.frame["_row"])
    assert raw.rows_read == 200


def test_over_long_line_quarantines_that_row_with_its_number(tmp_path: Path, layout) -> None:
    limit = ingestion_settings("kawashima", "jumin").max_line_bytes
    rows = _rows(50)
    rows[9][7] = "大字" * limit  # row 10's address: far over the limit
    path = write_export(tmp_path / "jumin_20261101.csv", layout, rows)
    raw = read_export(path, layout)
    assert raw.malformed == {10: LINE_TOO_LONG}
    assert len(raw.frame) == 49 and list(raw.frame["_row"][:10]) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 11]


def test_file_cut_mid_row_quarantines_the_last_row_as_truncated(tmp_path: Path, layout) -> None:
    path = write_export(tmp_path / "jumin_20261101.csv", layout, _rows(30))
    data = _bytes(path)
    path.write_bytes(data[: data.rstrip(b"\r\n").rfind(b",", 0, len(data) - 40)])  # cut inside row 30
    raw = read_export(path, layout)
    assert raw.malformed == {30: "truncated_row"} and len(raw.frame) == 29


def test_ten_megabyte_single_line_is_refused_in_seconds_without_its_content(tmp_path: Path, layout) -> None:
    path = tmp_path / "jumin_20261101.csv"
    path.write_bytes(("宛名番号," + ",".join([PLANTED] * 1_000_000)).encode("cp932")[: 10 * 1024 * 1024])
    started = time.perf_counter()
    with pytest.raises(UnreadableFile) as caught:
        read_export(path, layout)
    assert time.perf_counter() - started < 5
    assert "header line is longer than" in caught.value.cause and PLANTED not in str(caught.value)


def test_ten_megabyte_data_line_costs_one_row_in_seconds(tmp_path: Path, layout) -> None:
    path = write_export(tmp_path / "jumin_20261101.csv", layout, _rows(3))
    path.write_bytes(_bytes(path) + ",".join([PLANTED] * 1_000_000).encode("cp932") + b"\r\n")
    started = time.perf_counter()
    raw = read_export(path, layout)
    assert time.perf_counter() - started < 5
    assert raw.malformed == {4: LINE_TOO_LONG} and len(raw.frame) == 3


def test_many_duplicate_header_names_are_checked_in_linear_time(tmp_path: Path, layout) -> None:
    from kodomo_pipeline.layout.writer import export_headers

    header = ",".join([*export_headers(layout), *[f"列{n % 5000}" for n in range(6000)]])
    path = tmp_path / "jumin_20261101.csv"
    path.write_bytes((header + "\r\n").encode("cp932"))
    started = time.perf_counter()
    with pytest.raises(UnreadableFile) as caught:
        read_export(path, layout, max_line_bytes=1 << 20)
    assert time.perf_counter() - started < 2
    assert caught.value.cause == "duplicate header(s): 1000 column name(s) the layout does not know"


def test_header_less_shifted_and_garbage_files_never_echo_a_value(tmp_path: Path, layout) -> None:
    rows = _rows(5)
    for row in rows:
        row[2] = PLANTED
    good = write_export(tmp_path / "good.csv", layout, rows)
    lines = _bytes(good).split(b"\r\n")
    cases = {
        "headerless": b"\r\n".join(lines[1:]),
        "headerless_twice": b"\r\n".join([lines[1], lines[1], *lines[2:]]),  # duplicate "header" cells
        "shifted": b"\r\n".join([b"," + lines[1], *lines[1:]]),  # a data row, one cell to the right
        "garbage": bytes(range(1, 256)) * 40 + PLANTED.encode("cp932"),
    }
    for name, data in cases.items():
        path = tmp_path / f"jumin_{name}.csv"
        path.write_bytes(data)
        with pytest.raises(UnreadableFile) as caught:
            read_export(path, layout)
        for text in (str(caught.value), caught.value.cause):
            assert PLANTED not in text and "0000001000" not in text and "川島町" not in text, name


def test_screen_lines_is_a_no_op_for_ordinary_files() -> None:
    data = b"a,b\r\n1,2\r\n"
    screened = screen_lines(data, 1024)
    assert screened.data is data and screened.bad_lines == {} and screened.header_problem is None


def test_ingestion_settings_are_data_merged_per_town_and_feed(tmp_path: Path) -> None:
    from kodomo_pipeline.config.errors import ConfigError

    path = tmp_path / "ingestion.yaml"
    path.write_text(
        "defaults:\n  max_line_bytes: 4096\n  shrink: {threshold: 0.8, action: warn, min_previous_rows: 10}\n"
        "towns:\n  misato:\n    shrink: {threshold: 0.5}\n    feeds:\n      jumin: {shrink: {action: hold}}\n",
        encoding="utf-8",
    )
    assert ingestion_settings("kawashima", "jumin", path).shrink.model_dump() == {
        "threshold": 0.8,
        "action": "warn",
        "min_previous_rows": 10,
    }
    misato = ingestion_settings("misato", "jumin", path)
    assert (misato.max_line_bytes, misato.shrink.threshold, misato.shrink.action) == (4096, 0.5, "hold")
    assert ingestion_settings("misato", "toen", path).shrink.action == "warn"
    bad = tmp_path / "bad.yaml"
    bad.write_text(path.read_text(encoding="utf-8").replace("action: hold", "action: drop"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        ingestion_settings("misato", "jumin", bad)
    assert "bad.yaml" in str(caught.value) and "action" in str(caught.value)


def test_a_quote_never_closed_costs_its_row_and_the_rows_after_it_are_read(tmp_path: Path, layout) -> None:
    rows = _rows(8)
    rows[2][2] = '"' + rows[2][2]  # row 3: a stray quote opening a name, closed nowhere
    path = write_export(tmp_path / "jumin_20261101.csv", layout, rows)
    path.write_bytes(path.read_bytes() + ('"' + PLANTED * 100_000).encode("cp932") + b"\r\n")  # row 9: 128 KB on
    started = time.perf_counter()
    raw = read_export(path, layout, max_line_bytes=1 << 22)
    assert time.perf_counter() - started < 5
    assert raw.malformed == {3: "unbalanced_quote", 9: "unbalanced_quote"}
    assert list(raw.frame["_row"]) == [1, 2, 4, 5, 6, 7, 8] and raw.rows_read == 9
    assert PLANTED not in str(raw.malformed)


def test_a_stray_quote_closed_lines_later_costs_its_row_not_the_rows_between(tmp_path: Path, layout) -> None:
    rows = _rows(10)
    rows[3][2] = '"' + rows[3][2]  # row 4 opens a quote …
    rows[6][7] = rows[6][7] + '"'  # … that a stray quote in row 7 would close, swallowing rows 5 and 6
    path = write_export(tmp_path / "jumin_20261101.csv", layout, rows)
    raw = read_export(path, layout)
    assert raw.malformed == {4: "unbalanced_quote"}  # row 7's quote, inside a field, is only a character
    assert list(raw.frame["_row"]) == [1, 2, 3, 5, 6, 7, 8, 9, 10]


def test_a_stray_quote_closed_in_the_same_column_lines_later_costs_its_row_not_the_rows_between(
    tmp_path: Path, layout
) -> None:
    """Opened and closed in the same column, the span has the header's field count: the csv module reads it as
    one record holding rows 4 to 7. The whole rows inside it give it away."""
    rows = _rows(10)
    rows[3][2] = '"' + rows[3][2]  # row 4 opens a quote in the name …
    rows[6][2] = rows[6][2] + '"'  # … that a stray quote at the end of row 7's name closes
    path = write_export(tmp_path / "jumin_20261101.csv", layout, rows)
    raw = read_export(path, layout)
    assert raw.malformed == {4: "unbalanced_quote"}
    assert list(raw.frame["_row"]) == [1, 2, 3, 5, 6, 7, 8, 9, 10]


def test_quoted_fields_with_line_breaks_are_still_one_row(tmp_path: Path, layout) -> None:
    rows = _rows(4)
    rows[1][7] = '"川島町大字中山1番地\r\n2階"'  # a quoted address holding a line break: one record
    path = write_export(tmp_path / "jumin_20261101.csv", layout, rows)
    raw = read_export(path, layout)
    assert raw.malformed == {} and list(raw.frame["_row"]) == [1, 2, 3, 4]
