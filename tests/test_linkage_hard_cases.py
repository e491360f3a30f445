"""名寄せ's real-life identity cases, hand-made inside a generated town and run through the real code paths.

Name history (an earlier registry snapshot, a 旧氏 column, a name learnt only after T), 外字 placeholders, a given
name written in kana, siblings 11 months apart with similar names, a same-name same-birthday child of another
town. The registry rows go into the town database as snapshots (valid_jumin + ingested_files), so
`build_link_persons` finds the names itself. Assertion messages carry counts and positions only.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from kodomo_pipeline.config import load_towns
from kodomo_pipeline.generator import generate_town
from kodomo_pipeline.ingest.steps import TownPaths, ingest_raw, validate_feed
from kodomo_pipeline.linkage.assign import REJECTED_SKIPPED, Bands, assign_links
from kodomo_pipeline.linkage.household import birth_within_slip, outside_town
from kodomo_pipeline.linkage.inputs import build_link_persons, build_link_records, with_keys
from kodomo_pipeline.linkage.model import (
    GUARDIAN_SAME,
    KANA_ONE_OFF,
    KANJI_CONFIRMS_KANA_SLIP,
    ChartTargets,
    LinkageModelResult,
    _in_list,
    score_pairs,
)
from kodomo_pipeline.linkage.normalize import GAIJI, address_key, kanji_key
from kodomo_pipeline.linkage.review import REASON_JA, reason_ja
from kodomo_pipeline.storage.town_db import open_town_db

ASOF = dt.date(2026, 11, 26)
EARLIER, LATER = dt.date(2025, 11, 26), dt.date(2026, 12, 20)
POPULATION, SEED = 3000, 7
OTHER_KANJI = 1  # kanji comparison level "same kana, other kanji"
ADDRESS = "埼玉県比企郡川島町大字中山{}番地"

# (resident, household, current name, kana, born, sex, relationship); adults are the guardians.
REGISTRY = [
    ("H100000001", "HH10000001", "鬼頭　真理子", "キトウ　マリコ", dt.date(1988, 3, 2), "女", "世帯主"),
    ("H100000002", "HH10000001", "鬼頭　颯太", "キトウ　ソウタ", dt.date(2016, 7, 19), "男", "子"),
    ("H100000003", "HH10000002", "真壁　沙織", "マカベ　サオリ", dt.date(1985, 1, 9), "女", "世帯主"),
    ("H100000004", "HH10000002", "真壁　結衣", "マカベ　ユイ", dt.date(2015, 10, 3), "女", "子"),
    ("H100000005", "HH10000003", "八雲　恵子", "ヤクモ　ケイコ", dt.date(1987, 6, 30), "女", "世帯主"),
    ("H100000006", "HH10000003", "八雲　蓮", "ヤクモ　レン", dt.date(2014, 12, 1), "男", "子"),
    ("H100000007", "HH10000004", "𠮷田　誠", "ヨシダ　マコト", dt.date(1983, 2, 14), "男", "世帯主"),
    ("H100000008", "HH10000004", "𠮷田　陽向", "ヨシダ　ヒナタ", dt.date(2017, 5, 8), "男", "子"),
    ("H100000009", "HH10000005", "綾瀬　直樹", "アヤセ　ナオキ", dt.date(1986, 8, 21), "男", "世帯主"),
    ("H100000010", "HH10000005", "綾瀬　心愛", "アヤセ　ココア", dt.date(2018, 9, 27), "女", "子"),
    ("H100000011", "HH10000006", "氷室　亮", "ヒムロ　リョウ", dt.date(1984, 4, 4), "男", "世帯主"),
    ("H100000012", "HH10000006", "氷室　悠真", "ヒムロ　ユウマ", dt.date(2016, 4, 10), "男", "子"),
    ("H100000013", "HH10000006", "氷室　悠斗", "ヒムロ　ユウト", dt.date(2017, 3, 5), "男", "子"),
    ("H100000014", "HH10000007", "桐生　健一", "キリュウ　ケンイチ", dt.date(1982, 11, 11), "男", "世帯主"),
    ("H100000015", "HH10000007", "桐生　陽菜", "キリュウ　ヒナ", dt.date(2015, 6, 1), "女", "子"),
    ("H100000016", "HH10000008", "グエン　ティ　ラン", "グエン　ティ　ラン", dt.date(1990, 7, 7), "女", "世帯主"),
    ("H100000017", "HH10000008", "グエン　ミン", "グエン　ミン", dt.date(2016, 1, 23), "男", "子"),
    # Foreign families known at school by a 通称 the registry export does not carry (no alias column for them).
    ("H100000018", "HH10000009", "SANTOS　MARIA", "サントス　マリア", dt.date(1989, 5, 5), "女", "世帯主"),
    ("H100000019", "HH10000009", "SANTOS　LUCAS", "サントス　ルーカス", dt.date(2016, 2, 11), "男", "子"),
    ("H100000020", "HH10000009", "SANTOS　SOFIA", "サントス　ソフィア", dt.date(2021, 4, 4), "女", "子"),
    ("H100000021", "HH10000010", "PEREIRA　ANA", "ペレイラ　アナ", dt.date(1987, 3, 3), "女", "世帯主"),
    ("H100000022", "HH10000010", "PEREIRA　JOAO", "ペレイラ　ジョアン", dt.date(2015, 8, 8), "男", "子"),  # twins
    ("H100000023", "HH10000010", "PEREIRA　PEDRO", "ペレイラ　ペドロ", dt.date(2015, 8, 8), "男", "子"),
    # Legal name in romaji; the school writes katakana, the family's own spelling, given name first.
    ("H100000024", "HH10000011", "NGUYEN　HUNG", "グエン　フン", dt.date(1985, 12, 1), "男", "世帯主"),
    ("H100000025", "HH10000011", "NGUYEN　DUC", "グエン　ドゥック", dt.date(2017, 9, 14), "男", "子"),
    ("H100000036", "HH10000011", "NGUYEN　LINH", "グエン　リン", dt.date(2021, 11, 11), "女", "子"),
    # A 通称 family with a nursery child only: nothing of the household on the form, a birth date no one else has.
    ("H100000026", "HH10000012", "SILVA　ANA", "シルバ　アナ", dt.date(1991, 6, 6), "女", "世帯主"),
    ("H100000027", "HH10000012", "SILVA　BRUNO", "シルバ　ブルーノ", dt.date(2021, 2, 17), "男", "子"),
    ("H100000028", "HH10000013", "キム　ミンジ", "キム　ミンジ", dt.date(1990, 1, 30), "女", "世帯主"),
    ("H100000029", "HH10000013", "キム　ジウ", "キム　ジウ", dt.date(2019, 10, 21), "女", "子"),
    # A 通称 family whose school child is found by the address; the nursery form names the other parent.
    ("H100000030", "HH10000014", "OLIVEIRA　CARLA", "オリベイラ　カルラ", dt.date(1988, 2, 2), "女", "世帯主"),
    ("H100000031", "HH10000014", "OLIVEIRA　RAFAEL", "オリベイラ　ハファエル", dt.date(2015, 3, 12), "男", "子"),
    ("H100000032", "HH10000014", "OLIVEIRA　JULIA", "オリベイラ　ジュリア", dt.date(2021, 9, 3), "女", "子"),
    # A 通称 family with two children at nurseries and nothing else on any form.
    ("H100000033", "HH10000015", "RAI　SITA", "ライ　シタ", dt.date(1992, 4, 4), "女", "世帯主"),
    ("H100000034", "HH10000015", "RAI　ANISH", "ライ　アニシュ", dt.date(2020, 5, 14), "男", "子"),
    ("H100000035", "HH10000015", "RAI　ASHA", "ライ　アシャ", dt.date(2022, 8, 9), "女", "子"),
    # Two 通称 nursery children; another foreign family has a boy born the brother's birthday.
    ("H100000037", "HH10000016", "SHARMA　PRIYA", "シャルマ　プリヤ", dt.date(1990, 9, 9), "女", "世帯主"),
    ("H100000038", "HH10000016", "SHARMA　ARJUN", "シャルマ　アルジュン", dt.date(2020, 7, 7), "男", "子"),
    ("H100000039", "HH10000016", "SHARMA　DIYA", "シャルマ　ディヤ", dt.date(2022, 3, 3), "女", "子"),
    ("H100000040", "HH10000017", "GURUNG　MAYA", "グルン　マヤ", dt.date(1989, 10, 10), "女", "世帯主"),
    ("H100000041", "HH10000017", "GURUNG　SUMAN", "グルン　スマン", dt.date(2020, 7, 7), "男", "子"),
    # A 通称 family in a flat (the registry writes the building, the school leaves it out); another foreign family has a
    # boy born the same day.
    ("H100000042", "HH10000018", "KHUONG　XUANMAI", "クオン　スアンマイ", dt.date(1988, 8, 8), "女", "世帯主"),
    ("H100000043", "HH10000018", "KHUONG　BAOLONG", "クオン　バオロン", dt.date(2016, 5, 20), "男", "子"),
    ("H100000044", "HH10000019", "PHUNGQUOC　HIEU", "フンクオック　ヒエウ", dt.date(1985, 5, 5), "男", "世帯主"),
    ("H100000045", "HH10000019", "PHUNGQUOC　NGHIA", "フンクオック　ギア", dt.date(2016, 5, 20), "男", "子"),
    # Twin daughters, one of them not in the registry export (her row is in quarantine).
    ("H100000046", "HH10000020", "矢吹　和也", "ヤブキ　カズヤ", dt.date(1984, 1, 20), "男", "世帯主"),
    ("H100000047", "HH10000020", "矢吹　彩花", "ヤブキ　アヤカ", dt.date(2017, 9, 24), "女", "子"),
    # A foreign boy whose school spells his given name the Portuguese way (ジョゼ; registered in katakana as ホセ).
    ("H100000048", "HH10000021", "シルバ　マルコス", "シルバ　マルコス", dt.date(1983, 3, 3), "男", "世帯主"),
    ("H100000049", "HH10000021", "シルバ　ホセ", "シルバ　ホセ", dt.date(2016, 3, 3), "男", "子"),
]  # fmt: skip
# Names in the earlier snapshot (before the mother's divorce) and in a snapshot extracted after T (remarriage).
EARLIER_NAMES = {
    "H100000001": ("柊　真理子", "ヒイラギ　マリコ"),
    "H100000002": ("柊　颯太", "ヒイラギ　ソウタ"),
}
LATER_NAMES = {"H100000005": ("神楽　恵子", "カグラ　ケイコ"), "H100000006": ("神楽　蓮", "カグラ　レン")}
FORMER_SURNAME = {"H100000004": ("東雲", "シノノメ")}  # the layout's 旧氏 column (kanji, kana)
ALIAS = {"H100000017": ("中村　明", "ナカムラ　アキラ")}  # a foreign resident's registered 通称 (current snapshot)

# (record key, name kanji, kana, born, sex, guardian, address number or None) — all school records.
RECORDS = [
    ("99200001", "柊　颯太", "ひいらぎ そうた", dt.date(2016, 7, 19), "男", "柊　真理子", 9101),  # earlier snapshot
    ("99200002", "東雲　結衣", "しののめ ゆい", dt.date(2015, 10, 3), "女", "東雲　沙織", 9102),  # 旧氏 column
    ("99200003", "神楽　蓮", "かぐら れん", dt.date(2014, 12, 1), "男", "神楽　恵子", 9103),  # a name after T
    ("99200004", "〓田　陽向", "よしだ ひなた", dt.date(2017, 5, 8), "男", "〓田　誠", 9104),  # 外字 〓
    ("99200005", "＿田　陽向", "よしだ ひなた", dt.date(2017, 5, 8), "男", "＿田　誠", None),  # 外字 ＿
    ("99200006", "綾瀬　ここあ", "あやせ ここあ", dt.date(2018, 9, 27), "女", "綾瀬　直樹", 9105),  # kana given name
    ("99200007", "氷室　悠真", "ひむろ ゆうま", dt.date(2016, 4, 10), "男", "氷室　亮", 9106),  # sibling 1
    ("99200008", "氷室　悠斗", "ひむろ ゆうと", dt.date(2017, 3, 5), "男", "氷室　亮", 9106),  # sibling 2
    ("99200009", "桐生　陽菜", "きりゅう ひな", dt.date(2015, 6, 1), "女", "桐生　大輔", None),  # outsider namesake
    ("99200010", "中村　明", "なかむら あきら", dt.date(2016, 1, 23), "男", "中村　蘭", 9108),  # 通称 at school
    ("99200011", "佐藤　翔", "さとう しょう", dt.date(2016, 2, 11), "男", "早乙女　璃子", 9109),  # 通称, not registered
    ("99200012", "鈴木　大翔", "すずき ひろと", dt.date(2015, 8, 8), "男", "鈴木　杏", 9110),  # 通称, same-sex twins
    ("99200013", "ドック　グェン", "どっく ぐぇん", dt.date(2017, 9, 14), "男", "NGUYEN　HUNG", 9111),  # katakana
    # Born the day of a lone foreign-named child, names like no one's, no address: DUC already has his school record
    # (99200013); LEE SEOA is written as foreign as KIM JIU, so she is another foreign child.
    ("99200014", "日高　陸", "ひだか りく", dt.date(2017, 9, 14), "男", "日高　由美", None),
    ("99200015", "LEE　SEOA", "リ ソア", dt.date(2019, 10, 21), "女", "LEE　HANA", None),
    # SANTOS SOFIA under a 通称 at the family's address, her birth date a day off: only the address is left.
    ("99200016", "早乙女　凛", "さおとめ りん", dt.date(2021, 4, 5), "女", "早乙女　璃子", 9109),
    ("99200017", "森田　翼", "もりた つばさ", dt.date(2015, 3, 12), "男", "森田　由紀", 9114),  # OLIVEIRA RAFAEL
    # Another town's namesake born the same day, whose mother shares the given name of the child's father.
    ("99200018", "桐生　陽菜", "きりゅう ひな", dt.date(2015, 6, 1), "女", "佐伯　健一", None),
    ("99200019", "松井　翔太", "まつい しょうた", dt.date(2016, 5, 20), "男", "松井　花", 9118),  # the flat left out
    ("99200020", "矢吹　ひなた", "やぶき ひなた", dt.date(2017, 9, 24), "女", "矢吹　和也", 9120),  # the other twin
    ("99200021", "シルバ　ジョゼ", "しるば じょぜ", dt.date(2016, 3, 3), "男", "シルバ　マルコス", 9121),
]  # fmt: skip
# Nursery records (no kanji name, no address): the SANTOS family's younger child under the family's 通称.
NURSERY = [
    ("N:8001", "さとう ひな", dt.date(2021, 4, 4), "女", "早乙女　璃子"),
    # Typed in a hurry: ソウタ → ンウタ (the slip breaks the long vowel: keys ソタ / ンウタ) and a day off.
    ("N:8002", "きとう んうた", dt.date(2016, 7, 20), "男", "鬼頭　真理子"),
    ("N:8003", "はやせ しょうま", dt.date(2021, 2, 17), "男", "早瀬　千秋"),  # SILVA BRUNO under the family's 通称
    ("N:8004", "たかみね ゆい", dt.date(2015, 10, 4), "女", "高峰　沙織"),  # 真壁 結衣: a new surname and a day off
    # OLIVEIRA JULIA under the family's 通称 (her brother's school record), the father as guardian, a day off.
    ("N:8005", "もりた さくら", dt.date(2021, 9, 4), "女", "森田　健"),
    ("N:8006", "もりた あおい", dt.date(2020, 1, 15), "女", "森田　健"),  # that surname, born when no child was
    # RAI ANISH and RAI ASHA under their family's 通称: each the one foreign-named child born that day.
    ("N:8007", "たなべ はると", dt.date(2020, 5, 14), "男", "田辺　美香"),
    ("N:8008", "たなべ ゆな", dt.date(2022, 8, 9), "女", "田辺　美香"),
    # Born the day of KIM JIU, under the surname N:8003 has too: two lone candidates, but of two households.
    ("N:8009", "はやせ みお", dt.date(2019, 10, 21), "女", "早瀬　千秋"),
    # Born the day of NGUYEN LINH, a name like no one's: but her brother is at school under the family's own name.
    ("N:8010", "こばやし えま", dt.date(2021, 11, 11), "女", "小林　優子"),
    # SHARMA ARJUN (two foreign boys born that day) and SHARMA DIYA under one 通称, each parent on one form.
    ("N:8011", "いとう そら", dt.date(2020, 7, 7), "男", "伊藤　健"),
    ("N:8012", "いとう ひまり", dt.date(2022, 3, 3), "女", "伊藤　真理"),
    # 𠮷田 陽向 typed in a hurry (ヒナタ → ヒナダ, day and month swapped), the father with the nursery's placeholder.
    ("N:8013", "よしだ ひなだ", dt.date(2017, 8, 5), "男", "＿田　誠"),
]
ADDRESSES = {"HH10000001": 9101, "HH10000002": 9102, "HH10000003": 9103, "HH10000004": 9104, "HH10000005": 9105,
             "HH10000006": 9106, "HH10000007": 9107, "HH10000008": 9108, "HH10000009": 9109, "HH10000010": 9110,
             "HH10000011": 9111, "HH10000012": 9112, "HH10000013": 9113, "HH10000014": 9114,
             "HH10000015": 9115, "HH10000016": 9116, "HH10000017": 9117, "HH10000018": 9118,
             "HH10000019": 9119, "HH10000020": 9120, "HH10000021": 9121}  # fmt: skip
BUILDINGS = {"HH10000018": "　コーポ青葉１０２"}  # as the registry writes a flat after the lot
OUTSIDER_ADDRESS = "埼玉県比企郡吉見町大字久保田1234番地"
OUTSIDERS = ("99200009", "99200018")  # school records of children of another town (OUTSIDER_ADDRESS)
TRUTH = {  # record → the resident it must be matched to (None: never matched)
    "99200001": "H100000002",
    "99200002": "H100000004",
    "99200004": "H100000008",
    "99200005": "H100000008",
    "99200006": "H100000010",
    "99200007": "H100000012",
    "99200008": "H100000013",
    "99200009": None,
    "99200010": "H100000017",
    "99200011": "H100000019",
    "99200013": "H100000025",
}


@dataclass(repr=False)
class Linked:
    persons: pd.DataFrame
    records: pd.DataFrame
    result: LinkageModelResult
    crosswalk: pd.DataFrame
    charts: Path

    def __repr__(self) -> str:  # pytest shows this beside a failing test: counts only
        return f"Linked({len(self.persons)} persons, {len(self.records)} records)"


def _snapshot(con: duckdb.DuckDBPyConnection, sha: str, extract: dt.date, names: dict, *, like: str | None) -> None:
    """Add the hand-made registry rows to a jumin snapshot: an existing one (`like` = its sha) or a new file."""
    if like is None:
        con.execute(
            """INSERT INTO ingested_files SELECT ?, feed, 'jumin_' || strftime(?::DATE, '%Y%m%d') || '.csv', ?,
                   size_bytes, ingested_at + INTERVAL 1 SECOND, run_id, rows_read, rows_valid, rows_quarantined,
                   dropped_columns, missing_columns, archived_as
               FROM ingested_files WHERE feed = 'jumin' LIMIT 1""",
            [sha, extract, extract],
        )
    columns = [r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE valid_jumin)").fetchall()]
    rows = []
    for i, (rid, household, kanji, kana, born, sex, relationship) in enumerate(REGISTRY):
        kanji, kana = names.get(rid, (kanji, kana))
        row = {
            "resident_id": rid, "household_id": household, "name_kanji": kanji, "name_kana": kana,
            "birth_date": born, "sex": sex, "relationship": relationship,
            "address": ADDRESS.format(ADDRESSES[household]) + BUILDINGS.get(household, ""),
            "resident_since": born, "status": "住民",
            "_sha256": sha, "_row": 900_000 + i, "_file": "handmade",
        }  # fmt: skip
        if like is not None and rid in FORMER_SURNAME:
            row["former_surname"], row["former_surname_kana"] = FORMER_SURNAME[rid]
        if like is not None and rid in ALIAS:
            row["alias_name"], row["alias_name_kana"] = ALIAS[rid]
        rows.append(row)
    frame = pd.DataFrame(rows).assign(_extract_date=extract)
    # Every other column (bookkeeping such as the ingest run) as in one row of the town's own snapshot.
    template = con.execute("SELECT * FROM valid_jumin WHERE _file <> 'handmade' LIMIT 1").df()
    for column in columns:
        if column not in frame and not column.startswith(("former_surname", "alias_name")):
            frame[column] = template[column].iloc[0]
    con.register("_hand", frame.reindex(columns=columns))
    con.execute("INSERT INTO valid_jumin SELECT * FROM _hand")
    con.unregister("_hand")


def _records() -> pd.DataFrame:
    rows = [
        {
            "feed": "gakko_meibo", "source_key": key, "name_kanji": kanji, "name_kana": kana.replace(" ", "　"),
            "birth_date": born, "sex": sex, "guardian_name": guardian,
            "address": ADDRESS.format(number) if number else OUTSIDER_ADDRESS if key in OUTSIDERS else None,
            "_file": "handmade", "_sha256": "", "_row": 0,
        }
        for key, kanji, kana, born, sex, guardian, number in RECORDS
    ]  # fmt: skip
    rows += [
        {
            "feed": "toen", "source_key": key, "name_kanji": None, "name_kana": kana.replace(" ", "　"),
            "birth_date": born, "sex": sex, "guardian_name": guardian, "address": None,
            "_file": "handmade", "_sha256": "", "_row": 0,
        }
        for key, kana, born, sex, guardian in NURSERY
    ]  # fmt: skip
    frame = with_keys(pd.DataFrame(rows))
    frame["guardian_key"] = frame["guardian_name"].map(kanji_key)
    frame["unique_id"] = frame["feed"] + "|" + frame["source_key"]
    return frame


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Linked:
    work = tmp_path_factory.mktemp("hard")
    town = load_towns()["kawashima"]
    generate_town(town, work / "inbox", work / "truth", ASOF, POPULATION, SEED)
    paths = TownPaths.for_town(town, work / "home", work / "inbox")
    with open_town_db(work / "town.duckdb") as con:
        for feed in ("jumin", "toen", "gakko_meibo"):
            ingest_raw(con, town, feed, paths, "test", None)
            validate_feed(con, town, feed, "test")
        current = con.execute("SELECT sha256 FROM ingested_files WHERE feed = 'jumin'").fetchone()[0]
        con.execute("ALTER TABLE valid_jumin ADD COLUMN IF NOT EXISTS former_surname VARCHAR")
        con.execute("ALTER TABLE valid_jumin ADD COLUMN IF NOT EXISTS former_surname_kana VARCHAR")
        con.execute("ALTER TABLE valid_jumin ADD COLUMN IF NOT EXISTS alias_name VARCHAR")
        con.execute("ALTER TABLE valid_jumin ADD COLUMN IF NOT EXISTS alias_name_kana VARCHAR")
        _snapshot(con, current, ASOF, {}, like=current)
        _snapshot(con, "e" * 64, EARLIER, EARLIER_NAMES, like=None)
        _snapshot(con, "f" * 64, LATER, LATER_NAMES, like=None)
        persons = build_link_persons(con, ASOF)
        records = pd.concat([build_link_records(con, ASOF), _records()], ignore_index=True)
        charts = ChartTargets(work / "out" / "reports" / "linkage_model", work / "out" / "linkage_viewer.html", "x")
        result = score_pairs(con, persons, records, seed=42, charts=charts)
    crosswalk = assign_links(result.pairs, records, persons, Bands())
    return Linked(persons, records, result, crosswalk, work / "out")


def _row(linked: Linked, key: str) -> pd.Series:
    return linked.crosswalk.set_index("record_id").loc[f"gakko_meibo|{key}"]


def _pair(linked: Linked, key: str, resident: str) -> pd.DataFrame:
    pairs = linked.result.pairs
    return pairs[(pairs["record_id"] == f"gakko_meibo|{key}") & (pairs["resident_id"] == resident)]


def test_former_names_come_from_snapshots_at_or_before_t_and_the_former_surname_column(linked: Linked) -> None:
    former = linked.persons.set_index("resident_id")["former_names"]
    earlier = [tuple(n) for n in former["H100000002"]]
    from_column = [tuple(n) for n in former["H100000004"]]
    assert earlier == [EARLIER_NAMES["H100000002"]]
    assert from_column == [("東雲　結衣", "シノノメ　ユイ")]
    assert [tuple(n) for n in former["H100000017"]] == [ALIAS["H100000017"]]  # the registered 通称
    assert len(former["H100000006"]) == 0, "a name first seen after T must not be a former name"


@pytest.mark.parametrize(
    "key",
    [f"992000{n:02d}" for n in (1, 2, 4, 5, 6, 7, 8, 10, 11, 13)],
)
def test_hard_records_link_to_their_child(linked: Linked, key: str) -> None:
    row = _row(linked, key)
    assert row["status"] == "matched", f"status {row['status']}, reason {row['reason']}"
    right = row["resident_id"] == TRUTH[key]  # compared outside the assert: pytest would print both IDs
    assert right


def test_old_surname_is_compared_with_the_name_the_child_had(linked: Linked) -> None:
    for key, resident in (("99200001", "H100000002"), ("99200002", "H100000004")):
        pair = _pair(linked, key, resident)
        assert len(pair) == 1
        assert int(pair["gamma_surname_kana"].iloc[0]) >= 3, "the former surname should agree (same key)"


def test_a_name_learnt_after_t_is_never_used(linked: Linked) -> None:
    pair = _pair(linked, "99200003", "H100000006")
    assert len(pair) <= 1
    if len(pair):
        assert int(pair["gamma_surname_kana"].iloc[0]) == 0, "the surname of a snapshot after T was used"
    row = _row(linked, "99200003")
    # Same child, by given name, birth date, address and guardian given name: a link is right, but never by that name.
    assert row["status"] in ("matched", "review", "unmatched")


def test_gaiji_placeholder_is_neither_agreement_nor_disagreement(linked: Linked) -> None:
    for key in ("99200004", "99200005"):
        pair = _pair(linked, key, "H100000008")
        assert len(pair) == 1
        assert int(pair["gamma_name_kanji"].iloc[0]) != OTHER_KANJI, "a placeholder counted as another kanji"
        assert int(pair["gamma_name_kanji"].iloc[0]) != KANJI_CONFIRMS_KANA_SLIP


def test_gaiji_placeholder_in_the_guardian_name_still_names_the_household_adult(linked: Linked) -> None:
    for key in ("99200004", "99200005"):  # 〓田　誠 / ＿田　誠 on the form, 𠮷田　誠 in the registry
        pair = _pair(linked, key, "H100000008")
        assert int(pair["gamma_guardian"].iloc[0]) == GUARDIAN_SAME
    assert _row(linked, "99200005")["status"] == "matched"


@pytest.mark.parametrize(
    ("names", "name", "expected"),
    [
        (["吉田誠", "吉田花"], f"{GAIJI}田誠", True),  # the form's placeholder
        ([f"{GAIJI}田誠"], "吉田誠", True),  # the registry's placeholder
        ([f"{GAIJI}田誠"], f"{GAIJI}田誠", True),
        (["吉田誠"], f"{GAIJI}田学", False),  # the placeholder stands for one character, not for the rest
        (["吉田誠"], f"{GAIJI}吉田誠", False),
        ([f"{GAIJI}{GAIJI}{GAIJI}"], "吉田誠", False),  # placeholders alone prove nothing
        ([], "吉田誠", False),
    ],
    ids=["form placeholder", "registry placeholder", "both", "other character", "extra character", "alone", "none"],
)
def test_guardian_name_in_household_with_gaiji_placeholders(names: list[str], name: str, expected: bool) -> None:
    sql = _in_list("names", "name")
    got = duckdb.execute(f"SELECT {sql} FROM (SELECT ?::VARCHAR[] AS names, ?::VARCHAR AS name)", [names, name])
    assert got.fetchone()[0] is expected


def test_a_slip_with_a_gaiji_placeholder_in_the_guardian_is_still_blocked(linked: Linked) -> None:
    """Kana and birth date both slipped, and the guardian's full name cannot meet the registry's across the
    placeholder: the guardian's given name and the birth year bring the pair in."""
    pairs = linked.result.pairs
    pair = pairs[(pairs["record_id"] == "toen|N:8013") & (pairs["resident_id"] == "H100000008")]
    assert len(pair) == 1, "the pair was never scored"
    assert int(pair["gamma_guardian"].iloc[0]) == GUARDIAN_SAME
    row = linked.crosswalk.set_index("record_id").loc["toen|N:8013"]
    assert (row["status"], row["resident_id"] == "H100000008") == ("matched", True), f"reason {row['reason']}"


