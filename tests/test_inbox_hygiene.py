"""Inbox hygiene: near-miss names are listed with their reason (never guessed into a feed), links and anything
outside the inbox are refused without being read, and a file is read only once it has stopped changing."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from dagster import DagsterInstance, build_sensor_context

from kodomo_pipeline.cli import main
from kodomo_pipeline.ingest.inbox import list_snapshots
from kodomo_pipeline.ingest.inbox_scan import UPLOAD_SUFFIX, ignored_files, wait_until_settled
from kodomo_pipeline.ingest.steps import TownPaths, ingest_raw
from kodomo_pipeline.orchestration.definitions import build_definitions
from tests.conftest import K_JUMIN_ROW, delivered_a_minute_ago, write_export

TOWN = "kawashima"
GOOD = "jumin_20261031.csv"
# name on disk → the words its reason must contain (Japanese first, English after)
ODD_NAMES = {
    "jumin_20261031 (1).csv": "コピーの印",
    "jumin_20261031 - コピー.csv": "コピーの印",
    "jumin_２０２６１０３１.csv": "全角",
    "jumin_20261031 .csv": "空白",
    " jumin_20261031.csv": "空白",
    "jumin_20261031.csv\n": "制御文字",
    "jumin_20261031.CSV": "小文字の .csv",
    "jumin_20261331.csv": "日付",
    "sango_shitsumon_20261031.csv": "この町のデータ種別ではありません",
    "住民_20261031.csv": "<feed>_<YYYYMMDD>.csv",
    f"jumin_20261101.csv{UPLOAD_SUFFIX}": "アップロード中",
}


@pytest.fixture()
def inbox(home: Path, towns) -> Path:
    """The town inbox with one good export and every odd name, each holding a valid export's bytes."""
    folder = towns[TOWN].inbox(home)
    write_export(folder / GOOD, towns[TOWN].feeds["jumin"], [K_JUMIN_ROW])
    for name in ODD_NAMES:
        (folder / name).write_bytes((folder / GOOD).read_bytes())
        delivered_a_minute_ago(folder / name)
    return folder


def test_each_odd_name_is_listed_with_its_reason_and_never_read(inbox: Path, towns) -> None:
    assert [snap.file_name for snap in list_snapshots(inbox, set(towns[TOWN].feeds))] == [GOOD]
    listed = {item.name: item.reason for item in ignored_files(inbox, set(towns[TOWN].feeds))}
    assert "jumin_20261031.csv\\n" in listed  # the line break is shown, not printed
    for name, words in ODD_NAMES.items():
        shown = name.replace("\n", "\\n")
        assert words in listed[shown], (name, listed[shown])
    assert GOOD not in listed


