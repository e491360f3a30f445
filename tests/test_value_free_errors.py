"""A night with broken exports, through `kodomo run`: no value of those files in any output.

The first rows of a header-less, a shifted, a garbage and a NUL/over-long-line export carry planted values;
after the run, the failed/ reports, `kodomo status --json`, the run's terminal output, the town database's
bookkeeping and quarantine tables, the Dagster instance's storage (event log) and the log files are scanned
for every planted value, raw and JSON-escaped.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from kodomo_pipeline.config import load_towns
from kodomo_pipeline.generator import generate_town

pytestmark = pytest.mark.slow  # whole-town `kodomo run` processes
TOWN = "misato"
ASOF = dt.date(2026, 11, 26)
PLANTED_ROWS = 3


def _token(feed: str, row: int, column: int) -> str:
    return f"澪音{feed[:3]}{row}x{column}漣"  # unlike anything the generator or the code writes


def _read(path: Path, encoding: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode(encoding), newline="")))


def _write(path: Path, rows: list[list[str]], encoding: str, newline: str) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=newline).writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))


def _plant(rows: list[list[str]], feed: str) -> tuple[list[list[str]], set[str]]:
    """Every cell of the first data rows replaced by a planted token."""
    tokens: set[str] = set()
    for r in range(1, PLANTED_ROWS + 1):
        rows[r] = [_token(feed, r, c) for c in range(len(rows[r]))]
        tokens |= set(rows[r])
    return rows, tokens


def _break_inbox(inbox: Path) -> set[str]:
    town = load_towns()[TOWN]
    planted: set[str] = set()

    def load(feed: str) -> tuple[Path, list[list[str]], str, str]:
        layout = town.feeds[feed].layout
        path = inbox / f"{feed}_{ASOF:%Y%m%d}.csv"
        return path, _read(path, layout.encoding), layout.encoding, layout.newline

    path, rows, encoding, newline = load("nyuyoji_kenshin")  # header-less: a data row where the header was
    rows, tokens = _plant(rows, "nyuyoji_kenshin")
    _write(path, rows[1:], encoding, newline)
    planted |= tokens

    path, rows, encoding, newline = load("ninpu_kenshin")  # shifted: every data row one cell to the right
    rows, tokens = _plant(rows, "ninpu_kenshin")
    _write(path, [rows[0], *(["", *row[:-1]] for row in rows[1:])], encoding, newline)
    planted |= tokens - {rows[r][-1] for r in range(1, PLANTED_ROWS + 1)}

    path, rows, encoding, newline = load("sango_shitsumon")  # a NUL byte in row 1, an over-long row 2
    rows, tokens = _plant(rows, "sango_shitsumon")
    rows[2][0] = rows[2][0] + "長" * 70_000
    _write(path, rows, encoding, newline)
    data = path.read_bytes()
    cut = data.index(_token("sango_shitsumon", 1, 1).encode(encoding.removesuffix("-sig")))
    path.write_bytes(data[:cut] + b"\x00" + data[cut:])
    planted |= tokens

    path = inbox / f"seikatsu_hogo_{ASOF:%Y%m%d}.csv"  # garbage around planted values
    garbage = [_token("seikatsu_hogo", 1, c) for c in range(4)]
    path.write_bytes(bytes(range(1, 128)) * 30 + ",".join(garbage).encode() + bytes(range(128, 256)) * 30)
    planted |= set(garbage)
    return planted


def _kodomo(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("DAGSTER_HOME", "KODOMO_FAULT_AT")}
    env["KODOMO_HOME"] = str(home)
    command = [sys.executable, "-m", "kodomo_pipeline.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)


def _forms(value: str) -> list[bytes]:
    """The bytes a value could be stored as: UTF-8, cp932, and JSON with ASCII escapes."""
    return [value.encode(), value.encode("cp932"), json.dumps(value)[1:-1].encode()]


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str], list[str]]:
    inbox = tmp_path_factory.mktemp("inbox")
    generate_town(load_towns()[TOWN], inbox, tmp_path_factory.mktemp("truth"), ASOF, 400, 3)
    planted = _break_inbox(inbox)
    home = tmp_path_factory.mktemp("home")
    run = _kodomo(home, "run", "--town", TOWN, "--inbox", str(inbox), "--asof", ASOF.isoformat())
    status = _kodomo(home, "status", "--town", TOWN, "--json")
    assert status.returncode == 0, status.stderr[-2000:]
    return home, planted, [run.stdout, run.stderr, status.stdout, status.stderr]


def test_the_broken_files_end_as_expected(night) -> None:
    home, _, texts = night
    feeds = json.loads(texts[2])["feeds"]
    assert (
        feeds["nyuyoji_kenshin"]["outcome"] == "failed"
        and "missing required header" in feeds["nyuyoji_kenshin"]["error"]
    )
    assert feeds["seikatsu_hogo"]["outcome"] == "failed"
    ninpu = feeds["ninpu_kenshin"]
    assert ninpu["outcome"] == "ingested" and ninpu["rows_quarantined"] > ninpu["rows_read"] // 2
    sango = feeds["sango_shitsumon"]
    assert sango["quarantine_reasons"].get("nul_byte") == 1 and sango["quarantine_reasons"].get("line_too_long") == 1
    assert sango["rows_read"] == sango["rows_valid"] + sango["rows_quarantined"]
    assert sorted(p.name for p in (home / "failed" / TOWN).glob("*.report.json")) == [
        f"nyuyoji_kenshin_{ASOF:%Y%m%d}.csv.report.json",
        f"seikatsu_hogo_{ASOF:%Y%m%d}.csv.report.json",
    ]


def test_no_planted_value_in_any_output(night) -> None:
    home, planted, texts = night
    assert len(planted) > 40
    places: dict[str, bytes] = {f"terminal/status {n}": text.encode() for n, text in enumerate(texts)}
    for report in (home / "failed" / TOWN).glob("*.report.json"):
        places[str(report)] = report.read_bytes()
    for folder in ("dagster_home", "logs", "out", "quality"):
        for path in (home / folder).rglob("*"):
            if path.is_file() and path.suffix not in (".xlsx",):
                places[str(path)] = path.read_bytes()
    with duckdb.connect(str(load_towns()[TOWN].database(home)), read_only=True) as con:
        for table in ("run_feeds", "ingested_files", "quarantine"):
            rows = con.execute(f"SELECT * FROM {table}").fetchall()
            places[f"db:{table}"] = repr(rows).encode() + json.dumps(rows, default=str).encode()
        # The control: the planted values did reach the town database's raw rows (where values belong),
        # so the scan below looks for forms that exist.
        raw = repr(con.execute("SELECT * FROM raw_ninpu_kenshin ORDER BY _row LIMIT 3").fetchall()).encode()
    assert any(f in raw for value in planted for f in _forms(value))
    assert any(name.endswith(".db") or "storage" in name for name in places)  # the Dagster event log was read
    leaks = sorted(
        (name, value) for value in planted for name, data in places.items() if any(f in data for f in _forms(value))
    )
    assert leaks == [], leaks[:5]
