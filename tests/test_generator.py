"""The sample-data generator: layouts, contracts, truth, determinism and realism.

Assertion messages carry counts and row numbers only, never names or IDs.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kodomo_pipeline.config import FeedLayout, TownConfig, load_towns
from kodomo_pipeline.generator import GenerationSummary, generate_town
from kodomo_pipeline.generator.names import FEMALE_NAMES, MALE_NAMES, STANDARD_OF, SURNAMES, VARIANT_KANJI
from kodomo_pipeline.generator.noise import dob_typo, kana_typo, long_vowel
from kodomo_pipeline.layout.values import decode_column
from kodomo_pipeline.layout.writer import export_headers

ASOF = dt.date(2025, 11, 20)
SMALL = 2000


@pytest.fixture(scope="module")
def towns() -> dict[str, TownConfig]:
    return load_towns()


def _generate(town: TownConfig, root: Path, asof: dt.date = ASOF, **kwargs: object) -> GenerationSummary:
    return generate_town(town, root / "out", root / "truth", asof, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def kawashima(towns: dict[str, TownConfig], tmp_path_factory: pytest.TempPathFactory) -> GenerationSummary:
    return _generate(
        towns["kawashima"], tmp_path_factory.mktemp("kawashima"), population=SMALL, seed=7, defect_rate=0.01
    )


@pytest.fixture(scope="module")
def misato(towns: dict[str, TownConfig], tmp_path_factory: pytest.TempPathFactory) -> GenerationSummary:
    return _generate(towns["misato"], tmp_path_factory.mktemp("misato"), population=SMALL, seed=7, defect_rate=0.01)


@pytest.fixture(params=["kawashima", "misato"])
def each_town(request: pytest.FixtureRequest, towns: dict[str, TownConfig]) -> tuple[GenerationSummary, TownConfig]:
    """Each town's generated files (the fixture of its name) with its configuration, one test per town."""
    return request.getfixturevalue(request.param), towns[request.param]


@pytest.fixture(scope="module")
def kawashima_default(towns: dict[str, TownConfig], tmp_path_factory: pytest.TempPathFactory) -> GenerationSummary:
    return _generate(towns["kawashima"], tmp_path_factory.mktemp("kawashima_default"))


def _read(path: Path, feed: FeedLayout) -> tuple[list[str], list[list[str]], str]:
    """Header, data rows and the decoded text, reading the bytes in the layout's encoding and line ends."""
    text = path.read_bytes().decode(feed.layout.encoding)
    lines = text.split(feed.layout.newline)
    while lines and lines[-1] == "":
        lines.pop()
    rows = list(csv.reader(lines))
    return rows[0], rows[1:], text


def _truth(summary: GenerationSummary, name: str) -> pd.DataFrame:
    return pd.read_csv(summary.truth_files[name], dtype=str, keep_default_na=False)


def _contract_violations(path: Path, feed: FeedLayout, pattern: str, asof: dt.date) -> dict[int, list[tuple[str, str]]]:
    """(column, reason) per 0-based data row that breaks the feed's contract, as the pipeline would judge it."""
    header, rows, _ = _read(path, feed)
    raw = pd.DataFrame(rows, columns=header, dtype=object)
    spec = feed.spec
    out: dict[int, list[tuple[str, str]]] = {}
    values: dict[str, pd.Series] = {}

    def flag(mask: np.ndarray, column: str, reason: str) -> None:
        for i in np.flatnonzero(mask):
            out.setdefault(int(i), []).append((column, reason))

    for header_name, column in feed.header_to_canonical.items():
        col = spec.columns[column]
        decoded = decode_column(raw[header_name], column, feed)
        values[column] = decoded.values
        empty = (raw[header_name].str.strip() == "").to_numpy()
        failed = decoded.failed.to_numpy()
        flag(failed, column, decoded.reason)
        if col.required:
            flag(empty, column, "missing_required")
        ok = ~failed & ~empty
        if col.type == "category":
            flag(ok & ~raw[header_name].isin(col.allowed).to_numpy(), column, "not_allowed_value")
        if col.type == "int":
            v = decoded.values.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            low = -np.inf if col.min is None else col.min
            high = np.inf if col.max is None else col.max
            flag(ok & ((v < low) | (v > high)), column, "out_of_range")
        if col.type == "resident_id":
            flag(ok & ~raw[header_name].str.fullmatch(pattern.strip("^$")).to_numpy(), column, "bad_format")
        if col.not_after_extract:
            flag(ok & (pd.to_datetime(decoded.values) > pd.Timestamp(asof)).to_numpy(), column, "after_extract")
    for check in spec.row_checks:
        a, b = values.get(check.column), values.get(check.other)
        if a is None or b is None:
            continue
        both = (a.notna() & b.notna()).to_numpy()
        broken = (a < b) if check.check == "not_before" else (a > b)
        flag(both & broken.fillna(False).to_numpy(dtype=bool), check.column, "row_check")
    if spec.unique and len(raw):
        key = pd.DataFrame({c: values[c] for c in spec.unique})
        flag((key.duplicated(keep=False) & key.notna().all(axis=1)).to_numpy(), "+".join(spec.unique), "duplicate")
    return out


