"""Retention and audit: old snapshots go (files and rows, logged), the snapshot in force always stays,
the retention file is schema-checked, and accesses are recorded with operator and purpose."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from kodomo_pipeline.config.errors import ConfigError
from kodomo_pipeline.generator import generate_town
from kodomo_pipeline.ingest.steps import TownPaths, ingest_raw, validate_feed
from kodomo_pipeline.privacy.commands import audit_command, purge_command
from kodomo_pipeline.privacy.services.access_log import accesses_by_operator, read_access_log, record_access
from kodomo_pipeline.privacy.services.retention import load_retention, purge, read_purge_log, years_before
from kodomo_pipeline.storage.town_db import open_town_db

EXTRACTS = (dt.date(2019, 4, 1), dt.date(2021, 4, 1), dt.date(2026, 11, 26))
TODAY = dt.date(2026, 11, 26)
TOWN = "misato"


@pytest.fixture()
def history(home: Path, towns) -> tuple[Path, object]:
    """misato with three nightly snapshots of every feed (2019, 2021, 2026), each ingested and validated."""
    town = towns[TOWN]
    for number, extract in enumerate(EXTRACTS):
        generate_town(town, town.inbox(home), home / "truth" / str(number), extract, 300, seed=4)
        export = town.inbox(home) / f"jumin_{extract:%Y%m%d}.csv"
        with export.open("a", encoding="utf-8") as handle:  # one row the contract holds back
            handle.write("00000001,00000001,試験　太郎,シケン　タロウ,1990/02/30,男,世帯主,美里町,2020/01/01,住民,\n")
        with open_town_db(town.database(home)) as con:
            for feed in town.feeds:
                ingest_raw(con, town, feed, TownPaths.for_town(town, home), f"run-{number}", extract)
                validate_feed(con, town, feed, f"run-{number}")
    return home, town


def _snapshot_rows(con: duckdb.DuckDBPyConnection, feed: str) -> dict[dt.date, int]:
    return dict(
        con.execute(
            f"SELECT _extract_date, count(*) FROM raw_{feed} GROUP BY 1 ORDER BY 1",
        ).fetchall()
    )


def _archived(archive: Path, feed: str, name: str) -> Path:
    """The archived export of that name (content layout: <sha256>_<name>); a path that does not exist if none."""
    return next((archive / feed).glob(f"*_{name}"), archive / feed / name)


def test_purge_removes_old_snapshots_past_both_limits_and_logs_them(history) -> None:
    root, town = history
    archive = root / "archive" / TOWN
    policy = load_retention()
    assert policy.years("jumin") == 5 and policy.years("taio_kekka") == 10
    with duckdb.connect(str(town.database(root)), read_only=True) as con:
        before_rows = {feed: _snapshot_rows(con, feed) for feed in town.feeds}
        held_2019 = con.execute("SELECT count(*) FROM quarantine WHERE extract_date = DATE '2019-04-01'").fetchall()[0][
            0
        ]
        snapshots = set(con.execute("SELECT feed, extract_date FROM ingested_files").fetchall())
    # A later export with the same bytes (an empty feed) is not ingested again: its first file stays in force.
    assert {(f, d) for f, d in snapshots if f == "jumin"} == {("jumin", d) for d in EXTRACTS}
    assert {f for f, _ in snapshots} == set(town.feeds)

    plan = purge(town, root, dt.date(2020, 1, 1), today=TODAY, dry_run=True)
    assert plan.dry_run and _archived(archive, "jumin", "jumin_20190401.csv").exists()  # nothing changed
    planned = {(p.feed, p.extract_date) for p in plan.purged}
    # 2019 is older than --before and than 5 years; 2021 is within --before's limit; taio_kekka keeps 10 years.
    assert ("jumin", EXTRACTS[0]) in planned and ("jumin", EXTRACTS[1]) not in planned
    assert not any(feed in ("taio_kekka", "meiyose_kekka") for feed, _ in planned)

    done = purge(town, root, dt.date(2020, 1, 1), today=TODAY)
    assert {(p.feed, p.extract_date) for p in done.purged} == planned
    assert not _archived(archive, "jumin", "jumin_20190401.csv").exists()
    assert (
        _archived(archive, "jumin", "jumin_20210401.csv").exists()
        and _archived(archive, "jumin", "jumin_20261126.csv").exists()
    )
    assert _archived(archive, "taio_kekka", "taio_kekka_20190401.csv").exists()
    with duckdb.connect(str(town.database(root)), read_only=True) as con:
        for feed in town.feeds:
            rows = _snapshot_rows(con, feed)
            kept = {d for f, d in snapshots if f == feed and (f, d) not in planned}
            assert set(rows) == kept & set(before_rows[feed]), feed  # a snapshot can have no rows
            assert all(rows[d] == before_rows[feed][d] for d in rows), feed
            valid_dates = {r[0] for r in con.execute(f"SELECT DISTINCT _extract_date FROM valid_{feed}").fetchall()}
            assert valid_dates <= kept, feed
        assert (
            con.execute(
                "SELECT count(*) FROM quarantine WHERE extract_date = DATE '2019-04-01' AND feed <> 'taio_kekka'"
            ).fetchall()[0][0]
            == 0
        )
        log = read_purge_log(con)
        lines_still_there = con.execute("SELECT count(*) FROM ingested_files").fetchall()[0][0]
    assert held_2019 > 0  # the planted bad row was quarantined, and its quarantine row went
    assert lines_still_there == len(snapshots)  # bookkeeping (no personal data) kept
    assert {(entry["feed"], entry["extract_date"]) for entry in log} == {(f, d.isoformat()) for f, d in planned}
    jumin = next(entry for entry in log if entry["feed"] == "jumin")
    assert jumin["file_name"] == "jumin_20190401.csv" and jumin["archive_file"].endswith("_jumin_20190401.csv")
    assert jumin["rows_raw"] == before_rows["jumin"][EXTRACTS[0]] and jumin["retention_years"] == 5
    assert jumin["before_date"] == "2020-01-01"


def test_the_snapshot_in_force_is_never_purged(history) -> None:
    root, town = history
    far_future = dt.date(2045, 1, 1)  # every snapshot is past every retention by then
    orphan = root / "archive" / TOWN / "jumin" / "jumin_20100101.csv"  # archived, never ingested
    orphan.write_text("old", encoding="utf-8")
    with duckdb.connect(str(town.database(root)), read_only=True) as con:
        newest = dict(
            con.execute("SELECT feed, arg_max(file_name, extract_date) FROM ingested_files GROUP BY feed").fetchall()
        )
        in_force_rows = con.execute(
            "SELECT count(*) FROM valid_jumin WHERE _extract_date = ?", [EXTRACTS[-1]]
        ).fetchall()
    result = purge(town, root, far_future, today=far_future)
    assert result.kept_in_force == newest and newest["jumin"] == "jumin_20261126.csv"
    assert not {(p.feed, p.file_name) for p in result.purged} & set(newest.items())
    assert not orphan.exists() and any(p.file_name == orphan.name and p.sha256 is None for p in result.purged)
    with duckdb.connect(str(town.database(root)), read_only=True) as con:
        for feed in town.feeds:
            in_force = dt.datetime.strptime(newest[feed][-12:-4], "%Y%m%d").date()
            assert set(_snapshot_rows(con, feed)) <= {in_force}, feed
        persons = con.execute("SELECT count(*) FROM valid_jumin WHERE _extract_date = ?", [EXTRACTS[-1]]).fetchall()
    assert persons == in_force_rows and persons[0][0] > 50
    assert _archived(root / "archive" / TOWN, "jumin", "jumin_20261126.csv").exists()
    again = purge(town, root, far_future, today=far_future)
    assert again.purged == []  # idempotent


def test_years_before_handles_leap_days() -> None:
    assert years_before(dt.date(2024, 2, 29), 5) == dt.date(2019, 2, 28)
    assert years_before(dt.date(2026, 11, 26), 3) == dt.date(2023, 11, 26)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("feeds: {jumin: 5}\n", "default_years"),
        ("default_years: 5\nfeeds: {kokuho: 3}\n", "feeds.kokuho"),
        ("default_years: 5\nfeeds: {jumin: 0}\n", "feeds.jumin"),
        ("default_years: five\n", "default_years"),
        ("default_years: 5\nkeep_forever: true\n", "keep_forever"),
    ],
)
def test_retention_file_errors_name_the_file_and_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "retention.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_retention(path)
    assert caught.value.path == path and caught.value.key == key


def test_accesses_are_recorded_with_operator_and_purpose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    con = duckdb.connect(str(tmp_path / "town.duckdb"))
    assert read_access_log(con) == []
    monkeypatch.setenv("KODOMO_OPERATOR", "suzuki")
    first = record_access(con, "alerts_20261126.csv for the review meeting", "アラート検討会議 2026-11-27")
    monkeypatch.delenv("KODOMO_OPERATOR")
    second = record_access(con, "crosswalk_20261126.csv", "名寄せ確認", operator="tanaka")
    with pytest.raises(ValueError, match="purpose is required"):
        record_access(con, "alerts_20261126.csv", "   ")
    with pytest.raises(ValueError, match="what is required"):
        record_access(con, "", "review")
    records = read_access_log(con)
    assert [r.operator for r in records] == ["suzuki", "tanaka"]
    assert records[0] == first and records[1] == second
    assert accesses_by_operator(con) == {"suzuki": 1, "tanaka": 1}
    assert read_access_log(con, since=second.accessed_at + dt.timedelta(seconds=1)) == []


def test_purge_and_audit_commands(history, monkeypatch: pytest.MonkeyPatch) -> None:
    root, town = history
    monkeypatch.setenv("KODOMO_OPERATOR", "sato")
    with open_town_db(town.database(root)) as con:
        record_access(con, "alerts_20261126.csv", "アラート検討会議")
    runner = CliRunner()

    dry = runner.invoke(purge_command, ["--town", TOWN, "--before", "2020-01-01", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would remove" in dry.output and "jumin_20190401.csv" in dry.output
    assert _archived(root / "archive" / TOWN, "jumin", "jumin_20190401.csv").exists()

    done = runner.invoke(purge_command, ["--town", TOWN, "--before", "2020-01-01", "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output)
    assert summary["dry_run"] is False and summary["files_deleted"] >= len(town.feeds) - 2
    assert summary["kept_in_force"]["jumin"] == "jumin_20261126.csv"

    audit = runner.invoke(audit_command, ["--town", TOWN, "--json"])
    assert audit.exit_code == 0, audit.output
    report = json.loads(audit.output)
    assert [(a["operator"], a["purpose"]) for a in report["accesses"]] == [("sato", "アラート検討会議")]
    assert {p["operator"] for p in report["purges"]} == {"sato"}
    assert len(report["purges"]) == len(summary["purged"])
    text = runner.invoke(audit_command, ["--town", TOWN])
    assert text.exit_code == 0 and "1 access(es) recorded" in text.output

    bad_date = runner.invoke(purge_command, ["--town", TOWN, "--before", "2020/13/01"])  # no 13th month
    assert bad_date.exit_code == 2 and "YYYY-MM-DD" in bad_date.output
    bad_town = runner.invoke(audit_command, ["--town", "atlantis"])
    assert bad_town.exit_code == 2 and "is not one of" in bad_town.output
