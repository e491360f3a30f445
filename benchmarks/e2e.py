"""Benchmark: `kodomo run` end to end through Dagster for a generated town, per-step durations and peak RSS.

    .venv/bin/python benchmarks/e2e.py [--population 1000000] [--town kawashima] [--noise hard] [--workdir DIR]

Generates the town with `kodomo generate` (timed apart), then runs `kodomo run` in a fresh process with
its own data root (KODOMO_HOME) while sampling the peak RSS (VmHWM) of that process and every process
under it. Afterwards reads the run's step events from the Dagster instance (STEP_START →
STEP_SUCCESS/STEP_FAILURE) and prints each step's duration, the totals per phase (ingestion, validation,
quality, linkage, rules, exports) and the whole run. Targets on 2 cores: ≤ 2 min 30 s, ≤ 4 GB.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ASOF, town_parser

PHASES = (  # first match wins, by the asset name of the step (<town>__<asset>)
    ("quality (GX)", ("great_expectations", "quality")),
    ("ingestion", ("raw_",)),
    ("validation", ("valid_",)),
    ("linkage", ("persons", "unknown_residents", "crosswalk", "attendance", "mother")),
    ("exports", ("export", "disclosure", "report", "review", "privacy")),
)


def _status_kb(pid: int, field: str) -> int:
    """A memory field of /proc/<pid>/status in kB (VmHWM: the peak so far; VmRSS: now); 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    """pid and every process under it (from /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


class TreePeak:
    """Samples the process tree twice a second: the largest sum of the live processes' VmHWM (an upper bound),
    and the tree's resident size now with the time, to tell which step held the memory."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_kb, self.main_kb = pid, 0, 0
        self.samples: list[tuple[float, int]] = []  # (epoch seconds, sum of VmRSS kB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = _descendants(self.pid)
            self.peak_kb = max(self.peak_kb, sum(_status_kb(p, "VmHWM") for p in pids))
            self.main_kb = max(self.main_kb, _status_kb(self.pid, "VmHWM"))
            self.samples.append((time.time(), sum(_status_kb(p, "VmRSS") for p in pids)))
            self._stop.wait(0.5)

    def during(self, start: float, end: float) -> int:
        """The largest resident size (kB) sampled between two epoch times (0 when no sample fell inside)."""
        return max((kb for when, kb in self.samples if start <= when <= end), default=0)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def step_durations(home: Path) -> tuple[str, dict[str, tuple[float, float]], str]:
    """(run ID, step key → (start, end) epoch seconds, run status) of the newest run in the data root's Dagster
    instance."""
    os.environ["DAGSTER_HOME"] = str(home / "dagster_home")
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.get() as instance:
        run = instance.get_runs(limit=1)[0]
        kinds = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}
        started: dict[str, float] = {}
        spans: dict[str, tuple[float, float]] = {}
        for entry in instance.all_logs(run.run_id, of_type=kinds):
            key = entry.step_key or "?"
            if entry.dagster_event.event_type == DagsterEventType.STEP_START:
                started[key] = entry.timestamp
            elif key in started:
                spans[key] = (started[key], entry.timestamp)
        return run.run_id, spans, run.status.value


def phase_of(step: str) -> str:
    asset = step.split("__", 1)[-1]
    for phase, words in PHASES:
        if any(asset.startswith(word) or word in asset for word in words):
            return phase
    return "rules and models"


def main() -> None:
    parser = town_parser(__doc__, "kawashima", 1_000_000)
    parser.add_argument("--noise", default="default", help="generator noise preset: default or hard (earlier registry "
                        "extracts with the old surnames are in the inbox too, read as history)")  # fmt: skip
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="kodomo-e2e-"))
    inbox, home = work / "inbox", work / "home"
    shutil.rmtree(home, ignore_errors=True)
    kodomo = [sys.executable, "-m", "kodomo_pipeline.cli"]
    env = {key: value for key, value in os.environ.items() if key not in ("DAGSTER_HOME", "KODOMO_FAULT_AT")}
    env["KODOMO_HOME"] = str(home)

    t0 = time.perf_counter()
    if not inbox.is_dir():
        subprocess.run(
            [*kodomo, "generate", "--town", args.town, "--out", str(inbox), "--asof", ASOF.isoformat(),
             "--population", str(args.population), "--seed", str(args.seed), "--noise", args.noise],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
    generated = time.perf_counter() - t0

    t0 = time.perf_counter()
    command = [*kodomo, "run", "--town", args.town, "--inbox", str(inbox), "--asof", ASOF.isoformat()]
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with TreePeak(child.pid) as peak:
        output, _ = child.communicate()
    wall = time.perf_counter() - t0

    run_id, spans, status = step_durations(home)
    steps = {step: end - start for step, (start, end) in spans.items()}
    step_rss = {step: peak.during(start, end) / 1024**2 for step, (start, end) in spans.items()}
    phases: dict[str, float] = {}
    for step, seconds in steps.items():
        phases[phase_of(step)] = phases.get(phase_of(step), 0.0) + seconds
    print(
        f"{args.town}, population {args.population:,}, noise {args.noise}: generated in {generated:.1f} s (not counted)"
    )
    print(f"kodomo run: exit {child.returncode}, run {run_id} {status}, wall {wall:.1f} s")
    print(f"peak RSS: process tree {peak.peak_kb / 1024**2:.2f} GB, main process {peak.main_kb / 1024**2:.2f} GB")
    print("per phase (sum of step durations):")
    for phase, seconds in sorted(phases.items(), key=lambda item: -item[1]):
        print(f"  {phase:<18}{seconds:8.1f} s")
    print("per step (seconds, largest resident size of the process tree sampled during the step):")
    for step, seconds in sorted(steps.items(), key=lambda item: -item[1]):
        print(f"  {step:<48}{seconds:8.1f} s {step_rss[step]:6.2f} GB")
    if child.returncode != 0:
        print(output[-3000:])
    print(
        json.dumps(
            {
                "town": args.town,
                "population": args.population,
                "noise": args.noise,
                "exit": child.returncode,
                "wall_seconds": round(wall, 1),
                "peak_rss_gb_tree": round(peak.peak_kb / 1024**2, 2),
                "peak_rss_gb_main": round(peak.main_kb / 1024**2, 2),
                "phases": {k: round(v, 1) for k, v in phases.items()},
                "steps": {k: round(v, 1) for k, v in steps.items()},
                "step_rss_gb": {k: round(v, 2) for k, v in step_rss.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
