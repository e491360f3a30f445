"""The privacy review report: every feed's purpose, columns, drops, counts, linkage, disclosure and retention,
self-contained, with no personal value in it; and both privacy assets through Dagster with counts-only metadata."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, materialize
from markupsafe import escape

from kodomo_pipeline.config import TownConfig
from kodomo_pipeline.orchestration.privacy_assets import build_privacy_assets
from kodomo_pipeline.orchestration.resource import KodomoResource
from kodomo_pipeline.privacy.reports.review_report import build_privacy_report, report_path
from kodomo_pipeline.privacy.services.leak_guard import scan
from kodomo_pipeline.privacy.services.profiles import load_profiles
from kodomo_pipeline.privacy.services.pseudonym import env_var
from kodomo_pipeline.storage.town_db import open_town_db
from tests.test_disclosure import ASOF, TOWN, build_town_database
from tests.test_disclosure import town as town  # the same module-scoped fixture (pytest finds it by name)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, town: TownConfig) -> Iterator[Path]:
    """A built town, an old toen snapshot past retention and one purge on record, then both assets run."""
    root = tmp_path_factory.mktemp("privacy") / "data"
    database = build_town_database(root, town)
    with open_town_db(database) as con:
        con.execute(
            """INSERT INTO ingested_files SELECT 'old-toen', feed, 'toen_20200101.csv', DATE '2020-01-01', size_bytes,
               ingested_at, run_id, 0, 0, 0, dropped_columns, missing_columns, '' FROM ingested_files
               WHERE feed = 'toen'"""
        )
        con.execute(
            """CREATE TABLE purge_log (purged_at TIMESTAMP, operator VARCHAR, feed VARCHAR, file_name VARCHAR,
               sha256 VARCHAR, extract_date DATE, before_date DATE, retention_years INTEGER, rows_raw INTEGER,
               rows_valid INTEGER, rows_quarantine INTEGER, archive_file VARCHAR)"""
        )
        con.execute(
            """INSERT INTO purge_log VALUES (TIMESTAMP '2026-11-01 09:00', 'tester', 'jumin', 'jumin_20190101.csv',
               'gone', DATE '2019-01-01', DATE '2021-01-01', 5, 10, 10, 0, NULL)"""
        )
    patch = pytest.MonkeyPatch()
    patch.delenv(env_var(TOWN), raising=False)
    try:
        resource = KodomoResource(home=str(root), asof=ASOF.isoformat())
        result = materialize(build_privacy_assets(town), resources={"kodomo": resource})
        assert result.success
        root.joinpath("metadata.txt").write_text(
            "\n".join(
                f"{key}={value.value if hasattr(value, 'value') else value}"
                for event in result.get_asset_materialization_events()
                for key, value in event.materialization.metadata.items()
            ),
            encoding="utf-8",
        )
        yield root
    finally:
        patch.undo()


def _html(root: Path, town: TownConfig) -> str:
    return report_path(town.output(root), ASOF).read_text(encoding="utf-8")


def test_the_report_is_self_contained(root: Path, town: TownConfig) -> None:
    html = _html(root, town)
    assert html.startswith("<!doctype html>") and "<style>" in html
    external = re.findall(r"(?:src|href)\s*=|https?://|@import|url\(", html)
    assert external == []


def test_every_feed_has_purpose_department_columns_and_counts(root: Path, town: TownConfig) -> None:
    html = _html(root, town)
    for layout in town.feeds.values():
        spec = layout.spec
        assert f'id="feed-{spec.feed}"' in html and spec.title_ja in html and spec.department in html, spec.feed
        for header, canonical in layout.header_to_canonical.items():
            assert f"<td>{header}</td><td>{canonical}</td>" in html, spec.feed
    special = sum(
        1
        for layout in town.feeds.values()
        for canonical in layout.header_to_canonical.values()
        if layout.spec.columns[canonical].special_care
    )
    assert special > 0 and html.count('<td><span class="care">要配慮</span></td></tr>') >= special
    for dropped in ("本籍", "相談内容", "成績"):  # dropped at the door and named
        assert dropped in html
    with duckdb.connect(str(town.database(root)), read_only=True) as con:
        read = con.execute("SELECT feed, rows_read FROM ingested_files WHERE sha256 <> 'old-toen'").fetchall()
        reasons = {r[0] for r in con.execute("SELECT DISTINCT reason FROM quarantine").fetchall()}
        linked = con.execute("SELECT feed, count(*) FROM crosswalk GROUP BY 1").fetchall()
    for feed, rows in read:
        section = html.split(f'id="feed-{feed}"')[1].split('<div class="feed"')[0]
        assert f'<td class="n">{rows}</td>' in section, feed
    for reason in reasons:
        assert f"<code>{reason}</code>" in html
    for feed, count in linked:
        assert f'<tr><td>{feed}</td><td class="n">{count}</td>' in html


def test_disclosure_and_retention_are_shown(root: Path, town: TownConfig) -> None:
    html = _html(root, town)
    for profile in load_profiles().values():
        assert f"<code>{profile.profile}</code>" in html and profile.recipient in html
        for column in profile.columns:
            assert f"<td>{column.label}</td><td>{column.column}</td>" in html
    assert "仮名化 HMAC-SHA256 pseudonym" in html and "key file" in html
    toen = html.split('id="feed-toen"')[1].split('<div class="feed"')[0]
    assert "1 件 削除対象" in toen  # the 2020 snapshot is past toen's 3 years
    jumin = html.split('id="feed-jumin"')[1].split('<div class="feed"')[0]
    assert "2026-11-01T09:00" in jumin and "削除対象" not in jumin


def test_each_feed_is_laid_out_as_a_file_register_entry(root: Path, town: TownConfig) -> None:
    html = _html(root, town)
    register = html.split('id="file-register"')[1]
    items = ["名称", "利用目的", "記録項目", "記録範囲", "収集方法", "経常的提供先", "保有期間"]
    for layout in town.feeds.values():
        spec = layout.spec
        entry = register.split(f'id="register-{spec.feed}"')[1].split("</table>")[0]
        assert [item for item in items if f"<th>{item} " in entry] == items, spec.feed
        assert f"{town.name_ja} こどもデータ連携 {spec.title_ja}ファイル" in entry
        assert spec.purpose in entry and spec.record_scope and spec.record_scope in entry and spec.collection in entry
        assert "、".join(layout.header_to_canonical) in entry
        for profile in load_profiles().values():
            assert profile.recipient in entry
        assert "未記入" not in entry


def test_purposes_are_japanese_first_with_english_in_small_type(root: Path, town: TownConfig) -> None:
    html = _html(root, town)
    japanese = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
    for layout in town.feeds.values():
        spec = layout.spec
        assert japanese.match(spec.purpose), spec.feed  # the first character is Japanese
        assert spec.purpose_en and f'<span class="en">{escape(spec.purpose_en)}</span>' in html, spec.feed
    for profile in load_profiles().values():
        assert japanese.match(profile.purpose) and profile.purpose_en, profile.profile


def test_the_report_holds_no_personal_value(root: Path, town: TownConfig) -> None:
    with open_town_db(town.database(root)) as con:
        report = scan(con, town, ASOF, {"report": [_html(root, town)]})
    assert report.values_by_kind.get("name", 0) > 0  # the scan really looked for names
    assert report.leaks == 0, report.kinds_found()


def test_asset_metadata_links_the_files_and_holds_counts_only(root: Path, town: TownConfig) -> None:
    metadata = root.joinpath("metadata.txt").read_text(encoding="utf-8")
    assert f"report={report_path(town.output(root), ASOF)}" in metadata
    assert "nursery_subjects=" in metadata and "pseudonym_key_source=key file" in metadata
    with open_town_db(town.database(root)) as con:
        report = scan(con, town, ASOF, {"metadata": [metadata]})
    assert report.leaks == 0, report.kinds_found()


def test_assets_follow_the_alerts(town: TownConfig) -> None:
    disclosure, privacy = build_privacy_assets(town)
    assert disclosure.key == AssetKey([TOWN, "disclosure_exports"])
    assert privacy.key == AssetKey([TOWN, "privacy_review_report"])
    assert AssetKey([TOWN, "alerts"]) in disclosure.dependency_keys
    assert AssetKey([TOWN, "disclosure_exports"]) in privacy.dependency_keys


def test_report_without_exports_says_so(tmp_path: Path, town: TownConfig) -> None:
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con:
        report = build_privacy_report(con, town, dt.date(2026, 1, 5), tmp_path / "out")
    html = report.path.read_text(encoding="utf-8")
    assert report.feeds == len(town.feeds) and report.rows_quarantined == 0
    assert "no disclosure export written for this date yet" in html and "no linkage result at T" in html
