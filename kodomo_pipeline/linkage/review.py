"""The 名寄せ review list people read (HTML, self-contained) and the decision template they fill in.

The two records stand side by side, original and matching key, with the reasons for the
score. Decisions come back through the `meiyose_kekka` feed (resources/systems/kodomo_product.yaml).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.exports.csvfile import write_contract_csv
from kodomo_pipeline.reports import render_template

FEED_JA = {"toen": "登園記録", "gakko_meibo": "児童生徒名簿"}


def _text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, list | tuple):
        return "、".join(str(v) for v in value)
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    return str(value)


def _rows(record: pd.Series, person: pd.Series) -> list[dict]:
    """Field by field: the record's original value and key against the registry's."""
    fields = [
        ("氏名 name", "name_kanji", None, "name_kanji", None),
        ("氏名カナ kana", "name_kana", "surname_kana", "name_kana", "surname_kana"),
        ("生年月日 born", "birth_date", None, "birth_date", None),
        ("性別 sex", "sex", None, "sex", None),
        ("住所 address", "address", "address_key", "address", "address_key"),
        ("保護者 guardian", "guardian_name", "guardian_key", None, "guardian_keys"),
    ]
    rows = []
    for label, left, left_key, right, right_key in fields:
        lval = _text(record.get(left))
        rval = _text(person.get(right)) if right else ""
        lkey = _text(record.get(left_key)) if left_key else ""
        rkey = _text(person.get(right_key)) if right_key else ""
        if left_key == "surname_kana":
            lkey = f"{_text(record.get('surname_kana'))} {_text(record.get('given_kana'))}"
            rkey = f"{_text(person.get('surname_kana'))} {_text(person.get('given_kana'))}"
        differs = bool(lval and rval and (lkey or lval) != (rkey or rval))
        rows.append(
            {"label": label, "left": lval, "right": rval, "left_key": lkey, "right_key": rkey, "differs": differs}
        )
    return rows


def write_review(
    crosswalk: pd.DataFrame,
    records: pd.DataFrame,
    persons: pd.DataFrame,
    town: TownConfig,
    as_of: dt.date,
    out_dir: Path,
) -> tuple[Path, Path]:
    """Write review_<YYYYMMDD>.html and the decision template meiyose_kekka_template_<YYYYMMDD>.csv."""
    stamp = as_of.strftime("%Y%m%d")
    review = crosswalk[crosswalk["status"] == "review"].sort_values("match_probability", ascending=False)
    by_record = records.set_index("record_id" if "record_id" in records else "unique_id")
    by_person = persons.set_index("resident_id")
    pairs = []
    for item in review.itertuples(index=False):
        record = by_record.loc[item.record_id]
        person = by_person.loc[item.candidate_resident_id]
        pairs.append(
            {
                "feed_ja": FEED_JA.get(item.feed, item.feed),
                "source_key": item.source_key,
                "resident_id": item.candidate_resident_id,
                "match_probability": float(item.match_probability),
                "reason": item.reason,
                "top_comparisons": item.top_comparisons,
                "rows": _rows(record, person),
            }
        )
    template_path = out_dir / f"meiyose_kekka_template_{stamp}.csv"
    html = render_template(
        "review.html.j2",
        town_ja=town.name_ja,
        as_of=as_of.isoformat(),
        pairs=pairs,
        matched=int((crosswalk["status"] == "matched").sum()),
        unmatched=int((crosswalk["status"] == "unmatched").sum()),
        template_name=template_path.name,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"review_{stamp}.html"
    html_path.write_text(html, encoding="utf-8")
    template = pd.DataFrame(
        {
            "対象": review["feed"],
            "元キー": review["source_key"],
            "宛名番号": review["candidate_resident_id"],
            "判定": "",
            "確認日": "",
        }
    )
    write_contract_csv(template, list(template.columns), template_path)
    return html_path, template_path
