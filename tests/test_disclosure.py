"""Disclosure profiles: each export holds exactly its profile's columns and only the children it may see.

The town database is built the real way (generated exports ingested and validated, registry persons, 名寄せ);
the `alerts` table is written by hand per the contract (/work/contract/alerts_tables.md), with a suppressed
alert, a child with two alerts, an expectant mother and a subject not in the registry. Assertions compare
counts and booleans: no personal value is ever printed by a failing test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from kodomo_pipeline.config import TownConfig, load_towns
from kodomo_pipeline.config.errors import ConfigError
from kodomo_pipeline.exports.disclosure import export_disclosures
from kodomo_pipeline.generator import generate_town
from kodomo_pipeline.ingest.steps import TownPaths, ingest_raw, validate_feed
from kodomo_pipeline.linkage.assign import Bands
from kodomo_pipeline.linkage.crosswalk import run_linkage
from kodomo_pipeline.privacy.services.profiles import DIRECT_IDENTIFIERS, WATCH, load_profile, load_profiles
from kodomo_pipeline.privacy.services.pseudonym import (
    CONTEXT,
    PSEUDONYM_HEX,
    PseudonymKeyError,
    env_var,
    key_path,
    load_key,
)
from kodomo_pipeline.sqlmodels.registry import build_registry
from kodomo_pipeline.storage.town_db import open_town_db

ASOF = dt.date(2026, 11, 26)
TOWN = "kawashima"
ALERT_COLUMNS = """alert_id VARCHAR, subject_resident_id VARCHAR, subject_type VARCHAR, difficulty_type VARCHAR,
    type_code VARCHAR, level VARCHAR, score INTEGER, indicators VARCHAR, not_linked VARCHAR, known_case INTEGER,
    change VARCHAR, rule_set_version VARCHAR, as_of DATE, suppressed BOOLEAN, economic_only BOOLEAN"""
TYPES = {"AB": "虐待", "PP": "産後うつ", "DD": "発達障がい"}


def _alert(number: int, resident: str | None, subject_type: str, code: str, level: str, suppressed: bool = False):
    score = {"A": 12, "B": 8, "C": 5}[level] + number % 3
    return [f"AL-T{number:04d}", resident, subject_type, TYPES[code], code, level, score, "R05;R10", "", 0,
            "新規", "v1+test", ASOF, suppressed, False]  # fmt: skip


def _enrolled(
    con: duckdb.DuckDBPyConnection, feed: str, current: bool = True, unique: bool = True
) -> list[tuple[str, str]]:
    """(resident, facility or school) of matched records, one per resident, from the stored tables.

    `current`: nursery records of each nursery's latest month only (a child who left is not enrolled).
    """
    if feed == "toen":
        latest = "AND t.month = (SELECT max(month) FROM valid_toen WHERE facility = t.facility)" if current else ""
        sql = f"""SELECT DISTINCT c.resident_id, t.facility FROM crosswalk c JOIN valid_toen t
                  ON c.source_key = t.facility || ':' || t.pupil_no
                  WHERE c.feed = 'toen' AND c.status = 'matched' {latest}"""
    else:
        sql = """SELECT DISTINCT c.resident_id, g.school FROM crosswalk c JOIN valid_gakko_meibo g
                 ON c.source_key = g.student_no WHERE c.feed = 'gakko_meibo' AND c.status = 'matched'"""
    rows = con.execute(sql + " ORDER BY 2, 1").fetchall()
    counts = pd.Series([r for r, _ in rows], dtype=object).value_counts()
    return [(r, unit) for r, unit in rows if counts[r] == 1 or not unique]  # unique: at one place only


def build_town_database(root: Path, town: TownConfig, asof: dt.date = ASOF) -> Path:
    """A town database at its configured place under `root`: real ingest and linkage, hand-made alerts."""
    inbox = root / "inbox" / town.town
    generate_town(town, inbox, root / "truth" / town.town, asof, 2000, seed=5)
    database = town.database(root)
    database.parent.mkdir(parents=True, exist_ok=True)
    with open_town_db(database) as con:
        paths = TownPaths.for_town(town, root, inbox)
        for feed in town.feeds:
            ingest_raw(con, town, feed, paths, "test-run", asof)
            validate_feed(con, town, feed, "test-run")
        build_registry(con, asof)
        run_linkage(con, asof, "test-run", Bands())
        nursery = _enrolled(con, "toen")
        everyone_enrolled = {r for r, _ in _enrolled(con, "toen", current=False, unique=False)}
        left = sorted(everyone_enrolled - {r for r, _ in _enrolled(con, "toen", unique=False)})
        school = _enrolled(con, "gakko_meibo")
        taken = everyone_enrolled | {r for r, _ in school}
        other_child = con.execute(
            "SELECT resident_id FROM persons WHERE age BETWEEN 0 AND 17 ORDER BY resident_id"
        ).fetchall()
        other_child = next(r for (r,) in other_child if r not in taken)
        mother = con.execute(
            "SELECT resident_id FROM persons WHERE sex = '女' AND age BETWEEN 20 AND 40 ORDER BY resident_id LIMIT 1"
        ).fetchall()[0][0]
        rows = [
            _alert(1, nursery[0][0], "child", "AB", "A"),
            _alert(2, nursery[0][0], "child", "DD", "C"),  # the same child, a second type: one row per subject
            _alert(3, nursery[1][0], "child", "AB", "B"),
            _alert(4, nursery[-1][0], "child", "DD", "B"),
            _alert(5, nursery[2][0], "child", "AB", "A", suppressed=True),  # 対応不要 in force: never exported
            _alert(6, school[0][0], "child", "AB", "B"),
            _alert(7, school[1][0], "child", "DD", "C"),
            _alert(8, school[-1][0], "child", "AB", "A"),
            _alert(9, school[2][0], "child", "DD", "A", suppressed=True),
            _alert(10, other_child, "child", "AB", "C"),  # enrolled nowhere: meeting and analyst only
            _alert(11, mother, "expectant_mother", "PP", "B"),
            _alert(12, None, "child", "AB", "C"),  # not linked to the registry
            _alert(13, left[0], "child", "AB", "B"),  # left the nursery before T: no nursery file
        ]
        con.execute(f"CREATE OR REPLACE TABLE alerts ({ALERT_COLUMNS})")
        con.executemany(f"INSERT INTO alerts VALUES ({', '.join('?' * 15)})", rows)
    return database


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


@pytest.fixture(scope="module")
def town() -> TownConfig:
    return load_towns()[TOWN]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, town: TownConfig) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("disclosure") / "data"
    build_town_database(root, town)
    patch = pytest.MonkeyPatch()
    patch.delenv(env_var(TOWN), raising=False)
    try:
        with open_town_db(town.database(root)) as con:
            result = export_disclosures(con, town, ASOF, root / "out" / TOWN, root)
        assert result.key_source == "key file" and result.key_notice is not None
        yield root
    finally:
        patch.undo()


class Facts(dict):
    """The expected contents; shown as a bare name in tracebacks, which must not print personal values."""

    def __repr__(self) -> str:
        return "Facts(...)"


@pytest.fixture(scope="module")
def facts(root: Path, town: TownConfig) -> Facts:
    """What the exports should contain, computed from the database independently of the exporter."""
    with duckdb.connect(str(town.database(root)), read_only=True) as con:
        alerts = con.execute("SELECT alert_id, subject_resident_id, suppressed FROM alerts").fetchall()
        persons = {
            r[0]: {"name_kanji": r[1], "name_kana": r[2]}
            for r in con.execute("SELECT resident_id, name_kanji, name_kana FROM persons").fetchall()
        }
        nursery = dict(_enrolled(con, "toen"))
        school = dict(_enrolled(con, "gakko_meibo"))
        facilities = {r[0] for r in con.execute("SELECT DISTINCT facility FROM valid_toen").fetchall()}
        schools = {r[0] for r in con.execute("SELECT DISTINCT school FROM valid_gakko_meibo").fetchall()}
        identifiers = {r[0] for r in con.execute("SELECT resident_id FROM valid_jumin").fetchall()}
    watched = {resident for _, resident, suppressed in alerts if resident and not suppressed}
    return Facts(
        {
            "alerts": alerts,
            "persons": persons,
            "nursery": {r: unit for r, unit in nursery.items() if r in watched},
            "school": {r: unit for r, unit in school.items() if r in watched},
            "facilities": facilities,
            "schools": schools,
            "identifiers": identifiers,
            "suppressed": {a for a, _, s in alerts if s},
        }
    )


def _folder(root: Path, profile: str) -> Path:
    return root / "out" / TOWN / "disclosure" / profile


def test_profiles_load_and_ship_as_data() -> None:
    profiles = load_profiles()
    assert set(profiles) == {"meeting", "nursery", "school", "analyst"}
    assert not profiles["analyst"].identified and profiles["analyst"].pseudonymised
    assert profiles["nursery"].split_by == "facility" and profiles["school"].split_by == "school"


def test_meeting_gets_every_alert_in_force_with_names(root: Path, facts: Facts) -> None:
    profile = load_profiles()["meeting"]
    frame = _read(_folder(root, "meeting") / f"meeting_{ASOF:%Y%m%d}.csv")
    assert list(frame.columns) == profile.header_names
    in_force = {a for a, _, s in facts["alerts"] if not s}
    exact = set(frame["alert_id"]) == in_force and len(frame) == len(in_force)
    assert exact
    assert not set(frame["alert_id"]) & facts["suppressed"]
    assert list(frame["level"]) == sorted(frame["level"])  # A before B before C
    linked = frame[frame["subject_resident_id"] != ""]
    names_right = all(
        facts["persons"][r]["name_kanji"] == n
        for r, n in zip(linked["subject_resident_id"], linked["name_kanji"], strict=True)
    )
    assert names_right
    assert (frame.loc[frame["subject_resident_id"] == "", "name_kanji"] == "").all()


@pytest.mark.parametrize(
    ("profile_name", "kind", "units"), [("nursery", "nursery", "facilities"), ("school", "school", "schools")]
)
def test_each_facility_gets_only_its_own_watched_children(
    root: Path, facts: Facts, profile_name: str, kind: str, units: str
) -> None:
    profile = load_profiles()[profile_name]
    folder = _folder(root, profile_name)
    files = sorted(folder.glob(f"*_{ASOF:%Y%m%d}.csv"))
    assert len(files) == len(facts[units])  # one per nursery / school, even when nobody there is under watch
    unit_label = profile.header_names[0]
    seen_total = 0
    for path in files:
        frame = _read(path)
        assert list(frame.columns) == profile.header_names, path.name
        forbidden = {"difficulty_type", "level", "score", "indicators", "困難の類型", "レベル", "点数", "該当指標"}
        assert not forbidden & set(frame.columns)
        units_in_file = set(frame[unit_label])
        assert len(units_in_file) <= 1, path.name
        if frame.empty:
            continue
        unit = units_in_file.pop()
        expected = {
            (facts["persons"][r]["name_kanji"], facts["persons"][r]["name_kana"])
            for r, at in facts[kind].items()
            if at == unit
        }
        got = set(zip(frame["氏名"], frame["氏名カナ"], strict=True))
        exact = got == expected and len(frame) == len(expected)  # once per child, even with two alerts
        assert exact, f"{path.name}: {len(got)} children listed, {len(expected)} expected"
        assert (frame["依頼内容"] == WATCH).all() and (frame["連絡先"] == profile.contact_department).all()
        seen_total += len(frame)
    expected_total = len(facts[kind])
    assert seen_total == expected_total > 0


def test_suppressed_and_unenrolled_children_reach_no_facility(root: Path, facts: Facts) -> None:
    listed: set[tuple[str, str]] = set()
    for profile in ("nursery", "school"):
        for path in _folder(root, profile).glob(f"*_{ASOF:%Y%m%d}.csv"):
            frame = _read(path)
            listed |= set(zip(frame["氏名"], frame["氏名カナ"], strict=True))
    watched = set(facts["nursery"]) | set(facts["school"])
    others = {r for _, r, _ in facts["alerts"] if r and r not in watched}  # suppressed, left, unenrolled, mother
    leaked = sum(1 for r in others if (facts["persons"][r]["name_kanji"], facts["persons"][r]["name_kana"]) in listed)
    checked = len(others)
    assert checked >= 4 and leaked == 0


def test_analyst_gets_pseudonyms_not_identities(root: Path, facts: Facts) -> None:
    profile = load_profiles()["analyst"]
    path = _folder(root, "analyst") / f"analyst_{ASOF:%Y%m%d}.csv"
    frame = _read(path)
    assert list(frame.columns) == profile.header_names
    assert not set(DIRECT_IDENTIFIERS) & set(frame.columns)
    assert len(frame) == sum(1 for _, _, s in facts["alerts"] if not s)
    text = path.read_text(encoding="utf-8-sig")
    ids_in_file = sum(1 for resident in facts["identifiers"] if resident in text)
    names_in_file = sum(1 for p in facts["persons"].values() if p["name_kanji"] and p["name_kanji"] in text)
    assert ids_in_file == 0 and names_in_file == 0
    assert frame["birth_year_month"].str.fullmatch(r"(\d{4}-\d{2})?").all()
    secret = key_path(TOWN, root).read_text(encoding="ascii").strip().encode("ascii")
    expected = {
        hmac.new(secret, CONTEXT + r.encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]
        for _, r, s in facts["alerts"]
        if r and not s
    }
    same = set(frame["subject_pseudonym"]) - {""} == expected
    assert same
    assert (frame["subject_pseudonym"] == "").sum() == 1  # the subject not in the registry has none


def test_analyst_small_groups_are_reported(root: Path) -> None:
    profile = load_profiles()["analyst"]
    assert profile.small_groups is not None
    small = _read(_folder(root, "analyst") / f"small_groups_{ASOF:%Y%m%d}.csv")
    assert list(small.columns) == [*profile.small_groups.by, "subjects"]
    assert len(small) > 0 and (small["subjects"].astype(int) < profile.small_groups.k).all()


def test_key_file_is_owner_only_and_pseudonyms_are_stable_per_secret(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = key_path(TOWN, root)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    secret = path.read_text(encoding="ascii").strip()
    key = load_key(TOWN, root)
    assert not key.created and key.announcement is None  # the second use reads the same file
    assert secret not in repr(key) and secret not in str(key)
    fresh = load_key(TOWN, tmp_path)
    assert fresh.created and fresh.announcement is not None
    assert fresh.location in fresh.announcement
    assert fresh.pseudonym("0000012345") != key.pseudonym("0000012345")  # another secret, another pseudonym
    assert key.pseudonym("0000012345") == load_key(TOWN, root).pseudonym("0000012345")
    monkeypatch.setenv(env_var(TOWN), "x" * 40)
    from_env = load_key(TOWN, root)
    assert from_env.source == "environment" and from_env.pseudonym("1") != key.pseudonym("1")
    assert from_env.pseudonym("1") == load_key(TOWN, tmp_path).pseudonym("1")  # the env wins over any key file
    assert load_key("misato", tmp_path).pseudonym("1") != from_env.pseudonym("1")  # per town


def test_unusable_keys_are_refused_without_showing_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env_var(TOWN), "short-secret")
    with pytest.raises(PseudonymKeyError) as too_short:
        load_key(TOWN, tmp_path)
    assert "short-secret" not in str(too_short.value) and env_var(TOWN) in str(too_short.value)
    monkeypatch.delenv(env_var(TOWN))
    path = key_path(TOWN, tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("a" * 64, encoding="ascii")
    os.chmod(path, 0o644)
    with pytest.raises(PseudonymKeyError) as readable:
        load_key(TOWN, tmp_path)
    assert "chmod 600" in str(readable.value) and "a" * 64 not in str(readable.value)


def test_every_file_is_in_the_access_log_and_the_manifest_has_counts_only(
    root: Path, town: TownConfig, facts: Facts
) -> None:
    written = sorted(p.name for p in (root / "out" / TOWN / "disclosure").rglob(f"*_{ASOF:%Y%m%d}.csv"))
    with duckdb.connect(str(town.database(root)), read_only=True) as con:
        whats = [r[0] for r in con.execute("SELECT what FROM access_log").fetchall()]
    logged = sorted(what.split("/")[2].split(" ")[0] for what in whats if what.startswith("disclosure/"))
    same = logged == written
    assert same
    names_logged = sum(1 for p in facts["persons"].values() for w in whats if p["name_kanji"] in w)
    assert names_logged == 0
    manifest = json.loads((root / "out" / TOWN / "disclosure" / f"manifest_{ASOF:%Y%m%d}.json").read_text("utf-8"))
    assert manifest["key_source"] == "key file"
    assert manifest["profiles"]["nursery"]["subjects"] == len(facts["nursery"])
    assert manifest["profiles"]["school"]["subjects"] == len(facts["school"])
    text = json.dumps(manifest, ensure_ascii=False)
    assert sum(1 for r in facts["identifiers"] if r in text) == 0


def test_a_second_export_replaces_the_files_and_keeps_pseudonyms(root: Path, town: TownConfig) -> None:
    before = _read(_folder(root, "analyst") / f"analyst_{ASOF:%Y%m%d}.csv")
    with open_town_db(town.database(root)) as con:
        result = export_disclosures(con, town, ASOF, root / "out" / TOWN, root)
    assert result.key_notice is None
    after = _read(_folder(root, "analyst") / f"analyst_{ASOF:%Y%m%d}.csv")
    assert before.equals(after)


def _profile_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = """profile: {name}
title_ja: テスト
recipient: テスト
purpose: a purpose long enough to pass
legal_basis: a legal basis note
identified: {identified}
contact_department: 子育て支援課
split_by: null
header: name
one_row_per: {per}
subjects: {{levels: [A], subject_types: [child], enrolled_in: null}}
columns:
{columns}
"""


@pytest.mark.parametrize(
    ("identified", "per", "columns", "key"),
    [
        ("false", "alert", "  - {column: name_kanji, label: 氏名}", "columns.0.column"),
        ("false", "alert", "  - {column: birth_date, label: 生年月日}", "columns.0.column"),
        ("true", "subject", "  - {column: difficulty_type, label: 類型}", "columns.0.column"),
        ("true", "alert", "  - {column: level, label: レ}\n  - {column: shoe_size, label: 靴}", "columns.1.column"),
        ("true", "alert", "  - {column: facility, label: 園}", "columns.0.column"),
        ("true", "alert", "  - {column: pid, label: 仮名, from: name_kanji, rule: pseudonymise}", "columns.0.from"),
        ("true", "alert", "  - {column: level, label: レ, rule: obfuscate}", "columns.0.rule"),
    ],
)
def test_a_profile_that_would_disclose_too_much_is_refused_naming_file_and_key(
    tmp_path: Path, identified: str, per: str, columns: str, key: str
) -> None:
    path = _profile_file(tmp_path, "p", BASE.format(name="p", identified=identified, per=per, columns=columns))
    with pytest.raises(ConfigError) as error:
        load_profile(path)
    assert error.value.path == path and error.value.key == key


def test_a_profile_named_unlike_its_file_is_refused(tmp_path: Path) -> None:
    text = BASE.format(name="other", identified="true", per="alert", columns="  - {column: level, label: レ}")
    with pytest.raises(ConfigError) as error:
        load_profile(_profile_file(tmp_path, "p", text))
    assert error.value.key == "profile"
