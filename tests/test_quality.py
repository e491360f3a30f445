"""Data quality with Great Expectations: suites as data, planted problems found and reported as counts,
Data Docs that render styled in a browser with no network, and the per-feed Dagster checks."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import subprocess
from base64 import b64encode
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import AssetSelection, DagsterInstance, Definitions, define_asset_job, in_process_executor

from kodomo_pipeline.config import load_towns
from kodomo_pipeline.config.errors import ConfigError
from kodomo_pipeline.config.feeds import load_feeds
from kodomo_pipeline.generator import generate_town
from kodomo_pipeline.ingest.steps import TownPaths, ingest_raw, validate_feed
from kodomo_pipeline.orchestration.feed_assets import build_feed_assets
from kodomo_pipeline.orchestration.instance import prepare_dagster_home
from kodomo_pipeline.orchestration.quality_assets import GX_CHECK, build_quality_checks
from kodomo_pipeline.orchestration.resource import KodomoResource
from kodomo_pipeline.orchestration.town_jobs import run_config_for
from kodomo_pipeline.quality import docs
from kodomo_pipeline.quality.runner import docs_site, quality_home, snapshot_frame, strip_values, validate_snapshot
from kodomo_pipeline.quality.suites import load_suite, load_suites
from kodomo_pipeline.storage.town_db import open_town_db
from tests.test_webserver_ui import _chromium, _png_pixels

ASOF = dt.date(2026, 11, 26)
POPULATION = 800
CHECKOUT = Path(__file__).resolve().parents[1]
ARTIFACTS = CHECKOUT / "artifacts"
GX_TEMPLATES = Path(__import__("great_expectations").__file__).parent / "render" / "view" / "templates"
OFFLINE_FLAGS = [
    *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"),
    *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
    *("--disable-dev-shm-usage", "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
    "--window-size=1400,900",
    "--virtual-time-budget=15000",
]


def _ingest(root: Path, town, run_id: str) -> None:
    """The two ingestion steps for every feed, without Dagster (fast): the town's DB as after a night."""
    with open_town_db(town.database(root)) as con:
        for feed in town.feeds:
            ingest_raw(con, town, feed, TownPaths.for_town(town, root), run_id, ASOF)
            validate_feed(con, town, feed, run_id)


