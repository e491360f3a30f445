"""A third town joins by configuration only: one town file with its own layout variant, no code change."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kodomo_pipeline.config.paths import config_root

THIRD_TOWN = """
town: yorii
name_ja: 寄居町
prefecture: 埼玉県
population: 1500
inbox: inbox/yorii
database: db/yorii.duckdb
output: out
schedule: {cron: "30 1 * * *", timezone: Asia/Tokyo}
resident_id_pattern: '^[0-9]{9}$'
# Its own layout variant: Shift_JIS-like cp932, LF, ISO dates, full-width kana, half-width name spaces,
# sex as M/F and flags as ○/×.
layout:
  encoding: cp932
  line_end: lf
  date_style: iso
  month_style: iso
  kana_style: fullwidth_katakana
  name_separator: halfwidth
  codes:
    sex: {M: 男, F: 女}
    flag: {○: true, ×: false}
feeds:
  jumin:
    columns: {個人番号: resident_id, 世帯番号: household_id, 氏名: name_kanji, フリガナ: name_kana,
              生年月日: birth_date, 性別: sex, 続柄: relationship, 住所: address, 転入日: resident_since,
              状態: status, 異動日: status_date}
  jido_soudan:
    columns: {受付番号: case_no, 個人番号: resident_id, 受付日: received_on, 種別: category,
              虐待種別: abuse_type, 状況: status, 要対協: yotaikyo}
  nyuyoji_kenshin:
    columns: {個人番号: resident_id, 健診: exam, 対象月: due_month, 受診日: attended_on, 判定: result,
              運動: dev_motor, 言語: dev_language, 社会性: dev_social, 体重: weight_g}
  gakko_meibo: {system: school_s}
  gakko_shusseki: {system: school_s}
  taio_kekka: {system: kodomo_product}
  meiyose_kekka: {system: kodomo_product}
"""


@pytest.mark.slow
def test_a_third_town_runs_from_one_new_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    for folder in ("assets", "resources", "rules", "expectations", "dbt_like_sql"):
        shutil.copytree(config_root() / folder, config / folder)
    shutil.copy(config_root() / "workspace.yaml", config / "workspace.yaml")
    (config / "resources" / "towns" / "yorii.yaml").write_text(THIRD_TOWN, encoding="utf-8")
    root = tmp_path / "data"
    monkeypatch.setenv("KODOMO_CONFIG", str(config))
    monkeypatch.setenv("KODOMO_HOME", str(root))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)

    from kodomo_pipeline.cli import main
    from kodomo_pipeline.orchestration.definitions import build_definitions

    defs = build_definitions(root)
    assert defs.resolve_job_def("yorii_nightly") and defs.resolve_sensor_def("yorii_inbox_sensor")
    assert defs.resolve_schedule_def("yorii_nightly_schedule").cron_schedule == "30 1 * * *"

    runner = CliRunner()
    inbox = root / "inbox" / "yorii"
    generated = runner.invoke(
        main,
        [
            "generate",
            "--town",
            "yorii",
            "--out",
            str(inbox),
            "--asof",
            "2026-11-26",
            "--truth",
            str(root / "truth" / "yorii"),
        ],
    )
    assert generated.exit_code == 0, generated.output
    assert "個人番号" in (inbox / "jumin_20261126.csv").read_bytes().decode("cp932").splitlines()[0]
    result = runner.invoke(main, ["run", "--town", "yorii"])
    assert result.exit_code == 0, result.output
    out = root / "out" / "yorii"
    assert (out / "crosswalk_20261126.csv").exists() and (out / "ingest_status_20261126.json").exists()
    status = runner.invoke(main, ["status", "--town", "yorii", "--json"])
    assert '"rows_valid"' in status.output and '"outcome": "ingested"' in status.output

    # Its rows are valid, not just present: every feed ingested, only the generator's planted defects held
    # back (with their reason), and the registry decoded from the town's own layout to the generator's people.
    import json

    import duckdb
    import pandas as pd

    truth = root / "truth" / "yorii"
    defects = pd.read_csv(truth / "defects.csv", dtype=str, keep_default_na=False)
    report = json.loads((out / "ingest_status_20261126.json").read_text("utf-8"))
    generated_feeds = {path.name.split("_2026")[0] for path in inbox.glob("*_20261126.csv")}
    with duckdb.connect(str(root / "db" / "yorii.duckdb"), read_only=True) as con:
        for feed in generated_feeds:
            entry = report["feeds"][feed]
            planted = defects[defects["feed"] == feed]
            assert entry["outcome"] == "ingested", feed
            assert entry["rows_quarantined"] == len(planted), feed
            assert entry["rows_valid"] == entry["rows_read"] - len(planted), feed
            if entry["rows_read"]:
                assert entry["rows_valid"] / entry["rows_read"] > 0.95, feed
            held = con.execute("SELECT DISTINCT row_number, reason FROM quarantine WHERE feed = ?", [feed]).fetchall()
            assert set(held) == {(int(d.row_number), d.reason) for d in planted.itertuples()}, feed
        stored = con.execute(
            """SELECT resident_id, regexp_replace(name_kanji, '[ 　]', '', 'g'),
                      regexp_replace(name_kana, '[ 　]', '', 'g'), strftime(birth_date, '%Y-%m-%d'), sex
               FROM valid_jumin"""
        ).fetchall()
    assert report["feeds"]["jumin"]["rows_valid"] > 500
    people = pd.read_csv(truth / "persons.csv", dtype=str, keep_default_na=False)
    people = people[people["resident_id"] != ""]
    expected = {
        (p.resident_id, p.name_kanji.replace("　", "").replace(" ", ""), p.name_kana.replace("　", "").replace(" ", ""),
         p.birth_date, p.sex)
        for p in people.itertuples()
    }  # fmt: skip
    assert len(set(stored) - expected) <= len(defects[defects["feed"] == "jumin"]), "registry rows decoded wrongly"
    assert {row[4] for row in stored} == {"男", "女"}  # M/F decoded by the town's codes
