"""Probabilistic 名寄せ: score (record, registry child) pairs with a Fellegi–Sunter model (Splink, DuckDB backend).

The model is trained on every call from the town's own data (no labels exist): u by random
sampling with a seed, m by EM over a few blocking rules, λ from a deterministic rule. It then
scores every pair the prediction blocking rules produce. Only scores come out of here; who gets
linked (bands, one resident per record, twins, decisions) is `assign.py`'s job.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import jaconv
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink import comparison_level_library as cll
from splink import comparison_library as cl

from kodomo_pipeline.linkage.inputs import with_keys
from kodomo_pipeline.linkage.normalize import (
    GAIJI,
    form_gaiji_blocks,
    is_foreign_written,
    kanji_key,
    phonetic_key,
    split_name,
)
from kodomo_pipeline.linkage.predict import PREDICTIONS, scored_pairs

_log = logging.getLogger(__name__)
PERSONS, RECORDS = "persons", "records"  # display names: "persons" < "records", so persons are always the l side

# Columns both sides carry (Splink needs one schema for the two inputs).
_SCHEMA = pa.schema(
    [
        ("unique_id", pa.string()),
        ("surname_kana", pa.string()),  # kana_key: no long vowels, one width
        ("given_kana", pa.string()),
        ("surname_kana_raw", pa.string()),  # as written (width and hiragana folded only): the top kana level
        ("given_kana_raw", pa.string()),
        ("surname_phon", pa.string()),  # phonetic_key of a foreign-written name (romaji or katakana); NULL otherwise
        ("given_phon", pa.string()),
        ("surname_kanji", pa.string()),  # kanji_key: variant kanji folded; NULL for nursery records
        ("given_kanji", pa.string()),
        ("dob", pa.string()),  # yyyymmdd
        ("birth_year", pa.string()),
        ("sex", pa.string()),
        ("address_key", pa.string()),  # NULL for nursery records
        ("address_lot", pa.string()),  # the address key without the building
        ("oaza", pa.string()),  # the 大字 / town-area part of the address key (no lot number)
        ("guardian_key", pa.string()),  # records: the guardian named on the form
        ("guardian_surname", pa.string()),
        ("guardian_given", pa.string()),  # records: the guardian's given name alone
        ("guardian_givens", pa.list_(pa.string())),  # persons: the given names of the household's adults
        ("guardian_keys", pa.list_(pa.string())),  # persons: the adults of the child's household
        ("guardian_prefixes", pa.list_(pa.string())),  # persons: their keys' first 1–4 characters (surname test)
        ("guardian_block", pa.list_(pa.string())),  # both: the guardian key(s), exploded for blocking
        ("guardian_gaiji_block", pa.list_(pa.string())),  # both: guardian keys across a 外字 placeholder
    ]
)

_JW_FUZZY = 0.8
# A former name of a resident is scored as an extra registry row with this id: `<resident_id>~<n>`. Each pair then
# keeps the better of the resident's names (`_pairs`), so a record written with the surname before a divorce or
# remarriage is compared with that surname.
ALIAS_SEP = "~"
_MAX_SURNAME_CHARS = 4


@dataclass
class LinkageModelResult:
    """Scored pairs, the trained model and how many pairs each blocking rule contributed."""

    pairs: pd.DataFrame
    model_json: dict
    blocking_counts: dict[str, int]
    charts: dict[str, Path] = field(default_factory=dict)  # chart name → file written (see write_charts)


@dataclass(frozen=True)
class ChartTargets:
    """Where Splink's own charts go. `parameters`: model parameters only (match weights, m/u, the most frequent
    names' tf adjustments) — may be linked from asset metadata. `viewer`: the comparison viewer dashboard, which
    holds example records (names, birth dates): only ever under out/<town>/, never in metadata."""

    parameters: Path
    viewer: Path | None = None
    stamp: str = ""


TF_COMPARISONS = ("surname_kana", "given_kana")
# Splink inlines its scripts, but the comparison viewer still links a web font (fonts.googleapis.com): on a closed
# network that is a request that cannot succeed. The page falls back to the local font without it.
_REMOTE_LINK = re.compile(r"""<link[^>]+href=["']https?://[^>]*>\s*""")
TF_MOST_FREQUENT = 10  # the tf chart shows the most frequent names only: a rare name could point at a family


VIEWER_RECORDS = 2_000  # records whose pairs the comparison viewer is drawn from (a random sample, seeded)
VIEWER_INPUT = f"__splink__input_{RECORDS}_viewer"


def _viewer_predictions(db: DuckDBAPI, persons: Any, records: pa.Table, model: dict, seed: int) -> Any:
    """Splink's own predict, every compared value kept, for the pairs of a random sample of records: the viewer
    shows example pairs per comparison pattern, and writing every pair with its values is what `scored_pairs` avoids.
    The sample's term frequencies are those of the sample (the viewer is for reading the levels, not the scores)."""
    size = min(VIEWER_RECORDS, records.num_rows)
    rows = np.sort(np.random.default_rng(seed).choice(records.num_rows, size=size, replace=False))
    sample = db.register(records.take(rows), dataset_display_name=RECORDS, table_name=VIEWER_INPUT)
    return Linker([persons, sample], model, log_level=None).inference.predict(warning_mode="never")


