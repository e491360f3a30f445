"""The archive by content (a corrected re-send keeps both versions; explain resolves to matching bytes; the old
layout stays readable) and shrinking snapshots (warned, or held until an operator confirms)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import duckdb
import pytest

from kodomo_pipeline.explain import explain_alert
from kodomo_pipeline.ingest import steps
from kodomo_pipeline.ingest.archive import resolve_archived
from kodomo_pipeline.ingest.settings import ingestion_settings
from kodomo_pipeline.ingest.steps import TownPaths, ingest_raw, validate_feed
from kodomo_pipeline.rules.ruleset import apply_overrides
from kodomo_pipeline.storage.feed_tables import confirm_held_file
from kodomo_pipeline.storage.snapshots import current_rows_sql
from tests.conftest import K_JUMIN_ROW, write_export
from tests.test_explain import ALERT, ASOF, SOUDAN, SUBJECT, _write_alerts

NAME = f"jido_soudan_{ASOF:%Y%m%d}.csv"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _night(con, town, paths: TownPaths, feed: str, run_id: str, asof: dt.date = ASOF):
    got = ingest_raw(con, town, feed, paths, run_id, asof)
    validate_feed(con, town, feed, run_id)
    return got


@pytest.fixture()
def setup(tmp_path: Path, towns):
    town = towns["kawashima"]
    paths = TownPaths.for_town(town, tmp_path, tmp_path / "inbox")
    con = duckdb.connect(str(tmp_path / "town.duckdb"))
    yield town, paths, con
    con.close()


def test_a_corrected_resend_keeps_both_versions_and_explain_resolves_matching_bytes(setup) -> None:
    town, paths, con = setup
    layout = town.feeds["jido_soudan"]
    inbox_file = write_export(paths.inbox / NAME, layout, SOUDAN)
    first = _night(con, town, paths, "jido_soudan", "run-1")
    corrected = [row.copy() for row in SOUDAN] + [["C0104", SUBJECT, "R07.08.01", "虐待", "身体的", "継続", "1", "x"]]
    write_export(paths.inbox / NAME, layout, corrected)  # same name, new bytes
    second = _night(con, town, paths, "jido_soudan", "run-2")
    assert second.outcome == "ingested" and first.sha256 != second.sha256
    archived = sorted((paths.archive / "jido_soudan").iterdir())
    assert [p.name for p in archived] == sorted(f"{sha}_{NAME}" for sha in (first.sha256, second.sha256))
    assert {_sha(p) for p in archived} == {first.sha256, second.sha256}
    assert inbox_file.is_file() and _sha(inbox_file) == second.sha256  # the inbox file is read, never moved

    con.execute("DELETE FROM valid_jido_soudan WHERE _sha256 = ?", [first.sha256])  # facts of the newer file only
    _write_alerts(con, apply_overrides(town.path, town.rule_overrides).version)
    con.execute(  # and one fact of the first send, as an alert of an earlier night would keep it
        "INSERT INTO alert_fact_history VALUES (?, ?, 'R01', 1, 4, 'jido_soudan', ?, ?, 2, NULL)",
        [ASOF, ALERT, NAME, first.sha256],
    )
    explanation = explain_alert(con, town, apply_overrides(town.path, town.rule_overrides), ALERT, ASOF)
    facts = [fact for indicator in explanation.indicators for fact in indicator.facts if fact.feed == "jido_soudan"]
    assert {fact.source_sha256 for fact in facts} == {first.sha256, second.sha256}
    for fact in facts:
        assert fact.file_present and _sha(Path(fact.archived_as)) == fact.source_sha256


def test_the_old_archive_layout_stays_readable_and_a_mismatch_is_not_resolved(setup) -> None:
    town, paths, con = setup
    write_export(paths.inbox / NAME, town.feeds["jido_soudan"], SOUDAN)
    got = _night(con, town, paths, "jido_soudan", "run-1")
    content = paths.archive / "jido_soudan" / f"{got.sha256}_{NAME}"
    old = content.with_name(NAME)  # what the earlier layout wrote, and recorded
    content.rename(old)
    con.execute("UPDATE ingested_files SET archived_as = ?", [str(old)])
    assert resolve_archived(str(old), "jido_soudan", NAME, got.sha256) == old
    # A database line recorded before the change may point at the old name while the file is content-named.
    old.rename(content)
    assert resolve_archived(str(old), "jido_soudan", NAME, got.sha256) == content
    # The old layout kept the first bytes under a re-sent name: other bytes are never taken for the source.
    content.unlink()
    old.write_bytes(b"other bytes")
    assert resolve_archived(str(old), "jido_soudan", NAME, got.sha256) is None


def _jumin(count: int) -> list[list[str]]:
    return [[f"{5000 + n:010d}", f"{700000 + n}", *K_JUMIN_ROW[2:]] for n in range(count)]


def test_a_shrunk_snapshot_is_used_with_a_warning_by_default(setup) -> None:
    town, paths, con = setup
    assert ingestion_settings("kawashima", "jumin").shrink.action == "warn"
    write_export(paths.inbox / "jumin_20261001.csv", town.feeds["jumin"], _jumin(100))
    assert _night(con, town, paths, "jumin", "run-1", dt.date(2026, 10, 1)).warning is None
    write_export(paths.inbox / "jumin_20261101.csv", town.feeds["jumin"], _jumin(60))
    got = _night(con, town, paths, "jumin", "run-2", dt.date(2026, 11, 1))
    assert got.outcome == "ingested" and "60 件" in got.warning and "100 件" in got.warning
    cause = con.execute("SELECT cause FROM run_feeds WHERE run_id = 'run-2'").fetchall()[0][0]
    assert cause == got.warning and "jumin_20261001.csv" in cause


def test_a_shrunk_snapshot_is_held_until_confirmed_when_configured(setup, tmp_path: Path, monkeypatch) -> None:
    town, paths, con = setup
    config = tmp_path / "ingestion.yaml"
    config.write_text(
        "defaults:\n  max_line_bytes: 65536\n  shrink: {threshold: 0.8, action: warn, min_previous_rows: 50}\n"
        "towns:\n  kawashima:\n    feeds:\n      jumin: {shrink: {action: hold}}\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(steps, "ingestion_settings", lambda town, feed: ingestion_settings(town, feed, config))
    write_export(paths.inbox / "jumin_20261001.csv", town.feeds["jumin"], _jumin(100))
    _night(con, town, paths, "jumin", "run-1", dt.date(2026, 10, 1))
    write_export(paths.inbox / "jumin_20261101.csv", town.feeds["jumin"], _jumin(70))
    held = ingest_raw(con, town, "jumin", paths, "run-2", dt.date(2026, 11, 1))
    assert held.outcome == "held" and "confirm-file" in held.warning
    assert validate_feed(con, town, "jumin", "run-2").outcome == "held"
    in_force = con.execute(f"SELECT count(*) FROM ({current_rows_sql('jumin')})", [dt.date(2026, 11, 1)])
    assert in_force.fetchall()[0][0] == 100  # the previous snapshot stays in force
    assert confirm_held_file(con, "jumin_20261101.csv", "sato") == ("jumin", held.sha256)
    got = _night(con, town, paths, "jumin", "run-3", dt.date(2026, 11, 1))
    assert got.outcome == "ingested" and got.warning  # used now, still with its warning
    in_force = con.execute(f"SELECT count(*) FROM ({current_rows_sql('jumin')})", [dt.date(2026, 11, 1)])
    assert in_force.fetchall()[0][0] == 70


def test_confirm_file_command_lets_a_held_file_in(home: Path, towns, monkeypatch, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kodomo_pipeline.cli import main

    town = towns["kawashima"]
    config = tmp_path / "ingestion.yaml"
    config.write_text(
        "defaults:\n  max_line_bytes: 65536\n  shrink: {threshold: 0.8, action: hold, min_previous_rows: 50}\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(steps, "ingestion_settings", lambda town, feed: ingestion_settings(town, feed, config))
    monkeypatch.setenv("KODOMO_OPERATOR", "sato")
    paths = TownPaths.for_town(town, home, tmp_path / "inbox")
    database = town.database(home)
    database.parent.mkdir(parents=True, exist_ok=True)
    write_export(paths.inbox / "jumin_20261001.csv", town.feeds["jumin"], _jumin(100))
    write_export(paths.inbox / "jumin_20261101.csv", town.feeds["jumin"], _jumin(10))
    with duckdb.connect(str(database)) as con:
        _night(con, town, paths, "jumin", "run-1", dt.date(2026, 10, 1))
        assert ingest_raw(con, town, "jumin", paths, "run-2", dt.date(2026, 11, 1)).outcome == "held"
    runner = CliRunner()
    refused = runner.invoke(main, ["confirm-file", "--town", "kawashima", "jumin_20260101.csv"])
    assert refused.exit_code != 0 and "保留中のファイル" in refused.output
    done = runner.invoke(main, ["confirm-file", "--town", "kawashima", "jumin_20261101.csv"])
    assert done.exit_code == 0, done.output
    with duckdb.connect(str(database)) as con:
        assert con.execute("SELECT operator, feed FROM confirmed_files").fetchall() == [("sato", "jumin")]
        assert _night(con, town, paths, "jumin", "run-3", dt.date(2026, 11, 1)).outcome == "ingested"
