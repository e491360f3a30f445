"""What goes wrong when a nursery or a school types a child's details.

Kana typos, long vowels, birth-date slips, other kanji forms, a given name
in kana and a missing address are applied per record at the rates of the
noise preset (noise_presets.yaml), and every change is reported (links.csv
`noise`), so linkage quality can be measured against the truth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jaconv
import numpy as np

from kodomo_pipeline.generator import dates as D
from kodomo_pipeline.generator.names import FULLWIDTH_SPACE, to_standard, variant_forms
from kodomo_pipeline.generator.presets import RecordRates
from kodomo_pipeline.generator.rng import Rng

# Tags that count as a typing slip of the record (two or more in one record → also `multi_slip`).
SLIP_TAGS = frozenset(
    {"kana_long_vowel", "kana_typo", "dob_swap", "dob_off_by_one", "dob_transposed", "given_kana_only"}
)

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


def school_kanji(registered: str, pick: float, rates: RecordRates) -> tuple[str, bool]:
    """The form a system without the register's characters holds: standard for a variant, sometimes a variant."""
    standard = to_standard(registered)
    if standard != registered:
        return (standard, True) if pick < rates.to_standard else (registered, False)
    if pick < rates.to_variant:
        forms = variant_forms(registered)
        if forms:
            return forms[0], True
    return registered, False


def kana_only_given(kanji: str, kana: str, hiragana: bool) -> str | None:
    """山田　陽翔 → 山田　はると (or ハルト): the given name as its reading; None when already kana."""
    surname, _, given = kanji.partition(FULLWIDTH_SPACE)
    _, _, reading = kana.partition(FULLWIDTH_SPACE)
    if not given or not reading:
        return None
    written = jaconv.kata2hira(reading) if hiragana else reading
    return None if written == given else f"{surname}{FULLWIDTH_SPACE}{written}"


def apply_noise(
    rng: Rng,
    tag: str,
    keys: np.ndarray,
    kana: np.ndarray,
    birth: np.ndarray,
    asof: int,
    rates: RecordRates,
    kanji: np.ndarray | None = None,
    guardian: np.ndarray | None = None,
) -> RecordNoise:
    """Noise per record (keys identify the record, so the same record gets the same slips every night)."""
    n = len(keys)
    reading = kana
    kana = kana.copy()
    birth = birth.copy()
    tags: list[list[str]] = [[] for _ in range(n)]
    u_long = rng.uniform(tag + ":long", keys)
    u_typo = rng.uniform(tag + ":typo", keys)
    typo_pick = rng.integers(tag + ":typo_pick", 0, 1000, keys)
    u_dob = rng.uniform(tag + ":dob", keys)
    multi = np.zeros(n, dtype=bool)
    if rates.multi_slip > 0:
        # A record typed in a hurry: a kana typo and a birth-date slip together.
        multi = rng.uniform(tag + ":multi", keys) < rates.multi_slip
        u_typo = np.where(multi, 0.0, u_typo)
        u_dob = np.where(multi, rng.uniform(tag + ":multi_dob", keys) * rates.dob_slip, u_dob)
    for i in np.flatnonzero(u_long < rates.long_vowel):
        new = long_vowel(kana[i])
        if new is not None:
            kana[i] = new
            tags[i].append("kana_long_vowel")
    for i in np.flatnonzero((u_typo < rates.kana_typo) | multi):
        new = kana_typo(kana[i], int(typo_pick[i]))
        if new is not None:
            kana[i] = new
            tags[i].append("kana_typo")
    names = ("dob_swap", "dob_off_by_one", "dob_transposed")
    each = rates.dob_slip / 3
    for i in np.flatnonzero(u_dob < rates.dob_slip):
        kind = min(int(u_dob[i] / each), 2)
        new_day = dob_typo(int(birth[i]), kind, asof)
        if new_day is None and rates.dob_fallback_off_by_one:
            kind, new_day = 1, dob_typo(int(birth[i]), 1, asof)
        if new_day is not None and new_day != birth[i]:
            birth[i] = new_day
            tags[i].append(names[kind])
    out_kanji = None
    if kanji is not None:
        out_kanji = kanji.copy()
        u_kanji = rng.uniform(tag + ":kanji", keys)
        for i in range(n):
            form, changed = school_kanji(kanji[i], float(u_kanji[i]), rates)
            if changed:
                out_kanji[i] = form
                tags[i].append("variant_kanji")
        if rates.kana_only_given > 0:
            u_kana = rng.uniform(tag + ":kana_given", keys)
            for i in np.flatnonzero(u_kana < rates.kana_only_given):
                # Mostly hiragana (a child's name on a school form), sometimes katakana.
                new = kana_only_given(out_kanji[i], reading[i], u_kana[i] < 0.7 * rates.kana_only_given)
                if new is not None:
                    out_kanji[i] = new
                    tags[i].append("given_kana_only")
    out_guardian = None
    if guardian is not None:
        out_guardian = guardian.copy()
        u_g = rng.uniform(tag + ":guardian", keys)
        for i in range(n):
            if guardian[i] is None:
                continue
            form, changed = school_kanji(guardian[i], float(u_g[i]), rates)
            if changed:
                out_guardian[i] = form
                tags[i].append("guardian_variant_kanji")
    for t in tags:
        if sum(x in SLIP_TAGS for x in t) >= 2:
            t.append("multi_slip")
    return RecordNoise(kana, out_kanji, birth, out_guardian, tags)
