"""What goes wrong when a nursery or a school types a child's details.

Kana typos, long vowels, birth-date slips and other kanji forms are applied
per record at controlled rates, and every change is reported (links.csv
`noise`), so linkage quality can be measured against the truth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from kodomo_pipeline.generator import dates as D
from kodomo_pipeline.generator.names import to_standard, variant_forms
from kodomo_pipeline.generator.rng import Rng

RATE_LONG_VOWEL = 0.03
RATE_KANA_TYPO = 0.01
RATE_DOB_EACH = 0.01  # day/month swap, off by one day, transposed digits: each
RATE_TO_STANDARD = 0.55  # the school types the standard form of a registered variant
RATE_TO_VARIANT = 0.03  # … or a variant of a standard name

# ウ after a kana of the o/u rows reads as a long vowel and is often typed ー (ユウコ → ユーコ).
_LONG_VOWEL = re.compile("(?<=[オコソトノホモヨロゴゾドボポョウクスツヌフムユルグズヅブプュ])ウ")
_CONFUSABLE = {
    "シ": "ツ", "ツ": "シ", "ソ": "ン", "ン": "ソ", "タ": "ダ", "ダ": "タ", "ハ": "バ", "バ": "ハ",
    "カ": "ガ", "ガ": "カ", "サ": "ザ", "ザ": "サ", "ヨ": "ョ", "ョ": "ヨ", "ユ": "ュ", "ュ": "ユ",
    "ッ": "ツ", "ト": "ド", "ド": "ト", "キ": "ギ", "ギ": "キ", "コ": "ゴ", "ゴ": "コ", "チ": "ヂ",
    "ジ": "ヂ", "ズ": "ヅ", "ヅ": "ズ", "ヒ": "ビ", "ビ": "ヒ", "ホ": "ボ", "ボ": "ホ", "ケ": "ゲ",
    "ゲ": "ケ", "ミ": "ニ", "ニ": "ミ", "レ": "ル", "ル": "レ", "ナ": "マ", "マ": "ナ",
}  # fmt: skip


@dataclass
class RecordNoise:
    """Values as a record holds them, and the list of changes per record."""

    kana: np.ndarray
    kanji: np.ndarray | None
    birth: np.ndarray
    guardian: np.ndarray | None
    tags: list[list[str]]


def long_vowel(kana: str) -> str | None:
    """ユウコ → ユーコ (the given name first, else the surname); None when there is no such ウ."""
    surname, _, given = kana.partition("\u3000")
    new_given = _LONG_VOWEL.sub("ー", given, count=1)
    if new_given != given:
        return f"{surname}\u3000{new_given}"
    new_surname = _LONG_VOWEL.sub("ー", surname, count=1)
    return f"{new_surname}\u3000{given}" if new_surname != surname else None


def kana_typo(kana: str, pick: int) -> str | None:
    """One confusable kana replaced (シ/ツ, ソ/ン, a dakuten dropped or added)."""
    spots = [i for i, ch in enumerate(kana) if ch in _CONFUSABLE]
    if not spots:
        return None
    i = spots[pick % len(spots)]
    return kana[:i] + _CONFUSABLE[kana[i]] + kana[i + 1 :]


def dob_typo(birth: int, kind: int, asof: int) -> int | None:
    """Birth date typed wrongly: 0 day/month swapped, 1 off by one day, 2 two digits transposed; None if impossible."""
    if kind == 1:
        return birth + 1 if birth + 1 <= asof else birth - 1
    y, m, d = (int(v[0]) for v in D.ymd(np.array([birth])))
    candidates: list[tuple[int, int, int]] = []
    if kind == 0 and d <= 12 and d != m:
        candidates.append((y, d, m))
    if kind == 2:
        if d >= 10 and d % 10 != d // 10:
            candidates.append((y, m, (d % 10) * 10 + d // 10))  # 12 → 21
        if m == 1:
            candidates.append((y, 10, d))  # 01 → 10
        if m == 10:
            candidates.append((y, 1, d))
    for cy, cm, cd in candidates:
        day, ok = D.from_ymd(np.array([cy]), np.array([cm]), np.array([cd]))
        if ok[0] and int(day[0]) != birth and int(day[0]) <= asof:
            return int(day[0])
    return None


def school_kanji(registered: str, pick: float) -> tuple[str, bool]:
    """The form a system without the register's characters holds: standard for a variant, sometimes a variant."""
    standard = to_standard(registered)
    if standard != registered:
        return (standard, True) if pick < RATE_TO_STANDARD else (registered, False)
    if pick < RATE_TO_VARIANT:
        forms = variant_forms(registered)
        if forms:
            return forms[0], True
    return registered, False


def apply_noise(
    rng: Rng,
    tag: str,
    keys: np.ndarray,
    kana: np.ndarray,
    birth: np.ndarray,
    asof: int,
    kanji: np.ndarray | None = None,
    guardian: np.ndarray | None = None,
) -> RecordNoise:
    """Noise per record (keys identify the record, so the same record gets the same slips every night)."""
    n = len(keys)
    kana = kana.copy()
    birth = birth.copy()
    tags: list[list[str]] = [[] for _ in range(n)]
    u_long = rng.uniform(tag + ":long", keys)
    u_typo = rng.uniform(tag + ":typo", keys)
    typo_pick = rng.integers(tag + ":typo_pick", 0, 1000, keys)
    u_dob = rng.uniform(tag + ":dob", keys)
    for i in np.flatnonzero(u_long < RATE_LONG_VOWEL):
        new = long_vowel(kana[i])
        if new is not None:
            kana[i] = new
            tags[i].append("kana_long_vowel")
    for i in np.flatnonzero(u_typo < RATE_KANA_TYPO):
        new = kana_typo(kana[i], int(typo_pick[i]))
        if new is not None:
            kana[i] = new
            tags[i].append("kana_typo")
    names = ("dob_swap", "dob_off_by_one", "dob_transposed")
    for i in np.flatnonzero(u_dob < 3 * RATE_DOB_EACH):
        kind = int(u_dob[i] / RATE_DOB_EACH)
        new_day = dob_typo(int(birth[i]), kind, asof)
        if new_day is not None and new_day != birth[i]:
            birth[i] = new_day
            tags[i].append(names[kind])
    out_kanji = None
    if kanji is not None:
        out_kanji = kanji.copy()
        u_kanji = rng.uniform(tag + ":kanji", keys)
        for i in range(n):
            form, changed = school_kanji(kanji[i], float(u_kanji[i]))
            if changed:
                out_kanji[i] = form
                tags[i].append("variant_kanji")
    out_guardian = None
    if guardian is not None:
        out_guardian = guardian.copy()
        u_g = rng.uniform(tag + ":guardian", keys)
        for i in range(n):
            if guardian[i] is None:
                continue
            form, changed = school_kanji(guardian[i], float(u_g[i]))
            if changed:
                out_guardian[i] = form
                tags[i].append("guardian_variant_kanji")
    return RecordNoise(kana, out_kanji, birth, out_guardian, tags)