@pytest.fixture(scope="module")
def quality_town(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """kawashima (~800 residents) generated, ingested, and every feed validated once."""
    root = tmp_path_factory.mktemp("quality") / "data"
    town = load_towns()["kawashima"]
    generate_town(town, town.inbox(root), root / "truth" / "kawashima", ASOF, POPULATION, seed=5)
    _ingest(root, town, "ingest-1")
    suites = load_suites()
    with open_town_db(town.database(root)) as con:
        frames = {feed: snapshot_frame(con, feed, ASOF) for feed in town.feeds}
    for feed, frame in frames.items():
        assert frame is not None, feed
        summary = validate_snapshot(town, root, suites[feed], frame, ASOF, "night-1")
        assert summary.success, (feed, summary.by_rule)
    return root, town


def test_every_feed_has_a_suite_covering_its_contract() -> None:
    feeds = load_feeds()
    suites = load_suites()
    assert set(suites) == set(feeds)
    for name, suite in suites.items():
        spec = feeds[name]
        assert set(spec.required_columns) <= set(suite.data.required), name
        assert {n for n, c in spec.columns.items() if c.allowed} <= set(suite.data.allowed_values), name
        assert set(spec.unique) <= {c for cols in suite.data.unique for c in cols}, name
        if "birth_date" in spec.columns:
            assert suite.data.dates["birth_date"].not_after == "as_of", name
            assert suite.data.dates["birth_date"].not_before == dt.date(1900, 1, 1), name
        kinds = {e.rule for e in suite.expectations("^[0-9]{10}$")}
        assert {"completeness", "uniqueness", "dates"} <= kinds, name
    assert suites["jumin"].data.freshness_days == 7
    assert suites["meiyose_kekka"].data.freshness_days is None  # cumulative decisions: not a freshness matter


def test_suite_errors_name_the_file_and_the_key(tmp_path: Path) -> None:
    bad_column = tmp_path / "jumin.yaml"
    bad_column.write_text("feed: jumin\ntitle_ja: 住民\nallowed_values:\n  colour: [赤]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_suite(bad_column)
    assert caught.value.path == bad_column and caught.value.key == "allowed_values.colour"

    bad_value = tmp_path / "toen.yaml"
    bad_value.write_text("feed: toen\ntitle_ja: 登園\nfreshness_days: -3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_suite(bad_value)
    assert caught.value.key == "freshness_days"

    wrong_type = tmp_path / "gakko_shusseki.yaml"
    wrong_type.write_text("feed: gakko_shusseki\ntitle_ja: 出欠\nranges:\n  month: {min: 1}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_suite(wrong_type)
    assert caught.value.key == "ranges.month"


def test_strip_values_drops_every_key_that_can_hold_data() -> None:
    result = {
        "success": False,
        "result": {
            "unexpected_count": 2,
            "partial_unexpected_list": ["山田　太郎"],
            "partial_unexpected_counts": [{"value": "0000012345", "count": 2}],
            "observed_value": "1890-05-05",
        },
        "results": [{"result": {"unexpected_list": ["x"], "element_count": 3}}],
    }
    stripped = json.dumps(strip_values(result), ensure_ascii=False)
    assert "山田" not in stripped and "0000012345" not in stripped and "1890" not in stripped
    assert json.loads(stripped)["result"]["unexpected_count"] == 2
    assert json.loads(stripped)["results"][0]["result"]["element_count"] == 3


def test_planted_problems_are_found_and_reported_as_counts_only(quality_town) -> None:
    root, town = quality_town
    with open_town_db(town.database(root)) as con:
        frame = snapshot_frame(con, "jumin", ASOF)
    duplicated = frame.loc[2, "resident_id"]
    frame.loc[0, "birth_date"] = pd.Timestamp("1890-05-05")  # before 1900
    frame.loc[1, "resident_id"] = duplicated  # key not unique
    frame.loc[3, "name_kana"] = None  # required missing
    frame.loc[4, "sex"] = "X"  # not a code
    frame.loc[5, "resident_since"] = pd.Timestamp("1800-01-01")  # before 1900 and before birth
    frame.loc[6, "resident_id"] = "12AB"  # not the town's format
    frame.loc[7, "status_date"] = pd.Timestamp("2031-01-01")  # in the future
    stale = frame.assign(_extract_date=pd.Timestamp("2026-09-01"))  # 86 days before T: older than 7 days

    summary = validate_snapshot(town, root, load_suites()["jumin"], stale, ASOF, "night-planted")

    assert not summary.success
    failed = {rule for rule, counts in summary.by_rule.items() if counts["failed"]}
    assert failed == {"freshness", "completeness", "codes", "id_format", "uniqueness", "dates", "consistency"}
    assert summary.by_rule["uniqueness"]["unexpected_rows"] == 2
    assert summary.by_rule["dates"]["failed"] == 3  # birth_date, resident_since, status_date
    assert summary.by_type["expect_column_values_to_not_be_null"]["failed"] == 1
    assert summary.expectations_run == sum(c["run"] for c in summary.by_type.values())
    assert summary.docs_page is not None and summary.docs_page.is_file()

    planted = {duplicated, "12AB", "1890-05-05", "1800-01-01", "2031-01-01", "1890/05/05"}
    reported = json.dumps(summary.as_dict(), ensure_ascii=False, default=str)
    assert not any(value in reported for value in planted)
    # Nothing GX keeps for the town (validation store, suites, Data Docs) holds a planted value.
    stored = [
        p.read_bytes()
        for p in quality_home(root, town.town).rglob("*")
        if p.is_file() and p.suffix in {".json", ".html", ".yml"}
    ]
    needles = {v.encode() for v in planted}
    hits = sum(1 for data in stored for needle in needles if needle in data)
    assert hits == 0, f"{hits} planted values found in the quality folder"


def test_vendored_assets_are_the_files_gx_links_from_cdns() -> None:
    """Every CDN reference in GX's templates has a local copy (or is deliberately dropped), byte-identical."""
    template_urls = set()
    for template in GX_TEMPLATES.glob("*.j2"):
        text = template.read_text(encoding="utf-8")
        template_urls |= set(re.findall(r'<(?:script|link)[^>]*(?:src|href)="(https?://[^"]+)"', text))
    assert template_urls, "no CDN references found: has GX changed its templates?"
    assert template_urls <= set(docs.CDN_FILES), sorted(template_urls - set(docs.CDN_FILES))
    for local in filter(None, docs.CDN_FILES.values()):
        assert (docs.STATIC / local).is_file(), local
    # GX pins two files by SHA-384 (`integrity`): the vendored bytes are exactly those.
    imports = (GX_TEMPLATES / "js_script_imports.j2").read_text(encoding="utf-8")
    pinned = dict(re.findall(r'src="(https?://[^"]+)" integrity="(sha384-[^"]+)"', imports))
    assert len(pinned) == 2
    for url, integrity in pinned.items():
        data = (docs.STATIC / docs.CDN_FILES[url]).read_bytes()
        assert "sha384-" + b64encode(hashlib.sha384(data).digest()).decode() == integrity, url


def _render(chromium: str, url: str, profile: Path, screenshot: Path | None = None) -> str:
    cmd = [chromium, *OFFLINE_FLAGS, f"--user-data-dir={profile}"]
    cmd += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    done = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


_PROBE = """
<script>
window.addEventListener('load', function () {
  var nav = document.querySelector('nav.navbar');
  var icon = document.querySelector('i.fas, i.fa, i.far');
  var probe = document.createElement('pre');
  probe.id = 'kodomo-probe';
  probe.textContent = JSON.stringify({
    navbar_display: nav ? getComputedStyle(nav).display : null,
    table_wrapped: document.querySelectorAll('.bootstrap-table').length,
    rows: document.querySelectorAll('.bootstrap-table tbody tr').length,
    icon_font: icon ? getComputedStyle(icon, '::before').fontFamily : null,
    icon_fonts_loaded: Array.from(document.fonts).filter(function (f) {
      return f.family.indexOf('Font Awesome') >= 0 && f.status === 'loaded';
    }).length
  });
  document.body.appendChild(probe);
});
</script>
"""


def test_data_docs_render_styled_with_no_network(quality_town, tmp_path: Path) -> None:
    root, town = quality_town
    site = docs_site(root, town.town)
    index = site / "index.html"
    pages = list(site.rglob("*.html"))
    assert len(pages) >= 1 + 2 * len(town.feeds)  # index, one suite page and ≥1 validation page per feed
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert docs.asset_references(html) == 0, page.name
        assert not re.search(r"https?://", html), page.name  # no link out either
    assert (site / docs.VENDOR / "css" / "bootstrap.min.css").is_file()

    chromium = _chromium()
    dom = _render(chromium, index.as_uri(), tmp_path / "profile-dom")
    assert "bootstrap-table" in dom, "bootstrap-table did not run: the validation list would be empty"
    assert "night-1" in dom  # the run's validation results are listed
    listed = set(re.findall(r"<td[^>]*>\s*(?:<[^>]+>\s*)*([a-z_]+)\s*<", dom))
    assert set(town.feeds) <= listed, sorted(set(town.feeds) - listed)

    probe = index.with_name("_probe.html")
    probe.write_text(index.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    try:
        probed = _render(chromium, probe.as_uri(), tmp_path / "profile-probe")
    finally:
        probe.unlink()
    found = json.loads(re.search(r'<pre id="kodomo-probe">(.*?)</pre>', probed, re.S)[1].replace("&quot;", '"'))
    assert found["navbar_display"] == "flex", found  # bootstrap.min.css applied (unstyled: block)
    assert found["table_wrapped"] >= 1 and found["rows"] >= 10, found  # the list, 10 rows per page
    assert found["icon_font"] and "Font Awesome" in found["icon_font"], found
    assert found["icon_fonts_loaded"] >= 1, found  # a woff2 loaded from the site, not a CDN

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "data_docs.png"
    shot.unlink(missing_ok=True)
    _render(chromium, index.as_uri(), tmp_path / "profile-shot", screenshot=shot)
    pixels = _png_pixels(shot)
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    spread = pixels.max(axis=2).astype(int) - pixels.min(axis=2).astype(int)
    assert len(colours) > 200, f"only {len(colours)} colours: looks unstyled"
    assert (spread > 60).sum() > 2000, "almost no coloured pixels: no status icons, links or buttons"


def test_quality_checks_run_with_their_asset_and_report_counts_and_docs(
    home: Path, towns, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Dagster wiring: a WARN check per valid_<feed>, counts per expectation type, the Data Docs path."""
    town = towns["misato"]
    generate_town(town, town.inbox(home), home / "truth" / "misato", ASOF, 400, seed=2)
    jumin_assets = [a for a in build_feed_assets(town) if a.key.path[1] in ("raw_jumin", "valid_jumin")]
    checks = build_quality_checks(town)
    assert len(checks) == len(town.feeds)
    job = define_asset_job("quality_subset", selection=AssetSelection.all(), executor_def=in_process_executor)
    defs = Definitions(
        assets=jumin_assets,
        asset_checks=[c for c in checks if next(iter(c.check_keys)).asset_key.path[1] == "valid_jumin"],
        jobs=[job],
        resources={"kodomo": KodomoResource(home=str(home))},
    )
    monkeypatch.setenv("DAGSTER_HOME", str(prepare_dagster_home(home)))
    with DagsterInstance.get() as instance:
        result = defs.resolve_job_def("quality_subset").execute_in_process(
            run_config=run_config_for(home, asof=ASOF.isoformat()), instance=instance
        )
    evaluations = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    [gx] = [e for e in evaluations if e.check_name == GX_CHECK]
    assert gx.asset_key.path == ["misato", "valid_jumin"]
    assert gx.passed and gx.severity.value == "WARN"
    metadata = {key: value.value for key, value in gx.metadata.items()}
    by_type = metadata["by_expectation_type"]
    assert by_type["expect_column_values_to_not_be_null"]["run"] == 10
    assert metadata["expectations_failed"] == 0 and metadata["expectations_run"] >= 15
    assert Path(metadata["data_docs"]) == docs_site(home, "misato") / "index.html"
    assert Path(metadata["data_docs"]).is_file() and Path(metadata["data_docs_page"]).is_file()

    people = pd.read_csv(home / "truth" / "misato" / "persons.csv", dtype=str, keep_default_na=False)
    values = {v for column in ("resident_id", "name_kanji", "name_kana") for v in people[column] if len(v) >= 4}
    serialised = json.dumps(metadata, ensure_ascii=False, default=str)
    assert sum(1 for v in values if v in serialised) == 0
