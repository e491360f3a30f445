"""Which pseudonym key the town database was built with, so that a lost or swapped key is never silent.

A new key changes every analyst pseudonym and the IDs of new alerts. The database records the key's
fingerprint (an HMAC of a fixed text, privacy/services/pseudonym.py) at first use; a run with another key, or with
no key where one was recorded, is refused. Changing the key is an explicit, recorded `kodomo key rotate`.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.privacy.services.pseudonym import PseudonymKeyError, env_var, key_available, key_path, load_key
from kodomo_pipeline.storage.snapshots import has_table
from kodomo_pipeline.storage.town_db import open_town_db

LOG_TABLE = "pseudonym_key_log"


class KeyMismatch(PseudonymKeyError):
    """The key at hand is not the one the town database was built with (message: no key, no value)."""


def _ensure_log(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {LOG_TABLE} (recorded_at TIMESTAMP, event VARCHAR, fingerprint VARCHAR,
            previous VARCHAR, source VARCHAR, note VARCHAR)"""
    )


def recorded_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    if not has_table(con, LOG_TABLE):
        return None
    row = con.execute(f"SELECT fingerprint FROM {LOG_TABLE} ORDER BY recorded_at DESC LIMIT 1").fetchone()
    return row[0] if row else None


def key_history(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every recorded key event, oldest first (fingerprints only)."""
    if not has_table(con, LOG_TABLE):
        return []
    rows = con.execute(
        f"SELECT recorded_at, event, fingerprint, previous, source, note FROM {LOG_TABLE} ORDER BY recorded_at"
    ).fetchall()
    names = ("recorded_at", "event", "fingerprint", "previous", "source", "note")
    return [dict(zip(names, row, strict=True)) for row in rows]


def _record(con, event: str, fingerprint: str, previous: str | None, source: str, note: str = "") -> None:
    _ensure_log(con)
    con.execute(
        f"INSERT INTO {LOG_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
        [dt.datetime.now(), event, fingerprint, previous, source, note],
    )


def _refusal(town: TownConfig, root: Path, what: str) -> KeyMismatch:
    return KeyMismatch(
        f"{town.town}: {what}。町のデータベースは別の鍵 (フィンガープリント記録済み) で作られています。"
        f"バックアップから {key_path(town.town, root)} または {env_var(town.town)} を戻してください。"
        f"意図した鍵の変更なら `kodomo key rotate --town {town.town}` を実行してください "
        f"/ the pseudonym key does not match the one the town database recorded; restore it or rotate explicitly"
    )


def verify_town_key(town: TownConfig, root: Path) -> str | None:
    """Check the town's key against the database's record (recording it at first use); returns the
    announcement of a newly created key file, or raises KeyMismatch."""
    with open_town_db(town.database(root)) as con:
        expected = recorded_fingerprint(con)
        if expected and not key_available(town.town, root):
            raise _refusal(town, root, "擬似ID鍵が見つかりません (鍵ファイルも環境変数もありません)")
        key = load_key(town.town, root)
        if expected is None:
            _record(con, "first_use", key.fingerprint, None, key.source)
        elif key.fingerprint != expected:
            raise _refusal(town, root, "擬似ID鍵が記録と一致しません")
    return key.announcement


def rotate_town_key(town: TownConfig, root: Path, note: str) -> dict:
    """Replace the town's key on purpose and record it: a key file is retired (renamed, owner-only) and a new
    one created; a key from the environment is accepted as the new one. Returns fingerprints and paths."""
    with open_town_db(town.database(root)) as con:
        previous = recorded_fingerprint(con)
        retired = None
        path = key_path(town.town, root)
        from_env = bool(os.environ.get(env_var(town.town), "").strip())
        if not from_env and path.exists():
            retired = path.with_name(f"{path.name}.retired-{dt.datetime.now():%Y%m%d%H%M%S}")
            path.rename(retired)
        key = load_key(town.town, root)
        if previous == key.fingerprint:
            raise PseudonymKeyError(f"{town.town}: {env_var(town.town)} の鍵は記録済みの鍵と同じです (変更なし)")
        _record(con, "rotated", key.fingerprint, previous, key.source, note)
    return {"previous": previous, "fingerprint": key.fingerprint, "source": key.source,
            "location": key.location, "retired": str(retired) if retired else None}  # fmt: skip
