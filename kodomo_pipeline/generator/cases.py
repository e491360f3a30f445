"""Household-level identity cases of the noise preset: foreign residents, close siblings, same-name children.

- Foreign residents: the registry holds the legal name in katakana or romaji; a
  nursery or school often knows the child by a Japanese 通称.
- Close siblings: a second child born 10–11 months after the first, with a
  similar given name (the same first kanji or the same first kana).
- Same-name children: a household whose first child shares another household's
  first child's surname, given name, sex and birthday.
Each is drawn per household from its own hash stream, so the clean and default
presets (rate 0) leave every other draw of the timeline unchanged.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from kodomo_pipeline.generator.names import FULLWIDTH_SPACE, given_tables
from kodomo_pipeline.generator.presets import Foreign as ForeignRates
from kodomo_pipeline.generator.rng import Rng

# Legal names of foreign residents: katakana as the registry's reading, romaji as the legal spelling, and another
# katakana a nursery or school writes for the same name (as the family says it, or a Portuguese / Nepali reading).
FOREIGN_SURNAMES = (
    ("グエン", "NGUYEN", "グェン"), ("チャン", "TRAN", "チャーン"), ("レ", "LE", "レー"),
    ("ファム", "PHAM", "ファーム"), ("ホアン", "HOANG", "ホワン"), ("サントス", "SANTOS", "サントシュ"),
    ("シルバ", "SILVA", "シウバ"), ("オリベイラ", "OLIVEIRA", "オリヴェイラ"), ("ガルシア", "GARCIA", "ガルシーア"),
    ("レイエス", "REYES", "レジェス"), ("クルス", "CRUZ", "クルズ"), ("グルン", "GURUNG", "グルング"),
    ("タパ", "THAPA", "ターパ"), ("シュレスタ", "SHRESTHA", "シュレスター"), ("スミス", "SMITH", "スミッス"),
    ("ペレイラ", "PEREIRA", "ペレーラ"),
)  # fmt: skip
FOREIGN_GIVEN_MALE = (
    ("ナム", "NAM", "ナーム"), ("ミン", "MINH", "ミーン"), ("ドゥック", "DUC", "ドック"),
    ("ルーカス", "LUCAS", "ルカス"), ("ガブリエル", "GABRIEL", "ガブリエウ"), ("マテウス", "MATEUS", "マテウシュ"),
    ("ホセ", "JOSE", "ジョゼ"), ("ラジュ", "RAJU", "ラージュ"), ("ビシャル", "BISHAL", "ビシャール"),
    ("ジョン", "JOHN", "ジョーン"), ("ダニエル", "DANIEL", "ダニエウ"), ("アン", "AN", "アーン"),
)  # fmt: skip
FOREIGN_GIVEN_FEMALE = (
    ("リン", "LINH", "リーン"), ("ホア", "HOA", "ホワ"), ("アイン", "ANH", "アイーン"),
    ("ジュリア", "JULIA", "ジューリア"), ("ベアトリス", "BEATRIZ", "ベアトリズ"), ("マリア", "MARIA", "マリヤ"),
    ("アンジェリカ", "ANGELICA", "アンジェリーカ"), ("スジャタ", "SUJATA", "スジャータ"),
    ("プジャ", "PUJA", "プージャ"), ("エミリー", "EMILY", "エミリ"), ("ソフィア", "SOFIA", "ソフィヤ"),
    ("ラン", "LAN", "ラーン"),
)  # fmt: skip


def foreign_households(rng: Rng, rate: float, hh: np.ndarray) -> np.ndarray:
    """Foreign-national households (bool per given household)."""
    if rate <= 0:
        return np.zeros(len(hh), dtype=bool)
    return rng.uniform("foreign", hh) < rate


def foreign_names(
    rng: Rng, romaji_rate: float, hh: np.ndarray, key: np.ndarray, female: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Legal names as the registry holds them (kanji column, romaji for some households), their katakana
    reading, and whether the kanji column is romaji."""
    s, g = _foreign_picks(rng, hh, key)
    romaji = rng.uniform("foreign_romaji", hh) < romaji_rate
    written = np.empty(len(hh), dtype=object)
    kana = np.empty(len(hh), dtype=object)
    for i in range(len(hh)):
        sk, sr, _ = FOREIGN_SURNAMES[s[i]]
        gk, gr, _ = (FOREIGN_GIVEN_FEMALE if female[i] else FOREIGN_GIVEN_MALE)[g[i]]
        kana[i] = f"{sk}{FULLWIDTH_SPACE}{gk}"
        written[i] = f"{sr}{FULLWIDTH_SPACE}{gr}" if romaji[i] else kana[i]
    return written, kana, romaji