def test_kana_slip_before_a_long_vowel_is_one_kana_off(linked: Linked) -> None:
    """ンウタ for ソウタ: one kana as written, two apart as keys. With a day's slip, the household decides."""
    pairs = linked.result.pairs
    pair = pairs[(pairs["record_id"] == "toen|N:8002") & (pairs["resident_id"] == "H100000002")]
    assert int(pair["gamma_given_kana"].iloc[0]) == KANA_ONE_OFF
    row = linked.crosswalk.set_index("record_id").loc["toen|N:8002"]
    assert (row["status"], row["resident_id"] == "H100000002") == ("matched", True), f"reason {row['reason']}"


def test_a_new_surname_with_a_birth_date_slip_is_still_compared(linked: Linked) -> None:
    """Surname, birth date and guardian key all differ from the registry's: the given name and birth month block."""
    pairs = linked.result.pairs
    pair = pairs[(pairs["record_id"] == "toen|N:8004") & (pairs["resident_id"] == "H100000004")]
    assert len(pair) == 1, "the pair was never scored"
    row = linked.crosswalk.set_index("record_id").loc["toen|N:8004"]
    right = row["candidate_resident_id"] == "H100000004"
    assert right, f"status {row['status']}, reason {row['reason']}"


def test_kana_only_given_name_is_not_other_kanji(linked: Linked) -> None:
    pair = _pair(linked, "99200006", "H100000010")
    assert len(pair) == 1
    assert int(pair["gamma_name_kanji"].iloc[0]) != OTHER_KANJI


