"""Both towns from generated exports through the real Dagster job: conservation, planted defects,
dropped columns, town isolation, and no personal value anywhere in Dagster's storage (the leak guard's scan
over every name, kana, address, birth date and ID of each town, however short)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from kodomo_pipeline.cli import main
from kodomo_pipeline.config import load_towns
from kodomo_pipeline.generator import generate_town
from kodomo_pipeline.orchestration.instance import dagster_home
from kodomo_pipeline.privacy.services.leak_guard import scan
from kodomo_pipeline.privacy.services.storage_scan import storage_texts
from tests.conftest import generated_data_root

ASOF = dt.date(2026, 11, 26)
POPULATION = 2500
pytestmark = pytest.mark.slow


def _read_truth(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Both towns generated into their inboxes and run once through `kodomo run` (a real Dagster instance)."""
    with generated_data_root(tmp_path_factory, list(load_towns()), ASOF, POPULATION, seed=7) as root:
        yield root


@pytest.mark.parametrize("town", ["kawashima", "misato"])
def test_every_row_is_valid_or_quarantined_and_defects_have_their_reason(demo_root: Path, town: str) -> None:
    config = load_towns()[town]
    status = json.loads((config.output(demo_root) / f"ingest_status_{ASOF:%Y%m%d}.json").read_text("utf-8"))
    assert set(status["feeds"]) == set(config.feeds)
    defects = _read_truth(demo_root / "truth" / town / "defects.csv")
    with duckdb.connect(str(config.database(demo_root)), read_only=True) as con:
        for feed, entry in status["feeds"].items():
            assert entry["outcome"] == "ingested", feed
            assert entry["rows_read"] == entry["rows_valid"] + entry["rows_quarantined"], feed
            path = config.inbox(demo_root) / entry["file"]
            text = path.read_bytes().decode(config.feeds[feed].layout.encoding)
            lines = [line for line in text.splitlines() if line.strip()]
            assert entry["rows_read"] == len(lines) - 1, feed  # generated files have no line breaks in values
            held = con.execute(
                "SELECT row_number, column_name, reason FROM quarantine WHERE feed = ? ORDER BY row_number", [feed]
            ).fetchall()
            planted = defects[defects["feed"] == feed]
            expected = {(int(r.row_number), r.column, r.reason) for r in planted.itertuples()}
            assert {(row, column, reason) for row, column, reason in held} == expected, feed
        kept = {row[0] for row in con.execute("SELECT column_name FROM information_schema.columns").fetchall()}
    assert not kept & {"本籍", "相談内容", "成績"}


def test_dropped_free_text_and_grades_never_reach_the_database(demo_root: Path) -> None:
    for name, town in load_towns().items():
        dropped_values: set[str] = set()
        for feed, layout in town.feeds.items():
            # 本籍 is often the current address (kept legitimately as 住所), so the free text
            # (相談内容) and the grades (成績) are the values that must never appear.
            for header in set(layout.mapping.exported_but_dropped) & {"相談内容", "成績"}:
                path = next(town.inbox(demo_root).glob(f"{feed}_*.csv"))
                with path.open(encoding=layout.layout.encoding, newline="") as handle:
                    dropped_values |= {row[header] for row in csv.DictReader(handle) if row[header]}
        with duckdb.connect(str(town.database(demo_root)), read_only=True) as con:
            tables = [row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
            stored: set[str] = set()
            for table in tables:
                columns = con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND data_type = 'VARCHAR'",
                    [table],
                ).fetchall()
                for (column,) in columns:
                    stored |= {v for (v,) in con.execute(f'SELECT DISTINCT "{column}" FROM {table}').fetchall() if v}
        assert dropped_values, name
        stored_dropped = len(dropped_values & stored)
        assert stored_dropped == 0, f"{name}: {stored_dropped} dropped values stored"


@pytest.mark.parametrize("town", ["kawashima", "misato"])
def test_no_personal_value_anywhere_in_dagster_storage(demo_root: Path, town: str) -> None:
    """Every name, kana, address, birth date and ID of the town — however short — against all Dagster stored."""
    home = dagster_home(demo_root)
    sources = storage_texts(home)
    assert any(p.suffix == ".db" for p in home.rglob("*")) and sum(len(t) for t in sources["sqlite"]) > 100_000
    config = load_towns()[town]
    with duckdb.connect(str(config.database(demo_root)), read_only=True) as con:
        report = scan(con, config, ASOF, sources)
        short = con.execute(
            "SELECT count(*) FROM valid_jumin WHERE length(replace(replace(name_kanji, ' ', ''), '\u3000', '')) < 3"
        ).fetchall()[0][0]
    assert report.values_by_kind["name"] > 500 and report.values_by_kind["address"] > 300
    assert short > 0, "the town has 2-character names, and they are looked for"
    assert report.leaks == 0, report.found