def write_charts(
    linker: Linker, targets: ChartTargets, viewer_input: Callable[[], Any] | None = None
) -> dict[str, Path]:
    """Splink's charts as self-contained HTML (vega inlined: the town's network has no internet)."""
    targets.parameters.mkdir(parents=True, exist_ok=True)
    suffix = f"_{targets.stamp}" if targets.stamp else ""
    charts = {
        "match_weights": linker.visualisations.match_weights_chart(),
        "m_u_parameters": linker.visualisations.m_u_parameters_chart(),
    }
    for name in TF_COMPARISONS:
        charts[f"tf_{name}"] = linker.visualisations.tf_adjustment_chart(
            name, n_most_freq=TF_MOST_FREQUENT, n_least_freq=0
        )
    written = {}
    for name, chart in charts.items():
        path = targets.parameters / f"linkage_{name}{suffix}.html"
        chart.save_offline_chart(str(path), overwrite=True, print_msg=False)
        written[name] = path
    if targets.viewer is not None and viewer_input is not None:
        targets.viewer.parent.mkdir(parents=True, exist_ok=True)
        linker.visualisations.comparison_viewer_dashboard(
            viewer_input(), str(targets.viewer), overwrite=True, num_example_rows=2
        )
        written["comparison_viewer"] = targets.viewer
    for path in written.values():
        path.write_text(_REMOTE_LINK.sub("", path.read_text(encoding="utf-8")), encoding="utf-8")
    return written


@lru_cache(maxsize=200_000)
def _raw_kana(part: str | None) -> str | None:
    """The kana as written, only width and hiragana/katakana folded (ユウコ ≠ ユーコ here, unlike kana_key)."""
    if not part:
        return None
    return jaconv.hira2kata(unicodedata.normalize("NFKC", part)).strip()


def _kana_parts(names: pd.Series) -> tuple[list[str | None], list[str | None]]:
    parts = [split_name(n) if isinstance(n, str) else ("", "") for n in names]
    return [_raw_kana(s) for s, _ in parts], [_raw_kana(g) for _, g in parts]


def _phonetic_parts(frame: pd.DataFrame) -> tuple[list[str | None], list[str | None]]:
    """Phonetic keys of the surname and given name where the name is foreign-written: from the name column when it
    holds romaji (the registry's legal spelling), else from the kana (a nursery record has only kana)."""
    kanji = frame["name_kanji"] if "name_kanji" in frame else pd.Series([None] * len(frame), index=frame.index)
    surnames: list[str | None] = []
    givens: list[str | None] = []
    for written, kana in zip(kanji, frame["name_kana"], strict=True):
        written = written if isinstance(written, str) and written.strip() else None
        source = None
        if written is not None and is_foreign_written(written):
            source = written if any("a" <= c.lower() <= "z" for c in written) else kana
        elif written is None:
            source = kana
        surname, given = split_name(source) if isinstance(source, str) else ("", "")
        surnames.append(phonetic_key(surname) or None if surname else None)
        givens.append(phonetic_key(given) or None if given else None)
    return surnames, givens


def _dob(values: pd.Series) -> pa.Array:
    """yyyymmdd text, NULL where the date is missing (Arrow's strftime: pandas' is a Python call per row)."""
    return pc.strftime(pa.array(pd.to_datetime(values, errors="coerce"), from_pandas=True), format="%Y%m%d")


def address_area(address_keys: pd.Series) -> pd.Series:
    """川島町中山123-4 → 川島町中山: the area before the first digit (大字 or 丁目 area)."""
    return address_keys.str.extract(r"^(\D+)", expand=False).where(address_keys.notna(), None)


def address_lot(address_keys: pd.Series) -> pd.Series:
    """川島町中山123-4コーポ青葉102 → 川島町中山123-4: area and lot without the building, which one system writes
    and another leaves out (or writes as 102号室)."""
    return address_keys.str.extract(r"^(\D+[\d-]*\d)", expand=False).where(address_keys.notna(), None)


def _prefixes(keys: list[str]) -> list[str]:
    return sorted({k[:n] for k in keys for n in range(1, min(_MAX_SURNAME_CHARS, len(k) - 1) + 1)})


def _none(values: Any) -> pa.Array:
    """Text column with NULL for every kind of missing (None, NaN, pd.NA), converted by Arrow in one call."""
    return pa.array(pd.Series(values, dtype=object), type=pa.string(), from_pandas=True)


def with_former_names(persons: pd.DataFrame) -> pd.DataFrame:
    """The persons plus one row per former name (`<resident_id>~<n>`, the same child with another name)."""
    if "former_names" not in persons:
        return persons
    has = persons["former_names"].map(lambda v: isinstance(v, list | tuple) and len(v) > 0).to_numpy(dtype=bool)
    if not has.any():
        return persons.drop(columns="former_names")
    former = persons.loc[has].explode("former_names")
    n = former.groupby(level=0).cumcount() + 1
    names = pd.DataFrame(former["former_names"].tolist(), index=former.index, columns=["name_kanji", "name_kana"])
    alias = with_keys(former.drop(columns=["name_kanji", "name_kana", "former_names"]).join(names))
    alias["unique_id"] = alias["unique_id"].astype(str) + ALIAS_SEP + n.astype(str)
    columns = persons.columns.drop("former_names").tolist()
    return pd.concat([persons[columns], alias[columns]], ignore_index=True)


