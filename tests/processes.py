"""Child processes the tests start in a session of their own (the Dagster webserver, the daemon)."""

from __future__ import annotations

import os
import signal
import subprocess


def stop_group(proc: subprocess.Popen, seconds: float) -> None:
    """Stop the process and its children (its whole process group), forcefully if they linger past `seconds`."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=seconds)
