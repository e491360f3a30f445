"""Matching keys for Japanese names and addresses, one field at a time (never a whole name string).

Kanji numerals in addresses use kanjize (MIT). Variant kanji (異体字/旧字体) use jpnorm
(MIT OR Apache-2.0, a maintained Rust-backed normaliser): its `kyujitai_to_shinjitai` and
`unify_itaiji` tables map 髙→高, 﨑→崎, 邉/邊→辺, 齋→斎, 濵/濱→浜, 澤→沢, 櫻→桜, 廣→広, 國→国, 德→徳, 𠮷→吉, 冨→富 … .
`VARIANT_SUPPLEMENT` adds the few pairs registries and school systems confuse that it
keeps apart. The registered original is always kept beside the key; keys are for matching only.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import jaconv
from jpnorm import Normalizer
from kanjize import kanji2number

FULLWIDTH_SPACE = "\u3000"
# 外字: a cp932 export writes a character outside JIS X 0208 (𠮷, 髙 in some systems) as 〓 or ＿. The key keeps
# one placeholder, GAIJI, so that comparisons can mask its position (it proves neither agreement nor disagreement).
GAIJI = "〓"
_GAIJI_FORMS = str.maketrans({"＿": GAIJI, "_": GAIJI, "〓": GAIJI})
_KANA_ONLY = re.compile(r"^[\u3041-\u309f\u30a0-\u30ff\uff66-\uff9f]+$")

# Pairs that jpnorm keeps apart but registries and school systems write interchangeably.
VARIANT_SUPPLEMENT: dict[str, list[str]] = {
    "斎": ["齊", "斉"],  # 齋藤/齊藤/斉藤/斎藤: one surname for matching
    "桑": ["桒"],
    "吉": ["𠮷"],
    "柳": ["栁"],
}

_KANJI = Normalizer(
    None, nfkc=True, kyujitai_to_shinjitai=True, unify_itaiji=True, remove_variation_selectors=True
).with_custom_dict(VARIANT_SUPPLEMENT)
_ADDRESS = Normalizer(None, nfkc=True, unify_hyphens=True, kyujitai_to_shinjitai=True, unify_itaiji=True)

_VOWEL_ROWS = {
    "a": "アカガサザタダナハバパマヤャラワァ",
    "i": "イキギシジチヂニヒビピミリィ",
    "u": "ウクグスズツヅヌフブプムユュルゥヴ",
    "e": "エケゲセゼテデネヘベペメレェ",
    "o": "オコゴソゾトドノホボポモヨョロヲォ",
}
_VOWEL_OF = {kana: vowel for vowel, row in _VOWEL_ROWS.items() for kana in row}
# A vowel kana that only lengthens the vowel before it: ユウ/ユー, ケイ/ケー, オオ/オー, ニイ/ニー.
_LENGTHENS = {"ウ": {"u", "o"}, "イ": {"e", "i"}, "オ": {"o"}, "ア": {"a"}, "エ": {"e"}}
_KANA_EQUIVALENTS = str.maketrans({"ヅ": "ズ", "ヂ": "ジ", "ヲ": "オ", "ヮ": "ワ"})


@lru_cache(maxsize=200_000)
def kana_key(kana: str) -> str:
    """ユウコ, ユーコ, ゆうこ and ﾕｰｺ all become ユコ: full-width katakana without long vowels."""
    text = jaconv.hira2kata(unicodedata.normalize("NFKC", kana)).translate(_KANA_EQUIVALENTS)
    out: list[str] = []
    word_start = 0  # a vowel never lengthens across the space between surname and given name
    for char in text:
        if char in (" ", FULLWIDTH_SPACE):
            word_start = len(out)
            continue
        if char in ("ー", "・"):
            continue
        previous = _VOWEL_OF.get(out[-1]) if len(out) > word_start else None
        if char in _LENGTHENS and previous in _LENGTHENS[char]:
            continue
        out.append(char)
    return "".join(out)


@lru_cache(maxsize=200_000)
def kanji_key(name: str) -> str:
    """髙﨑 → 高崎: the standard form of every variant kanji, spaces removed; 〓 / ＿ (外字) become GAIJI."""
    return re.sub(r"\s", "", _KANJI.normalize(name)).translate(_GAIJI_FORMS)


@lru_cache(maxsize=20_000)
def outside_jis0208(char: str) -> bool:
    """A character a JIS X 0208 system cannot hold, so that its cp932 export writes a placeholder (𠮷, 髙, 﨑)."""
    try:
        char.encode("shift_jis")
    except UnicodeEncodeError:
        return True
    return False


def gaiji_masks(key: str) -> list[str]:
    """吉田誠 → 〓田誠, 吉〓誠, 吉田〓, 〓〓誠, 吉〓〓: the key with each one character, and each two neighbours, a 外字
    placeholder (GAIJI): 髙﨑 is two characters outside JIS X 0208 side by side."""
    one = [key[:i] + GAIJI + key[i + 1 :] for i in range(len(key)) if key[i] != GAIJI]
    two = [key[:i] + GAIJI * 2 + key[i + 2 :] for i in range(len(key) - 1) if GAIJI not in key[i : i + 2]]
    return one + two


def gaiji_blocks(name: object, key: object) -> list[str]:
    """Blocking keys of a registry adult's name across a 外字 placeholder, to meet `form_gaiji_blocks` of a form's
    guardian: P + the key where the registry's export wrote a placeholder (〓田誠), R + the key with the placeholder
    where the name has a character outside JIS X 0208 (𠮷田誠 → 〓田誠, which a cp932 form writes as ＿田誠), one at a
    time and all at once (髙﨑遥 → 〓崎遥, 高〓遥, 〓〓遥)."""
    if not isinstance(name, str) or not isinstance(key, str) or not key:
        return []
    if GAIJI in key:
        return [] if set(key) == {GAIJI} else [f"P{key}"]
    chars = [c for c in name if not c.isspace() and not 0xFE00 <= ord(c) <= 0xFE0F and not 0xE0100 <= ord(c) <= 0xE01EF]
    if len(chars) != len(key):
        return []  # the key does not follow the name character by character: no position to mask
    outside = [i for i, c in enumerate(chars) if outside_jis0208(c)]
    every = "".join(GAIJI if i in outside else k for i, k in enumerate(key))  # a form writes ＿ for each of them
    return sorted({f"R{key[:i]}{GAIJI}{key[i + 1 :]}" for i in outside} | ({f"R{every}"} if outside else set()))


def form_gaiji_blocks(key: object) -> list[str]:
    """Blocking keys of a form's guardian to meet `gaiji_blocks`: R + the key where the form has a placeholder
    (＿田誠), else P + the key with each one character, or two neighbours, a placeholder (the registry may have
    written any)."""
    if not isinstance(key, str) or not key or set(key) == {GAIJI}:
        return []
    if GAIJI in key:
        return [f"R{key}"]
    return [f"P{mask}" for mask in gaiji_masks(key)]


def is_kana_only(text: str | None) -> bool:
    """ゆうこ / ユウコ / ﾕｳｺ written where the kanji name belongs (a school that did not know the kanji)."""
    return bool(text) and bool(_KANA_ONLY.match(text.replace("ー", "ア")))  # type: ignore[union-attr]


_LATIN = re.compile(r"[a-z]")
_FOREIGN_WRITTEN = re.compile(r"^[A-Za-z\s'.\-]+$")
# Romaji → a consonant skeleton that katakana renderings of the same name share (NGUYEN / グエン / グェン → gn,
# LUCAS / ルーカス / ルカス → rks, SHRESTHA / シュレスタ → srst): vowels, long marks and the l/r, v/b, z/s, th/s
# distinctions are what katakana and romaji spellings of a foreign name disagree on. Own rules: the phonetic
# libraries on PyPI (Metaphone, Soundex) are for English spellings and know nothing of katakana readings.
_SKELETON = [
    (r"^ng", "g"),  # Vietnamese Ng- is read グ
    (r"^tr", "t"),  # TRAN / チャン
    (r"th$", "s"),  # SMITH / スミス
    (r"th", "t"),
    (r"ph", "f"),
    (r"sh", "s"),
    (r"ch", "t"),
    (r"g(?=[ei])", "j"),  # ANGELICA / アンジェリカ
    (r"c(?=[eiy])", "s"),
    (r"[cq]", "k"),
    (r"x", "ks"),
    (r"l", "r"),
    (r"v", "b"),
    (r"z", "s"),
    (r"[yw]", ""),
    (r"(?<!^)h", ""),  # MINH / ミン, JOHN / ジョン
    (r"[aeiou]", ""),
    (r"(.)\1+", r"\1"),  # ドゥック dokku / DUC
    (r"ng$", "n"),  # GURUNG / グルン
]


def is_foreign_written(name: str | None) -> bool:
    """A name written in latin letters or katakana alone (a foreign resident's legal name), not in kanji."""
    if not name:
        return False
    compact = unicodedata.normalize("NFKC", name).replace(" ", "").replace(FULLWIDTH_SPACE, "")
    return bool(_FOREIGN_WRITTEN.match(compact)) or is_kana_only(compact)


@lru_cache(maxsize=200_000)
def phonetic_key(part: str) -> str:
    """NGUYEN, グエン and グェン all become gn: the consonant skeleton of a name part in romaji or kana."""
    text = unicodedata.normalize("NFKC", part).lower()
    if not _LATIN.search(text):
        text = jaconv.kana2alphabet(jaconv.kata2hira(text))
    text = re.sub(r"[^a-z]", "", text)
    for pattern, replacement in _SKELETON:
        text = re.sub(pattern, replacement, text)
    return text


def split_name(name: str) -> tuple[str, str]:
    """(surname, given name) of a canonical `姓　名`; a name without a space is all surname."""
    surname, _, given = name.strip().partition(FULLWIDTH_SPACE)
    return surname, given


# 埼玉県比企郡 / 比企郡 / 埼玉県: the part before the town, which some systems write and others leave out.
_ADDRESS_PREFIX = re.compile(r"^(?:.{2,3}?[都道府県])?(?:\D{1,6}?郡)?")
_KANJI_NUMBER = re.compile(r"[〇一二三四五六七八九十百千]+(?=丁目|番|号|の|-|$)")
_DASH_BETWEEN_DIGITS = re.compile(r"(?<=\d)[ー−－‐―]")
_CHOME = re.compile(r"(\d+)(?:丁目|番地の?|番の?|の)")  # 475番地の6 = 475-6
_GO = re.compile(r"(\d+)号")
_DASHES = re.compile(r"-+")
_DASH_BEFORE_NAME = re.compile(r"(?<=\d)-(?=\D)")


@lru_cache(maxsize=200_000)
def address_key(address: str) -> str:
    """埼玉県比企郡川島町大字中山１２３番地４ → 川島町中山123-4 (and the hyphenated forms alike)."""
    text = _ADDRESS.normalize(address)
    text = _KANJI_NUMBER.sub(lambda m: str(kanji2number(m[0])), text)
    text = _DASH_BETWEEN_DIGITS.sub("-", text)
    text = _ADDRESS_PREFIX.sub("", text)
    text = text.replace("大字", "").replace("字", "")
    text = _GO.sub(r"\1", _CHOME.sub(r"\1-", text))
    # 1725番地　メゾン青葉 → 1725-メゾン青葉 above; the dash before a building name is no part of the lot.
    text = _DASH_BEFORE_NAME.sub("", _DASHES.sub("-", re.sub(r"\s", "", text))).rstrip("-")
    return text
