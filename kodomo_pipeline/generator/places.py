"""Places per town: 大字 and 丁目 areas, addresses as the registry and the school system write them, schools, nurseries.

Address matching is one of the linkage signals, and the two systems write the
same address differently (the registry: `大字上伊草１２３番地４`; the school:
`川島町上伊草123-4`), so components are kept apart and formatted per system.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kodomo_pipeline.generator.rng import Rng

_FULLWIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
_KANJI_NUM = ("〇", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十")


@dataclass(frozen=True)
class TownPlaces:
    """The geography the generator needs for one town."""

    pref_city: str  # 埼玉県比企郡川島町
    city: str  # 川島町 (what the school system starts an address with)
    county_city: str  # 比企郡川島町
    oaza: tuple[str, ...]  # 大字 areas (rural lots: 番地)
    chome_areas: tuple[str, ...]  # 住居表示 areas (丁目・番・号)
    elementary: tuple[str, ...]
    junior_high: tuple[str, ...]
    nurseries: tuple[str, ...]
    neighbours: tuple[str, ...]  # neighbouring municipalities (prefecture + city)


_KAWASHIMA = TownPlaces(
    pref_city="埼玉県比企郡川島町",
    city="川島町",
    county_city="比企郡川島町",
    oaza=(
        "上伊草",
        "下伊草",
        "伊草",
        "中山",
        "表",
        "飯島",
        "平沼",
        "下八ツ林",
        "上八ツ林",
        "牛ケ谷戸",
        "鳥羽井",
        "鳥羽井新田",
        "吹塚",
        "畑中",
        "長楽",
        "谷中",
        "三保谷宿",
        "白井沼",
        "山ケ谷戸",
        "上狢",
        "紫竹",
        "八幡",
        "正直",
        "出丸本",
        "出丸中郷",
        "出丸下郷",
        "東野",
        "芝沼",
        "曲師",
        "一本木",
        "戸守",
        "松永",
        "虫塚",
        "梅ノ木",
        "角泉",
        "上大屋敷",
        "下大屋敷",
        "安塚",
    ),
    chome_areas=("かわじま",),
    elementary=(
        "川島町立中山小学校",
        "川島町立伊草小学校",
        "川島町立三保谷小学校",
        "川島町立出丸小学校",
        "川島町立八ツ保小学校",
        "川島町立小見野小学校",
    ),
    junior_high=("川島町立川島中学校", "川島町立西中学校"),
    nurseries=(
        "川島町立中山保育園",
        "川島町立伊草保育園",
        "こども園かわじま",
        "みどり保育園",
        "ひまわり保育園",
        "すみれ幼稚園",
        "さくら保育園",
        "あおぞら保育園",
    ),
    neighbours=(
        "埼玉県川越市",
        "埼玉県東松山市",
        "埼玉県坂戸市",
        "埼玉県桶川市",
        "埼玉県北本市",
        "埼玉県比企郡吉見町",
        "埼玉県上尾市",
    ),
)

_MISATO = TownPlaces(
    pref_city="埼玉県児玉郡美里町",
    city="美里町",
    county_city="児玉郡美里町",
    oaza=(
        "阿那志",
        "沼上",
        "広木",
        "甘粕",
        "木部",
        "古郡",
        "猪俣",
        "小茂田",
        "白石",
        "円良田",
        "関",
        "中里",
        "下児玉",
        "根木",
        "北十条",
        "南十条",
        "駒衣",
        "小栗",
    ),
    chome_areas=(),
    elementary=("美里町立東児玉小学校", "美里町立松久小学校", "美里町立大沢小学校"),
    junior_high=("美里町立美里中学校",),
    nurseries=("美里町立みさと保育園", "松久保育園", "こども園ひろき", "わかば保育園"),
    neighbours=(
        "埼玉県本庄市",
        "埼玉県深谷市",
        "埼玉県児玉郡神川町",
        "埼玉県児玉郡上里町",
        "埼玉県大里郡寄居町",
        "埼玉県秩父郡長瀞町",
    ),
)

_GENERIC_OAZA = (
    "本郷",
    "新田",
    "中島",
    "上町",
    "下町",
    "東原",
    "西原",
    "北野",
    "南野",
    "大塚",
    "宮下",
    "水口",
    "高畑",
    "石原",
    "柳原",
    "堀之内",
    "蓮沼",
    "久保田",
    "松原",
    "前原",
)

# 本籍 (registered domicile) candidates outside the town: prefecture + city + area.
HONSEKI_ELSEWHERE: tuple[str, ...] = (
    "東京都練馬区豊玉北",
    "東京都板橋区常盤台",
    "東京都足立区梅島",
    "東京都世田谷区桜新町",
    "群馬県高崎市石原町",
    "栃木県宇都宮市今泉",
    "茨城県水戸市見和",
    "千葉県松戸市小金",
    "神奈川県横浜市港北区日吉",
    "新潟県長岡市東坂之上町",
    "福島県郡山市富田町",
    "長野県長野市若里",
    "大阪府大阪市北区天満",
    "北海道札幌市中央区北一条西",
    "宮城県仙台市青葉区上杉",
    "静岡県浜松市中央区元城町",
    "愛知県名古屋市中区丸の内",
    "福岡県福岡市博多区東公園",
    "山形県山形市旅篭町",
    "岩手県盛岡市内丸",
    "埼玉県さいたま市浦和区高砂",
    "埼玉県熊谷市宮町",
    "埼玉県所沢市並木",
    "埼玉県春日部市中央",
)

BUILDINGS: tuple[str, ...] = (
    "コーポ青葉",
    "ハイツさくら",
    "グリーンハイツ",
    "メゾン・ド・ソレイユ",
    "サンライズ",
    "パークサイド",
    "ひばりが丘団地",
    "エステート南",
    "ファミールみどり",
    "レジデンス東",
)


def town_places(town: str, name_ja: str, prefecture: str | None) -> TownPlaces:
    """The known geography of kawashima and misato; any other town gets generic 大字 and schools."""
    if town == "kawashima":
        return _KAWASHIMA
    if town == "misato":
        return _MISATO
    pref = prefecture or ""
    short = name_ja.replace("町", "").replace("村", "").replace("市", "")
    return TownPlaces(
        pref_city=f"{pref}{name_ja}",
        city=name_ja,
        county_city=name_ja,
        oaza=_GENERIC_OAZA,
        chome_areas=("中央",),
        elementary=tuple(f"{name_ja}立第{_KANJI_NUM[i]}小学校" for i in range(1, 5)),
        junior_high=(f"{name_ja}立{short}中学校",),
        nurseries=(f"{name_ja}立{short}保育園", "ひかり保育園", "わかば保育園"),
        neighbours=(f"{pref}隣町", f"{pref}西市"),
    )


def scaled_names(base: tuple[str, ...], needed: int, pattern: str) -> tuple[str, ...]:
    """The real list, extended with `pattern.format(n)` names when a large population needs more."""
    names = list(base)
    n = len(names) + 1
    while len(names) < needed:
        names.append(pattern.format(n))
        n += 1
    return tuple(names)


def kanji_number(n: int) -> str:
    """1–99 as kanji numerals, as 丁目 are written in the registry."""
    if n <= 10:
        return _KANJI_NUM[n]
    tens, ones = divmod(n, 10)
    return (_KANJI_NUM[tens] if tens > 1 else "") + "十" + (_KANJI_NUM[ones] if ones else "")


@dataclass(frozen=True)
class Addresses:
    """Address components per household (one row per household and address generation)."""

    area: np.ndarray  # index into oaza (0..n_oaza-1) or n_oaza + chome area index
    chome: np.ndarray  # 丁目 (0 for 大字 lots)
    ban: np.ndarray  # 番地 / 番
    go: np.ndarray  # 枝番 / 号 (0 = none)
    building: np.ndarray  # index into BUILDINGS, -1 = house
    room: np.ndarray


def draw_addresses(rng: Rng, tag: str, places: TownPlaces, keys: np.ndarray) -> Addresses:
    """Random address components, one per key."""
    n_oaza = len(places.oaza)
    n_chome = len(places.chome_areas)
    weights = np.concatenate([np.linspace(1.6, 0.6, n_oaza), np.full(n_chome, 2.5)])
    area = rng.choice(tag + ":area", weights, keys)
    is_chome = area >= n_oaza
    chome = np.where(is_chome, rng.integers(tag + ":chome", 1, 4, keys), 0)
    ban = np.where(is_chome, rng.integers(tag + ":ban_c", 1, 31, keys), rng.integers(tag + ":ban", 1, 2400, keys))
    has_go = is_chome | (rng.uniform(tag + ":has_go", keys) < 0.4)
    go = np.where(has_go, rng.integers(tag + ":go", 1, 26, keys), 0)
    in_building = rng.uniform(tag + ":bld", keys) < np.where(is_chome, 0.35, 0.08)
    building = np.where(in_building, rng.integers(tag + ":bldi", 0, len(BUILDINGS), keys), -1)
    room = rng.integers(tag + ":room", 1, 4, keys) * 100 + rng.integers(tag + ":room2", 1, 9, keys)
    return Addresses(area, chome, ban, go, building, room)


def relocated(rng: Rng, places: TownPlaces, old: Addresses, new: Addresses, keys: np.ndarray) -> Addresses:
    """The address after a move within the town: an area across town (so usually another school district)."""
    n_oaza = len(places.oaza)
    n_area = n_oaza + len(places.chome_areas)
    area = (old.area + n_area // 2 + rng.integers("addr_shift", 0, max(1, n_area // 4), keys)) % n_area
    chome_area = area >= n_oaza
    return Addresses(
        area=area,
        chome=np.where(chome_area, np.maximum(new.chome, 1), 0),
        ban=new.ban % np.where(chome_area, 30, 2399) + 1,
        go=np.where(chome_area, np.maximum(new.go, 1), new.go),
        building=new.building,
        room=new.room,
    )


def registry_address(places: TownPlaces, a: Addresses, idx: np.ndarray) -> np.ndarray:
    """As 住基 writes it: `埼玉県比企郡川島町大字上伊草１２３番地４　コーポ青葉１０２`."""
    n_oaza = len(places.oaza)
    out = np.empty(len(idx), dtype=object)
    for j, i in enumerate(idx):
        area = int(a.area[i])
        if area >= n_oaza:
            text = (
                f"{places.pref_city}{places.chome_areas[area - n_oaza]}{kanji_number(int(a.chome[i]))}丁目"
                f"{a.ban[i]}番{a.go[i]}号"
            )
        else:
            text = f"{places.pref_city}大字{places.oaza[area]}{a.ban[i]}番地" + (f"{a.go[i]}" if a.go[i] else "")
        if a.building[i] >= 0:
            text += f"\u3000{BUILDINGS[int(a.building[i])]}{a.room[i]}"
        out[j] = text.translate(_FULLWIDTH_DIGITS)
    return out


def school_address(places: TownPlaces, a: Addresses, idx: np.ndarray, style: np.ndarray) -> np.ndarray:
    """As the school system's staff type it: arabic digits, hyphens, often no 大字 or prefecture (style 0–3)."""
    n_oaza = len(places.oaza)
    out = np.empty(len(idx), dtype=object)
    for j, i in enumerate(idx):
        area, s = int(a.area[i]), int(style[j])
        building = f" {BUILDINGS[int(a.building[i])]}{a.room[i]}" if a.building[i] >= 0 and s != 1 else ""
        if area >= n_oaza:
            name = places.chome_areas[area - n_oaza]
            body = (
                f"{name}{a.chome[i]}-{a.ban[i]}-{a.go[i]}",
                f"{name}{a.chome[i]}丁目{a.ban[i]}-{a.go[i]}",
                f"{name}{kanji_number(int(a.chome[i]))}丁目{a.ban[i]}番{a.go[i]}号",
                f"{name}{a.chome[i]}-{a.ban[i]}-{a.go[i]}",
            )[s]
        else:
            lot = f"{a.ban[i]}-{a.go[i]}" if a.go[i] else f"{a.ban[i]}"
            oaza = places.oaza[area]
            body = (
                f"{oaza}{lot}",
                f"大字{oaza}{lot}",
                f"大字{oaza}{a.ban[i]}番地" + (f"{a.go[i]}" if a.go[i] else ""),
                f"{oaza}{a.ban[i]}番地" + (f"の{a.go[i]}" if a.go[i] else ""),
            )[s]
        prefix = (places.city, places.city, places.pref_city, places.county_city)[s]
        out[j] = f"{prefix}{body}{building}"
    return out


