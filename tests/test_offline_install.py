"""Offline installation as a town's server does it: wheelhouse → fresh venv with no index → `kodomo run`.

The build step may use the package index (it runs on a connected machine; pip's cache makes it
quick after `make test` installed the same pins). The install step and the run get no network at
all (a private network namespace, `unshare -n`) and no index; where the kernel refuses the namespace the
test skips (fails under CI=true) instead of running with the network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kodomo_pipeline.config import load_towns
from kodomo_pipeline.deploy import wheelhouse
from tests.conftest import require, write_export
from tests.test_orchestration import GOOD_JUMIN

CHECKOUT = Path(__file__).resolve().parents[1]
# Configuration the installed application needs; each must be listed in pyproject's data-files.
CONFIG_ITEMS = ("workspace.yaml", "assets", "resources", "expectations", "dbt_like_sql", "rules")
IGNORED = {"__pycache__", ".DS_Store"}


def _no_network_prefix() -> list[str]:
    """`unshare -n` (a private network namespace with no interfaces up); skipped (failed in CI) without it.

    Running without isolation would let pip or the run reach the network and still pass: the test
    would no longer prove an offline install, so it does not run at all rather than quietly weaker.
    """
    unshare = shutil.which("unshare")
    works = bool(unshare) and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0
    require(works, "network isolation (`unshare -n`: needs root or user namespaces)")
    return [unshare, "-n"]


def _clean_env(**extra: str) -> dict[str, str]:
    """The server's environment: nothing pointing back at this checkout or its venv, no pip settings."""
    drop = ("PIP_", "KODOMO_", "DAGSTER_", "PYTHON", "VIRTUAL_ENV")
    env = {key: value for key, value in os.environ.items() if not key.startswith(drop)}
    env |= {"PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull, **extra}
    return env


def _config_files(root: Path) -> set[str]:
    found = set()
    for item in CONFIG_ITEMS:
        path = root / item
        candidates = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        found |= {str(p.relative_to(root)) for p in candidates if not IGNORED & set(p.parts)}
    return found


def test_verify_catches_missing_and_altered_files(tmp_path: Path) -> None:
    (tmp_path / "a-1.0-py3-none-any.whl").write_bytes(b"wheel bytes")
    (tmp_path / wheelhouse.LOCK_NAME).write_text("a==1.0\n")
    digests = {name: wheelhouse._sha256(tmp_path / name) for name in ("a-1.0-py3-none-any.whl", wheelhouse.LOCK_NAME)}
    manifest = wheelhouse.Manifest("0.1.0", "3.11", "linux-x86_64", digests, "2026-11-26T00:00:00+00:00")
    (tmp_path / wheelhouse.MANIFEST_NAME).write_text(manifest.to_json())
    assert wheelhouse.verify(tmp_path) == manifest
    (tmp_path / wheelhouse.LOCK_NAME).write_text("a==1.1\n")
    (tmp_path / "a-1.0-py3-none-any.whl").unlink()
    with pytest.raises(wheelhouse.WheelhouseError, match=r"missing a-1\.0.*altered requirements\.lock"):
        wheelhouse.verify(tmp_path)
    assert wheelhouse.main(["verify", str(tmp_path)]) == 2


@pytest.mark.slow
def test_wheelhouse_installs_and_runs_a_town_without_network(tmp_path: Path) -> None:
    no_net = _no_network_prefix()  # before the build: without isolation there is nothing to prove
    started = time.perf_counter()
    house = tmp_path / "wheelhouse"
    manifest = wheelhouse.build(house, CHECKOUT)
    built = time.perf_counter()

    wheels = [name for name in manifest.files if name.endswith(".whl")]
    sdists = [name for name in manifest.files if name.endswith((".tar.gz", ".zip", ".tar.bz2"))]
    assert not sdists, "only wheels: an sdist would need building on the server"
    for name in (wheelhouse.LOCK_NAME, wheelhouse.SCRIPT_NAME, "docs/operations.md"):
        assert name in manifest.files, name
    assert any(name.startswith("deploy/systemd/") for name in manifest.files)
    for tool in ("pip", "setuptools", "wheel", "kodomo_pipeline"):
        assert any(name.startswith(f"{tool}-") for name in wheels), tool

    # On the server: the copied stand-alone script, an interpreter isolated from this checkout, no network.
    venv = tmp_path / "server" / "venv"
    script = house / wheelhouse.SCRIPT_NAME
    installed = subprocess.run(
        [*no_net, sys.executable, "-I", str(script), "install", str(house), str(venv)],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    done_install = time.perf_counter()

    share = venv / "share" / "kodomo-pipeline"
    missing = _config_files(CHECKOUT) - _config_files(share)
    assert not missing, f"config files not in the wheel (add them to pyproject's data-files): {sorted(missing)}"

    work = tmp_path / "server" / "work"  # not the checkout: config must come from the installed wheel
    work.mkdir()
    env = _clean_env(KODOMO_HOME=str(work / "data"))
    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "from kodomo_pipeline.config.paths import config_root; print(config_root())",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.returncode == 0, where.stderr[-2000:]
    assert Path(where.stdout.strip()) == share.resolve(), (
        "config_root() must find the wheel's configuration under <sys.prefix>/share/kodomo-pipeline"
    )

    helped = subprocess.run([str(venv / "bin" / "kodomo"), "--help"], cwd=work, env=env, capture_output=True, text=True)
    assert helped.returncode == 0, helped.stderr[-2000:]
    assert "run" in helped.stdout and "status" in helped.stdout

    inbox = work / "exports"
    kawashima = load_towns()["kawashima"]
    write_export(inbox / "jumin_20261101.csv", kawashima.feeds["jumin"], [GOOD_JUMIN])
    ran = subprocess.run(
        [*no_net, str(venv / "bin" / "kodomo"), "run", "--town", "kawashima", "--inbox", str(inbox)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "succeeded" in ran.stdout
    status = json.loads(next((work / "data" / "out" / "kawashima").glob("ingest_status_*.json")).read_text("utf-8"))
    assert status["feeds"]["jumin"]["rows_valid"] == 1
    assert (work / "data" / "dagster_home" / "dagster.yaml").exists()
    finished = time.perf_counter()
    print(
        f"\noffline install: build {built - started:.0f} s, install {done_install - built:.0f} s, "
        f"run {finished - done_install:.0f} s, network unshared"
    )
    # 1.1 GB of wheels and venv: not worth keeping once it passed (pytest keeps three runs' tmp dirs).
    shutil.rmtree(house)
    shutil.rmtree(venv)