# --- files and layouts -------------------------------------------------------------------------------


def test_every_file_decodes_in_its_layout(each_town: tuple[GenerationSummary, TownConfig]) -> None:
    summary, town = each_town
    assert set(summary.files) == set(town.feeds)
    for feed_name, path in summary.files.items():
        feed = town.feeds[feed_name]
        assert path.name == f"{feed_name}_{ASOF:%Y%m%d}.csv"
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf") == (feed.layout.encoding == "utf-8-sig"), feed_name
        header, rows, text = _read(path, feed)
        assert header == export_headers(feed), feed_name
        assert len(rows) == summary.rows[feed_name], feed_name
        if feed.layout.newline == "\n":
            assert "\r" not in text, feed_name
        else:
            assert text.count("\r\n") == text.count("\n"), feed_name
        assert all(len(r) == len(header) for r in rows), feed_name
        assert text.endswith(feed.layout.newline * 2) == (feed_name in summary.trailing_blank_line), feed_name


def test_some_files_carry_a_trailing_blank_line(kawashima: GenerationSummary, misato: GenerationSummary) -> None:
    total = len(kawashima.files) + len(misato.files)
    blank = len(kawashima.trailing_blank_line) + len(misato.trailing_blank_line)
    assert 0 < blank < total


def _clean_rows(summary: GenerationSummary, feed: FeedLayout) -> list[list[str]]:
    """Data rows without the planted defects."""
    _, rows, _ = _read(summary.files[feed.feed], feed)
    defects = _truth(summary, "defects")
    bad = set(defects.loc[defects["feed"] == feed.feed, "row_number"].astype(int) - 1)
    return [r for i, r in enumerate(rows) if i not in bad]


def test_layout_styles(kawashima: GenerationSummary, misato: GenerationSummary, towns: dict[str, TownConfig]) -> None:
    """和暦 and half-width kana in layout K, slashes and full-width kana in M, ISO and hiragana in S, unpadded in N."""
    k, m = towns["kawashima"].feeds, towns["misato"].feeds
    rows = _clean_rows(kawashima, k["jumin"])
    assert all(re.fullmatch(r"[MTSHR](元|\d{2})\.\d{2}\.\d{2}", r[4]) for r in rows)
    assert all(re.fullmatch(r"[\uff66-\uff9f ]+", r[3]) for r in rows)
    assert {r[5] for r in rows} == {"1", "2"}
    assert all(re.fullmatch(r"00\d{8}", r[0]) for r in rows)
    rows = _clean_rows(misato, m["jumin"])
    assert all(re.fullmatch(r"\d{4}/\d{2}/\d{2}", r[4]) for r in rows)
    assert all(re.fullmatch(r"3\d{7}", r[0]) for r in rows)
    assert all(re.fullmatch(r"[\u30a1-\u30fc]+\u3000[\u30a1-\u30fc]+", r[3]) for r in rows)
    assert {r[5] for r in rows} == {"男", "女"}
    rows = _clean_rows(kawashima, k["gakko_meibo"])
    assert all(re.fullmatch(r"[\u3041-\u309f\u30fc ]+", r[4]) for r in rows)
    assert all(" " in r[3] and "\u3000" not in r[3] for r in rows)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", r[5]) for r in rows)
    rows = _clean_rows(kawashima, k["toen"])
    assert all(re.fullmatch(r"\d{4}/\d{1,2}/\d{1,2}", r[3]) and re.fullmatch(r"\d{4}/\d{1,2}", r[6]) for r in rows)
    assert any(re.fullmatch(r"\d{4}/\d/\d{1,2}", r[3]) for r in rows)