def _lists(values: Any) -> list[list]:
    """A list column as Python lists, [] where a row has none (missing, NaN)."""
    return [list(v) if isinstance(v, list | tuple) else [] for v in values]


def _common_frame(frame: pd.DataFrame, *, persons: bool) -> pa.Table:
    """One side in the shared schema (the other side's columns stay NULL)."""
    surname_raw, given_raw = _kana_parts(frame["name_kana"])
    surname_phon, given_phon = _phonetic_parts(frame)
    dob = _dob(frame["birth_date"])
    n = len(frame)
    address = frame["address_key"] if "address_key" in frame else pd.Series([None] * n, index=frame.index)
    if persons:
        guardian_keys = _lists(frame["guardian_keys"])
        guardian_givens = _lists(frame.get("guardian_givens", [[]] * n))
        guardian_key: pa.Array | list[None] = [None] * n
        guardian_surname: list[str | None] = [None] * n
        guardian_given: list[str | None] = [None] * n
        guardian_block = guardian_keys
        gaiji_block = _lists(frame.get("guardian_gaiji_keys", [[]] * n))
    else:
        guardian_keys = [[] for _ in range(n)]
        guardian_givens = [[] for _ in range(n)]
        forms = frame["guardian_key"].tolist()
        guardian_key = _none(forms)
        parts = [split_name(g) if isinstance(g, str) else ("", "") for g in frame["guardian_name"]]
        guardian_surname = [kanji_key(sur) or None for sur, _ in parts]
        guardian_given = [kanji_key(given) or None for _, given in parts]
        guardian_block = [[g] if isinstance(g, str) and g else [] for g in forms]
        gaiji_block = [form_gaiji_blocks(g) for g in forms]
    columns = {
        "unique_id": _none(frame["unique_id"].astype(str)),
        "surname_kana": _none(frame["surname_kana"]),
        "given_kana": _none(frame["given_kana"]),
        "surname_kana_raw": surname_raw,
        "given_kana_raw": given_raw,
        "surname_phon": surname_phon,
        "given_phon": given_phon,
        "surname_kanji": _none(frame["surname_kanji"]) if "surname_kanji" in frame else [None] * n,
        "given_kanji": _none(frame["given_kanji"]) if "given_kanji" in frame else [None] * n,
        "dob": dob,
        "birth_year": pc.utf8_slice_codeunits(dob, 0, 4),
        "sex": _none(frame["sex"]),
        "address_key": _none(address),
        "address_lot": _none(address_lot(address.astype("object"))),
        "oaza": _none(address_area(address.astype("object"))),
        "guardian_key": guardian_key,
        "guardian_surname": guardian_surname,
        "guardian_given": guardian_given,
        "guardian_givens": guardian_givens,
        "guardian_keys": guardian_keys,
        "guardian_prefixes": [_prefixes(k) for k in guardian_keys],
        "guardian_block": guardian_block,
        "guardian_gaiji_block": gaiji_block,
    }
    # In id order: the database returns rows in no fixed order, and Splink's seeded sampling (u, EM) reads them in
    # the order given — the same data must give the same model.
    return pa.table(columns, schema=_SCHEMA).sort_by("unique_id")


# Among matches, a foreign name spelt otherwise (romaji in the registry, katakana on the form, or the family's own
# katakana) and one written given name first. Fixed rather than learnt: a town with few foreign residents gives EM
# too few such pairs, and M_FLOOR would make the level count against a match.
FOREIGN_SOUND_M, SWAPPED_M = 0.005, 0.002
# The name parts in the other order (a form that puts the given name first: ナム　グエン), by kana key or by sound.
_SWAPPED = (
    "(surname_kana_l = given_kana_r AND given_kana_l = surname_kana_r)"
    " OR (surname_phon_l = given_phon_r AND given_phon_l = surname_phon_r)"
)


def _name_comparison(part: str, label: str) -> cl.CustomComparison:
    """Kana of one name part: as written / same key (long vowels, width) / same sound (a foreign name in romaji
    or another katakana) / parts swapped / one kana off / Jaro-Winkler / else.

    Custom rather than Splink's NameComparison: its levels all read one column, while the top level here is the
    kana as written and the next its key (ユウコ = ユーコ), and a one-kana substitution needs its own level.
    """
    key, raw = f"{part}_kana", f"{part}_kana_raw"
    return cl.CustomComparison(
        output_column_name=key,
        comparison_description=f"{label} kana",
        comparison_levels=[
            cll.NullLevel(key),
            # Term frequency: a common name (ユイ, サトウ) in a small town proves little, a rare one much.
            cll.ExactMatchLevel(raw).configure(
                label_for_charts=f"{label} kana same as written", tf_adjustment_column=raw, tf_adjustment_weight=1.0
            ),
            cll.ExactMatchLevel(key).configure(label_for_charts=f"{label} kana same key"),
            # NGUYEN / グエン / グェン: only foreign-written names carry a phonetic key (Japanese ones stay NULL).
            cll.CustomLevel(f"{part}_phon_l = {part}_phon_r", f"{label} sounds the same (foreign name)").configure(
                m_probability=FOREIGN_SOUND_M, fix_m_probability=True
            ),
            cll.CustomLevel(_SWAPPED, f"{label} in the other name part (given name first)").configure(
                m_probability=SWAPPED_M, fix_m_probability=True
            ),
            # A typed kana slip (シ/ツ, a dakuten) is one substitution; Jaro-Winkler misses it in 2–3 kana names.
            # As written too: a slip on the kana before a long vowel (ソウタ → ンウタ) leaves the keys two apart. Only
            # where a key dropped a long vowel can the kana as written be closer than the keys: the cheap tests
            # first, since u is estimated on millions of random pairs.
            cll.CustomLevel(
                f"damerau_levenshtein({key}_l, {key}_r) <= 1"
                f" OR ((length({raw}_l) > length({key}_l) OR length({raw}_r) > length({key}_r))"
                f" AND abs(length({raw}_l) - length({raw}_r)) <= 1 AND damerau_levenshtein({raw}_l, {raw}_r) <= 1)",
                f"{label} kana one kana different",
            ),
            cll.JaroWinklerLevel(key, _JW_FUZZY).configure(label_for_charts=f"{label} kana similar"),
            cll.ElseLevel(),
        ],
    )