def test_a_symlink_is_refused_without_reading_its_target(
    inbox: Path, towns, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "elsewhere" / "jumin_20261101.csv"
    outside.parent.mkdir()
    outside.write_bytes((inbox / GOOD).read_bytes())
    (inbox / "jumin_20261101.csv").symlink_to(outside)
    (inbox / "sub").mkdir()
    opened: list[str] = []
    real_open = Path.open

    def spy_open(self: Path, *args, **kwargs):
        opened.append(self.name)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", spy_open)  # read_bytes/read_text go through Path.open
    feeds = set(towns[TOWN].feeds)
    assert [snap.file_name for snap in list_snapshots(inbox, feeds)] == [GOOD]
    listed = {item.name: item.reason for item in ignored_files(inbox, feeds)}
    assert opened == []  # names and lstat only: no file, and no link target, was opened
    assert "シンボリックリンク" in listed["jumin_20261101.csv"]
    assert "フォルダ" in listed["sub"]


def test_a_symlink_is_never_ingested(home: Path, inbox: Path, towns, tmp_path: Path) -> None:
    town = towns[TOWN]
    outside = tmp_path / "jumin_20261102.csv"
    outside.write_bytes((inbox / GOOD).read_bytes().replace(b"0000012345", b"0000099999"))
    (inbox / "jumin_20261102.csv").symlink_to(outside)
    with duckdb.connect(str(tmp_path / "t.duckdb")) as con:
        got = ingest_raw(con, town, "jumin", TownPaths.for_town(town, home), "run-1", dt.date(2026, 11, 2))
    assert got.file_name == GOOD  # the link (newer date) was not taken as the current snapshot


def test_the_run_summary_and_status_list_ignored_files(home: Path, inbox: Path) -> None:
    result = CliRunner().invoke(main, ["run", "--town", TOWN, "--asof", "2026-10-31"])
    assert result.exit_code in (0, 3), result.output
    assert "無視したファイル ignored: jumin_20261031 (1).csv" in result.output
    status = json.loads(CliRunner().invoke(main, ["status", "--town", TOWN, "--json"]).output)
    listed = {item["file"]: item["reason"] for item in status["inbox_ignored"]}
    assert set(listed) == {name.replace("\n", "\\n") for name in ODD_NAMES}
    assert status["feeds"]["jumin"]["file"] == GOOD


def _grow(path: Path, seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        with path.open("ab") as handle:
            handle.write(b"0000000001,200001\r\n")
        time.sleep(0.2)


def test_a_growing_file_is_read_only_once_it_stops_changing(tmp_path: Path) -> None:
    path = tmp_path / "jumin_20261031.csv"
    path.write_bytes(b"header\r\n")
    writer = threading.Thread(target=_grow, args=(path, 4.0))
    writer.start()
    try:
        # settle 0.5 s, at most 10 tries (5 s): still changing for ~4 s, so it settles only after the writer stops
        started = time.time()
        assert wait_until_settled(path, 0.5)
        assert time.time() - started >= 3.5
    finally:
        writer.join()
    # A file that never stops changing within the tries is left for the next run.
    endless = threading.Thread(target=_grow, args=(path, 6.0))  # a write every 0.2 s for 6 s
    with path.open("ab") as handle:
        handle.write(b"0000000002,200001\r\n")  # changed just now
    endless.start()
    try:
        assert not wait_until_settled(path, 0.5)  # gives up after 10 × 0.5 s
    finally:
        endless.join()


def test_the_sensor_waits_for_a_file_still_being_written(home: Path, towns) -> None:
    sensor = build_definitions(home).resolve_sensor_def(f"{TOWN}_inbox_sensor")
    inbox = towns[TOWN].inbox(home)
    path = write_export(inbox / GOOD, towns[TOWN].feeds["jumin"], [K_JUMIN_ROW])
    soon = time.time() + 30  # changed "just now" even if this tick is slow on a busy machine
    os.utime(path, (soon, soon))  # a copy still in progress
    with DagsterInstance.ephemeral() as instance:
        fresh = sensor.evaluate_tick(build_sensor_context(instance=instance))
        assert not fresh.run_requests
        delivered_a_minute_ago(path)  # unchanged for longer than inbox_settle_seconds
        later = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=fresh.cursor))
        assert [r.tags["kodomo/new_files"] for r in later.run_requests] == [GOOD]


def test_a_name_that_is_not_utf8_is_listed_printably(inbox: Path, towns) -> None:
    """A Shift_JIS name copied from Windows (住民_20261031.csv in cp932 bytes) is listed, escaped, JSON-safe."""
    raw = os.fsencode(inbox) + b"/" + "住民_20261031.csv".encode("cp932")
    with open(raw, "wb") as handle:
        handle.write(b"x")
    listed = {item.name: item.reason for item in ignored_files(inbox, set(towns[TOWN].feeds))}
    odd = [name for name in listed if name.startswith("\\x")]
    assert len(odd) == 1 and "UTF-8 ではありません" in listed[odd[0]]
    json.dumps(listed, ensure_ascii=False).encode("utf-8")  # prints and serialises