def test_taio_kekka_is_header_only(
    kawashima: GenerationSummary, misato: GenerationSummary, towns: dict[str, TownConfig]
) -> None:
    for summary, town in ((kawashima, "kawashima"), (misato, "misato")):
        header, rows, _ = _read(summary.files["taio_kekka"], towns[town].feeds["taio_kekka"])
        assert header == ["アラートID", "検討日", "判定"] and rows == []
    assert not (_truth(kawashima, "defects")["feed"] == "taio_kekka").any()


def test_dropped_columns_hold_realistic_values(kawashima: GenerationSummary, towns: dict[str, TownConfig]) -> None:
    k = towns["kawashima"].feeds
    header, rows, _ = _read(kawashima.files["jumin"], k["jumin"])
    honseki = [r[header.index("本籍")] for r in rows]
    assert all(re.match(r"^(東京都|北海道|(京都|大阪)府|.{2,3}県)", h) for h in honseki)
    assert sum("川島町" in h for h in honseki) > len(honseki) / 4
    header, rows, _ = _read(kawashima.files["jido_soudan"], k["jido_soudan"])
    assert rows and all(4 <= len(r[header.index("相談内容")]) <= 40 for r in rows)
    header, rows, _ = _read(kawashima.files["gakko_meibo"], k["gakko_meibo"])
    assert all(re.fullmatch(r"([国数英算理社][1-5] ?){2,5}", r[header.index("成績")]) for r in rows)


# --- contracts and planted defects ----------------------------------------------------------------------


def test_rows_pass_the_contract_except_planted_defects(each_town: tuple[GenerationSummary, TownConfig]) -> None:
    summary, town = each_town
    defects = _truth(summary, "defects")
    assert len(defects) > 0
    assert set(defects["reason"]) <= {
        "unreadable_date", "unreadable_month", "not_an_integer", "unknown_code",
        "missing_required", "not_allowed_value", "out_of_range", "bad_format",
    }  # fmt: skip
    for feed_name, path in summary.files.items():
        found = _contract_violations(path, town.feeds[feed_name], town.resident_id_pattern, ASOF)
        planted = defects[defects["feed"] == feed_name]
        expected = {int(r.row_number) - 1: [(r.column, r.reason)] for r in planted.itertuples()}
        assert (planted["file"] == path.name).all()
        unexpected = sorted(set(found) - set(expected))
        assert not unexpected, f"{feed_name}: {len(unexpected)} rows break the contract, first row {unexpected[0] + 1}"
        mismatched = [i + 1 for i in expected if found.get(i) != expected[i]]
        assert not mismatched, f"{feed_name}: planted defects not found as recorded at rows {mismatched[:5]}"


def test_defect_rate_is_respected(kawashima_default: GenerationSummary) -> None:
    defects = _truth(kawashima_default, "defects")
    total = sum(kawashima_default.rows.values())
    assert len(defects) == kawashima_default.defects
    assert 0 < len(defects) < total * 0.0005 * 3
    assert not defects.duplicated(["feed", "row_number"]).any()


# --- determinism -----------------------------------------------------------------------------------


def test_same_seed_and_asof_give_identical_bytes(
    kawashima: GenerationSummary, towns: dict[str, TownConfig], tmp_path: Path
) -> None:
    again = _generate(towns["kawashima"], tmp_path, population=SMALL, seed=7, defect_rate=0.01)
    for feed, path in kawashima.files.items():
        assert path.read_bytes() == again.files[feed].read_bytes(), feed
    for name, path in kawashima.truth_files.items():
        assert path.read_bytes() == again.truth_files[name].read_bytes(), name


def test_other_seed_gives_other_people(
    kawashima: GenerationSummary, towns: dict[str, TownConfig], tmp_path: Path
) -> None:
    other = _generate(towns["kawashima"], tmp_path, population=SMALL, seed=8, defect_rate=0.01)
    assert kawashima.files["jumin"].read_bytes() != other.files["jumin"].read_bytes()