def test_siblings_eleven_months_apart_stay_apart(linked: Linked) -> None:
    cw = linked.crosswalk
    on_siblings = cw[(cw["status"] == "matched") & cw["resident_id"].isin(["H100000012", "H100000013"])]
    keys = sorted(on_siblings["source_key"])
    assert keys == ["99200007", "99200008"]
    wrong = sum(_row(linked, k)["resident_id"] != TRUTH[k] for k in keys)
    assert wrong == 0


def test_same_name_same_birthday_outsider_stays_unmatched(linked: Linked) -> None:
    """Same kanji, kana and birth date; another town's address and a guardian not of the household: unmatched."""
    row = _row(linked, "99200009")
    assert row["status"] == "unmatched", f"reason {row['reason']}"
    assert row["reason"] == "household disagrees: guardian and address"


def test_a_namesake_of_another_town_is_never_matched_on_a_guardian_given_name(linked: Linked) -> None:
    """Same name and birth date, and the guardian's given name is a household adult's: the address in another town
    leaves it to a person (the model alone scored it in the match band)."""
    row = _row(linked, "99200018")
    assert row["status"] == "review", f"reason {row['reason']}"
    assert row["reason"] == "address outside the town"
    assert _row(linked, "99200001")["reason"] != "address outside the town"  # a school that writes the town's name


