"""Offline installation: a wheelhouse built on a connected machine, installed on the town's closed network.

The town's servers (LGWAN) cannot reach any package index, so everything the application needs is
carried over as wheels: every pin of requirements.lock, the project's own wheel (which carries the
configuration folders) and the build tools (pip, setuptools, wheel), so that no step on the server
ever needs an index or an sdist.

    python -m kodomo_pipeline.deploy.wheelhouse build DIR          # connected machine, in a checkout
    python3 DIR/wheelhouse.py install DIR VENV                      # server: stdlib only, no index
    python3 DIR/wheelhouse.py verify DIR                            # after copying the media

This module uses the standard library only and imports nothing else from the package: `build`
copies it into DIR as `wheelhouse.py`, so the server can run it before anything is installed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROJECT = "kodomo-pipeline"
LOCK_NAME = "requirements.lock"
MANIFEST_NAME = "manifest.json"
SCRIPT_NAME = "wheelhouse.py"
SERVER_FILES = ("docs/operations.md", "deploy/systemd")  # copied into the wheelhouse as they are
# Left out of the clean copy the project wheel is built from: top-level state, and caches anywhere.
BUILD_IGNORE_TOP = {".git", ".venv", "data", "build", "dist", "artifacts", "wheelhouse"}
BUILD_IGNORE_ANYWHERE = ("__pycache__", "*.pyc", "*.egg-info", ".*_cache")
# Build tools carried along: a fresh venv upgrades its pip from the wheelhouse, and setuptools/wheel
# let the project (or anything else) be rebuilt offline from the wheelhouse alone.
BUILD_TOOLS = ("pip==26.3", "setuptools==84.2.1", "wheel==0.48.0")

_INTERPRETER_PROBE = (
    "import json, sys, sysconfig; "
    "print(json.dumps({'python': f'{sys.version_info.major}.{sys.version_info.minor}', "
    "'platform': sysconfig.get_platform()}))"
)


class WheelhouseError(RuntimeError):
    """The wheelhouse is incomplete, altered, or for another Python or platform."""


@dataclass(frozen=True)
class Manifest:
    """What a wheelhouse holds and for which interpreter it was built."""

    project_version: str
    python: str
    platform: str
    files: dict[str, str]  # path inside the wheelhouse -> SHA-256
    built_at: str

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True) + "\n"

    @classmethod
    def read(cls, wheelhouse: Path) -> Manifest:
        path = wheelhouse / MANIFEST_NAME
        if not path.exists():
            raise WheelhouseError(f"{path}: missing; build the wheelhouse with `wheelhouse build`")
        return cls(**json.loads(path.read_text("utf-8")))


def checkout_root() -> Path | None:
    """The project checkout this module lives in, if any (build needs pyproject.toml and the lock)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").exists() and (root / LOCK_NAME).exists() else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    """Run a pip/venv step, echoing it so an operator's log shows exactly what was done."""
    print("+ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)


def _interpreter(python: str) -> dict[str, str]:
    out = subprocess.run([python, "-c", _INTERPRETER_PROBE], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def offline_pip_env() -> dict[str, str]:
    """The environment for pip on the server: no index, no pip config files, no inherited pip settings.

    The wheelhouse must be the only source; a stray pip.conf or PIP_* variable (an index URL, extra
    find-links) would otherwise let pip look elsewhere, or hang on a network it cannot reach.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return env


def _build_ignore(project: Path, dest: Path) -> Callable[[str, list[str]], set[str]]:
    """copytree filter: skip the checkout's state folders, caches, and DEST if it lies inside the checkout."""
    anywhere = shutil.ignore_patterns(*BUILD_IGNORE_ANYWHERE)

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set(anywhere(folder, names))
        if Path(folder).resolve() == project:
            skipped |= BUILD_IGNORE_TOP & set(names)
        return skipped | {name for name in names if (Path(folder) / name).resolve() == dest}

    return ignore


def build(dest: Path, project: Path | None = None, python: str = sys.executable) -> Manifest:
    """Fill DEST with wheels of every locked dependency, the build tools and the project itself.

    Runs on a machine with access to the package index (pip's own configuration applies: mirror,
    proxy, cache). Binary wheels only: an sdist would need a compiler on the server.
    """
    project = (project or checkout_root() or Path.cwd()).resolve()
    lock = project / LOCK_NAME
    if not (project / "pyproject.toml").exists() or not lock.exists():
        raise WheelhouseError(f"{project}: not a kodomo_pipeline checkout (pyproject.toml and {LOCK_NAME} needed)")
    version = tomllib.loads((project / "pyproject.toml").read_text("utf-8"))["project"]["version"]
    dest = dest.resolve()
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(lock, dest / LOCK_NAME)
    shutil.copyfile(Path(__file__), dest / SCRIPT_NAME)
    for item in SERVER_FILES:  # what the operator needs on the server besides wheels
        source = project / item
        if source.is_dir():
            shutil.copytree(source, dest / item, dirs_exist_ok=True)
        elif source.is_file():
            (dest / item).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest / item)
    pip = [python, "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "download", "--only-binary=:all:", "--dest", str(dest), "-r", str(dest / LOCK_NAME)])
    _run([*pip, "download", "--only-binary=:all:", "--no-deps", "--dest", str(dest), *BUILD_TOOLS])
    for old in dest.glob("kodomo_pipeline-*.whl"):
        old.unlink()  # one project wheel per wheelhouse
    with tempfile.TemporaryDirectory(prefix="kodomo-build-") as tmp:
        # A clean copy: setuptools would package stale files from a checkout's build/ folder.
        source = Path(tmp) / "src"
        shutil.copytree(project, source, ignore=_build_ignore(project, dest))
        # Offline on purpose: proves the project builds from the wheelhouse's own setuptools/wheel.
        _run(
            [*pip, "wheel", "--no-deps", "--no-index", "--find-links", str(dest), "--wheel-dir", str(dest), str(source)]
        )
    info = _interpreter(python)
    files = {
        path.relative_to(dest).as_posix(): _sha256(path)
        for path in sorted(dest.rglob("*"))
        if path.is_file() and path.name != MANIFEST_NAME
    }
    manifest = Manifest(
        project_version=version,
        python=info["python"],
        platform=info["platform"],
        files=files,
        built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    (dest / MANIFEST_NAME).write_text(manifest.to_json(), "utf-8")
    return manifest


def verify(wheelhouse: Path) -> Manifest:
    """Check every file against the manifest (after copying to the closed network, media can be altered)."""
    manifest = Manifest.read(wheelhouse)
    problems = []
    for name, digest in manifest.files.items():
        path = wheelhouse / name
        if not path.exists():
            problems.append(f"missing {name}")
        elif _sha256(path) != digest:
            problems.append(f"altered {name}")
    if problems:
        raise WheelhouseError(f"{wheelhouse}: " + "; ".join(problems))
    return manifest


def install(wheelhouse: Path, venv: Path, python: str = sys.executable) -> Path:
    """Create a fresh venv and install the locked dependencies and the project from WHEELHOUSE only."""
    wheelhouse = wheelhouse.resolve()
    venv = venv.resolve()
    manifest = verify(wheelhouse)
    info = _interpreter(python)
    if (info["python"], info["platform"]) != (manifest.python, manifest.platform):
        raise WheelhouseError(
            f"wheelhouse built for Python {manifest.python} on {manifest.platform}, "
            f"this interpreter is Python {info['python']} on {info['platform']}: rebuild it on a matching machine"
        )
    if venv.exists() and any(venv.iterdir()):
        raise WheelhouseError(f"{venv}: exists and is not empty; install into a new folder, then switch over")
    _run([python, "-m", "venv", str(venv)])
    env = offline_pip_env()
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    source = ["--no-index", "--find-links", str(wheelhouse)]
    pip_pin = next(tool for tool in BUILD_TOOLS if tool.startswith("pip=="))
    _run([*pip, "install", "--quiet", *source, "--upgrade", pip_pin], env=env)
    _run(
        [
            *pip,
            "install",
            *source,
            "-r",
            str(wheelhouse / LOCK_NAME),
            f"{PROJECT}=={manifest.project_version}",
        ],
        env=env,
    )
    return venv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wheelhouse", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p_build = commands.add_parser("build", help="download and build every wheel into DIR (connected machine)")
    p_build.add_argument("dir", type=Path)
    p_build.add_argument("--project", type=Path, default=None, help="the checkout (default: this module's)")
    p_install = commands.add_parser("install", help="create VENV and install from DIR only (no index)")
    p_install.add_argument("dir", type=Path)
    p_install.add_argument("venv", type=Path)
    p_install.add_argument("--python", default=sys.executable, help="interpreter for the venv")
    p_verify = commands.add_parser("verify", help="check DIR's files against its manifest")
    p_verify.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            manifest = build(args.dir, args.project)
            print(
                f"wheelhouse {args.dir}: {len(manifest.files)} files for Python {manifest.python} {manifest.platform}"
            )
        elif args.command == "install":
            venv = install(args.dir, args.venv, args.python)
            print(f"installed {PROJECT} into {venv}; commands: {venv / 'bin' / 'kodomo'}")
        else:
            manifest = verify(args.dir)
            print(f"wheelhouse {args.dir}: {len(manifest.files)} files intact")
    except WheelhouseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"error: step failed with exit code {exc.returncode}: {' '.join(map(str, exc.cmd))}", file=sys.stderr)
        return exc.returncode or 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