def _foreign_picks(rng: Rng, hh: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (
        rng.integers("foreign_surname", 0, len(FOREIGN_SURNAMES), hh),
        rng.integers("foreign_given", 0, len(FOREIGN_GIVEN_MALE), key),
    )


def foreign_record_names(
    rng: Rng, rates: ForeignRates, hh: np.ndarray, key: np.ndarray, female: np.ndarray, romaji: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """The legal name as a nursery or school writes it (name column, kana) and the truth tags of how it differs.

    Where the registry holds romaji, the school's system often takes katakana only (`record_katakana`); the
    katakana may be the family's own spelling rather than the registry's reading (`record_spelling`: グェン for
    グエン, シウバ for シルバ); and some forms put the given name first (`given_first`: ナム　グエン, NAM　NGUYEN).
    Drawn per child (key) from their own hash streams: presets at 0 change nothing.
    """
    s, g = _foreign_picks(rng, hh, key)
    katakana = romaji & (rng.uniform("foreign_record_katakana", key) < rates.record_katakana)
    spelled = rng.uniform("foreign_record_spelling", key) < rates.record_spelling
    swapped = rng.uniform("foreign_given_first", key) < rates.given_first
    written = np.empty(len(hh), dtype=object)
    kana = np.empty(len(hh), dtype=object)
    tags: list[list[str]] = [[] for _ in range(len(hh))]
    for i in range(len(hh)):
        sk, sr, sv = FOREIGN_SURNAMES[s[i]]
        gk, gr, gv = (FOREIGN_GIVEN_FEMALE if female[i] else FOREIGN_GIVEN_MALE)[g[i]]
        if spelled[i]:
            sk, gk = sv, gv
            tags[i].append("foreign_spelling")
        parts_kana, parts_written = [sk, gk], ([sr, gr] if romaji[i] and not katakana[i] else [sk, gk])
        if katakana[i]:
            tags[i].append("foreign_katakana_at_school")
        if swapped[i]:
            parts_kana, parts_written = parts_kana[::-1], parts_written[::-1]
            tags[i].append("foreign_given_first")
        kana[i] = FULLWIDTH_SPACE.join(parts_kana)
        written[i] = FULLWIDTH_SPACE.join(parts_written)
    return written, kana, tags


def similar_given_name(rng: Rng, female: bool, era: str, kanji: str, kana: str, key: int) -> tuple[str, str] | None:
    """A given name like (kanji, kana) for a younger sibling: the same first kanji or first kana, else one
    shared kanji; from the sibling's own era first, then the others. Never written or read the same."""
    pool = _similar_pool(female, era, kanji, kana)
    if not pool:
        return None
    return pool[int(rng.integers("close_sibling_name", 0, len(pool), np.array([key]))[0])]


@cache
def _similar_pool(female: bool, era: str, kanji: str, kana: str) -> tuple[tuple[str, str], ...]:
    sex = "女" if female else "男"
    for table_era in (era, *(e for e in ("n", "m", "o") if e != era)):
        table = given_tables()[(sex, table_era)]
        names = list(zip(table.forms[:, 0], table.readings[:, 0], strict=True))
        other = [(f, r) for f, r in names if f != kanji and r != kana]
        for pool in (
            [(f, r) for f, r in other if f[0] == kanji[0] or r[0] == kana[0]],
            [(f, r) for f, r in other if set(f) & set(kanji)],
        ):
            if pool:
                return tuple((str(f), str(r)) for f, r in pool)
    return ()
