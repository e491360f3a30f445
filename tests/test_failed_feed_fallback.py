"""A feed that fails stays small: an empty seikatsu_hogo on night 2 → the alert list, the meeting list and the
disclosures are still written, judged from night 1's seikatsu_hogo, and everything says so (`kodomo run` exit 3).
An empty jumin (essential in the town file) fails the night clearly (exit 1, no alert list). Generated kawashima
through the real `kodomo run`."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result
from openpyxl import load_workbook

from kodomo_pipeline.cli import EXIT_DEGRADED, main
from kodomo_pipeline.config import load_towns
from kodomo_pipeline.exports.disclosure import manifest_path
from kodomo_pipeline.exports.meeting_xlsx import meeting_xlsx_name
from kodomo_pipeline.generator import generate_town
from kodomo_pipeline.storage.snapshots import current_rows_sql

NIGHT1 = dt.date(2026, 10, 30)
NIGHT2 = dt.date(2026, 10, 31)
NIGHT3 = dt.date(2026, 11, 1)
POPULATION = 1500
TOWN = "kawashima"
pytestmark = pytest.mark.slow


def _night(root: Path, asof: dt.date, empty_feed: str | None) -> Result:
    town = load_towns()[TOWN]
    generate_town(town, town.inbox(root), root / "truth" / f"{asof:%Y%m%d}", asof, POPULATION, seed=5)
    if empty_feed:
        (town.inbox(root) / f"{empty_feed}_{asof:%Y%m%d}.csv").write_bytes(b"")
    return CliRunner().invoke(main, ["run", "--town", TOWN, "--asof", asof.isoformat()])


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Night 1 as exported, night 2 with an empty seikatsu_hogo, night 3 with an empty jumin."""
    root = tmp_path_factory.mktemp("fallback") / "data"
    patch = pytest.MonkeyPatch()
    patch.setenv("KODOMO_HOME", str(root))
    patch.delenv("DAGSTER_HOME", raising=False)
    try:
        first = _night(root, NIGHT1, None)
        assert first.exit_code == 0, first.output
        second = _night(root, NIGHT2, "seikatsu_hogo")
        second_status = CliRunner().invoke(main, ["status", "--town", TOWN, "--json"])
        with duckdb.connect(str(load_towns()[TOWN].database(root)), read_only=True) as con:
            # The rows the judgment at T reads for the feed (prepare() builds stg_seikatsu_hogo from this query).
            in_force = con.execute(f"SELECT _file FROM ({current_rows_sql('seikatsu_hogo')})", [NIGHT2]).fetchall()
            economic_sources = [row[0] for row in in_force]
            alerts2 = con.execute("SELECT count(*) FROM alerts WHERE as_of = ?", [NIGHT2]).fetchone()[0]
        third = _night(root, NIGHT3, "jumin")
        yield {
            "root": root,
            "second": second,
            "second_status": json.loads(second_status.output),
            "economic_sources": economic_sources,
            "alerts2": alerts2,
            "third": third,
        }
    finally:
        patch.undo()


def test_failed_feed_is_judged_from_its_last_good_snapshot(nights: dict) -> None:
    second = nights["second"]
    assert second.exit_code == EXIT_DEGRADED, second.output
    town = load_towns()[TOWN]
    out = town.output(nights["root"])
    assert (out / f"alerts_{NIGHT2:%Y%m%d}.csv").exists()
    assert manifest_path(out, NIGHT2).exists()
    night1_file = f"seikatsu_hogo_{NIGHT1:%Y%m%d}.csv"
    entry = nights["second_status"]["feeds"]["seikatsu_hogo"]
    assert entry["outcome"] == "failed" and entry["judged_from"] == night1_file
    assert entry["judged_from_extract_date"] == NIGHT1.isoformat()
    assert "empty" in entry["error"]
    failed = nights["second_status"]["alerts"]["failed_feeds"]
    assert [(f["feed"], f["judged_from"]) for f in failed] == [("seikatsu_hogo", night1_file)]
    assert night1_file in second.output and "前回の正常なデータ" in second.output
    assert nights["alerts2"] > 0
    assert nights["economic_sources"] and set(nights["economic_sources"]) == {night1_file}


def test_meeting_list_says_which_feed_was_judged_from_an_older_file(nights: dict) -> None:
    town = load_towns()[TOWN]
    sheet = load_workbook(town.output(nights["root"]) / meeting_xlsx_name(town, NIGHT2))["未連携"]
    rows = [row for row in sheet.iter_rows(min_row=2, values_only=True) if row[0] == "取込失敗"]
    assert len(rows) == 1 and rows[0][1] == "seikatsu_hogo"
    assert f"seikatsu_hogo_{NIGHT1:%Y%m%d}.csv" in rows[0][2] and "前回の正常なデータ" in rows[0][2]


def test_an_essential_feed_fails_the_night_clearly(nights: dict) -> None:
    third = nights["third"]
    assert third.exit_code == 1, third.output
    assert "FAILED" in third.output and "jumin" in third.output and "empty" in third.output
    town = load_towns()[TOWN]
    out = town.output(nights["root"])
    assert (out / meeting_xlsx_name(town, NIGHT2)).exists()  # the names below are the ones a run writes
    assert not (out / f"alerts_{NIGHT3:%Y%m%d}.csv").exists()
    assert not (out / meeting_xlsx_name(town, NIGHT3)).exists()
