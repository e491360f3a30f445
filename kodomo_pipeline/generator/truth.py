"""Ground truth files (UTF-8 CSV): links, persons, planted risk and planted defects.

They state what a correct pipeline should conclude, so linkage, validation
and risk judgment can be measured rather than eyeballed.

Truth tags (名寄せ cases): `links.csv`, one row per nursery (toen) / school
(gakko_meibo) record, column `noise` = the cases that apply to that record,
joined by ";" (empty: the record carries the registry's identity). How often
each occurs is set by the noise preset (noise_presets.yaml; `--noise`):

- kana_long_vowel, kana_typo: the record's kana (ユウコ→ユーコ; シ/ツ, dakuten)
- dob_swap, dob_off_by_one, dob_transposed: the record's birth date
- variant_kanji / guardian_variant_kanji: another kanji form than the registry's (髙→高)
- given_kana_only: the given name written in kana in the kanji name (山田　はると)
- no_address: the school record holds no address
- multi_slip: two or more of the slips above in one record
- namesake: an outsider (not in the registry) with a resident child's name;
  namesake_same_birthday: … born on the same day too
- surname_old_at_school: the registry already holds the new surname (divorce,
  remarriage), the record the old one; surname_new_at_school: the record already
  uses the new surname, the registry (as of that extract) still the old one
- gaiji_registry: the child's name in a cp932 registry export holds a placeholder
  (〓) for a kanji outside JIS X 0208; gaiji_record: this record's cp932 export has
  one (＿, nursery guardian name); gaiji_rare: the registered name has a character
  outside cp932 altogether (𠮷)
- foreign_name: a foreign resident (katakana legal name); foreign_romaji: the registry
  holds the legal name in romaji; alias_at_school: the record uses a Japanese 通称;
  foreign_katakana_at_school: the registry holds romaji, the record katakana; foreign_spelling: the record's
  katakana is another spelling (グェン for グエン); foreign_given_first: the record puts the given name first
- close_sibling: a sibling born 10–11 months apart with a similar given name
- namesake_resident: a resident child of another household with the same name and birthday

`persons.csv` holds each person's registry identity as of the extract;
`name_history.csv` (when a preset changes surnames) every surname change:
person_uid, resident_id, changed_on, old and new kanji/kana.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kodomo_pipeline.generator.defects import Defect

LINK_COLUMNS = ["feed", "source_key", "resident_id", "person_uid", "noise", "is_twin"]
PERSON_COLUMNS = [
    "person_uid", "resident_id", "household_id", "name_kanji", "name_kana", "birth_date", "sex",
    "relationship", "status", "twin_group", "outsider",
]  # fmt: skip
DEFECT_COLUMNS = ["feed", "file", "row_number", "column", "reason"]


def person_uid(person: np.ndarray) -> np.ndarray:
    """Residents `P` + timeline index; stable across as-of dates."""
    return np.array([f"P{p:08d}" for p in person], dtype=object)


def outsider_uid(outsider: np.ndarray) -> np.ndarray:
    return np.array([f"O{o:07d}" for o in outsider], dtype=object)


def _write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    return path


def write_links(rows: list[pd.DataFrame], path: Path, with_as_of: bool = False) -> Path:
    """links.csv: one row per nursery/school record (history: per record and extract date, `as_of` first)."""
    columns = ["as_of", *LINK_COLUMNS] if with_as_of else LINK_COLUMNS
    frame = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=columns)
    return _write(frame[columns], path)


def write_persons(frame: pd.DataFrame, path: Path) -> Path:
    """persons.csv: the extract and the outsiders."""
    return _write(frame[PERSON_COLUMNS], path)


def write_name_history(frame: pd.DataFrame, path: Path) -> Path:
    """name_history.csv: every registry surname change on or before the extract date."""
    return _write(frame, path)


def write_planted(frame: pd.DataFrame, path: Path) -> Path:
    """planted_risk.csv: expected alerts under rules v1."""
    return _write(frame, path)


def write_defects(defects: list[Defect], path: Path) -> Path:
    """defects.csv: planted defects with their expected reason."""
    frame = pd.DataFrame([(d.feed, d.file, d.row_number, d.column, d.reason) for d in defects], columns=DEFECT_COLUMNS)
    return _write(frame, path)