@pytest.mark.parametrize(
    ("address", "outside"),
    [
        ("埼玉県比企郡川島町大字中山9101番地", False),
        ("中山9101", False),  # a school that leaves the town's name out
        ("川島町中山九一〇一番地", False),
        ("埼玉県比企郡吉見町大字久保田1234番地", True),
        ("吉見町久保田1234", True),
        (None, False),  # no address: nothing says where the child lives
    ],
)
def test_an_address_outside_the_town_names_area_unknown_to_the_registry(address: str | None, outside: bool) -> None:
    registry = [ADDRESS.format(1), "埼玉県比企郡川島町大字表12番地"]
    persons = pd.DataFrame({"address_key": [address_key(a) for a in registry]})
    records = pd.DataFrame({"record_id": ["r"], "address_key": [address_key(address) if address else None]})
    assert outside_town(records, persons)["r"] == outside


def test_splink_charts_are_offline_and_parameter_charts_hold_no_record(linked: Linked) -> None:
    written = linked.result.charts
    expected = {"match_weights", "m_u_parameters", "tf_surname_kana", "tf_given_kana", "comparison_viewer"}
    assert set(written) == expected
    rare = {kana for _, _, _, kana, *_ in REGISTRY} | {kanji for _, _, kanji, *_ in REGISTRY}
    for name, path in written.items():
        html = path.read_text(encoding="utf-8")
        remote = len(re.findall(r"""<(?:script|link)[^>]+(?:src|href)=["']https?://""", html))
        assert remote == 0, f"{name}: {remote} scripts or styles from the network"
        if name != "comparison_viewer":
            assert path.is_relative_to(linked.charts / "reports")
            shown = sum(part in html for value in rare for part in value.split("　") if len(part) >= 2)
            assert shown == 0, f"{name}: {shown} hand-made name parts in a parameter chart"


