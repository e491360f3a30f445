"""A night's file that lacks a column its layout promises (nyuyoji_kenshin sent with 受診年月日 instead of 受診日):
the rules reading that column are 未連携 for the run and named with file and column everywhere the operator and
the meeting look — never scored as "not done". Generated kawashima, through the real `kodomo run`."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from kodomo_pipeline.cli import main
from kodomo_pipeline.config import load_towns
from kodomo_pipeline.config.feeds import load_feeds
from kodomo_pipeline.exports.meeting_xlsx import meeting_xlsx_name
from kodomo_pipeline.generator import generate_town
from kodomo_pipeline.rules.coverage import linked_rules
from kodomo_pipeline.rules.ruleset import apply_overrides

ASOF = dt.date(2026, 10, 31)
POPULATION = 1500
TOWN = "kawashima"
FEED = "nyuyoji_kenshin"
pytestmark = pytest.mark.slow


def _rename_header(path: Path, encoding: str, old: str, new: str) -> None:
    """Rename one header in the file's first line only, keeping its encoding and line ends."""
    text = path.read_bytes().decode(encoding)
    header, sep, body = text.partition("\n")
    names = header.rstrip("\r").split(",")
    assert old in names
    renamed = ",".join(new if name == old else name for name in names) + ("\r" if header.endswith("\r") else "")
    path.write_bytes((renamed + sep + body).encode(encoding))


def _run(root: Path, monkeypatch: pytest.MonkeyPatch, rename: bool) -> tuple[str, int]:
    monkeypatch.setenv("KODOMO_HOME", str(root))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    town = load_towns()[TOWN]
    generate_town(town, town.inbox(root), root / "truth", ASOF, POPULATION, seed=11)
    if rename:
        _rename_header(town.inbox(root) / f"{FEED}_{ASOF:%Y%m%d}.csv", "cp932", "受診日", "受診年月日")
    result = CliRunner().invoke(main, ["run", "--town", TOWN, "--asof", ASOF.isoformat()])
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(town.database(root)), read_only=True) as con:
        alerts = con.execute("SELECT count(*) FROM alerts WHERE as_of = ? AND NOT suppressed", [ASOF]).fetchone()[0]
    return result.output, alerts


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The same generated town run twice: as exported, and with 受診日 renamed in nyuyoji_kenshin."""
    patch = pytest.MonkeyPatch()
    try:
        clean_root = tmp_path_factory.mktemp("clean") / "data"
        gap_root = tmp_path_factory.mktemp("gap") / "data"
        _, clean_alerts = _run(clean_root, patch, rename=False)
        output, gap_alerts = _run(gap_root, patch, rename=True)
        yield {"root": gap_root, "output": output, "clean_alerts": clean_alerts, "gap_alerts": gap_alerts}
    finally:
        patch.undo()


def _expected_unlinked() -> set[str]:
    """The rules whose `columns:` in the rule file include attended_on (受診日) — read from the file, not typed."""
    town = load_towns()[TOWN]
    rules = apply_overrides(town.path, town.rule_overrides)
    return {rule_id for rule_id, rule in rules.rules.items() if "attended_on" in rule.columns and rule.enabled}


def test_missing_column_unlinks_its_rules_and_never_raises_alerts(runs: dict) -> None:
    assert {"R03", "R20"} <= _expected_unlinked()
    assert runs["gap_alerts"] <= runs["clean_alerts"]
    town = load_towns()[TOWN]
    with duckdb.connect(str(town.database(runs["root"])), read_only=True) as con:
        unlinked = {r[0] for r in con.execute("SELECT rule_id FROM rule_set WHERE NOT linked").fetchall()}
        hits = {r[0] for r in con.execute("SELECT DISTINCT rule_id FROM indicator_facts").fetchall()}
        listed = con.execute("SELECT string_agg(not_linked, ';') FROM alerts WHERE as_of = ?", [ASOF]).fetchone()[0]
    assert _expected_unlinked() <= unlinked
    assert not hits & _expected_unlinked()  # never scored: neither "missed" nor "no finding"
    assert "R03" in listed.split(";")


def test_status_and_run_output_name_the_file_and_column(runs: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    file_name = f"{FEED}_{ASOF:%Y%m%d}.csv"
    assert "受診日" in runs["output"] and file_name in runs["output"] and "受診年月日" in runs["output"]
    monkeypatch.setenv("KODOMO_HOME", str(runs["root"]))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    result = CliRunner().invoke(main, ["status", "--town", TOWN, "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    missing = [g for g in status["column_gaps"] if g["kind"] == "missing"]
    assert [(g["feed"], g["file"], g["header"], g["column"]) for g in missing] == [
        (FEED, file_name, "受診日", "attended_on")
    ]
    assert set(missing[0]["rules"]) == _expected_unlinked()
    unknown = [(g["file"], g["header"]) for g in status["column_gaps"] if g["kind"] == "unknown"]
    assert unknown == [(file_name, "受診年月日")]  # a header the layout does not know, reported the same way
    assert _expected_unlinked() <= set(status["alerts"]["not_linked_rules"])


def test_meeting_list_and_privacy_report_say_which_column_is_missing(runs: dict) -> None:
    town = load_towns()[TOWN]
    out = town.output(runs["root"])
    sheet = load_workbook(out / meeting_xlsx_name(town, ASOF))["未連携"]
    reasons = {row[0]: row[2] for row in sheet.iter_rows(min_row=2, values_only=True) if row[0]}
    for rule_id in _expected_unlinked():
        assert f"{FEED}_{ASOF:%Y%m%d}.csv に列「受診日」がありません" in reasons[rule_id]
    privacy = (out / "reports" / f"privacy_{ASOF:%Y%m%d}.html").read_text("utf-8")
    assert "列「受診日」(attended_on) がありません" in privacy


def test_town_level_coverage_needs_every_column_a_rule_reads() -> None:
    """kawashima exports 受診日 but not 育児不安: R15 reads both, so it stays 未連携 there (as before)."""
    feeds = load_feeds()
    linked = {
        name: linked_rules(apply_overrides(t.path, t.rule_overrides), t, feeds) for name, t in load_towns().items()
    }
    assert linked["kawashima"]["R15"] is False and linked["misato"]["R15"] is True
    assert linked["kawashima"]["R03"] is True and linked["kawashima"]["R11"] is True


def test_a_feed_without_any_file_in_force_unlinks_its_rules(tmp_path: Path) -> None:
    """Only jumin ingested: rules reading feeds with no file at T are 未連携 (named per feed), jumin's rules not."""
    from kodomo_pipeline.rules.column_gaps import NO_FILE, read_column_gaps
    from kodomo_pipeline.sqlmodels.runner import prepare
    from tests.conftest import K_JUMIN_ROW, ingest_rows

    town = load_towns()[TOWN]
    rules = apply_overrides(town.path, town.rule_overrides)
    con = ingest_rows(tmp_path, town, {"jumin": [K_JUMIN_ROW]}, ASOF)
    prepare(con, town, ASOF, rules)
    linked = dict(con.execute("SELECT rule_id, linked FROM rule_set").fetchall())
    gaps = {g["feed"]: g for g in read_column_gaps(con) if g["kind"] == NO_FILE}
    con.close()
    assert linked["R07"] and linked["R19"]  # jumin's rules
    assert not linked["R03"] and not linked["R01"] and not linked["R10"]
    assert "R03" in gaps[FEED]["rules"] and "R10" in gaps["seikatsu_hogo"]["rules"]
    assert "jumin" not in gaps
