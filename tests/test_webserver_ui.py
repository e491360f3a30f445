"""What the operator sees: the real `dagster-webserver` on loopback, its GraphQL API, and the asset graph
rendered by headless Chromium (screenshots kept under artifacts/ for a person to look at).

A town is run once first, so the UI shows a materialised asset with its counts, as after a night.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from dagster import DagsterInstance

from kodomo_pipeline.orchestration.definitions import build_definitions
from kodomo_pipeline.orchestration.instance import prepare_dagster_home
from kodomo_pipeline.orchestration.town_jobs import TOWN_TAG, job_name, run_config_for
from tests.conftest import require, write_export
from tests.processes import stop_group
from tests.test_orchestration import GOOD_JUMIN

CHECKOUT = Path(__file__).resolve().parents[1]
ARTIFACTS = CHECKOUT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
STARTUP_SECONDS = 120

QUERY = """
query KodomoUi($key: AssetKeyInput!) {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        schedules { name cronSchedule executionTimezone scheduleState { status } }
        sensors { name sensorState { status } }
        assetGroups { groupName }
      }
    }
    ... on PythonError { message }
  }
  assetNodes { assetKey { path } groupName }
  assetOrError(assetKey: $key) {
    ... on Asset {
      assetMaterializations(limit: 1) {
        runId
        metadataEntries { label ... on IntMetadataEntry { intValue } }
      }
    }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _chromium() -> str:
    """Debian's Chromium; installed here if missing and possible (.ci/run installs it beforehand)."""
    if not Path(CHROMIUM).exists() and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=env, capture_output=True, timeout=900)
    require(Path(CHROMIUM).exists(), "chromium (apt-get install chromium)")
    return CHROMIUM


def _graphql(base: str, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{base}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    assert "errors" not in answer, answer["errors"]
    return answer["data"]


@pytest.fixture()
def webserver(home: Path, towns, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """dagster-webserver on a free loopback port over a prepared DAGSTER_HOME, after one kawashima run."""
    instance_home = prepare_dagster_home(home)
    monkeypatch.setenv("DAGSTER_HOME", str(instance_home))  # recorded, so it is undone after the test
    settings = instance_home / "dagster.yaml"
    if "nux:" not in settings.read_text("utf-8"):
        # The "join the community" dialog would cover the graph (and links out of a closed network).
        settings.write_text(settings.read_text("utf-8") + "nux:\n  enabled: false\n", "utf-8")

    write_export(towns["kawashima"].inbox(home) / "jumin_20261101.csv", towns["kawashima"].feeds["jumin"], [GOOD_JUMIN])
    job = build_definitions(home).resolve_job_def(job_name("kawashima"))
    with DagsterInstance.get() as instance:
        assert job.execute_in_process(
            run_config=run_config_for(home), instance=instance, tags={TOWN_TAG: "kawashima"}
        ).success

    port = _free_port()
    log = (tmp_path / "webserver.log").open("wb")
    cmd = [
        str(Path(sys.executable).with_name("dagster-webserver")),
        *("-h", "127.0.0.1", "-p", str(port), "-w", str(CHECKOUT / "workspace.yaml")),
    ]
    env = dict(os.environ, KODOMO_HOME=str(home), DAGSTER_HOME=str(instance_home))
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert proc.poll() is None, (tmp_path / "webserver.log").read_text("utf-8", "replace")[-3000:]
            try:
                with urllib.request.urlopen(f"{base}/server_info", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.monotonic() < deadline, f"webserver did not answer within {STARTUP_SECONDS} s"
            time.sleep(0.5)
        yield base
    finally:
        stop_group(proc, seconds=15)
        log.close()


def _png_pixels(path: Path) -> np.ndarray:
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes) with the standard library and numpy."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            chunks.append(body)
    assert depth == 8 and colour in (2, 6), f"unexpected PNG format depth={depth} colour={colour}"
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), dtype=np.uint8).reshape(height, stride + 1)
    pixels = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:]
        if kind == 0:
            cur = line.copy()
        elif kind == 1:
            cur = (np.cumsum(line.reshape(width, bpp).astype(np.int64), axis=0) % 256).astype(np.uint8).ravel()
        elif kind == 2:
            cur = (line.astype(np.uint16) + prev).astype(np.uint8)
        else:  # average (3) and Paeth (4) depend on the byte to the left: byte by byte
            row, above = bytearray(line.tobytes()), prev.tobytes()
            for i in range(stride):
                left = row[i - bpp] if i >= bpp else 0
                up = above[i]
                corner = above[i - bpp] if i >= bpp else 0
                if kind == 3:
                    guess = (left + up) >> 1
                else:
                    pa, pb, pc = abs(up - corner), abs(left - corner), abs(left + up - 2 * corner)
                    guess = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                row[i] = (row[i] + guess) & 0xFF
            cur = np.frombuffer(bytes(row), dtype=np.uint8)
        pixels[y] = cur
        prev = cur
    return pixels.reshape(height, width, bpp)[:, :, :3]


