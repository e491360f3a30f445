"""Inbox hygiene: which files of a town's inbox are read, which are ignored and why, and when a file is complete.

Departments copy exports by hand or by transfer job, so the inbox also holds near misses (`jumin_20261031 (1).csv`,
full-width digits, spaces, a line break typed into the name, `.CSV`), uploads in progress and links. A near miss is
never guessed into a feed: it is listed, with the reason, for the operator to rename. A symlink, or anything that
resolves outside the inbox, is refused without being opened (only `lstat` is used). A file is read only once it
has stopped changing: its size and modification time the same across two looks `inbox_settle_seconds` apart (town
file), or uploaded under a temporary name ending in UPLOAD_SUFFIX and renamed when complete. File names are
operator-visible (they name no person), so they are shown — with control characters escaped.
"""

from __future__ import annotations

import re
import stat
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from kodomo_pipeline.ingest.inbox import parse_snapshot_name

UPLOAD_SUFFIX = ".part"  # upload as `<feed>_<YYYYMMDD>.csv.part`, rename to `.csv` when the copy is complete
STILL_WRITING = "ファイルがまだ書き込み中のため今回は読みません (still being written; the next run reads it)"
SETTLE_TRIES = 10  # a file still changing after this many settle periods of waiting is left for the next run

_NAME = re.compile(r"^(?P<feed>[a-z][a-z0-9_]*)_(?P<date>\d{8})\.csv$")
_COPY_MARK = re.compile(
    r"^(?P<stem>[a-z][a-z0-9_]*_\d{8})(\s*\(\d+\)|\s*-\s*コピー(\s*\(\d+\))?|\s*- Copy(\s*\(\d+\))?)\.csv$"
)


@dataclass(frozen=True)
class IgnoredFile:
    name: str  # as shown to operators: control characters escaped
    reason: str  # Japanese first, English after

    def as_dict(self) -> dict[str, str]:
        return {"file": self.name, "reason": self.reason}


def _shown_char(ch: str) -> str:
    kind = unicodedata.category(ch)
    if kind == "Cc":
        return ch.encode("unicode_escape").decode("ascii")
    if kind == "Cs":  # a byte of a name that is not UTF-8 (a Shift_JIS name copied from Windows)
        return f"\\x{ord(ch) - 0xDC00:02x}"
    return ch


def shown_name(name: str) -> str:
    """The name with control characters (a line break typed into it) and undecodable bytes made visible,
    e.g. `jumin.csv\\n`, so that it prints and goes into JSON."""
    return "".join(_shown_char(ch) for ch in name)


def near_miss_reason(name: str, feeds: set[str]) -> str:
    """Why a file name is not read as an export (the name alone decides; the file is never opened)."""
    if any(unicodedata.category(ch) == "Cs" for ch in name):
        return "ファイル名の文字コードが UTF-8 ではありません (the name is not UTF-8, e.g. Shift_JIS)"
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return "ファイル名に改行などの制御文字があります (control character, e.g. a line break, in the name)"
    if name.endswith(UPLOAD_SUFFIX):
        return f"アップロード中です（{UPLOAD_SUFFIX} は完了後に外してください） (upload in progress)"
    if _COPY_MARK.fullmatch(name):
        return "コピーの印（「 (1)」「 - コピー」など）が付いています (a copy's mark in the name, e.g. ' (1)')"
    folded = unicodedata.normalize("NFKC", name)
    if folded != name and _NAME.fullmatch(folded.strip()):
        return "ファイル名に全角文字があります（半角で）(full-width characters in the name)"
    if name != name.strip() or " " in name or "\u3000" in name:
        return "ファイル名に空白があります (spaces in the name)"
    if name.lower().endswith(".csv") and not name.endswith(".csv"):
        return "拡張子は小文字の .csv にしてください (the extension must be lower-case .csv)"
    match = _NAME.fullmatch(name)
    if match and match["feed"] not in feeds:
        return f"「{match['feed']}」はこの町のデータ種別ではありません (not one of this town's feeds)"
    if match:
        return "日付 YYYYMMDD が正しくありません (not a valid extract date)"
    return "名前が <feed>_<YYYYMMDD>.csv の形ではありません (name does not match <feed>_<YYYYMMDD>.csv)"


def refusal_reason(path: Path, inbox_resolved: Path) -> str | None:
    """Why a directory entry is refused before its name is even considered: links, folders, non-files, outside."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return "シンボリックリンクは読みません (symlink: refused, not read)"
    if stat.S_ISDIR(info.st_mode):
        return "フォルダは読みません (a folder: not read)"
    if not stat.S_ISREG(info.st_mode):
        return "通常のファイルではありません (not a regular file: refused)"
    if path.resolve().parent != inbox_resolved:
        return "受入フォルダの外にあります (resolves outside the inbox: refused)"
    return None


def is_safe_inbox_file(path: Path, inbox_resolved: Path) -> bool:
    """A regular file directly in the inbox, not a link (checked with lstat: the target is never opened)."""
    try:
        return refusal_reason(path, inbox_resolved) is None
    except OSError:
        return False


def ignored_files(inbox: Path, feeds: set[str]) -> list[IgnoredFile]:
    """Every entry of the inbox that is not read as an export of this town, with the reason, by name."""
    if not inbox.is_dir():
        return []
    resolved = inbox.resolve()
    found: list[IgnoredFile] = []
    for path in sorted(inbox.iterdir()):
        try:
            reason = refusal_reason(path, resolved)
        except OSError as exc:
            reason = f"読めません (cannot be examined: {exc.strerror})"
        if reason is None:
            snapshot = parse_snapshot_name(path)
            if snapshot is not None and snapshot.feed in feeds:
                continue
            reason = near_miss_reason(path.name, feeds)
        found.append(IgnoredFile(shown_name(path.name), reason))
    return found


def settled(path: Path, settle_seconds: float, now: float | None = None) -> bool:
    """True when the file's last change (mtime) is at least `settle_seconds` old: it has stopped changing."""
    info = path.lstat()
    return (now if now is not None else time.time()) - info.st_mtime >= settle_seconds


def wait_until_settled(path: Path, settle_seconds: float) -> bool:
    """Look at size and mtime, wait, look again: True once two looks `settle_seconds` apart agree and the file
    is that old; False if it still changes after SETTLE_TRIES settle periods (left for the next run)."""
    if settle_seconds <= 0:
        return True
    deadline = time.monotonic() + SETTLE_TRIES * settle_seconds
    first = path.stat()
    while True:
        age = time.time() - first.st_mtime
        if age >= settle_seconds:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(settle_seconds - age)
        second = path.stat()
        if (second.st_size, second.st_mtime_ns) == (first.st_size, first.st_mtime_ns):
            return True
        first = second