def _placeholder_match(a: str, b: str) -> str:
    """`a` holds a 外字 placeholder (GAIJI), not only placeholders, and `b` reads as `a` with any one character in
    each placeholder's position."""
    return (
        f"contains({a}, '{GAIJI}') AND NOT regexp_full_match({a}, '{GAIJI}+')"
        f" AND regexp_full_match({b}, replace({a}, '{GAIJI}', '.'))"
    )


def _kanji_same(part: str) -> str:
    """Kanji keys equal, a 外字 placeholder (GAIJI) matching any one character in its position.

    The placeholder's position counts neither way: 〓田 = 吉田 = 𠮷田, but a name of placeholders alone proves nothing.
    A CASE, not an OR: DuckDB evaluates every operand of an OR, and the regular expressions (a pattern per row) on
    every pair made this one comparison 6 of the 17 s of scoring 4 M pairs; only pairs with a placeholder need them.
    """
    left, right = f"{part}_kanji_l", f"{part}_kanji_r"
    return (
        f"(CASE WHEN {left} = {right} THEN true WHEN {left} IS NULL OR {right} IS NULL THEN NULL"
        f" WHEN NOT (contains({left}, '{GAIJI}') OR contains({right}, '{GAIJI}')) THEN false"
        f" ELSE ({_placeholder_match(left, right)}) OR ({_placeholder_match(right, left)}) END)"
    )


_KS, _KG = _kanji_same("surname"), _kanji_same("given")
_AS, _AG = "surname_kana_l = surname_kana_r", "given_kana_l = given_kana_r"


def _kanji_comparison() -> cl.CustomComparison:
    """Kanji name (variant-folded keys) for what it adds to the kana: confirms a kana slip, or contradicts the kana.

    Kanji and kana of one name agree or disagree together, so scoring kanji agreement on its own would count
    the name twice (a same-named child from the next town would then outscore its wrong birth date). Only the
    cases where the kanji tells something the kana did not get their own level; the rest weigh about nothing.
    NULL for nursery records, which carry no kanji name.
    """
    return cl.CustomComparison(
        output_column_name="name_kanji",
        comparison_description="kanji name",
        comparison_levels=[
            cll.Or(cll.NullLevel("surname_kanji"), cll.NullLevel("given_kanji")),
            cll.CustomLevel(f"({_KS}) AND ({_KG}) AND NOT (({_AS}) AND ({_AG}))", "kanji name same, kana differs"),
            cll.CustomLevel(f"(({_AS}) AND NOT ({_KS})) OR (({_AG}) AND NOT ({_KG}))", "same kana, other kanji"),
            cll.ElseLevel().configure(label_for_charts="kanji name agrees with the kana"),
        ],
    )


# Written as SQL because Splink's DateOfBirthComparison has no day/month-swap level and puts every one-character
# difference (a wrong year digit too) in one level; typed slips are far likelier than a random one-digit change.
_DOB_SWAP = "substr(dob_l, 5, 2) = substr(dob_r, 7, 2) AND substr(dob_l, 7, 2) = substr(dob_r, 5, 2)"
_DOB_SLIP = (
    f"(substr(dob_l, 1, 4) = substr(dob_r, 1, 4) AND {_DOB_SWAP})"
    " OR abs(date_diff('day', strptime(dob_l, '%Y%m%d'), strptime(dob_r, '%Y%m%d'))) = 1"
    " OR (damerau_levenshtein(dob_l, dob_r) = 1 AND levenshtein(dob_l, dob_r) = 2)"
)
# Among matches, a birth date wrong beyond a typing slip. EM cannot learn it: a same-named child of the next town
# whose guardian happens to share a household adult's name agrees with a registry child on everything but the
# date, so EM takes such pairs for matches with a "mistyped" date (it learnt 1.5% on the 1,000,000 town, where
# the generator makes none). Fixed at a prior instead: a birth date is the field schools and nurseries get right.
DOB_ELSE_M = 0.002