def test_alias_at_school_links_by_birth_date_sex_and_address(linked: Linked) -> None:
    """A 通称 the registry does not hold: no name agrees, but one child of that household was born that day."""
    row = _row(linked, "99200011")
    assert (row["status"], row["reason"]) == ("matched", "whole name differs: household confirms")
    pair = _pair(linked, "99200011", "H100000019")
    levels = int(pair["gamma_surname_kana"].iloc[0]), int(pair["gamma_given_kana"].iloc[0])
    assert max(levels) < KANA_ONE_OFF, f"name levels {levels}: the name should not carry this match"


def test_alias_at_school_links_by_the_lot_where_the_school_leaves_the_building_out(linked: Linked) -> None:
    """Another foreign boy was born that day: only the address tells, and the school wrote it without the flat."""
    row = _row(linked, "99200019")
    assert (row["status"], row["reason"]) == ("matched", "whole name differs: household confirms")
    assert row["resident_id"] == "H100000043"


def test_a_twin_whose_registry_row_is_missing_is_not_taken_for_the_other(linked: Linked) -> None:
    """Her household's surname and address, her twin's birthday and sex, a household adult as guardian: only the
    given name differs, and that is what tells twins apart."""
    row = _row(linked, "99200020")
    assert row["status"] != "matched", f"reason {row['reason']}"


