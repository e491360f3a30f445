"""Keyed pseudonyms (HMAC-SHA256 with a per-town secret) for exports to people who must not know who is who.

A plain hash of a 10-digit resident ID is reversible by trying every ID; an HMAC is not without the key.
The key is the town's own: `KODOMO_PSEUDONYM_KEY_<TOWN>` in the environment (production: set by the service
from a secret store), else `<data root>/keys/<town>.key`, which the first use creates (owner-only, 0600) so
that the demo works out of the box; the caller announces the creation (never the key). The same key gives the
same pseudonym for the same person run after run; another town's key gives another one. Rotation: a new key
changes every pseudonym; keep the old key offline if past exports ever need to be related to new ones
(docs/privacy_reviewers.md).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

ENV_PREFIX = "KODOMO_PSEUDONYM_KEY_"
KEY_BYTES = 32
MIN_SECRET_CHARS = 32
PSEUDONYM_HEX = 16  # 64 bits: no collision to expect among a town's residents, short enough for a spreadsheet
CONTEXT = b"kodomo-pseudonym-v1\x00"  # a pseudonym here never equals an HMAC the same key makes elsewhere
ALERT_CONTEXT = b"kodomo-alert-v1\x00"
ALERT_ID_HEX = 12
FINGERPRINT_CONTEXT = b"kodomo-key-fingerprint-v1\x00"
FINGERPRINT_HEX = 16


class PseudonymKeyError(RuntimeError):
    """The town's key is unusable; the message names the variable or file, never the key."""


def env_var(town: str) -> str:
    return ENV_PREFIX + town.upper()


def key_path(town: str, root: Path) -> Path:
    return root / "keys" / f"{town}.key"


@dataclass(frozen=True)
class PseudonymKey:
    """A town's pseudonymisation key and where it came from; `repr` and `str` never show the secret."""

    town: str
    source: str  # "environment" or "key file"
    location: str  # the variable's name or the file's path
    created: bool  # this call created the key file
    _secret: bytes = field(repr=False)

    def pseudonym(self, value: str) -> str:
        """The same value and key always give the same pseudonym; without the key it cannot be reversed."""
        digest = hmac.new(self._secret, CONTEXT + value.encode("utf-8"), hashlib.sha256).hexdigest()
        return digest[:PSEUDONYM_HEX]

    def alert_id(self, subject: str, subject_type: str, type_code: str) -> str:
        """A new alert's ID: the same subject and type give the same ID even in a rebuilt database (decisions in
        taio_kekka keep pointing at it), and it reveals nobody without the key. Once given, an ID is kept in
        `alert_ids`, so a key rotation changes only the IDs of alerts that are new after it."""
        message = ALERT_CONTEXT + f"{subject}|{subject_type}|{type_code}".encode()
        return "AL-" + hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:ALERT_ID_HEX].upper()

    @property
    def fingerprint(self) -> str:
        """Names the key without revealing it (an HMAC of a fixed text): recorded in the town database so that
        a lost or swapped key is noticed before any pseudonym changes (privacy/services/key_registry.py)."""
        return hmac.new(self._secret, FINGERPRINT_CONTEXT, hashlib.sha256).hexdigest()[:FINGERPRINT_HEX]

    @property
    def announcement(self) -> str | None:
        """What the run logs when it created the key: where it is and what to do, not the key."""
        if not self.created:
            return None
        return (
            f"{self.town}: created a new pseudonymisation key at {self.location} (owner-only). Back it up with the "
            f"town's database; for production set {env_var(self.town)} from the town's secret store instead."
        )


def _read_key_file(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PseudonymKeyError(f"{path} is readable by other users: make it owner-only (chmod 600) and run again")
    text = path.read_text(encoding="ascii").strip()
    if len(text) < MIN_SECRET_CHARS:
        raise PseudonymKeyError(f"{path} holds no usable key (at least {MIN_SECRET_CHARS} characters expected)")
    return text.encode("ascii")


def _create_key_file(path: Path) -> bool:
    """Write a fresh random key, owner-only from the first byte; False when another process won the race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(KEY_BYTES) + "\n")
    return True


def ephemeral_key(town: str) -> PseudonymKey:
    """A throwaway key for runs without a data root (unit tests, benchmarks): IDs stable only via `alert_ids`."""
    return PseudonymKey(town, "ephemeral", "-", False, secrets.token_bytes(KEY_BYTES))


def key_available(town: str, root: Path) -> bool:
    """Whether the town's key exists (environment or key file) without creating one."""
    return bool(os.environ.get(env_var(town), "").strip()) or key_path(town, root).exists()


def load_key(town: str, root: Path) -> PseudonymKey:
    """The town's key: the environment first, else the key file under the data root (created on first use)."""
    name = env_var(town)
    value = os.environ.get(name, "").strip()
    if value:
        if len(value) < MIN_SECRET_CHARS:
            raise PseudonymKeyError(f"{name} is too short: at least {MIN_SECRET_CHARS} characters of random text")
        return PseudonymKey(town, "environment", name, False, value.encode("utf-8"))
    path = key_path(town, root)
    created = _create_key_file(path) if not path.exists() else False
    return PseudonymKey(town, "key file", str(path), created, _read_key_file(path))
