"""Test-only crash points: `KODOMO_FAULT_AT=<step>` (or `<step>:<feed>`) makes the process kill itself there.

The crash-safety tests need the real bad day — a power cut or the OOM killer in the middle of a run —
and SIGKILL is the only way to get it: no `finally`, no rollback, no flush. Unset (always, in operation)
the check is one dictionary lookup. Steps: ingestion, validation, scoring (Splink's tables in the town database),
linkage, export.
"""

from __future__ import annotations

import os
import signal

FAULT_VARIABLE = "KODOMO_FAULT_AT"


def crash_point(step: str, feed: str | None = None) -> None:
    """SIGKILL this process if the fault variable names this step (and this feed, when it names one)."""
    wanted = os.environ.get(FAULT_VARIABLE)
    if not wanted:
        return
    want_step, _, want_feed = wanted.partition(":")
    if want_step == step and (not want_feed or want_feed == feed):
        os.kill(os.getpid(), signal.SIGKILL)