def elsewhere_address(rng: Rng, tag: str, towns: tuple[str, ...], keys: np.ndarray, *, registry: bool) -> np.ndarray:
    """An address in another municipality (outsiders' homes, 本籍)."""
    town_i = rng.integers(tag + ":town", 0, len(towns), keys)
    area_i = rng.integers(tag + ":area", 0, len(_GENERIC_OAZA), keys)
    ban = rng.integers(tag + ":ban", 1, 1800, keys)
    go = rng.integers(tag + ":go", 0, 20, keys)
    out = np.empty(len(keys), dtype=object)
    for j in range(len(keys)):
        lot = (
            f"{ban[j]}番地" + (f"{go[j]}" if go[j] else "")
            if registry
            else f"{ban[j]}" + (f"-{go[j]}" if go[j] else "")
        )
        text = f"{towns[town_i[j]]}{_GENERIC_OAZA[area_i[j]]}{lot}"
        out[j] = text.translate(_FULLWIDTH_DIGITS) if registry else text
    return out


def school_index(places: TownPlaces, a: Addresses, idx: np.ndarray, n_schools: int) -> np.ndarray:
    """School district of an address: contiguous blocks of (area, lot range), so neighbours share a school."""
    n_area = len(places.oaza) + len(places.chome_areas)
    district = a.area[idx] * 32 + np.minimum(a.ban[idx] // 80, 31)
    return (district * n_schools // (n_area * 32)).astype(np.int64)
