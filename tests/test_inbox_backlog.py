"""A first run with several snapshots of a feed in the inbox stores every one, oldest first: the older ones as
history (the name history needs them), the newest as current; later runs do not read the history again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from kodomo_pipeline.ingest import steps
from kodomo_pipeline.ingest.steps import HISTORY, TownPaths, ingest_raw, validate_feed
from kodomo_pipeline.linkage.inputs import build_link_persons
from tests.conftest import K_JUMIN_ROW, write_export

ASOF = dt.date(2026, 11, 26)
CHILD = "0000054321"
# The child's surname in each registry extract (a remarriage, then an adoption), oldest first.
SNAPSHOTS = {
    "jumin_20250331.csv": ("佐藤　花子", "ｻﾄｳ ﾊﾅｺ"),
    "jumin_20260331.csv": ("鈴木　花子", "ｽｽﾞｷ ﾊﾅｺ"),
    "jumin_20261101.csv": ("田中　花子", "ﾀﾅｶ ﾊﾅｺ"),
}


def _rows(name: str, kana: str) -> list[list[str]]:
    child = [CHILD, "200001", name, kana, "R02.05.01", "2", "子", K_JUMIN_ROW[7], "R02.05.01", *K_JUMIN_ROW[9:]]
    return [K_JUMIN_ROW, child]


@pytest.fixture()
def first_night(tmp_path: Path, towns):
    """Three jumin extracts in the inbox (written newest first: the order on disk must not matter), one run."""
    town = towns["kawashima"]
    paths = TownPaths.for_town(town, tmp_path, tmp_path / "inbox")
    for file_name, (name, kana) in reversed(SNAPSHOTS.items()):
        write_export(paths.inbox / file_name, town.feeds["jumin"], _rows(name, kana))
    con = duckdb.connect(str(tmp_path / "town.duckdb"))
    got = ingest_raw(con, town, "jumin", paths, "run-1", ASOF)
    validated = validate_feed(con, town, "jumin", "run-1")
    yield town, paths, con, got, validated
    con.close()


def test_a_first_run_stores_every_snapshot_oldest_first_and_the_newest_is_current(first_night) -> None:
    _, _, con, got, validated = first_night
    names = list(SNAPSHOTS)
    assert got.outcome == "ingested" and got.file_name == names[-1]
    assert got.history == names[:-1]
    stored = con.execute(
        "SELECT file_name, extract_date, rows_valid FROM ingested_files WHERE feed = 'jumin' ORDER BY ingested_at"
    ).fetchall()
    assert [row[0] for row in stored] == names  # ingested in extract-date order
    assert [row[1] for row in stored] == sorted(row[1] for row in stored)
    assert all(row[2] == 2 for row in stored)  # every file validated (counts as ingested)
    outcomes = con.execute("SELECT outcome FROM run_feeds WHERE feed = 'jumin' ORDER BY recorded_at").fetchall()
    assert [row[0] for row in outcomes] == [HISTORY, HISTORY, "ingested"]
    assert validated.outcome == "validated" and validated.figures["file"] == names[-1]


def test_the_name_history_sees_every_snapshot(first_night) -> None:
    _, _, con, _, _ = first_night
    persons = build_link_persons(con, ASOF).set_index("resident_id")
    assert persons.loc[CHILD, "name_kanji"] == "田中　花子"  # the current snapshot is the newest
    former = {kanji for kanji, _ in persons.loc[CHILD, "former_names"]}
    assert former == {"佐藤　花子", "鈴木　花子"}


def test_a_later_run_does_not_read_the_history_again_but_takes_a_new_older_file(
    first_night, monkeypatch: pytest.MonkeyPatch
) -> None:
    town, paths, con, _, _ = first_night
    read: list[str] = []
    real = steps.read_bytes
    monkeypatch.setattr(steps, "read_bytes", lambda path, *a, **k: read.append(path.name) or real(path, *a, **k))
    again = ingest_raw(con, town, "jumin", paths, "run-2", ASOF)
    assert again.outcome == "already_ingested" and again.history == []
    assert read == ["jumin_20261101.csv"]  # only the current file is hashed again; the history is not re-read
    # A snapshot from before that arrives late (a backlog) is still stored as history.
    write_export(paths.inbox / "jumin_20240331.csv", town.feeds["jumin"], _rows("山本　花子", "ﾔﾏﾓﾄ ﾊﾅｺ"))
    late = ingest_raw(con, town, "jumin", paths, "run-3", ASOF)
    validate_feed(con, town, "jumin", "run-3")
    assert late.outcome == "already_ingested" and late.history == ["jumin_20240331.csv"]
    current = con.execute(
        "SELECT file_name FROM ingested_files WHERE feed = 'jumin' ORDER BY extract_date DESC LIMIT 1"
    ).fetchone()
    assert current == ("jumin_20261101.csv",)
    assert con.execute("SELECT count(*) FROM ingested_files WHERE rows_valid IS NULL").fetchone() == (0,)


def test_a_held_snapshot_does_not_slip_in_as_history(tmp_path: Path, towns, monkeypatch: pytest.MonkeyPatch) -> None:
    from kodomo_pipeline.ingest.settings import ingestion_settings

    config = tmp_path / "ingestion.yaml"
    config.write_text(
        "defaults:\n  max_line_bytes: 65536\n  shrink: {threshold: 0.8, action: hold, min_previous_rows: 5}\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(steps, "ingestion_settings", lambda town, feed: ingestion_settings(town, feed, config))
    town = towns["kawashima"]
    paths = TownPaths.for_town(town, tmp_path, tmp_path / "inbox")
    people = [[f"{5000 + n:010d}", f"{700000 + n}", *K_JUMIN_ROW[2:]] for n in range(11)]
    con = duckdb.connect(str(tmp_path / "town.duckdb"))
    for file_name, rows, asof in (
        ("jumin_20261001.csv", people[:10], dt.date(2026, 10, 1)),
        ("jumin_20261101.csv", people[:2], dt.date(2026, 11, 1)),  # far fewer rows: held
        ("jumin_20261201.csv", people, dt.date(2026, 12, 1)),
    ):
        write_export(paths.inbox / file_name, town.feeds["jumin"], rows)
        got = ingest_raw(con, town, "jumin", paths, f"run-{asof:%m}", asof)
        validate_feed(con, town, "jumin", f"run-{asof:%m}")
    assert got.outcome == "ingested" and got.history == []
    stored = con.execute("SELECT file_name FROM ingested_files ORDER BY extract_date").fetchall()
    assert stored == [("jumin_20261001.csv",), ("jumin_20261201.csv",)]
    con.close()
