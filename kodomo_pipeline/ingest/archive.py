"""The archive of ingested exports, by content: `archive/<town>/<feed>/<sha256>_<file name>`.

The bytes written are the bytes that were hashed (one read of the inbox file), flushed to disk and
renamed into place before the database records the hash, so a recorded SHA-256 always has its file.
A corrected export re-sent under the same name gets its own entry; nothing is overwritten. Archives
of the earlier layout (`archive/<town>/<feed>/<file name>`) stay readable: `resolve_archived` tries the
recorded path, the content name and the old name, and returns only a file whose SHA-256 matches.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from kodomo_pipeline.ingest.inbox import Snapshot, parse_snapshot_name

_CONTENT_NAME = re.compile(r"^(?P<sha>[0-9a-f]{64})_(?P<name>.+)$")


def archive_path(folder: Path, feed: str, sha256: str, file_name: str) -> Path:
    return folder / feed / f"{sha256}_{file_name}"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def archive_bytes(target: Path, data: bytes) -> Path:
    """Write `data` to `target` durably (temporary file, fsync, atomic rename, fsync of the folder).

    A target that already exists holds these bytes (its name is their hash) and is left as it is.
    """
    if target.is_file() and target.stat().st_size == len(data):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.part")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    _fsync_dir(target.parent)
    return target


def archive_link(target: Path, source: Path) -> Path:
    """A symbolic link instead of a copy: for the backtest's scratch archive of immutable history files."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_symlink() and not target.exists():
        target.symlink_to(source.resolve())
    return target


def archived_snapshot(path: Path) -> tuple[str | None, Snapshot | None]:
    """(SHA-256 or None, snapshot) of an archived file, in either layout."""
    match = _CONTENT_NAME.match(path.name)
    if match:
        snap = parse_snapshot_name(path.with_name(match["name"]))
        return match["sha"], Snapshot(snap.feed, snap.extract_date, path) if snap else None
    return None, parse_snapshot_name(path)


_HASHES: dict[tuple[str, int, int], str] = {}


def sha256_of_file(path: Path) -> str:
    """SHA-256 of a file, read in blocks; remembered per (path, size, mtime) within one process."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def resolve_archived(archived_as: str | None, feed: str, file_name: str, sha256: str) -> Path | None:
    """The archived file whose SHA-256 is `sha256`: the recorded path, else the content name, else the old
    layout's plain name beside it. None when no such file exists (purged, or an old archive overwritten)."""
    if not archived_as:
        return None
    recorded = Path(archived_as)
    folder = recorded.parent
    for candidate in (recorded, folder / f"{sha256}_{file_name}", folder / file_name):
        if candidate.is_file() and sha256_of_file(candidate) == sha256:
            return candidate
    return None