def _dob_comparison() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="birth_date",
        comparison_description="birth date",
        comparison_levels=[
            cll.NullLevel("dob"),
            cll.ExactMatchLevel("dob").configure(label_for_charts="birth date same"),
            cll.CustomLevel(_DOB_SLIP, "birth date typing slip (day/month swap, ±1 day, digits transposed)"),
            cll.LevenshteinLevel("dob", 1).configure(label_for_charts="birth date one digit different"),
            cll.ElseLevel().configure(m_probability=DOB_ELSE_M, fix_m_probability=True),
        ],
    )


def _address_comparison() -> cl.CustomComparison:
    """Address key (町 大字 lot building): same / same lot, the building left out or written otherwise / similar (a
    digit) / same 大字 / else; NULL for nurseries."""
    return cl.CustomComparison(
        output_column_name="address",
        comparison_description="address",
        comparison_levels=[
            cll.NullLevel("address_key"),
            cll.ExactMatchLevel("address_key").configure(label_for_charts="address same"),
            cll.ExactMatchLevel("address_lot").configure(label_for_charts="address same lot (building differs)"),
            cll.JaroWinklerLevel("address_key", 0.92).configure(label_for_charts="address similar"),
            cll.ExactMatchLevel("oaza").configure(label_for_charts="address same 大字"),
            cll.ElseLevel(),
        ],
    )


# Symmetric on purpose: only one side holds each column, and the SQL must not depend on which side is l.
_GUARDIAN_NULL = (
    "coalesce(guardian_key_l, guardian_key_r) IS NULL"
    " OR (len(coalesce(guardian_keys_l, [])) = 0 AND len(coalesce(guardian_keys_r, [])) = 0)"
)


def _in_list(names: str, name: str) -> str:
    """`name` is one of `names`, a 外字 placeholder (GAIJI) on either side matching any one character in its position
    (the registry's cp932 export writes 〓 for 𠮷, a nursery's ＿), as in the child's kanji name (`_kanji_same`)."""

    # The list is searched only where a placeholder is there at all: u is estimated on millions of random pairs.
    return (
        f"(list_contains({names}, {name})"
        f" OR ((contains({name}, '{GAIJI}') OR contains(array_to_string({names}, ''), '{GAIJI}'))"
        f" AND coalesce(list_bool_or(list_transform({names}, lambda k: ({_placeholder_match(name, 'k')})"
        f" OR ({_placeholder_match('k', name)}))), false)))"
    )


def _either_side(names: str, name: str) -> str:
    """`_in_list` whichever side holds the list (the SQL must not depend on which side is l)."""
    return f"{_in_list(f'{names}_l', f'{name}_r')} OR {_in_list(f'{names}_r', f'{name}_l')}"


_GUARDIAN_SAME = _either_side("guardian_keys", "guardian_key")
_GUARDIAN_GIVEN = _either_side("guardian_givens", "guardian_given")
_GUARDIAN_SURNAME = (
    "list_contains(guardian_prefixes_l, guardian_surname_r) OR list_contains(guardian_prefixes_r, guardian_surname_l)"
)
_GUARDIAN_LEVELS = (_GUARDIAN_SAME, _GUARDIAN_GIVEN, _GUARDIAN_SURNAME)


def _guardian_comparison() -> cl.CustomComparison:
    """The guardian on the form against the adults of the child's household: full name / given name only (the
    surname changed) / surname only / else.

    Its u-probabilities are replaced after training by `_guardian_u_given_surname`.
    """
    return cl.CustomComparison(
        output_column_name="guardian",
        comparison_description="guardian name (u among pairs with the same child surname)",
        comparison_levels=[
            cll.CustomLevel(_GUARDIAN_NULL, "guardian unknown").configure(is_null_level=True),
            cll.CustomLevel(_GUARDIAN_SAME, "guardian is an adult of the household"),
            cll.CustomLevel(_GUARDIAN_GIVEN, "guardian given name of a household adult"),
            cll.CustomLevel(_GUARDIAN_SURNAME, "guardian surname of a household adult"),
            cll.ElseLevel(),
        ],
    )


COMPARISONS = ("surname_kana", "given_kana", "name_kanji", "birth_date", "sex", "address", "guardian")
COMPARISON_LABELS = {
    "surname_kana": "surname kana",
    "given_kana": "given name kana",
    "name_kanji": "kanji name",
    "birth_date": "birth date",
    "sex": "sex",
    "address": "address",
    "guardian": "guardian",
}
# Comparison vector values (gamma_*) that assign.py reads: Splink numbers the non-null levels from the top down.
# kana: as written = 6, same key = 5, same sound = 4, parts swapped = 3, one kana different = 2, similar = 1, else = 0
KANA_SAME_KEY, KANA_ONE_OFF = 5, 2
DOB_SAME, DOB_SLIP = 3, 2  # birth date: same = 3, typing slip = 2, one digit different = 1, else = 0
KANJI_CONFIRMS_KANA_SLIP = 2  # kanji comparison: kanji same where kana differs = 2, other kanji = 1, else = 0
SURNAME_DIFFERS = 0  # surname kana: no level of likeness
SEX_SAME = 1  # sex: same = 1, else = 0
GUARDIAN_SAME, GUARDIAN_GIVEN = 3, 2  # guardian: full name = 3, given name only = 2, surname only = 1, else = 0
# address: same = 4, same lot = 3, similar = 2, same 大字 = 1, else = 0
ADDRESS_SAME, ADDRESS_LOT, ADDRESS_SIMILAR, ADDRESS_ELSE = 4, 3, 2, 0

