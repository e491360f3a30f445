"""Matching keys per field: the variants that real registries and school systems produce."""

from __future__ import annotations

import pytest

from kodomo_pipeline.linkage.normalize import (
    address_key,
    is_foreign_written,
    kana_key,
    kanji_key,
    phonetic_key,
    split_name,
)


@pytest.mark.parametrize(
    ("variants", "key"),
    [
        (["ユウコ", "ユーコ", "ゆうこ", "ﾕｰｺ", "ﾕｳｺ", "ユコ"], "ユコ"),
        (["サトウ", "サトー", "さとう", "ｻﾄｳ"], "サト"),
        (["ケイコ", "ケーコ", "けいこ"], "ケコ"),
        (["オオタ", "オータ", "おおた"], "オタ"),
        (["ジュンイチロウ", "ジュンイチロー", "じゅんいちろう", "ｼﾞｭﾝｲﾁﾛｰ"], "ジュンイチロ"),
        (["シヅカ", "シズカ", "しづか"], "シズカ"),
        (["ヴァイオレット", "ｳﾞｧｲｵﾚｯﾄ"], "ヴァイオレット"),
    ],
)
def test_kana_variants_share_one_key(variants: list[str], key: str) -> None:
    assert {kana_key(v) for v in variants} == {key}


def test_kana_key_does_not_lengthen_across_the_name_space() -> None:
    # タカハシ + イチロウ: the イ starts the given name, it does not lengthen シ.
    assert kana_key("タカハシ　イチロウ") == "タカハシイチロ"
    assert kana_key("タカハシ") + kana_key("イチロウ") == kana_key("タカハシ　イチロウ")


@pytest.mark.parametrize(
    ("variants", "key"),
    [
        (["髙橋", "高橋"], "高橋"),
        (["山﨑", "山崎"], "山崎"),
        (["渡邉", "渡邊", "渡辺"], "渡辺"),
        (["齋藤", "齊藤", "斉藤", "斎藤"], "斎藤"),
        (["濵田", "濱田", "浜田"], "浜田"),
        (["澤田", "沢田"], "沢田"),
        (["櫻井", "桜井"], "桜井"),
        (["廣瀬", "広瀬"], "広瀬"),
        (["國分", "国分"], "国分"),
        (["桒原", "桑原"], "桑原"),
        (["冨田", "富田"], "富田"),
    ],
)
def test_variant_kanji_share_one_key(variants: list[str], key: str) -> None:
    assert {kanji_key(v) for v in variants} == {key}


def test_keys_never_replace_the_original() -> None:
    original = "髙﨑\u3000邉子"
    assert kanji_key(original) == "高崎辺子"
    assert original == "髙﨑\u3000邉子" and split_name(original) == ("髙﨑", "邉子")


@pytest.mark.parametrize(
    "variants",
    [
        ["埼玉県比企郡川島町大字出丸中郷１８７９番地１４", "川島町出丸中郷1879-14", "川島町大字出丸中郷1879番地14"],
        ["埼玉県比企郡川島町大字中山三丁目五番地六号", "川島町中山3-5-6", "川島町中山３ー５ー６"],
        ["川島町中山3丁目5番6号", "川島町中山3-5-6"],
        ["埼玉県児玉郡美里町大字阿那志１２３番地", "美里町阿那志123", "美里町大字阿那志百二十三番地"],
    ],
)
def test_address_forms_share_one_key(variants: list[str]) -> None:
    assert len({address_key(v) for v in variants}) == 1


def test_different_lots_stay_different() -> None:
    assert address_key("川島町中山3-5-6") != address_key("川島町中山3-5-7")
    assert address_key("川島町中山123") != address_key("川島町上伊草123")


def test_county_without_prefecture_and_banchi_no() -> None:
    assert address_key("比企郡川島町大字中山475番地の6") == address_key("埼玉県比企郡川島町中山475-6")
    # A building after a lot without 号: the registry's 番地　and the school's space are one separator.
    assert address_key("埼玉県比企郡川島町大字中山４７５番地　コーポ青葉１０２") == address_key(
        "川島町中山475 コーポ青葉102"
    )
    assert kanji_key("栁田") == kanji_key("柳田")


@pytest.mark.parametrize(
    "spellings",
    [
        ["NGUYEN", "グエン", "グェン"],
        ["LUCAS", "ルーカス", "ルカス"],
        ["SHRESTHA", "シュレスタ", "シュレスター"],
        ["GURUNG", "グルン", "グルング"],
        ["DUC", "ドゥック", "ドック"],
        ["ANGELICA", "アンジェリカ"],
    ],
)
def test_foreign_name_spellings_share_one_phonetic_key(spellings: list[str]) -> None:
    assert len({phonetic_key(s) for s in spellings}) == 1


def test_phonetic_key_keeps_different_foreign_names_apart_and_japanese_names_are_not_foreign_written() -> None:
    assert len({phonetic_key(s) for s in ("NGUYEN", "SANTOS", "LUCAS", "MARIA", "DANIEL")}) == 5
    assert is_foreign_written("NGUYEN　DUC") and is_foreign_written("グエン　ドゥック")
    assert not is_foreign_written("山田　太郎") and not is_foreign_written("山田　はると")
