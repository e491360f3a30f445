"""kill -9 in the middle of a night, then a rerun: the same tables, quarantine, alerts and history as a clean run.

Each bad day is real: `kodomo run` in its own process, killed by SIGKILL at ingestion, validation, Splink's scoring,
linkage or export (the test-only KODOMO_FAULT_AT hook, storage/faults.py), then run again without the fault.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
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
POPULATION = 500
# Bookkeeping of runs themselves (who ran when, which model JSON with which run ID): differs between any two runs.
PER_RUN_TABLES = {"run_feeds", "access_log", "linkage_models"}


def _kodomo_run(home: Path, inbox: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("DAGSTER_HOME", "KODOMO_FAULT_AT")}
    env["KODOMO_HOME"] = str(home)
    env["KODOMO_PSEUDONYM_KEY_MISATO"] = "crash-safety-test-key-0123456789abcdef"  # alert IDs comparable across homes
    if fault:
        env["KODOMO_FAULT_AT"] = fault
    command = [sys.executable, "-m", "kodomo_pipeline.cli", "run", "--town", TOWN, "--inbox", str(inbox)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def _state(home: Path) -> dict:
    """What a night leaves: row counts per table, quarantine, files, alerts and history (IDs, levels, scores)."""
    database = load_towns()[TOWN].database(home)
    with duckdb.connect(str(database), read_only=True) as con:
        tables = [
            row[0]
            for row in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY table_name").fetchall()
            if row[0] not in PER_RUN_TABLES
        ]
        state = {f"count:{name}": con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0] for name in tables}
        queries = {
            "quarantine": "SELECT feed, file_name, sha256, row_number, column_name, reason FROM quarantine",
            "files": """SELECT sha256, feed, file_name, rows_read, rows_valid, rows_quarantined, dropped_columns
                        FROM ingested_files""",
            "alerts": "SELECT alert_id, level, score, change, suppressed FROM alerts",
            "alert_history": "SELECT as_of, alert_id, level, score, change FROM alert_history",
            "alert_fact_history": "SELECT as_of, alert_id, rule_id, source_sha256, source_row FROM alert_fact_history",
            "crosswalk": "SELECT feed, source_key, resident_id, status FROM crosswalk",
        }
        for name, sql in queries.items():
            state[name] = sorted(map(repr, con.execute(sql).fetchall()))
    out = home / "out" / TOWN
    state["alerts_csv"] = (out / f"alerts_{ASOF:%Y%m%d}.csv").read_bytes()
    state["archive"] = sorted(p.name for p in (home / "archive" / TOWN).rglob("*") if p.is_file())
    return state


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("inbox")
    generate_town(load_towns()[TOWN], folder, tmp_path_factory.mktemp("truth"), ASOF, POPULATION, 7)
    return folder


@pytest.fixture(scope="module")
def clean(inbox: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("clean")
    done = _kodomo_run(home, inbox)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return _state(home)


@pytest.mark.parametrize("fault", ["ingestion:jumin", "validation:jumin", "scoring", "linkage", "export"])
def test_kill_9_then_rerun_gives_the_clean_night(
    fault: str, inbox: Path, clean: dict, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home = tmp_path_factory.mktemp(fault.replace(":", "_"))
    killed = _kodomo_run(home, inbox, fault)
    assert killed.returncode == -signal.SIGKILL, killed.stdout[-2000:] + killed.stderr[-2000:]
    rerun = _kodomo_run(home, inbox)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    after = _state(home)
    assert after.keys() == clean.keys()
    differing = [key for key in clean if after[key] != clean[key]]
    assert differing == [], differing
    assert len(clean["alerts"]) > 0 and clean["count:persons"] > 100