def _render(chromium: str, url: str, profile: Path, screenshot: Path | None = None) -> str:
    """Load URL in headless Chromium with no way off this machine; return the DOM or write a screenshot."""
    cmd = [
        chromium,
        *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"),
        *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
        *("--disable-dev-shm-usage", "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
        f"--user-data-dir={profile}",
        "--window-size=1600,1000",
        "--virtual-time-budget=30000",
        f"--screenshot={screenshot}" if screenshot else "--dump-dom",
        url,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _assert_not_blank(path: Path) -> None:
    assert path.exists() and path.stat().st_size > 20_000, f"{path}: missing or tiny"
    pixels = _png_pixels(path)
    assert pixels.shape[:2] == (1000, 1600)
    colours, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)
    assert len(colours) > 50, f"{path}: only {len(colours)} colours"
    assert counts.max() / counts.sum() < 0.97, f"{path}: almost one colour"


def test_operator_ui_shows_both_towns_and_the_asset_graph(webserver: str, towns, tmp_path: Path) -> None:
    data = _graphql(webserver, QUERY, {"key": {"path": ["kawashima", "valid_jumin"]}})

    repos = data["repositoriesOrError"]
    assert repos["__typename"] == "RepositoryConnection", repos
    [repo] = repos["nodes"]  # one code location for every town
    schedules = {s["name"]: s for s in repo["schedules"]}
    sensors = {s["name"]: s for s in repo["sensors"]}
    for town in towns:
        nightly = schedules[f"{town}_nightly_schedule"]
        assert (nightly["cronSchedule"], nightly["executionTimezone"]) == ("0 2 * * *", "Asia/Tokyo")
        assert nightly["scheduleState"]["status"] == "RUNNING"
        assert sensors[f"{town}_inbox_sensor"]["sensorState"]["status"] == "RUNNING"
    # each town's nightly graph, and its on-demand backtest (効果検証) kept out of the nightly job
    assert {g["groupName"] for g in repo["assetGroups"]} == set(towns) | {f"{town}_backtest" for town in towns}

    keys = {"/".join(node["assetKey"]["path"]): node["groupName"] for node in data["assetNodes"]}
    # The UI shows exactly the graph the code defines, town by town.
    graph = build_definitions().resolve_asset_graph()
    defined = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    for name, town in towns.items():
        expected = {key for key, group in defined.items() if group == name}
        assert {f"{name}/{step}_{feed}" for feed in town.feeds for step in ("raw", "valid")} <= expected
        assert {key for key, group in keys.items() if group == name} == expected
    assert {"kawashima/raw_jumin", "kawashima/valid_jumin", "misato/valid_sango_shitsumon"} <= set(keys)
    assert "misato/raw_toen" not in keys  # misato has no nursery feed; its graph differs

    [materialised] = data["assetOrError"]["assetMaterializations"]
    figures = {e["label"]: e.get("intValue") for e in materialised["metadataEntries"]}
    assert (figures["rows_read"], figures["rows_valid"], figures["rows_quarantined"]) == (1, 1, 0)

    # The asset graph around valid_jumin: raw_jumin upstream, persons … leak_guard downstream. (The whole
    # group's page lays out its 50+ assets in a web worker, which headless Chromium's virtual time does not
    # wait for, so the dump would catch it still "Loading assets…".)
    graph_url = f"{webserver}/assets/kawashima/valid_jumin?view=lineage"
    chromium = _chromium()
    dom = _render(chromium, graph_url, tmp_path / "chromium-dom")
    assert "kawashima" in dom and "raw_" in dom and "valid_" in dom, "the asset graph did not render"
    assert "Join the Dagster community" not in dom

    ARTIFACTS.mkdir(exist_ok=True)
    shots = {
        ARTIFACTS / "ui_asset_graph.png": graph_url,
        ARTIFACTS / "ui_valid_jumin.png": f"{webserver}/assets/kawashima/valid_jumin",
    }
    for shot, url in shots.items():
        shot.unlink(missing_ok=True)
        _render(chromium, url, tmp_path / f"chromium-{shot.stem}", screenshot=shot)
        _assert_not_blank(shot)
