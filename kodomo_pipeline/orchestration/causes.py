"""The real cause of a failure in one line an operator can act on, without a traceback or a personal value.

Only two kinds of text reach the line: our own messages (they name files, rows, columns and counts by
design) and, for operating-system and DuckDB errors, a fixed Japanese sentence plus the path involved. Any
other exception is named by its type only: its message may quote a value (DuckDB and pandas do).
"""

from __future__ import annotations

import errno
from pathlib import Path

import duckdb

_OS_CAUSES = {
    errno.EACCES: "権限がなく書き込めません",
    errno.EPERM: "権限がなく書き込めません",
    errno.EROFS: "読み取り専用のため書き込めません",
    errno.ENOSPC: "ディスクの空きがありません",
    errno.EDQUOT: "ディスク容量の上限 (quota) に達しました",
    errno.ENOTDIR: "フォルダを作れません (途中に同名のファイルがあります)",
    errno.EEXIST: "フォルダを作れません (同名のファイルがあります)",
}
# Errors whose message the operating system writes ("[Errno 13] Permission denied: '<path>'"): a path, no value.
OS_ERROR_CLASSES = ("PermissionError", "FileNotFoundError", "NotADirectoryError", "IsADirectoryError",
                    "FileExistsError", "OSError")  # fmt: skip
_DUCKDB_CAUSES = (
    ("no space left", "ディスクの空きがありません"),
    ("read-only", "データベースが読み取り専用で書き込めません"),
    ("readonly", "データベースが読み取り専用で書き込めません"),
    ("permission denied", "データベースに書き込む権限がありません"),
    ("could not set lock", "データベースを別のプロセスが使用中です"),
    ("conflicting lock", "データベースを別のプロセスが使用中です"),
)


def describe(exc: BaseException, database: Path | None = None) -> str | None:
    """A one-line Japanese cause for errors of the machine (folders, disks, the database file), else None."""
    if isinstance(exc, OSError) and exc.errno in _OS_CAUSES:
        where = exc.filename or database or ""
        return f"{_OS_CAUSES[exc.errno]}: {where} ({errno.errorcode[exc.errno]})"
    if isinstance(exc, duckdb.Error):
        text = str(exc).lower()
        for needle, cause in _DUCKDB_CAUSES:
            if needle in text:
                return f"{cause}: {database or 'town database'} (DuckDB {type(exc).__name__})"
    return None