def test_a_foreign_given_name_spelled_another_way_links_by_the_household(linked: Linked) -> None:
    """Under the family's surname, with another spelling of the given name: a foreign child, not a missing twin."""
    row = _row(linked, "99200021")
    assert (row["status"], row["reason"]) == ("matched", "whole name differs: household confirms")
    assert row["resident_id"] == "H100000049"


def test_alias_at_school_with_a_birth_date_slip_links_by_the_address(linked: Linked) -> None:
    row = _row(linked, "99200016")
    assert (row["status"], row["resident_id"] == "H100000020") == ("matched", True), f"reason {row['reason']}"
    assert row["reason"] == "whole name differs: household confirms"


def test_same_sex_twins_under_an_alias_go_to_review_never_merged(linked: Linked) -> None:
    row = _row(linked, "99200012")
    assert (row["status"], row["reason"]) == ("review", "whole name differs: several children of the household")
    named = row["resident_id"] in ("H100000022", "H100000023")
    assert named, "a review row names one of the twins"
    matched = linked.crosswalk[linked.crosswalk["status"].eq("matched")]
    assert int(matched["resident_id"].isin(["H100000022", "H100000023"]).sum()) == 0


def test_a_sibling_nursery_record_links_through_the_guardian_of_the_school_record(linked: Linked) -> None:
    row = linked.crosswalk.set_index("record_id").loc["toen|N:8001"]
    assert (row["status"], row["resident_id"] == "H100000020") == ("matched", True), f"reason {row['reason']}"
    assert row["reason"] == "whole name differs: guardian of a linked sibling"


