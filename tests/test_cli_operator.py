"""The operator's CLI surface: --version, town choices from the configuration, dates as ISO or 和暦, and
status tables whose columns stay apart at a million rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kodomo_pipeline import __version__
from kodomo_pipeline.cli import _print_summary, main
from kodomo_pipeline.cli_params import parse_date
from kodomo_pipeline.cli_table import render_table


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"kodomo {__version__}"


def test_help_lists_the_configured_towns(towns) -> None:
    help_text = CliRunner().invoke(main, ["run", "--help"]).output
    assert f"--town [{'|'.join(sorted(towns))}]" in help_text
    assert CliRunner().invoke(main, ["--help"]).exit_code == 0


def test_unknown_town_is_refused_in_japanese_with_the_choices(home: Path) -> None:
    result = CliRunner().invoke(main, ["status", "--town", "tokyo"])
    assert result.exit_code == 2
    assert "[KD-E02] 町 'tokyo' は設定にありません（kawashima, misato）" in result.output


@pytest.mark.parametrize("text", ["2026-11-26", "R8.11.26", "R08.11.26", "令和8年11月26日", "2026/11/26"])
def test_asof_as_iso_or_wareki(text: str) -> None:
    assert parse_date(None, None, text) == dt.date(2026, 11, 26)  # type: ignore[arg-type]


def test_wareki_asof_reaches_the_command(home: Path) -> None:
    # explain with a 和暦 --asof gets past argument parsing to the database check (no database yet).
    result = CliRunner().invoke(main, ["explain", "AL-1", "--town", "misato", "--asof", "令和8年11月26日"])
    assert "Invalid value for '--asof'" not in result.output
    bad = CliRunner().invoke(main, ["explain", "AL-1", "--town", "misato", "--asof", "令和8年13月1日"])
    assert bad.exit_code == 2 and "[KD-E03] 日付として読めません" in bad.output
    with pytest.raises(click.BadParameter):
        parse_date(None, None, "H31.05.01")  # type: ignore[arg-type]  # 平成 ended on 04-30


def test_status_columns_stay_apart_above_a_million(capsys: pytest.CaptureFixture[str]) -> None:
    status = {
        "feeds": {
            "gakko_shusseki": {
                "outcome": "ingested",
                "rows_read": 12_345_678,
                "rows_valid": 12_000_000,
                "rows_quarantined": 345_678,
                "file": "gakko_shusseki_20261126.csv",
            },
            "jumin": {
                "outcome": "already_ingested",
                "rows_read": 1_000_000,
                "rows_valid": 999_999,
                "rows_quarantined": 1,
                "file": "jumin_20261126.csv",
            },
        }
    }
    _print_summary(status)
    header, first, second = capsys.readouterr().out.splitlines()[:3]
    assert first.split() == ["gakko_shusseki", "ingested", "12,345,678", "12,000,000", "345,678",
                             "gakko_shusseki_20261126.csv"]  # fmt: skip
    assert second.split() == ["jumin", "already_ingested", "1,000,000", "999,999", "1", "jumin_20261126.csv"]
    # Right-aligned numbers end in the same column as their header.
    assert header.index("read") + len("read") == first.index("12,345,678") + len("12,345,678")


def test_render_table_counts_full_width_twice() -> None:
    lines = render_table(["項目", "n"], [["名寄せ", 1], ["x", 22]], numeric={1})
    assert lines == ["項目     n", "名寄せ   1", "x       22"]
