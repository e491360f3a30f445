"""The town inbox: `<feed>_<YYYYMMDD>.csv` full snapshots; the newest one up to the as-of date is current.

Staff may return a filled-in list as `<feed>_<YYYYMMDD>.xlsx` instead (ingest/xlsx_reader.py); on the same
date the workbook comes after the CSV.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

_SNAPSHOT = re.compile(r"^(?P<feed>[a-z][a-z0-9_]*)_(?P<date>\d{8})\.(?:csv|xlsx)$")


@dataclass(frozen=True)
class Snapshot:
    feed: str
    extract_date: dt.date
    path: Path

    @property
    def file_name(self) -> str:
        return self.path.name


def parse_snapshot_name(path: Path) -> Snapshot | None:
    match = _SNAPSHOT.fullmatch(path.name)  # fullmatch: `$` would accept a trailing line break
    if not match:
        return None
    try:
        extract = dt.datetime.strptime(match["date"], "%Y%m%d").date()
    except ValueError:
        return None
    return Snapshot(match["feed"], extract, path)


def list_snapshots(inbox: Path, feeds: set[str] | None = None) -> list[Snapshot]:
    """Every snapshot file in the inbox (not in subfolders, not a link, nothing resolving outside), oldest first."""
    from kodomo_pipeline.ingest.inbox_scan import is_safe_inbox_file  # it names files with this module's parser

    if not inbox.is_dir():
        return []
    resolved = inbox.resolve()
    found = [
        snap for path in inbox.iterdir() if (snap := parse_snapshot_name(path)) and is_safe_inbox_file(path, resolved)
    ]
    if feeds is not None:
        found = [snap for snap in found if snap.feed in feeds]
    return sorted(found, key=lambda snap: (snap.extract_date, snap.feed, snap.path.suffix))


def newest_snapshot(inbox: Path, feed: str, asof: dt.date | None = None) -> Snapshot | None:
    """The current snapshot of a feed: the newest extract dated on or before the as-of date."""
    candidates = [snap for snap in list_snapshots(inbox, {feed}) if asof is None or snap.extract_date <= asof]
    return candidates[-1] if candidates else None


def newest_extract_date(inbox: Path, feeds: set[str]) -> dt.date | None:
    snaps = list_snapshots(inbox, feeds)
    return snaps[-1].extract_date if snaps else None