def test_later_asof_keeps_the_same_people(
    kawashima: GenerationSummary, towns: dict[str, TownConfig], tmp_path: Path
) -> None:
    later_date = ASOF + dt.timedelta(days=120)
    later = _generate(towns["kawashima"], tmp_path, asof=later_date, population=SMALL, seed=7, defect_rate=0.01)
    before = _truth(kawashima, "persons").set_index("person_uid")
    after = _truth(later, "persons").set_index("person_uid")
    common = before.index.intersection(after.index)
    columns = ["resident_id", "name_kanji", "name_kana", "birth_date", "sex"]
    changed = (before.loc[common, columns] != after.loc[common, columns]).any(axis=1)
    assert changed.sum() == 0
    births = pd.to_datetime(before["birth_date"])
    young = before[
        (before["outsider"] == "0")
        & (before["status"] == "住民")
        & (births > pd.Timestamp(ASOF) - pd.DateOffset(years=17))
    ]
    assert young.index.isin(after.index).mean() > 0.97
    new = after.index.difference(before.index)
    assert (pd.to_datetime(after.loc[new, "birth_date"]) > pd.Timestamp(ASOF)).any()
    # New months of attendance and a school record keeps its student number.
    assert later.rows["gakko_shusseki"] > kawashima.rows["gakko_shusseki"]
    links_before, links_after = _truth(kawashima, "links"), _truth(later, "links")
    both = links_before.merge(links_after, on=["feed", "source_key"], suffixes=("_a", "_b"))
    assert len(both) > 0.8 * len(links_before[links_before["feed"] == "gakko_meibo"])
    assert (both["person_uid_a"] == both["person_uid_b"]).all()


# --- truth: twins, outsiders, transfers, names ------------------------------------------------------------


def test_twins_share_household_and_birth_date(kawashima_default: GenerationSummary) -> None:
    persons = _truth(kawashima_default, "persons")
    twins = persons[persons["twin_group"] != ""]
    assert len(twins) >= 4
    groups = twins.groupby("twin_group")
    assert (groups.size() >= 2).all()
    assert (groups["household_id"].nunique() == 1).all()
    assert (groups["birth_date"].nunique() == 1).all()
    assert (groups["name_kanji"].nunique() == groups.size()).all()
    links = _truth(kawashima_default, "links")
    assert (links["is_twin"] == "1").sum() >= 2


def test_outsiders_are_in_links_without_resident_id(
    kawashima: GenerationSummary, kawashima_default: GenerationSummary
) -> None:
    for summary in (kawashima, kawashima_default):
        links = _truth(summary, "links")
        outsiders = links[links["person_uid"].str.startswith("O")]
        assert len(outsiders) > 0
        assert (outsiders["resident_id"] == "").all()
        assert (links.loc[links["person_uid"].str.startswith("P"), "resident_id"] != "").all()
        share = len(outsiders) / len(links)
        assert 0.005 < share < 0.05
    links = _truth(kawashima_default, "links")
    assert links["noise"].str.contains("namesake").any()
    persons = _truth(kawashima_default, "persons")
    assert set(links.loc[links["person_uid"].str.startswith("O"), "person_uid"]) <= set(persons["person_uid"])


def test_transfers_have_two_student_numbers_at_two_schools(
    kawashima_default: GenerationSummary, towns: dict[str, TownConfig]
) -> None:
    links = _truth(kawashima_default, "links")
    school = links[links["feed"] == "gakko_meibo"]
    per_person = school.groupby("person_uid")["source_key"].nunique()
    transferred = per_person[per_person == 2].index
    assert len(transferred) >= 2
    feed = towns["kawashima"].feeds["gakko_meibo"]
    header, rows, _ = _read(kawashima_default.files["gakko_meibo"], feed)
    school_of = {r[0]: r[header.index("学校名")] for r in rows}
    for person in transferred:
        numbers = school.loc[school["person_uid"] == person, "source_key"].tolist()
        assert school_of[numbers[0]] != school_of[numbers[1]]
    shusseki = pd.read_csv(kawashima_default.files["gakko_shusseki"], dtype=str, encoding="utf-8")
    numbers = school[school["person_uid"].isin(transferred)]["source_key"]
    assert numbers.isin(shusseki["児童生徒番号"]).mean() > 0.9


def test_names_contain_variant_kanji(kawashima_default: GenerationSummary, towns: dict[str, TownConfig]) -> None:
    feed = towns["kawashima"].feeds["jumin"]
    _, rows, _ = _read(kawashima_default.files["jumin"], feed)
    variants = set(STANDARD_OF)
    with_variant = sum(any(ch in variants for ch in r[2]) for r in rows)
    assert with_variant > len(rows) * 0.01
    links = _truth(kawashima_default, "links")
    assert links["noise"].str.contains("variant_kanji").any()