def _plant(database: Path, messages: list[str]) -> None:
    """Replace the user messages of the first events of a Dagster SQLite event log, serialised as Dagster does
    (json.dumps escapes non-ASCII)."""
    con = sqlite3.connect(database)
    try:
        rows = con.execute("SELECT id, event FROM event_logs ORDER BY id LIMIT ?", [len(messages)]).fetchall()
        for (row_id, event), message in zip(rows, messages, strict=True):
            data = json.loads(event)
            data["user_message"] = message
            con.execute("UPDATE event_logs SET event = ? WHERE id = ?", [json.dumps(data), row_id])
        con.commit()
    finally:
        con.close()


def test_short_names_and_addresses_planted_in_dagster_storage_are_found(demo_root: Path, tmp_path: Path) -> None:
    """The scan above can fail: a 2-character name, a 5-character name and an address put into a copy of the
    run's stored event log (the way Dagster serialises it) are each found, as name and address."""
    config = load_towns()["misato"]
    with duckdb.connect(str(config.database(demo_root)), read_only=True) as con:
        people = con.execute(
            """SELECT replace(name_kanji, '\u3000', ' '), length(replace(name_kanji, '\u3000', '')) AS n, address
               FROM valid_jumin WHERE status = '住民' ORDER BY _row"""
        ).fetchall()
    two = next(name for name, n, _ in people if n == 2)
    five = next(name for name, n, _ in people if n == 5)
    address = people[0][2]
    copy = tmp_path / "dagster_home"
    shutil.copytree(dagster_home(demo_root), copy)
    logs = [p for p in copy.rglob("*.db") if "event_logs" in _tables(p)]
    assert logs
    _plant(logs[0], [f"row 12 rejected: {two}", f"氏名={five}", f"住所「{address}」を確認"])
    with duckdb.connect(str(config.database(demo_root)), read_only=True) as con:
        report = scan(con, config, ASOF, storage_texts(copy))
    assert report.found == {"sqlite": {"name": 2, "address": 1}}, report.found
    # …and the same storage with only ordinary words around a short name's characters stays clean.
    shutil.rmtree(copy)
    shutil.copytree(dagster_home(demo_root), copy)
    _plant(logs[0], [f"この人{two}さんの件は保留", f"{two[0]}市の確認"])
    with duckdb.connect(str(config.database(demo_root)), read_only=True) as con:
        assert scan(con, config, ASOF, storage_texts(copy)).leaks == 0


def _tables(database: Path) -> set[str]:
    con = sqlite3.connect(database)
    try:
        return {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()


def test_a_town_run_never_opens_another_towns_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "data"
    monkeypatch.setenv("KODOMO_HOME", str(root))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    towns = load_towns()
    for name, town in towns.items():
        generate_town(town, town.inbox(root), root / "truth" / name, ASOF, 300, seed=1)
    opened: list[str] = []
    real_connect = duckdb.connect

    def spy(database: str = ":memory:", *args, **kwargs):
        opened.append(str(database))
        return real_connect(database, *args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", spy)
    result = CliRunner().invoke(main, ["run", "--town", "kawashima"])
    assert result.exit_code == 0, result.output
    assert str(towns["kawashima"].database(root)) in opened
    assert all("misato" not in path for path in opened)
    assert not towns["misato"].database(root).exists()


def test_every_layout_decodes_the_same_people_to_the_same_values(tmp_path: Path) -> None:
    """The same generated children written in layouts K, M, S and N read back identically."""
    from kodomo_pipeline.ingest.contract import decode_frame
    from kodomo_pipeline.ingest.reader import read_export
    from kodomo_pipeline.layout.writer import write_feed_csv

    towns = load_towns()
    generate_town(towns["kawashima"], tmp_path / "in", tmp_path / "truth", ASOF, 1500, seed=3)
    people = _read_truth(tmp_path / "truth" / "persons.csv")
    people = people[people["resident_id"] != ""].head(400)
    canonical = pd.DataFrame(
        {
            "resident_id": "0000000000",
            "name_kanji": people["name_kanji"].to_numpy(),
            "name_kana": people["name_kana"].to_numpy(),
            "birth_date": pd.to_datetime(people["birth_date"]).to_numpy(),
            "sex": people["sex"].to_numpy(),
        }
    )
    decoded = {}
    for label, town, feed in [
        ("K", "kawashima", "jumin"),
        ("M", "misato", "jumin"),
        ("S", "misato", "gakko_meibo"),
        ("N", "kawashima", "toen"),
    ]:
        layout = towns[town].feeds[feed]
        path = tmp_path / label / f"{feed}_{ASOF:%Y%m%d}.csv"
        write_feed_csv(canonical, layout, path)
        frame, failures = decode_frame(read_export(path, layout), layout)
        assert failures.empty, label
        decoded[label] = frame
    for label in ("M", "S", "N"):
        for column in ("name_kana", "birth_date", "sex"):
            assert decoded[label][column].tolist() == decoded["K"][column].tolist(), (label, column)
    assert decoded["S"]["name_kanji"].tolist() == decoded["K"]["name_kanji"].tolist()
    assert decoded["M"]["name_kanji"].tolist() == decoded["K"]["name_kanji"].tolist()
