"""The 名寄せ review list people read (HTML, self-contained) and the decision template they fill in.

The two records stand side by side, original and matching key, with the evidence per field
(a waterfall of Splink's match weights, from the prior to the final score). Below the review
rows, a random audit sample of automatic matches (size: `linkage.audit_sample` in the town
file) in the same form, so that staff decisions are labels unbiased by the model's own bands.
Decisions come back through the `meiyose_kekka` feed (resources/systems/kodomo_product.yaml).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pandas as pd

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.exports.csvfile import write_contract_csv
from kodomo_pipeline.linkage.assign import REJECTED_SKIPPED
from kodomo_pipeline.reports import render_template

FEED_JA = {"toen": "登園記録", "gakko_meibo": "児童生徒名簿"}
EVIDENCE_JA = {
    "prior": "事前確率 prior",
    "surname_kana": "姓カナ surname kana",
    "given_kana": "名カナ given-name kana",
    "name_kanji": "漢字氏名 kanji name",
    "birth_date": "生年月日 birth date",
    "sex": "性別 sex",
    "address": "住所 address",
    "guardian": "保護者 guardian",
    "tf": "名前の頻度 name frequency",
}

# Why a row is on the page, in the staff's words (the crosswalk keeps the English reason, which other systems read).
REASON_JA = {
    "decision: accepted": "確認済み（同一人物と判定）",
    "decision: conflicting accepts": "判定が食い違い（複数の候補を同一人物と判定）",
    "kept from previous run": "前回の照合を継続（記録に変更なし）",
    "twin: decided by given name": "双子：名で判別",
    "twin: decided by given name, household confirms": "双子：名で判別し、世帯で裏付け",
    "twin guard": "双子のどちらか判別できない",
    "twin guard: score in review band": "双子：名で判別したが、照合確率が確認帯",
    "given name disagrees": "名が一致しない",
    "birth date disagrees": "生年月日が一致しない（入力誤りの範囲外）",
    "surname differs without household evidence": "姓が異なり、世帯の裏付けがない",
    "household disagrees": "保護者・住所が世帯と一致しない",
    "household disagrees: guardian and address": "保護者も住所も世帯と一致しない",
    "household disagrees: guardian, no address": "保護者が世帯と一致せず、住所の記載がない",
    "several candidates": "候補が複数",
    "score in match band": "照合確率が自動照合帯",
    "score in review band": "照合確率が確認帯",
    "score in review band: household confirms": "照合確率は確認帯、世帯が裏付け",
    "whole name differs: household confirms": "氏名が異なる（通称など）：同じ日に生まれた世帯の子が一人",
    "whole name differs: several children of the household": "氏名が異なる：同じ日に生まれた世帯の子が複数（双子）",
    "whole name differs: guardian of a linked sibling": "氏名が異なる：照合済みのきょうだいと同じ保護者",
    "whole name differs: surname of a sibling": "氏名が異なる：きょうだいの通称の姓",
    "whole name differs: the one foreign-named child born that day": "氏名が異なる：同じ日に生まれた外国籍の子が一人",
    "whole name differs: the one foreign-named child born that day, no address to confirm": (
        "氏名が異なる：同じ日に生まれた外国籍の子が一人（住所がなく確かめられない）"
    ),
    "address outside the town": "住所が町外（同じ日に生まれた同名の町外の子かもしれない）",
    "best candidate below review band": "最良の候補でも確認帯に届かない",
    "no candidate": "候補なし",
}


def reason_ja(reason: str) -> str:
    """The Japanese words for a crosswalk reason (the English itself where a reason has none yet)."""
    plain = reason.removesuffix(REJECTED_SKIPPED)
    return REASON_JA.get(plain, plain) + ("（別人と判定された候補を除外）" if plain != reason else "")


def waterfall(weights_json: str | None) -> dict | None:
    """Bars of a waterfall chart (Splink's, drawn in CSS: no script, no CDN), as percentages of the page width.

    Each step adds its match weight (bits) to the running total; positive = for the same child, negative = against.
    """
    if not weights_json:
        return None
    weights = json.loads(weights_json)
    steps, total = [], 0.0
    for name, label in EVIDENCE_JA.items():
        value = float(weights.get(name) or 0.0)
        if name != "prior" and abs(value) < 0.05:
            continue
        steps.append({"label": label, "weight": value, "start": total, "end": total + value})
        total += value
    low = min(0.0, *(min(s["start"], s["end"]) for s in steps))
    high = max(0.0, *(max(s["start"], s["end"]) for s in steps))
    span = (high - low) or 1.0
    for step in steps:
        step["left"] = round((min(step["start"], step["end"]) - low) / span * 100, 1)
        step["width"] = max(round(abs(step["weight"]) / span * 100, 1), 0.3)
    return {"steps": steps, "total": total, "zero": round(-low / span * 100, 1)}


def audit_sample(crosswalk: pd.DataFrame, size: int, as_of: dt.date) -> pd.DataFrame:
    """A random sample of the night's automatic matches (never a staff decision), reproducible for the date."""
    automatic = crosswalk[(crosswalk["status"] == "matched") & ~crosswalk["reason"].str.startswith("decision")]
    if size <= 0 or automatic.empty:
        return automatic.iloc[0:0]
    draw = automatic["record_id"].map(lambda r: hashlib.sha256(f"{as_of}|{r}".encode()).hexdigest())
    return automatic.loc[draw.sort_values().index[:size]]


def shown_rows(crosswalk: pd.DataFrame, audit_size: int, as_of: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(review rows best first, audit sample): the crosswalk rows the review page and the template list."""
    review = crosswalk[crosswalk["status"] == "review"].sort_values("match_probability", ascending=False)
    return review, audit_sample(crosswalk, audit_size, as_of)


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
    shown: tuple[pd.DataFrame, pd.DataFrame],
    records: pd.DataFrame,
    persons: pd.DataFrame,
    town: TownConfig,
    as_of: dt.date,
    out_dir: Path,
) -> tuple[Path, Path]:
    """Write review_<YYYYMMDD>.html and the decision template meiyose_kekka_template_<YYYYMMDD>.csv: `shown` is
    (review rows, audit sample) from `shown_rows`; `records` and `persons` need to hold only their two sides."""
    stamp = as_of.strftime("%Y%m%d")
    review, audit = shown
    by_record = records.set_index("record_id" if "record_id" in records else "unique_id")
    by_person = persons.set_index("resident_id")

    def pairs_of(rows: pd.DataFrame) -> list[dict]:
        pairs = []
        for item in rows.itertuples(index=False):
            if item.candidate_resident_id not in by_person.index:
                continue  # a conflicting decision names no single candidate
            record = by_record.loc[item.record_id]
            person = by_person.loc[item.candidate_resident_id]
            pairs.append(
                {
                    "feed_ja": FEED_JA.get(item.feed, item.feed),
                    "source_key": item.source_key,
                    "resident_id": item.candidate_resident_id,
                    "match_probability": float(item.match_probability),
                    "reason": item.reason,
                    "reason_ja": reason_ja(item.reason),
                    "top_comparisons": item.top_comparisons,
                    "rows": _rows(record, person),
                    "waterfall": waterfall(getattr(item, "field_weights", None)),
                }
            )
        return pairs

    pairs, audited = pairs_of(review), pairs_of(audit)
    template_path = out_dir / f"meiyose_kekka_template_{stamp}.csv"
    html = render_template(
        "review.html.j2",
        town_ja=town.name_ja,
        as_of=as_of.isoformat(),
        pairs=pairs,
        audited=audited,
        matched=int((crosswalk["status"] == "matched").sum()),
        unmatched=int((crosswalk["status"] == "unmatched").sum()),
        template_name=template_path.name,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"review_{stamp}.html"
    html_path.write_text(html, encoding="utf-8")
    listed = pd.concat([review, audit])
    template = pd.DataFrame(
        {
            "対象": listed["feed"],
            "元キー": listed["source_key"],
            "宛名番号": listed["candidate_resident_id"],
            "判定": "",
            "確認日": "",
        }
    )
    write_contract_csv(template, list(template.columns), template_path)
    return html_path, template_path
