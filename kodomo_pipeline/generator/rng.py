"""Counter-based randomness: every draw is a hash of (seed, purpose, entity keys).

A sequential random stream would make a person's name depend on how many
people were drawn before them, so a later as-of date (more newborns) or a
filter would change everyone. Hashing (seed, tag, keys) with splitmix64 gives
each entity its own value, vectorised over numpy arrays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

U64 = np.uint64
_GOLDEN = U64(0x9E3779B97F4A7C15)
_M1 = U64(0xBF58476D1CE4E5B9)
_M2 = U64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / float(1 << 53)

Keys = npt.ArrayLike


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (wrapping uint64 arithmetic)."""
    x = x ^ (x >> U64(30))
    x = x * _M1
    x = x ^ (x >> U64(27))
    x = x * _M2
    return x ^ (x >> U64(31))


def _tag_value(tag: str) -> np.uint64:
    return U64(int.from_bytes(hashlib.blake2b(tag.encode(), digest_size=8).digest(), "little"))


def _as_u64(key: Keys) -> np.ndarray:
    arr = np.asarray(key)
    if arr.dtype == np.uint64:
        return arr
    return arr.astype(np.int64).astype(np.uint64)


class Rng:
    """Deterministic per-entity random values for one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._base = _mix(np.array([U64(self.seed & 0xFFFFFFFFFFFFFFFF) ^ _GOLDEN], dtype=np.uint64))[0]

    def bits(self, tag: str, *keys: Keys) -> np.ndarray:
        """64 random bits per element of the broadcast keys."""
        with np.errstate(over="ignore"):
            h = _mix(np.array([self._base ^ _tag_value(tag)], dtype=np.uint64))
            for key in keys:
                h = _mix(h ^ (_as_u64(key) + _GOLDEN))
        return h

    def uniform(self, tag: str, *keys: Keys) -> np.ndarray:
        """Floats in [0, 1)."""
        return (self.bits(tag, *keys) >> U64(11)).astype(np.float64) * _TO_UNIT

    def integers(self, tag: str, low: int | np.ndarray, high: int | np.ndarray, *keys: Keys) -> np.ndarray:
        """Integers in [low, high) (high exclusive), int64."""
        low_a = np.asarray(low, dtype=np.int64)
        span = np.asarray(high, dtype=np.int64) - low_a
        return low_a + np.floor(self.uniform(tag, *keys) * np.maximum(span, 1)).astype(np.int64)

    def normal(self, tag: str, *keys: Keys) -> np.ndarray:
        """Standard normal values (Box–Muller from two hashed uniforms)."""
        u1 = self.uniform(tag + "#n1", *keys)
        u2 = self.uniform(tag + "#n2", *keys)
        return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)

    def choice(self, tag: str, weights: Sequence[float] | np.ndarray, *keys: Keys) -> np.ndarray:
        """Index into `weights`, drawn with those (relative) weights."""
        cum = np.cumsum(np.asarray(weights, dtype=np.float64))
        cum /= cum[-1]
        idx = np.searchsorted(cum, self.uniform(tag, *keys), side="right")
        return np.minimum(idx, len(cum) - 1).astype(np.int64)

    def poisson(self, tag: str, lam: float | np.ndarray, *keys: Keys) -> np.ndarray:
        """Poisson counts by inverse transform (normal approximation above 40)."""
        u = self.uniform(tag, *keys)
        lam_a = np.broadcast_to(np.asarray(lam, dtype=np.float64), u.shape)
        out = np.zeros(u.shape, dtype=np.int64)
        small = lam_a <= 40
        if small.any():
            ls = lam_a[small]
            us = u[small]
            p = np.exp(-ls)
            cdf = p.copy()
            k = np.zeros(ls.shape, dtype=np.int64)
            active = us > cdf
            for i in range(1, 120):
                if not active.any():
                    break
                p = p * ls / i
                cdf = cdf + p
                k = np.where(active, i, k)
                active = active & (us > cdf)
            out[small] = k
        if (~small).any():
            z = self.normal(tag + "#big", *keys)[~small] if u.ndim else self.normal(tag + "#big", *keys)
            out[~small] = np.maximum(0, np.round(lam_a[~small] + np.sqrt(lam_a[~small]) * z)).astype(np.int64)
        return out


def scramble(values: np.ndarray, modulus: int, salt: int) -> np.ndarray:
    """A bijection of [0, modulus) (affine map with a multiplier coprime to 10), for stable IDs that look assigned."""
    mult = 7_919_461 + 40 * (salt % 1000)  # ends in 1: coprime to 2 and 5
    while np.gcd(mult, modulus) != 1:
        mult += 10
    offset = (salt * 104_729) % modulus
    v = np.asarray(values, dtype=np.int64) % modulus
    # (a*v + b) mod m without overflow: use Python ints through object math only when needed.
    if modulus * mult < 2**62:
        return (v * mult + offset) % modulus
    return np.array([(int(x) * mult + offset) % modulus for x in v], dtype=np.int64)