# Prediction blocking: each rule keeps the true pairs that a kind of slip loses in the others. On the generated
# 1,000,000-resident town the first three alone keep every true pair, 4.7 M pairs in all (given kana + birth
# year, the obvious third rule, made 8.4 M by itself).
BLOCKING_RULES: dict[str, Any] = {
    "birth date": block_on("dob", "sex"),  # any name slip (and a name unlike the registry's: household.py)
    "kana name": block_on("surname_kana", "given_kana"),  # any birth-date slip
    "guardian + sex": block_on("guardian_block", "sex", arrays_to_explode=["guardian_block"]),  # kana + date slip
    "kanji name": block_on("surname_kanji", "given_kanji"),  # school records: kana + date slip, no guardian
    # A sex typed wrong with a name slip: the given name's first kana instead of the sex. Birth date alone made
    # 2.8 M of the 4.7 M pairs at 1,000,000 residents; these two make 1.5 M.
    "birth date + initial": "l.dob = r.dob AND substr(l.given_kana, 1, 1) = substr(r.given_kana, 1, 1)",
    # A new surname and a birth-date slip together (the guardian's surname changed too): the given name is left.
    "given name + birth month": block_on("given_kana", "substr(dob, 1, 6)", "sex"),
    # A school record whose name says nothing (a 通称) and whose birth date slipped: the children of its address.
    "address + sex": block_on("address_lot", "sex"),
    # A kana slip and a birth-date slip where the guardian's name has a 外字 placeholder on one side (〓田誠 / 𠮷田誠 on
    # a form that writes ＿田誠): the guardian's key with the placeholder's position masked (normalize.gaiji_blocks),
    # and the birth year (〓田誠 meets every ?田誠: without the year, 135,000 pairs at 1,000,000 residents).
    "guardian + birth year (外字)": block_on(
        "guardian_gaiji_block", "sex", "birth_year", arrays_to_explode=["guardian_gaiji_block"]
    ),
}
# Each EM pass estimates the comparisons it does not block on. The second also asks for a household adult as
# guardian so that it holds few non-matches (same-named children of other towns) for the date to be learnt on.
EM_RULES = (
    block_on("dob", "sex"),
    "l.surname_kana = r.surname_kana AND l.given_kana = r.given_kana"
    " AND list_contains(l.guardian_keys, r.guardian_key)",
)
# EM learns m from a seeded, hash-filtered sample of a rule's pairs when it has more (Splink's max_pairs): the
# birth-date rule's 1.4 M pairs at 1,000,000 residents hold tens of thousands of matches, far more than m needs.
EM_MAX_PAIRS = 5e5
DETERMINISTIC_RULE = "l.dob = r.dob AND l.surname_kana = r.surname_kana AND l.given_kana = r.given_kana"
DETERMINISTIC_RECALL = 0.9
# Random pairs for u: 2 M (Splink's examples use 1–10 M). 5 M gave the same links on both towns, seeds 1 and 2,
# hard and clean, at 2.5 times the sampling time.
U_MAX_PAIRS = 2e6
U_FLOOR = 1 / U_MAX_PAIRS
U_CONDITIONAL_PAIRS = 2e6


def settings(seed: int = 42) -> SettingsCreator:
    """The model before training (comparisons, levels, blocking rules)."""
    return SettingsCreator(
        link_type="link_only",
        linker_uid=f"kodomo_{seed}",  # Splink draws a random one, which would make model_json differ run to run
        comparisons=[
            _name_comparison("surname", "surname"),
            _name_comparison("given", "given name"),
            _kanji_comparison(),
            _dob_comparison(),
            cl.ExactMatch("sex"),
            _address_comparison(),
            _guardian_comparison(),
        ],
        blocking_rules_to_generate_predictions=list(BLOCKING_RULES.values()),
        retain_matching_columns=True,  # the comparison viewer shows the compared values (scored_pairs keeps none)
        retain_intermediate_calculation_columns=True,
        max_iterations=20,
    )


_SIGNIFICANT = 10
M_FLOOR = 1e-4  # a level never seen among matches in one town's data is rare, not impossible
# The guardian on a form is the least controlled field (a grandparent, a new partner, a parent who left): at least
# 1% of matches for each of its lower levels, which a small town's EM may see none of.
# A surname differing between systems (divorce, remarriage, a school keeping the old name to the year's end) is a
# few percent of real records: at least 2% of matches for each surname level, or one town's clean data would make
# a changed surname outweigh a same given name, birth date, address and guardian together.
M_FLOORS = {"guardian": 0.01, "surname_kana": 0.02}


def _rounded(model: Any) -> Any:
    """Round trained probabilities: EM sums in parallel threads differ in the last bits from run to run."""
    if isinstance(model, dict):
        return {k: _rounded(v) for k, v in model.items()}
    if isinstance(model, list):
        return [_rounded(v) for v in model]
    if isinstance(model, float):
        return float(f"{model:.{_SIGNIFICANT}g}")
    return model


def _levels(model: dict, name: str) -> list[dict]:
    comparison = next(c for c in model["comparisons"] if c["output_column_name"] == name)
    return [level for level in comparison["comparison_levels"] if not level.get("is_null_level")]


