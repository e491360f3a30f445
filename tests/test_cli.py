"""The operator's commands: demo end to end, status as JSON, generate, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kodomo_pipeline.cli import main

STATUS_KEYS = {"file", "sha256", "rows_read", "rows_valid", "rows_quarantined", "quarantine_reasons", "dropped_columns"}


@pytest.mark.slow
def test_demo_runs_both_towns_and_status_reports_each_feed(home: Path, towns) -> None:
    runner = CliRunner()
    demo = runner.invoke(main, ["demo", "--asof", "2026-11-26"])
    assert demo.exit_code == 0, demo.output
    assert "[4/4] running misato" in demo.output and "Summary" in demo.output
    for name, town in towns.items():
        result = runner.invoke(main, ["status", "--town", name, "--json"])
        assert result.exit_code == 0
        status = json.loads(result.output)
        assert status["town"] == name and set(status["feeds"]) == set(town.feeds)
        for feed, entry in status["feeds"].items():
            assert set(entry) >= STATUS_KEYS, feed
            assert entry["rows_read"] == entry["rows_valid"] + entry["rows_quarantined"]
            assert entry["sha256"] and len(entry["sha256"]) == 64
        assert status["feeds"]["jumin"]["dropped_columns"] == (["本籍"] if name == "kawashima" else [])
        assert sum(sum(e["quarantine_reasons"].values()) for e in status["feeds"].values()) > 0
        assert (town.output(home) / "ingest_status_20261126.json").exists()
    # The same night again: nothing is ingested twice.
    again = runner.invoke(main, ["run", "--town", "misato", "--asof", "2026-11-26"])
    assert again.exit_code == 0
    assert "already_ingested" in again.output and " ingested " not in again.output


def test_generate_writes_the_towns_feeds_and_truth_apart(tmp_path: Path, towns) -> None:
    out = tmp_path / "misato"
    result = CliRunner().invoke(
        main, ["generate", "--town", "misato", "--out", str(out), "--asof", "2026-11-26", "--population", "800"]
    )
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.glob("*.csv")} == {f"{feed}_20261126.csv" for feed in towns["misato"].feeds}
    assert (out / "truth" / "links.csv").exists()


def test_bad_arguments_are_refused_clearly(home: Path) -> None:
    runner = CliRunner()
    assert "YYYY-MM-DD" in runner.invoke(main, ["run", "--town", "misato", "--asof", "R08.13.26"]).output
    assert "'tokyo' is not one of" in runner.invoke(main, ["run", "--town", "tokyo"]).output
    empty = runner.invoke(main, ["status", "--town", "misato", "--json"])
    never_run = json.loads(empty.output)
    assert empty.exit_code == 4 and never_run["verdict"] == "no_run"  # documented for job schedulers
    assert (never_run["town"], never_run["run_id"], never_run["feeds"]) == ("misato", None, {})
    assert never_run["inbox_ignored"] == []