def test_a_nursery_alias_goes_to_review_with_the_one_foreign_named_child_born_that_day(linked: Linked) -> None:
    """No name or guardian agrees and a nursery form has no address; the registry has one boy born that day, under a
    romaji name: he is the candidate, and a person confirms it (another foreign boy born that day may live elsewhere).
    """
    persons = linked.persons
    born = persons[(persons["birth_date"].astype(str) == "2021-02-17") & (persons["sex"] == "男")]
    assert len(born) == 1, f"{len(born)} registry boys born that day: the hand-made case needs one"
    row = linked.crosswalk.set_index("record_id").loc["toen|N:8003"]
    assert (row["status"], row["resident_id"] == "H100000027") == ("review", True), f"reason {row['reason']}"
    assert row["reason"] == "whole name differs: the one foreign-named child born that day, no address to confirm"


def _nursery(linked: Linked, key: str) -> pd.Series:
    return linked.crosswalk.set_index("record_id").loc[f"toen|{key}"]


def test_a_nursery_alias_links_through_the_surname_of_a_linked_sibling(linked: Linked) -> None:
    """The school record of one child is linked by the address; the nursery form of the other child carries the
    family's 通称 surname, the other parent as guardian and a birth date a day off: the surname finds the household,
    sex and birth date the child."""
    school = _row(linked, "99200017")
    assert (school["status"], school["resident_id"] == "H100000031") == ("matched", True), f"reason {school['reason']}"
    row = _nursery(linked, "N:8005")
    assert (row["status"], row["resident_id"] == "H100000032") == ("matched", True), f"reason {row['reason']}"
    assert row["reason"] == "whole name differs: surname of a sibling"
    other = _nursery(linked, "N:8006")  # the surname alone is no child: no one of the household was born that day
    assert other["status"] == "unmatched", f"reason {other['reason']}"