def _smoothed(model: dict) -> dict:
    """Give every level at least M_FLOOR of the matches (EM drives unseen levels to 0, i.e. "impossible"), and
    at least U_FLOOR of random pairs (a level random sampling never met, such as names swapped, is rare too)."""
    for comparison in model["comparisons"]:
        levels = _levels(model, comparison["output_column_name"])
        floor = M_FLOORS.get(comparison["output_column_name"], M_FLOOR)
        for name, least in (("m_probability", floor), ("u_probability", U_FLOOR)):
            values = [max(float(level.get(name) or 0.0), least) for level in levels]
            for level, value in zip(levels, values, strict=True):
                level[name] = value / sum(values)
    return model


def _guardian_u_given_surname(con: duckdb.DuckDBPyConnection, persons: str, records: str, seed: int) -> list[float]:
    """u of the guardian levels among non-matching pairs whose child surname (kana) is the same.

    Splink estimates u over random pairs, where a guardian named like a household adult is very rare. But the
    guardian carries the child's surname, which the surname comparison has already counted: what the guardian
    adds is the given name. So its u is taken among same-surname pairs (different given name, so non-matches):
    there a guardian with only the household's surname is common and weighs against a match, as it should for a
    same-named child of another family. Splink has no conditional u, hence this query.
    """
    total = con.execute(
        f"""SELECT coalesce(sum(p.n * r.n), 0) FROM
            (SELECT surname_kana, count(*) AS n FROM {persons} GROUP BY ALL) p
            JOIN (SELECT surname_kana, count(*) AS n FROM {records} GROUP BY ALL) r USING (surname_kana)"""
    ).fetchone()[0]
    modulus = max(1, int(-(-total // U_CONDITIONAL_PAIRS)))
    sides = ", ".join(
        f"{side}.{col} AS {col}_{suffix}"
        for side, suffix in (("p", "l"), ("r", "r"))
        for col in (
            "guardian_key",
            "guardian_keys",
            "guardian_surname",
            "guardian_prefixes",
            "guardian_given",
            "guardian_givens",
        )
    )
    cases = " ".join(f"WHEN {sql} THEN {len(_GUARDIAN_LEVELS) - i}" for i, sql in enumerate(_GUARDIAN_LEVELS))
    rows = con.execute(
        f"""SELECT CASE WHEN {_GUARDIAN_NULL} THEN -1 {cases} ELSE 0 END AS level, count(*) FROM (
                SELECT {sides} FROM {persons} p JOIN {records} r
                ON p.surname_kana = r.surname_kana AND p.given_kana <> r.given_kana
                WHERE hash(r.unique_id || ?) % ? = 0)
            GROUP BY level""",
        [f":{seed}", modulus],
    ).fetchall()
    counts = dict(rows)
    observed = [counts.get(len(_GUARDIAN_LEVELS) - i, 0) + 1 for i in range(len(_GUARDIAN_LEVELS) + 1)]
    return [c / sum(observed) for c in observed]


@contextlib.contextmanager
def _quiet_splink() -> Iterator[None]:
    """Splink logs its progress at INFO; keep orchestration logs to our own counts."""
    logger = logging.getLogger("splink")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _empty_pairs() -> pd.DataFrame:
    columns = ["record_id", "resident_id", "match_weight", "match_probability"]
    columns += [f"gamma_{c}" for c in COMPARISONS] + [f"mw_{c}" for c in COMPARISONS]
    return pd.DataFrame({c: pd.Series(dtype=object if c.endswith("_id") else float) for c in columns})


_SPLINK_OBJECTS_SQL = """
    SELECT 'VIEW' AS kind, view_name FROM duckdb_views() WHERE view_name LIKE '\\_\\_splink\\_\\_%' ESCAPE '\\'
    UNION ALL
    SELECT 'TABLE', table_name FROM duckdb_tables() WHERE table_name LIKE '\\_\\_splink\\_\\_%' ESCAPE '\\'"""


def splink_objects(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Names of the __splink__ tables and views visible on the connection (none after score_pairs)."""
    return [name for _, name in con.execute(_SPLINK_OBJECTS_SQL).fetchall()]


def drop_splink_objects(con: duckdb.DuckDBPyConnection) -> int:
    """Drop every __splink__ view (frames registered on the connection too) and table, each as what it is: a run
    killed during linkage leaves Splink's tables in the town's database, and `DROP VIEW IF EXISTS` on a table's
    name is an error that would fail every later night's linkage. Returns how many there were."""
    found = con.execute(_SPLINK_OBJECTS_SQL).fetchall()
    for kind, name in found:
        if kind == "VIEW":
            with contextlib.suppress(duckdb.Error):
                con.unregister(name)
        con.execute(f'DROP {kind} IF EXISTS "{name}"')
    return len(found)


def score_pairs(
    con: duckdb.DuckDBPyConnection,
    persons: pd.DataFrame,
    records: pd.DataFrame,
    seed: int = 42,
    model_json: dict | None = None,
    charts: ChartTargets | None = None,
) -> LinkageModelResult:
    """Train on this town's data (or take `model_json`, a model trained earlier: the backtest reuses one across
    replayed dates), score the blocked pairs, and leave no __splink__ table behind.

    Logs timings and counts only. The connection must be writable (Splink materialises its steps as tables).
    """
    started = time.perf_counter()

    def lap(step: str) -> None:
        _log.debug("linkage: %s done at %.1f s", step, time.perf_counter() - started)

    stale = drop_splink_objects(con)  # left by an interrupted run (the town lock keeps any other run out)
    if stale:
        _log.warning("linkage: dropped %d __splink__ tables left by an earlier run", stale)
    if persons.empty or records.empty:
        _log.info("linkage: nothing to link (%d registry children, %d records)", len(persons), len(records))
        return LinkageModelResult(_empty_pairs(), settings(seed).create_settings_dict("duckdb"), {})
    left = _common_frame(with_former_names(persons), persons=True)
    right = _common_frame(records, persons=False)
    lap("inputs")
    db = DuckDBAPI(connection=con)
    with _quiet_splink():
        try:
            sdf_p = db.register(left, dataset_display_name=PERSONS, table_name=f"__splink__input_{PERSONS}")
            sdf_r = db.register(right, dataset_display_name=RECORDS, table_name=f"__splink__input_{RECORDS}")
            model = model_json or _train(con, sdf_p, sdf_r, seed, lap)
            # A fresh linker from the rounded model, so that the scores depend on the model json alone.
            linker = Linker([sdf_p, sdf_r], model, log_level=None)
            pairs = _best_name_per_resident(scored_pairs(linker, _PAIRS_SQL).to_pandas())
            lap("predict")
            written = (
                write_charts(linker, charts, lambda: _viewer_predictions(db, sdf_p, right, model, seed))
                if charts is not None
                else {}
            )
            lap("charts")
        finally:
            db.delete_tables_created_by_splink_from_db()
            drop_splink_objects(con)  # what is left: the input frames, and the temp views Splink binds to its tables
    # Splink's match_key is the first prediction rule that produced the pair: a free, exact count per rule
    # (linker.blocking_analysis would block all over again to count).
    names = list(BLOCKING_RULES)
    counts = pairs["match_key"].value_counts()
    blocking_counts = {name: int(counts.get(i, 0)) for i, name in enumerate(names)}
    _log.info("linkage: %d pairs scored in %.1f s", len(pairs), time.perf_counter() - started)
    return LinkageModelResult(pairs.drop(columns="match_key"), model, blocking_counts, written)


def _train(con: duckdb.DuckDBPyConnection, sdf_p: Any, sdf_r: Any, seed: int, lap: Callable[[str], None]) -> dict:
    """The town's model: λ from a deterministic rule, u by random sampling, m by EM, guardian u by surname."""
    trainer = Linker([sdf_p, sdf_r], settings(seed), log_level=None)
    trainer.training.estimate_probability_two_random_records_match([DETERMINISTIC_RULE], DETERMINISTIC_RECALL)
    trainer.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=seed)
    lap("u")
    for rule in EM_RULES:
        trainer.training.estimate_parameters_using_expectation_maximisation(rule, max_pairs=EM_MAX_PAIRS)
    lap("em")
    model = _smoothed(trainer.misc.save_model_to_json())
    guardian_u = _guardian_u_given_surname(con, sdf_p.physical_name, sdf_r.physical_name, seed)
    for level, u in zip(_levels(model, "guardian"), guardian_u, strict=True):
        level["u_probability"] = u
    trainer.table_management.invalidate_cache()  # drops its tables and forgets them (shared db_api cache)
    return _rounded(model)


def _pairs_sql() -> str:
    """(record, person) pairs whatever side Splink put each on, with every comparison's level and weight, sorted
    by record, resident and weight (best first): `_best_name_per_resident` relies on that order."""
    gammas = ", ".join(f"gamma_{c}::TINYINT AS gamma_{c}" for c in COMPARISONS)
    weights = ", ".join(f"mw_{c}" for c in COMPARISONS)
    swap = f"source_dataset_l = '{RECORDS}'"
    return f"""SELECT CASE WHEN {swap} THEN unique_id_l ELSE unique_id_r END AS record_id,
                      split_part(CASE WHEN {swap} THEN unique_id_r ELSE unique_id_l END, '{ALIAS_SEP}', 1)
                          AS resident_id,
                      CASE WHEN {swap} THEN unique_id_r ELSE unique_id_l END AS person_row,
                      match_weight, match_probability, {gammas}, {weights}, match_key::TINYINT AS match_key
               FROM {PREDICTIONS}
               ORDER BY record_id, resident_id, match_weight DESC, person_row"""


_PAIRS_SQL = _pairs_sql()


def _best_name_per_resident(pairs: pd.DataFrame) -> pd.DataFrame:
    """A resident scored under several names (former names) keeps its best-weighted pair: in the sorted pairs, the
    first of each run of one (record, resident). A comparison of neighbours rather than a SQL window, which sorted
    all millions of pairs by two text ids again for the few residents with a former name."""
    record, resident = pairs["record_id"].to_numpy(), pairs["resident_id"].to_numpy()
    repeated = np.r_[False, (record[1:] == record[:-1]) & (resident[1:] == resident[:-1])]
    kept = pairs.loc[~repeated].reset_index(drop=True) if repeated.any() else pairs
    return kept.drop(columns="person_row")
