"""Data quality with Great Expectations: suites as data, planted problems found and reported as counts,
Data Docs that render styled in a browser with no network, and the per-feed Dagster checks."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import subprocess
from base64 import b64encode
from dataclasses import replace
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import AssetSelection, DagsterInstance, Definitions, define_asset_job, in_process_executor

from kodomo_pipeline.config import load_towns
from kodomo_pipeline.config.errors import ConfigError
from kodomo_pipeline.config.feeds import SEX_VALUES, load_feeds
from kodomo_pipeline.generator import generate_town
from kodomo_pipeline.ingest.steps import TownPaths, ingest_raw, validate_feed
from kodomo_pipeline.orchestration.feed_assets import build_feed_assets
from kodomo_pipeline.orchestration.instance import prepare_dagster_home
from kodomo_pipeline.orchestration.quality_assets import GX_CHECK, build_quality_checks
from kodomo_pipeline.orchestration.resource import KodomoResource
from kodomo_pipeline.orchestration.town_jobs import run_config_for
from kodomo_pipeline.quality import docs
from kodomo_pipeline.quality.runner import docs_site, latest_export, quality_home, strip_values, validate_export
from kodomo_pipeline.quality.suites import EXTRA_RULES, Suite, load_suite, load_suites
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


def _ingest_raw(root: Path, town, run_id: str) -> None:
    """The first ingestion step for every feed, without Dagster (fast): the exports stored as sent."""
    with open_town_db(town.database(root)) as con:
        for feed in town.feeds:
            ingest_raw(con, town, feed, TownPaths.for_town(town, root), run_id, ASOF)


@pytest.fixture(scope="module")
def quality_town(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """kawashima (~800 residents) generated, its exports stored, and every feed's export validated once."""
    root = tmp_path_factory.mktemp("quality") / "data"
    town = load_towns()["kawashima"]
    generate_town(town, town.inbox(root), root / "truth" / "kawashima", ASOF, POPULATION, seed=5)
    _ingest_raw(root, town, "ingest-1")
    suites = load_suites()
    with open_town_db(town.database(root)) as con:
        exports = {feed: latest_export(con, town, feed, ASOF) for feed in town.feeds}
    for feed, export in exports.items():
        assert export is not None, feed
        summary = validate_export(town, root, suites[feed], export, ASOF, "night-1")
        assert summary.success, (feed, summary.by_rule)
    return root, town


def _by(expectations, gx_type: str) -> list[dict]:
    return [e.kwargs for e in expectations if e.type == gx_type]


def test_a_suite_built_from_a_contract_has_the_contracts_expectations() -> None:
    feeds = load_feeds()
    suites = load_suites()
    assert set(suites) == set(feeds)  # every feed is checked, with or without an extras file
    pattern = "^[0-9]{10}$"
    for name, spec in feeds.items():
        made = suites[name].expectations(pattern)
        contract = [e for e in made if e.meta["source"] == f"assets/{name}.yaml"]
        not_null = {k["column"] for k in _by(contract, "expect_column_values_to_not_be_null")}
        assert not_null == set(spec.required_columns), name
        in_set = {k["column"]: k["value_set"] for k in _by(contract, "expect_column_values_to_be_in_set")}
        assert in_set == {
            **{c: list(col.allowed) for c, col in spec.columns.items() if col.allowed},
            **{c: list(SEX_VALUES) for c, col in spec.columns.items() if col.type == "sex"},
        }, name
        ranges = {
            e.kwargs["column"]: (e.kwargs["min_value"], e.kwargs["max_value"]) for e in contract if e.rule == "ranges"
        }
        bounded = {
            c: (col.min, col.max) for c, col in spec.columns.items() if col.min is not None or col.max is not None
        }
        assert ranges == bounded, name
        ids = {k["column"] for k in _by(contract, "expect_column_values_to_match_regex") if k["regex"] == pattern}
        assert ids == {c for c, col in spec.columns.items() if col.type == "resident_id"}, name
        keys = _by(contract, "expect_column_values_to_be_unique") + _by(
            contract, "expect_compound_columns_to_be_unique"
        )
        assert [k.get("column_list", [k.get("column")]) for k in keys] == ([list(spec.unique)] if spec.unique else [])
        pairs = _by(contract, "expect_column_pair_values_a_to_be_greater_than_b")
        assert len(pairs) == len(spec.row_checks), name
        after_extract = {e.kwargs["column"] for e in contract if e.rule == "not_after_extract"}
        assert after_extract == {c for c, col in spec.columns.items() if col.not_after_extract}, name
        assert {e.rule for e in made if e not in contract} <= set(EXTRA_RULES), name

    # Built at run time: a change to the contract is a change to the suite, with no file to keep in step.
    jumin = feeds["jumin"]
    columns = dict(jumin.columns)
    columns["status"] = columns["status"].model_copy(update={"allowed": ("住民", "転出")})
    changed = Suite(jumin.model_copy(update={"columns": columns}), suites["jumin"].extras, suites["jumin"].source)
    [status] = [
        k for k in _by(changed.expectations(pattern), "expect_column_values_to_be_in_set") if k["column"] == "status"
    ]
    assert status["value_set"] == ["住民", "転出"]
    # No hand-kept copy: no extras file repeats a rule of its contract (the loader refuses it, see below).
    for name, suite in suites.items():
        assert not {"required", "allowed_values", "unique", "ranges"} & set(suite.extras.model_fields_set), name


