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

import numpy as np

from kodomo_pipeline.generator.names import FULLWIDTH_SPACE, given_tables
from kodomo_pipeline.generator.rng import Rng

# Legal names of foreign residents (katakana as the registry's reading, romaji as the legal spelling).
FOREIGN_SURNAMES = (
    ("グエン", "NGUYEN"), ("チャン", "TRAN"), ("レ", "LE"), ("ファム", "PHAM"), ("ホアン", "HOANG"),
    ("サントス", "SANTOS"), ("シルバ", "SILVA"), ("オリベイラ", "OLIVEIRA"), ("ガルシア", "GARCIA"),
    ("レイエス", "REYES"), ("クルス", "CRUZ"), ("グルン", "GURUNG"), ("タパ", "THAPA"), ("シュレスタ", "SHRESTHA"),
    ("スミス", "SMITH"), ("ペレイラ", "PEREIRA"),
)  # fmt: skip
FOREIGN_GIVEN_MALE = (
    ("ナム", "NAM"), ("ミン", "MINH"), ("ドゥック", "DUC"), ("ルーカス", "LUCAS"), ("ガブリエル", "GABRIEL"),
    ("マテウス", "MATEUS"), ("ホセ", "JOSE"), ("ラジュ", "RAJU"), ("ビシャル", "BISHAL"), ("ジョン", "JOHN"),
    ("ダニエル", "DANIEL"), ("アン", "AN"),
)  # fmt: skip
FOREIGN_GIVEN_FEMALE = (
    ("リン", "LINH"), ("ホア", "HOA"), ("アイン", "ANH"), ("ジュリア", "JULIA"), ("ベアトリス", "BEATRIZ"),
    ("マリア", "MARIA"), ("アンジェリカ", "ANGELICA"), ("スジャタ", "SUJATA"), ("プジャ", "PUJA"),
    ("エミリー", "EMILY"), ("ソフィア", "SOFIA"), ("ラン", "LAN"),
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
    s = rng.integers("foreign_surname", 0, len(FOREIGN_SURNAMES), hh)
    g = rng.integers("foreign_given", 0, len(FOREIGN_GIVEN_MALE), key)
    romaji = rng.uniform("foreign_romaji", hh) < romaji_rate
    written = np.empty(len(hh), dtype=object)
    kana = np.empty(len(hh), dtype=object)
    for i in range(len(hh)):
        sk, sr = FOREIGN_SURNAMES[s[i]]
        gk, gr = (FOREIGN_GIVEN_FEMALE if female[i] else FOREIGN_GIVEN_MALE)[g[i]]
        kana[i] = f"{sk}{FULLWIDTH_SPACE}{gk}"
        written[i] = f"{sr}{FULLWIDTH_SPACE}{gr}" if romaji[i] else kana[i]
    return written, kana, romaji


def similar_given_name(rng: Rng, female: bool, era: str, kanji: str, kana: str, key: int) -> tuple[str, str] | None:
    """A given name like (kanji, kana) for a younger sibling: the same first kanji or first kana, else one
    shared kanji; from the sibling's own era first, then the others. Never written or read the same."""
    sex = "女" if female else "男"
    for table_era in (era, *(e for e in ("n", "m", "o") if e != era)):
        table = given_tables()[(sex, table_era)]
        forms, readings = table.forms[:, 0], table.readings[:, 0]
        other = np.array([f != kanji and r != kana for f, r in zip(forms, readings, strict=True)], dtype=bool)
        start = np.array([f[0] == kanji[0] or r[0] == kana[0] for f, r in zip(forms, readings, strict=True)])
        shared = np.array([bool(set(f) & set(kanji)) for f in forms], dtype=bool)
        for mask in (other & start, other & shared):
            pool = np.flatnonzero(mask)
            if len(pool):
                pick = pool[int(rng.integers("close_sibling_name", 0, len(pool), np.array([key]))[0])]
                return str(forms[pick]), str(readings[pick])
    return None