def test_name_data_is_large_and_cp932_safe() -> None:
    assert len(SURNAMES) >= 300 and len(MALE_NAMES) >= 200 and len(FEMALE_NAMES) >= 200
    assert any(len(readings) > 1 for _, readings in SURNAMES)
    text = "".join(s + "".join(r) for s, r in SURNAMES)
    text += "".join(n + "".join(r) for n, r, _ in (*MALE_NAMES, *FEMALE_NAMES))
    text += "".join("".join(v) for v in VARIANT_KANJI.values())
    text.encode("cp932")


def test_noise_rates_are_controlled(kawashima_default: GenerationSummary) -> None:
    links = _truth(kawashima_default, "links")
    tags = links["noise"].str.split(";").explode()
    n = len(links)
    for tag, high in (("kana_typo", 0.03), ("dob_off_by_one", 0.03), ("dob_swap", 0.03), ("kana_long_vowel", 0.05)):
        assert (tags == tag).sum() < n * high, tag
    assert (tags == "kana_typo").sum() > 0 and (tags == "dob_off_by_one").sum() > 0


def test_noise_helpers() -> None:
    assert long_vowel("ヤマダ\u3000ユウコ") == "ヤマダ\u3000ユーコ"
    assert long_vowel("サトウ\u3000タロウ") == "サトウ\u3000タロー"
    assert long_vowel("ヤマダ\u3000ハナ") is None
    typo = kana_typo("サトウ\u3000ハナ", 0)
    assert typo is not None and typo != "サトウ\u3000ハナ" and len(typo) == len("サトウ\u3000ハナ")
    day = (dt.date(2015, 3, 7) - dt.date(1970, 1, 1)).days
    asof = (ASOF - dt.date(1970, 1, 1)).days
    assert dob_typo(day, 0, asof) == (dt.date(2015, 7, 3) - dt.date(1970, 1, 1)).days
    assert dob_typo(day, 1, asof) == day + 1


# --- realism ------------------------------------------------------------------------------------------


def test_registry_realism(kawashima_default: GenerationSummary, towns: dict[str, TownConfig]) -> None:
    feed = towns["kawashima"].feeds["jumin"]
    header, rows, _ = _read(kawashima_default.files["jumin"], feed)
    jumin = pd.DataFrame(rows, columns=header)
    residents = (jumin["住民状態"] == "住民").sum()
    assert 0.30 < residents / towns["kawashima"].population < 0.45
    assert 0 < (jumin["住民状態"] != "住民").sum() < len(jumin) * 0.1
    rel = set(jumin["続柄"])
    assert {"世帯主", "妻", "子", "子の妻", "孫", "父", "母", "同居人"} <= rel
    assert jumin["住所"].str.contains("大字").mean() > 0.5
    assert jumin["住所"].str.startswith("埼玉県比企郡川島町").mean() > 0.99


def test_school_grades_follow_the_school_year(kawashima: GenerationSummary, towns: dict[str, TownConfig]) -> None:
    """Born 2 April … 1 April share a grade; 小1 = turned 6 by 1 April of the school year."""
    feed = towns["kawashima"].feeds["gakko_meibo"]
    header, rows, _ = _read(kawashima.files["gakko_meibo"], feed)
    links = _truth(kawashima, "links").set_index("source_key")
    persons = _truth(kawashima, "persons").set_index("person_uid")
    grades = ["小1", "小2", "小3", "小4", "小5", "小6", "中1", "中2", "中3"]
    checked = 0
    for r in rows:
        number, grade = r[0], r[header.index("学年")]
        if number not in links.index or grade not in grades or links.at[number, "noise"]:
            continue
        birth = dt.date.fromisoformat(persons.at[links.at[number, "person_uid"], "birth_date"])
        cohort = birth.year - 1 if (birth.month, birth.day) <= (4, 1) else birth.year
        school_year = ASOF.year if ASOF.month >= 4 else ASOF.year - 1
        expected = school_year - cohort - 6
        per_person = (links["person_uid"] == links.at[number, "person_uid"]).sum()
        if per_person == 1:
            assert grades.index(grade) + 1 == expected, f"row {rows.index(r) + 1}"
            checked += 1
    assert checked > 100