def test_extras_errors_name_the_file_and_the_key_and_copies_of_the_contract_are_refused(tmp_path: Path) -> None:
    cases = {
        "jumin": ("completeness:\n  colour: 0.5\n", "completeness.colour"),
        "toen": ("freshness_days: -3\n", "freshness_days"),
        "gakko_shusseki": ("dates:\n  absent_days: {not_before: 1900-01-01}\n", "dates.absent_days"),
        "ninpu_kenshin": ("dates:\n  visit_on: {not_after: as_of}\n", "dates.visit_on.not_after"),
        "seikatsu_hogo": ("comparisons:\n  - {column: ended_on, not_before: started_on}\n", "comparisons.0"),
        "gakko_meibo": ("required:\n  - resident_id\n", "required"),
        "shogai_techo": ("completeness:\n  resident_id: 0.9\n", "completeness.resident_id"),
    }
    for feed, (body, key) in cases.items():
        path = tmp_path / f"{feed}.yaml"
        path.write_text(f"feed: {feed}\ntitle_ja: テスト\n{body}", encoding="utf-8")
        with pytest.raises(ConfigError) as caught:
            load_suite(path)
        assert caught.value.path == path and caught.value.key == key, (feed, caught.value)


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


def test_the_summary_holds_counts_only_even_when_gx_returns_values(
    quality_town, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Belt and braces: asked for every unexpected value (COMPLETE), GX stores them, the summary still has none."""
    root, town = quality_town
    with open_town_db(town.database(root)) as con:
        export = latest_export(con, town, "jumin", ASOF)
    frame = export.frame.copy()
    duplicated, kana = frame.loc[2, "resident_id"], frame.loc[4, "name_kana"]
    frame.loc[1, "resident_id"] = duplicated
    frame.loc[3, "name_kana"] = kana + "x"  # not full-width katakana
    monkeypatch.setattr("kodomo_pipeline.quality.runner.RESULT_FORMAT", {"result_format": "COMPLETE"})
    other_root = tmp_path / "data"
    summary = validate_export(town, other_root, load_suites()["jumin"], replace(export, frame=frame), ASOF, "complete")
    assert summary.by_rule["uniqueness"]["failed"] == 1 and summary.by_rule["kana_format"]["failed"] == 1
    stored = b"".join(p.read_bytes() for p in quality_home(other_root, town.town).rglob("*.json"))
    assert duplicated.encode() in stored  # GX did keep the values: the check below can fail
    reported = json.dumps(summary.as_dict(), ensure_ascii=False, default=str)
    assert duplicated not in reported and kana not in reported


def _plant(con, feed: str, sha256: str, changes: dict[int, dict[str, object]]) -> None:
    """Overwrite cells of the stored export (text, as the department sent it), by row number."""
    for row, cells in changes.items():
        assigns = ", ".join(f'"{column}" = ?' for column in cells)
        con.execute(f"UPDATE raw_{feed} SET {assigns} WHERE _sha256 = ? AND _row = ?", [*cells.values(), sha256, row])


def _page_text(page: Path) -> str:
    """A Data Docs page as the text a reader sees (scripts and styles dropped, tags removed)."""
    html = re.sub(r"<(script|style).*?</\1>", " ", page.read_text(encoding="utf-8"), flags=re.S)
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_a_planted_contract_defect_fails_in_results_and_data_docs_with_counts_only(tmp_path: Path) -> None:
    """Defects planted in the stored export, as sent: GX names the rule in its results and Data Docs,
    the contract quarantines the same rows, and nothing of the values reaches the summary or the GX folder."""
    root = tmp_path / "data"
    town = load_towns()["kawashima"]
    generate_town(town, town.inbox(root), root / "truth" / "kawashima", ASOF, 300, seed=8)
    late = ASOF + dt.timedelta(days=30)  # the export is 30 days old then: older than jumin's 7 days
    with open_town_db(town.database(root)) as con:
        ingest_raw(con, town, "jumin", TownPaths.for_town(town, root), "planted", ASOF)
        export = latest_export(con, town, "jumin", late)
        rows = list(export.frame["_row"][:8])
        ids = list(con.execute("SELECT resident_id FROM raw_jumin ORDER BY _row LIMIT 3").fetchall())
        duplicated, kana = ids[2][0], con.execute("SELECT name_kana FROM raw_jumin ORDER BY _row").fetchall()[3][0]
        _plant(
            con,
            "jumin",
            export.sha256,
            {
                rows[1]: {"resident_id": duplicated},  # key not unique
                rows[3]: {"name_kana": None},  # required missing
                rows[4]: {"relationship": "親戚"},  # not one of the contract's codes
                rows[5]: {"birth_date": "昭和百年十三月"},  # not a date: cannot be decoded
                rows[6]: {"resident_id": "12AB"},  # not the town's format
                rows[7]: {"sex": "9"},  # no such code in the town's layout
            },
        )
        export = latest_export(con, town, "jumin", late)
        assert export.frame["_undecodable"].notna().sum() == 2
        validate_feed(con, town, "jumin", "planted")
        quarantined = {r for (r,) in con.execute("SELECT DISTINCT row_number FROM quarantine").fetchall()}

    summary = validate_export(town, root, load_suites()["jumin"], export, late, "night-planted")

    assert not summary.success
    failed = {rule for rule, counts in summary.by_rule.items() if counts["failed"]}
    assert failed == {"freshness", "types", "completeness", "codes", "id_format", "uniqueness"}
    assert summary.by_rule["uniqueness"]["unexpected_rows"] == 2
    assert summary.by_rule["types"]["unexpected_rows"] == 2  # birth_date and sex
    assert summary.rows_undecodable == 2 and summary.file == export.file_name
    assert summary.expectations_run == sum(c["run"] for c in summary.by_type.values())
    # Every row GX flags is also quarantined by the contract (the two agree on what is wrong).
    assert {rows[i] for i in (1, 3, 4, 5, 6, 7)} <= quarantined

    page = _page_text(summary.docs_page)
    assert "Status: Failed" in page
    assert f"Unsuccessful Expectations {summary.expectations_failed}" in page
    assert "values must be unique" in page and "values must not match this regular expression" in page
    suite_page = _page_text(docs_site(root, town.town) / "expectations" / "jumin.html")
    assert (
        "キーが重複しないこと" in suite_page and "値を契約の型として読めること" in suite_page
    )  # notes, Japanese first
    assert "assets/jumin.yaml" in suite_page and "expectations/jumin.yaml" in suite_page  # where each comes from

    planted = {duplicated, kana, "12AB", "親戚", "昭和百年十三月"}
    reported = json.dumps(summary.as_dict(), ensure_ascii=False, default=str)
    assert not any(value in reported for value in planted)
    stored = [
        p.read_bytes()
        for p in quality_home(root, town.town).rglob("*")
        if p.is_file() and p.suffix in {".json", ".html", ".yml"}
    ]
    needles = {v.encode() for v in planted}
    hits = sum(1 for data in stored for needle in needles if needle in data)
    assert hits == 0, f"{hits} planted values found in the quality folder"


def test_extras_of_the_per_feed_file_are_applied(quality_town, tmp_path: Path) -> None:
    root, town = quality_town
    folder = tmp_path / "expectations"
    folder.mkdir()
    (folder / "jumin.yaml").write_text(
        "feed: jumin\ntitle_ja: 住民基本台帳\nfreshness_days: 7\n"
        "row_count: {min: 100000}\n"  # far more rows than the town has
        "completeness:\n  status_date: 0.99\n"  # most residents have no 異動日
        "codes_seen:\n  status: [死亡]\n"
        "dates:\n  birth_date: {not_before: 1900-01-01}\n",
        encoding="utf-8",
    )
    (folder / "toen.yaml").write_text(
        "feed: toen\ntitle_ja: 登園\nmeans:\n  open_days: {min: 40, max: 60}\n", encoding="utf-8"
    )
    suites = load_suites(folder)
    assert suites["ninpu_kenshin"].source is None and suites["ninpu_kenshin"].extras.freshness_days is None
    with open_town_db(town.database(root)) as con:
        jumin, toen = (latest_export(con, town, feed, ASOF) for feed in ("jumin", "toen"))
    got = validate_export(town, root, suites["jumin"], jumin, ASOF, "night-extras")
    assert {rule for rule, counts in got.by_rule.items() if counts["failed"]} == {
        "row_count",
        "completeness_share",
        "codes_seen",
    }
    assert got.by_rule["freshness"] == {"run": 1, "failed": 0, "unexpected_rows": 0}
    assert got.by_rule["plausible_dates"]["failed"] == 0
    means = validate_export(town, root, suites["toen"], toen, ASOF, "night-extras")
    assert means.by_rule["means"]["failed"] == 1  # about 20 open days a month, not 40-60
    assert not any(counts["failed"] for rule, counts in means.by_rule.items() if rule != "means")


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
    """The Dagster wiring: a WARN check per raw_<feed>, counts per expectation type, the Data Docs path."""
    town = towns["misato"]
    generate_town(town, town.inbox(home), home / "truth" / "misato", ASOF, 400, seed=2)
    jumin_assets = [a for a in build_feed_assets(town) if a.key.path[1] in ("raw_jumin", "valid_jumin")]
    checks = build_quality_checks(town)
    assert len(checks) == len(town.feeds)
    job = define_asset_job("quality_subset", selection=AssetSelection.all(), executor_def=in_process_executor)
    defs = Definitions(
        assets=jumin_assets,
        asset_checks=[c for c in checks if next(iter(c.check_keys)).asset_key.path[1] == "raw_jumin"],
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
    assert gx.asset_key.path == ["misato", "raw_jumin"]
    assert gx.passed and gx.severity.value == "WARN"
    metadata = {key: value.value for key, value in gx.metadata.items()}
    by_type = metadata["by_expectation_type"]
    assert by_type["expect_column_values_to_not_be_null"]["run"] == 10
    assert metadata["expectations_failed"] == 0 and metadata["expectations_run"] >= 15
    assert metadata["failed_from_contract"] == 0 and metadata["failed_from_extras"] == 0
    assert metadata["file"] and metadata["extract_date"] == ASOF.isoformat()  # the export validated
    assert metadata["rows_unreadable"] == 0 and metadata["rows_undecodable"] == 0
    assert Path(metadata["data_docs"]) == docs_site(home, "misato") / "index.html"
    assert Path(metadata["data_docs"]).is_file() and Path(metadata["data_docs_page"]).is_file()

    people = pd.read_csv(home / "truth" / "misato" / "persons.csv", dtype=str, keep_default_na=False)
    values = {v for column in ("resident_id", "name_kanji", "name_kana") for v in people[column] if len(v) >= 4}
    serialised = json.dumps(metadata, ensure_ascii=False, default=str)
    assert sum(1 for v in values if v in serialised) == 0