def test_two_nursery_aliases_of_one_family_confirm_each_other(linked: Linked) -> None:
    """Each record alone would go to review (the one foreign-named child born that day); both under one surname,
    pointing at two children of one household, they are no chance."""
    persons = linked.persons
    for born, sex in (("2020-05-14", "男"), ("2022-08-09", "女")):
        n = int(((persons["birth_date"].astype(str) == born) & (persons["sex"] == sex)).sum())
        assert n == 1, f"{n} registry children born that day: the hand-made case needs one"
    for key, child in (("N:8007", "H100000034"), ("N:8008", "H100000035")):
        row = _nursery(linked, key)
        assert (row["status"], row["resident_id"] == child) == ("matched", True), f"reason {row['reason']}"
        assert row["reason"] == "whole name differs: surname of a sibling"


def test_a_sibling_under_the_same_surname_tells_which_foreign_child_born_that_day(linked: Linked) -> None:
    """ARJUN's record alone points at two foreign-named boys born that day; DIYA's at one girl, of ARJUN's household,
    under the same surname: she is matched, and through her record the household tells which boy is his."""
    persons = linked.persons
    for born, sex, n in (("2020-07-07", "男", 2), ("2022-03-03", "女", 1)):
        got = int(((persons["birth_date"].astype(str) == born) & (persons["sex"] == sex)).sum())
        assert got == n, f"{got} registry children born that day: the hand-made case needs {n}"
    for key, child in (("N:8012", "H100000039"), ("N:8011", "H100000038")):
        row = _nursery(linked, key)
        assert (row["status"], row["resident_id"] == child) == ("matched", True), f"reason {row['reason']}"
        assert row["reason"] == "whole name differs: surname of a sibling"


def test_lone_candidates_of_two_households_under_one_surname_stay_in_review(linked: Linked) -> None:
    for key, child in (("N:8003", "H100000027"), ("N:8009", "H100000029")):
        row = _nursery(linked, key)
        assert (row["status"], row["resident_id"] == child) == ("review", True), f"reason {row['reason']}"


def test_a_family_enrolled_under_its_registered_surname_is_no_通称_family(linked: Linked) -> None:
    """The one foreign-named girl born that day, but her brother's school record is matched under the family's
    registered surname: a family known by a 通称 would write it for both, so the record is another child's."""
    persons = linked.persons
    n = int(((persons["birth_date"].astype(str) == "2021-11-11") & (persons["sex"] == "女")).sum())
    assert n == 1, f"{n} registry girls born that day: the hand-made case needs one"
    assert _row(linked, "99200013")["status"] == "matched"
    row = _nursery(linked, "N:8010")
    assert row["status"] == "unmatched", f"reason {row['reason']}"


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("20210903", "20210903", True),
        ("20210903", "20210904", True),  # a day off
        ("20210228", "20210301", True),  # a day off across a month
        ("20210903", "20210309", True),  # day and month swapped
        ("20210912", "20210921", True),  # two digits transposed
        ("20210903", "20210910", False),  # a week off
        ("20210903", "20211003", False),  # a month off
        ("20210903", "20200903", False),  # another year
    ],
)
def test_birth_within_slip(left: str, right: str, expected: bool) -> None:
    assert birth_within_slip(left, right) is expected


def test_a_lone_foreign_named_child_is_not_taken_for_another_record(linked: Linked) -> None:
    """The child already has a record in the feed, or the record's own name is foreign-written: unmatched."""
    persons = linked.persons
    for born, sex in (("2017-09-14", "男"), ("2019-10-21", "女")):
        n = int(((persons["birth_date"].astype(str) == born) & (persons["sex"] == sex)).sum())
        assert n == 1, f"{n} registry children born that day: the hand-made case needs one"
    for key in ("99200014", "99200015"):
        assert _row(linked, key)["status"] == "unmatched", f"reason {_row(linked, key)['reason']}"


def test_romaji_registry_name_links_to_katakana_given_name_first(linked: Linked) -> None:
    """NGUYEN　DUC in the registry, ドック　グェン at school: the name itself carries the match (not the household)."""
    row = _row(linked, "99200013")
    assert (row["status"], row["reason"]) == ("matched", "score in match band")
    pair = _pair(linked, "99200013", "H100000025")
    swapped = 3  # kana comparison level "in the other name part"
    assert int(pair["gamma_surname_kana"].iloc[0]) == swapped and int(pair["gamma_given_kana"].iloc[0]) == swapped


def test_every_reason_has_japanese_words_for_the_review_page(linked: Linked) -> None:
    """The reasons the linkage gave here, and every reason assign_links documents, have the staff's words."""
    documented = re.findall(r"'([^']+)'", (assign_links.__doc__ or "").split("Reasons:")[1].split("is appended")[0])
    given = {reason.removesuffix(REJECTED_SKIPPED) for reason in linked.crosswalk["reason"]}
    reasons = (given | set(documented)) - {REJECTED_SKIPPED.strip()}
    assert len(documented) > 20, "the list of reasons in assign_links' docstring moved"
    missing = sorted(reasons - set(REASON_JA))
    assert not missing, f"no Japanese words for {missing}"
    assert reason_ja("no candidate" + REJECTED_SKIPPED) == "候補なし（別人と判定された候補を除外）"