def test_planted_risk_share_among_children(kawashima_default: GenerationSummary) -> None:
    persons = _truth(kawashima_default, "persons")
    births = pd.to_datetime(persons["birth_date"])
    children = persons[
        (persons["outsider"] == "0")
        & (persons["status"] == "住民")
        & (births > pd.Timestamp(ASOF) - pd.DateOffset(years=18))
    ]
    planted = _truth(kawashima_default, "planted_risk")
    alerting = planted.loc[planted["subject_type"] == "child", "resident_id"].nunique()
    share = alerting / len(children)
    assert 0.02 <= share <= 0.08, f"share {share:.3f}"
    assert set(planted["difficulty_type"]) >= {"虐待", "発達障がい"}
    assert set(planted["level"]) <= {"A", "B", "C"}
    assert (planted["planted_condition"] != "incidental").mean() > 0.4


def test_planted_risk_covers_the_edge_cases(
    misato: GenerationSummary, towns: dict[str, TownConfig], tmp_path: Path
) -> None:
    bigger = _generate(towns["misato"], tmp_path, population=60_000, seed=3)
    planted = _truth(bigger, "planted_risk")
    indicators = set(planted["indicators"].str.split(";").explode())
    assert {"R01", "R03", "R05", "R06", "R07", "R12", "R13", "R17"} <= indicators
    assert (planted["subject_type"] == "expectant_mother").any()
    assert planted.loc[planted["indicators"].str.contains("R13"), "level"].eq("A").all()
    assert (planted["known_case"] == "1").any()
    labels = set(planted["planted_condition"].str.split(";").explode())
    assert {"teen_mother", "late_notification", "edge:weeks_20"} <= labels


def test_summary_has_counts_and_paths_only(kawashima: GenerationSummary) -> None:
    assert kawashima.town == "kawashima" and kawashima.asof == ASOF
    assert all(isinstance(v, int) for v in kawashima.rows.values())
    assert all(p.exists() for p in (*kawashima.files.values(), *kawashima.truth_files.values()))
    assert set(kawashima.truth_files) == {"links", "persons", "planted_risk", "planted_facts", "defects"}


def test_school_addresses_are_typed_differently(
    kawashima_default: GenerationSummary, towns: dict[str, TownConfig]
) -> None:
    feed = towns["kawashima"].feeds["gakko_meibo"]
    rows = _clean_rows(kawashima_default, feed)
    header = export_headers(feed)
    addresses = [r[header.index("住所")] for r in rows]
    assert any(re.search(r"\d+-\d+", a) for a in addresses)
    assert any(a.startswith("川島町") and "大字" not in a for a in addresses)
    assert all(not re.search(r"[０-９]", a) for a in addresses)


def test_a_town_without_known_geography_gets_generic_places(tmp_path: Path) -> None:
    """A third town is one more file: generic 大字 names, IDs of its own width."""
    from kodomo_pipeline.config import load_town
    from kodomo_pipeline.config.paths import config_root

    resources = config_root() / "resources"
    (tmp_path / "systems").mkdir()
    (tmp_path / "towns").mkdir()
    for system in (resources / "systems").glob("*.yaml"):
        (tmp_path / "systems" / system.name).write_text(system.read_text(encoding="utf-8"), encoding="utf-8")
    text = (resources / "towns" / "misato.yaml").read_text(encoding="utf-8")
    text = text.replace("town: misato", "town: yutaka").replace("name_ja: 美里町", "name_ja: 豊町")
    text = re.sub(r"resident_id_pattern: .*", "resident_id_pattern: '^[0-9]{9}$'", text)
    (tmp_path / "towns" / "yutaka.yaml").write_text(text, encoding="utf-8")
    town = load_town(tmp_path / "towns" / "yutaka.yaml")
    summary = _generate(town, tmp_path / "gen", population=1500, seed=1)
    rows = _clean_rows(summary, town.feeds["jumin"])
    assert rows and all(re.fullmatch(r"\d{9}", r[0]) for r in rows)
    assert all("豊町" in r[7] for r in rows)
    assert not any("美里町" in r[7] for r in rows)


def test_asof_outside_the_timeline_is_refused(towns: dict[str, TownConfig], tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        _generate(towns["kawashima"], tmp_path, asof=dt.date(1990, 1, 1), population=SMALL)
