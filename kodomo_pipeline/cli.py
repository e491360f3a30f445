"""`kodomo`: the operators' and scripts' command line. It drives the same Dagster definitions as the UI."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from kodomo_pipeline import __version__
from kodomo_pipeline.cli_params import (
    EXISTING_FILE,
    EXISTING_FOLDER,
    FILE,
    FOLDER,
    TownParam,
    generator_options,
    parse_date,
)
from kodomo_pipeline.config.paths import config_root, data_root
from kodomo_pipeline.config.towns import TownConfig, load_towns
from kodomo_pipeline.privacy.commands import audit_command, purge_command

TOKYO = ZoneInfo("Asia/Tokyo")


def _today() -> dt.date:
    return dt.datetime.now(TOKYO).date()


@click.group()
@click.version_option(__version__, "--version", "-V", prog_name="kodomo", message="%(prog)s %(version)s")
def main() -> None:
    """こどもデータ連携: ingest, validate and judge the towns' nightly exports.

    All state lives under the data root: $KODOMO_HOME, default ./data.
    """


@main.command()
@click.option("--town", required=True, type=TownParam())
@click.option("--out", "out_dir", required=True, type=FOLDER)
@click.option("--asof", required=True, callback=parse_date, help="extract date YYYY-MM-DD")
@generator_options("ground truth folder (default: <out>/truth)")
def generate(
    town: TownConfig,
    out_dir: Path,
    asof: dt.date,
    population: int | None,
    seed: int,
    truth_dir: Path | None,
    noise: str = "default",
) -> None:
    """Write realistic sample exports of a town, in its own layouts, plus ground truth."""
    from kodomo_pipeline.generator import generate_town

    started = time.perf_counter()
    summary = generate_town(town, out_dir, truth_dir or out_dir / "truth", asof, population, seed, noise=noise)
    click.echo(
        f"{town.town}: {sum(summary.rows.values()):,} rows in {len(summary.rows)} files "
        f"({time.perf_counter() - started:.1f} s) → {out_dir}"
    )
    if summary.earlier_registry:
        n = len(summary.earlier_registry)
        click.echo(f"  + 過去の住基抽出 {n} 件 (氏の変更前 / name history): jumin_<date>.csv")


def _run_town(
    town: TownConfig, asof: dt.date | None, inbox: Path | None, out: Path | None, wait: bool = False
) -> tuple[bool, dict]:
    """Run the town's whole graph now, holding its run lock (orchestration/cli_run.py); progress per step."""
    from kodomo_pipeline.orchestration.cli_run import run_town

    outcome = run_town(town, data_root(), asof, inbox, out, wait=wait, echo=click.echo)
    status = outcome.status or {"town": town.town, "run_id": outcome.run_id, "feeds": {}}
    status["exit_code"] = outcome.exit_code
    if outcome.cause:
        status["cause"] = outcome.cause
    if outcome.leak_check:
        status["leak_check"] = outcome.leak_check
    return outcome.ok, status


def _count(entry: dict, key: str) -> str:
    return "" if entry.get(key) is None else f"{entry[key]:,}"


def _print_summary(status: dict) -> None:
    from kodomo_pipeline.cli_table import render_table

    rows, errors = [], {}
    for feed, entry in sorted(status["feeds"].items()):
        counts = [entry.get(key) for key in ("rows_read", "rows_valid", "rows_quarantined")]
        rows.append([feed, entry["outcome"], *counts, entry.get("file") or "-"])
        if entry.get("error"):
            errors[feed] = entry["error"]
    for line in render_table(["feed", "outcome", "read", "valid", "held", "file"], rows, numeric={2, 3, 4}):
        click.echo(f"  {line}")
        feed = line.split(" ", 1)[0]
        if feed in errors:
            click.echo(f"    ! {errors[feed]}")
    for feed, entry in sorted(status["feeds"].items()):
        if entry.get("outcome") == "failed" and "judged_from" in entry:
            used = entry["judged_from"] or "なし (none)"
            click.echo(f"    → {feed} は前回の正常なデータで判定 judged from the last good snapshot: {used}")
    for ignored in status.get("inbox_ignored", []):
        click.echo(f"  無視したファイル ignored: {ignored['file']} — {ignored['reason']}")
    alerts = status.get("alerts")
    if alerts:
        levels = ", ".join(f"{level} {n:,}" for level, n in alerts["by_level"].items())
        click.echo(
            f"  alerts at {alerts['as_of']} ({alerts['rule_set_version']}): {levels}; new {alerts['new']:,}, "
            f"raised {alerts['raised']:,}, suppressed (対応不要) {alerts['suppressed']:,}; "
            f"未連携 {', '.join(alerts['not_linked_rules']) or 'none'}"
        )
        from kodomo_pipeline.rules.column_gaps import describe_gap

        for gap in alerts.get("column_gaps", []):
            click.echo(f"  ! {describe_gap(gap)}")


@main.command()
@click.option("--town", required=True, type=TownParam())
@click.option(
    "--inbox",
    type=EXISTING_FOLDER,
    help="the town's own folder of <feed>_<YYYYMMDD>.csv files (default: from the town file)",
)
@click.option("--out", type=FOLDER, help="outputs go to <out>/<town>/ (default: from the town file)")
@click.option("--asof", callback=parse_date, default=None, help="judge as of YYYY-MM-DD (default: newest extract)")
@click.option("--wait", is_flag=True, help="wait for a run of the town in progress instead of exiting with 75")
def run(town: TownConfig, inbox: Path | None, out: Path | None, asof: dt.date | None, wait: bool) -> None:
    """Run a town's whole nightly graph now, through the same Dagster definitions as the schedule.

    Exit codes: 0 成功; 1 失敗 (the summary's last line says why); 3 一部のフィードが失敗し前回の正常な
    スナップショットで判定 (degraded: a feed failed and was judged from its last good snapshot); 75 別の実行が進行中
    (another run of the town is in progress: try again later or use --wait); 2 wrong arguments.
    """
    ok, status = _run_town(town, asof, inbox, out, wait)
    if status["exit_code"] == 75:
        click.echo(f"{status['cause']}。終了を待つには --wait を付けてください", err=True)
        sys.exit(75)
    click.echo(f"{town.town}: run {status['run_id'] or '-'} {'成功 / succeeded' if ok else '失敗 / FAILED'}")
    _print_summary(status)
    if status.get("cause"):
        click.echo(f"  原因 / cause: {status['cause']}")
    if status.get("leak_check"):
        click.echo(f"  {status['leak_check']}")
    sys.exit(run_exit_code(ok, status))


EXIT_DEGRADED = 3  # the alert list was written, but a feed failed and was judged from its last good snapshot


def run_exit_code(ok: bool, status: dict) -> int:
    """0 all well; 1 the run failed (an essential feed or a step: no complete alert list); 3 degraded;
    75 another run of the town was in progress (orchestration/cli_run.py)."""
    if not ok or status["exit_code"] != 0:
        return status["exit_code"] or 1
    return EXIT_DEGRADED if any(entry["outcome"] == "failed" for entry in status["feeds"].values()) else 0


@main.command()
@click.option("--town", required=True, type=TownParam())
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option(
    "--max-age-hours",
    type=click.FloatRange(min=0),
    default=26,
    show_default=True,
    help="a last run older than this is stale (exit 3)",
)
def status(town: TownConfig, as_json: bool, max_age_hours: float) -> None:
    """What the latest run of a town did, per feed; works while a run is in progress.

    Exit codes (for JP1 and other job schedulers): 0 正常; 1 前回の実行が失敗/中止; 3 前回の実行が古い
    (older than --max-age-hours); 4 まだ実行がない; 2 wrong arguments. A run in progress does not change them.
    """
    from kodomo_pipeline.status import operator_status

    result = operator_status(town, data_root(), max_age_hours)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2, default=str))
        sys.exit(result["exit_code"])
    last = result["last_run"]
    click.echo(f"{town.town}: {result['message']}")
    if last:
        click.echo(f"  前回の実行 / last run {last['run_id']} {last['status']} as of {last['as_of'] or '-'}, "
                   f"ended {last['ended']} ({last['age_hours']} h ago)")  # fmt: skip
    if result["running_run_id"]:
        running = result["running_run_id"]
        click.echo(f"  実行中 / run in progress: {running} (表は前回完了時点 / table as last completed)")
    if result["dead_runs_marked_failed"]:
        click.echo(f"  プロセスが終了していた実行を失敗として記録: {', '.join(result['dead_runs_marked_failed'])}")
    _print_summary(result)
    sys.exit(result["exit_code"])


@main.command("confirm-file")
@click.option("--town", required=True, type=TownParam())
@click.argument("file_name")
def confirm_file(town: TownConfig, file_name: str) -> None:
    """Let in a held export (far fewer rows than the feed's previous snapshot): the next run uses it."""
    from kodomo_pipeline.privacy.services.access_log import current_operator
    from kodomo_pipeline.storage.feed_tables import confirm_held_file
    from kodomo_pipeline.storage.town_db import open_town_db

    database = town.database(data_root())
    if not database.exists():
        raise click.ClickException(f"{town.town} has no database yet: run the town first")
    with open_town_db(database) as con:
        confirmed = confirm_held_file(con, file_name, current_operator())
    if confirmed is None:
        raise click.ClickException(f"{town.town}: 保留中のファイル {file_name} はありません (no held file)")
    click.echo(f"{town.town}: {file_name} を確認済みにしました。次回の実行で使います (confirmed; the next run uses it)")


@main.command()
@click.option("--asof", callback=parse_date, default=None, help="extract date (default: today in Tokyo)")
@click.option("--seed", type=int, default=0, show_default=True)
def demo(asof: dt.date | None, seed: int) -> None:
    """Generate sample exports for every town into its inbox and run every town end to end."""
    from kodomo_pipeline.exports.meeting_xlsx import meeting_xlsx_name
    from kodomo_pipeline.generator import generate_town

    asof = asof or _today()
    root = data_root()
    towns = load_towns()
    click.echo(f"Demo as of {asof} under {root}")
    steps = 2 * len(towns)
    step = 0
    failed = []
    results = {}
    for name, town in towns.items():
        step += 1
        started = time.perf_counter()
        click.echo(f"[{step}/{steps}] generating {name} ({town.population:,} residents) ...", nl=False)
        summary = generate_town(town, town.inbox(root), root / "truth" / name, asof, None, seed)
        click.echo(
            f" {sum(summary.rows.values()):,} rows in {len(summary.rows)} files ({time.perf_counter() - started:.1f} s)"
        )
    for name, town in towns.items():
        step += 1
        started = time.perf_counter()
        click.echo(f"[{step}/{steps}] running {name} ...")  # then one line per step
        ok, status = _run_town(town, asof, None, None)
        results[name] = status
        click.echo(f"  {name}: {'ok' if ok else 'FAILED'} ({time.perf_counter() - started:.1f} s)")
        if not ok:
            failed.append(name)
    click.echo("\nSummary")
    for name, status in results.items():
        click.echo(f"{name}:")
        _print_summary(status)
    click.echo("\nMeeting lists (review meeting, XLSX):")
    for name, town in towns.items():
        meeting = town.output(root) / meeting_xlsx_name(town, asof)
        click.echo(f"  {name}: {meeting if meeting.exists() else 'not written (the run failed)'}")
    click.echo(f"\nOutputs: {root / 'out'}   Dagster UI: `kodomo ui`, then http://127.0.0.1:3000")
    sys.exit(1 if failed else 0)


@main.command()
@click.option("--port", type=int, default=3000, show_default=True)
def ui(port: int) -> None:
    """Start the Dagster UI and daemon on this machine only (127.0.0.1)."""
    from kodomo_pipeline.orchestration.instance import prepare_dagster_home

    prepare_dagster_home(data_root())
    env = dict(os.environ, KODOMO_HOME=str(data_root()))
    workspace = config_root() / "workspace.yaml"
    dagster = Path(sys.executable).with_name("dagster")
    sys.exit(subprocess.call([str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", str(workspace)], env=env))


@main.command()
@click.argument("alert_id")
@click.option("--town", required=True, type=TownParam())
@click.option("--format", "form", type=click.Choice(["text", "json", "html"]), default="text", show_default=True)
@click.option("--asof", callback=parse_date, default=None, help="the run to explain (default: newest with this alert)")
@click.option(
    "--out",
    "out_file",
    type=FILE,
    help="write here (json/html default: <town output>/explain/explain_<alert_id>_<YYYYMMDD>.<format>)",
)
@click.option("--purpose", default="アラート根拠の確認", show_default=True, help="why; recorded in the access log")
def explain(
    town: TownConfig, alert_id: str, form: str, asof: dt.date | None, out_file: Path | None, purpose: str
) -> None:
    """Show why an alert exists: indicators → facts → source file, SHA-256 and row → rule-set version.

    The text form shows no resident ID, name or date; the json/html file (for auditors) includes the
    subject's resident ID and is written to a file, never to the terminal. Every explain is recorded.
    """
    from kodomo_pipeline.explain import AlertNotFound, explain_alert, render
    from kodomo_pipeline.privacy.services.access_log import record_access
    from kodomo_pipeline.rules.ruleset import apply_overrides
    from kodomo_pipeline.storage.town_db import open_town_db

    root = data_root()
    database = town.database(root)
    if not database.exists():
        raise click.ClickException(f"{town.town} has no database yet: run the town first")
    rules = apply_overrides(town.path, town.rule_overrides)
    with open_town_db(database) as con:
        try:
            explanation = explain_alert(con, town, rules, alert_id, asof)
        except AlertNotFound as exc:
            raise click.ClickException(f"{town.town}: {exc}") from None
        record_access(con, f"explain {alert_id}", purpose)
    content = render(explanation, form, dt.datetime.now())
    if form == "text" and out_file is None:
        click.echo(content, nl=False)
        return
    suffix = "txt" if form == "text" else form
    target = out_file or town.output(root) / "explain" / f"explain_{alert_id}_{explanation.as_of:%Y%m%d}.{suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content, encoding="utf-8")
    click.echo(f"{town.town}: explanation of {alert_id} (as of {explanation.as_of}) written to {target}")


@main.command()
@click.option("--town", required=True, type=TownParam())
@click.option("--asof", callback=parse_date, default=None, help="decisions up to YYYY-MM-DD (default: newest extract)")
def calibrate(town: TownConfig, asof: dt.date | None) -> None:
    """名寄せ thresholds from every staff decision so far: precision / recall per threshold, a suggestion.

    Writes out/<town>/reports/linkage_calibration_<YYYYMMDD>.html/.csv; prints counts and thresholds only.
    The thresholds stay in resources/towns/<town>.yaml (linkage) for a person to change.
    """
    from kodomo_pipeline.linkage.calibrate import calibrate as run_calibration
    from kodomo_pipeline.orchestration.run_scope import resolve_asof
    from kodomo_pipeline.storage.town_db import open_town_db

    root = data_root()
    day = asof or resolve_asof(town, root, town.inbox(root))
    with open_town_db(town.database(root)) as con:
        cal = run_calibration(con, town, day, town.output(root))
    shown = {
        k: f"{v:.4f}" if v is not None else "-"
        for k, v in (("match", cal.suggested_match), ("review", cal.suggested_review))
    }
    click.echo(
        f"{town.town}: {cal.labels} decisions ({cal.accepted} same child, {cal.rejected} different) as of {day}; "
        f"now match {town.linkage.match_threshold} / review {town.linkage.review_threshold}; "
        f"suggested match {shown['match']} / review {shown['review']}; "
        f"m from labels: {'yes' if cal.m_from_labels else 'not yet'}; report {cal.paths['calibration_html']}"
    )


@main.command("rules")
@click.option(
    "--out", "out_file", type=FILE, help="the page to write (default: <data root>/out/rule_matrix_<YYYYMMDD>.html)"
)
def rules_command(out_file: Path | None) -> None:
    """Write the rule matrix page: every rule in words, with each town's overrides, 未連携 and hit counts."""
    import duckdb

    from kodomo_pipeline.reports.rule_matrix import render_rule_matrix, town_column
    from kodomo_pipeline.rules.ruleset import apply_overrides, load_base_rules

    root = data_root()
    columns = []
    for town in load_towns().values():
        rules = apply_overrides(town.path, town.rule_overrides)
        database = town.database(root)
        if not database.exists():
            columns.append(town_column(town, rules, None))
            continue
        try:
            con = duckdb.connect(str(database), read_only=True)
        except duckdb.IOException:
            raise click.ClickException(f"{database.name} is in use by a run; try again when it has finished") from None
        with con:
            columns.append(town_column(town, rules, con))
    target = out_file or root / "out" / f"rule_matrix_{_today():%Y%m%d}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_rule_matrix(load_base_rules(), columns, dt.datetime.now()), encoding="utf-8")
    click.echo(f"rule matrix ({len(columns)} town(s)) written to {target}")


@main.group("key")
def key_group() -> None:
    """擬似ID鍵: the town's pseudonym key, checked against the fingerprint its database recorded."""


@key_group.command("show")
@click.option("--town", required=True, type=TownParam())
def key_show(town: TownConfig) -> None:
    """The recorded key fingerprints and what was done, oldest first (never the key)."""
    from kodomo_pipeline.privacy.services.key_registry import key_history
    from kodomo_pipeline.storage.town_db import open_town_db

    database = town.database(data_root())
    if not database.exists():
        raise click.ClickException(f"{town.town}: まだデータベースがありません / no database yet")
    with open_town_db(database, read_only=True) as con:
        for event in key_history(con):
            click.echo(
                f"{event['recorded_at']:%Y-%m-%d %H:%M:%S} {event['event']:<10} {event['fingerprint']} "
                f"(前 {event['previous'] or '-'}, {event['source']}) {event['note'] or ''}"
            )


@key_group.command("rotate")
@click.option("--town", required=True, type=TownParam())
@click.option("--reason", required=True, help="why the key changes; recorded in the town database")
def key_rotate(town: TownConfig, reason: str) -> None:
    """Change the town's key on purpose: every analyst pseudonym changes (see docs/privacy_reviewers.md).

    A key file is renamed to <key>.retired-<time> (keep it offline) and a new one is made; with
    KODOMO_PSEUDONYM_KEY_<TOWN> set, the key in the environment is recorded as the new one.
    """
    from kodomo_pipeline.orchestration.run_lock import TownRunBusy, hold_run
    from kodomo_pipeline.privacy.services.key_registry import rotate_town_key
    from kodomo_pipeline.privacy.services.pseudonym import PseudonymKeyError

    root = data_root()
    try:
        with hold_run(town, root, "key-rotate"):  # never under a running night
            done = rotate_town_key(town, root, reason)
    except (TownRunBusy, PseudonymKeyError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{town.town}: 擬似ID鍵を更新しました / key rotated: {done['previous'] or '-'} → {done['fingerprint']}")
    if done["retired"]:
        click.echo(f"  旧鍵 / old key: {done['retired']} (オフラインに保管し、サーバーから削除してください)")
    click.echo("  以後の分析用擬似IDはすべて変わります / every analyst pseudonym changes from the next run")


main.add_command(purge_command)  # kodomo purge --town T --before YYYY-MM-DD
main.add_command(audit_command)  # kodomo audit --town T [--json]


@main.command("generate-history")
@click.option("--town", required=True, type=TownParam())
@click.option("--out", "inbox", required=True, type=FOLDER, help="the inbox (one folder)")
@click.option("--from", "first", required=True, callback=parse_date, help="first extract date YYYY-MM-DD")
@click.option("--to", "last", required=True, callback=parse_date, help="last extract date YYYY-MM-DD (inclusive)")
@click.option("--every", default="1M", show_default=True, help="step in months: 1M, 2M, 3M …")
@generator_options("ground truth folder; history truth goes to <truth>/history (default: <out>/truth)")
def generate_history_command(
    town: TownConfig,
    inbox: Path,
    first: dt.date,
    last: dt.date,
    every: str,
    population: int | None,
    seed: int,
    truth_dir: Path | None,
    noise: str = "default",
) -> None:
    """Write monthly snapshots of a town over years (one inbox), review-meeting decisions and history truth."""
    import re

    from kodomo_pipeline.generator.history import generate_history, month_dates
    from kodomo_pipeline.privacy.services.pseudonym import load_key

    match = re.fullmatch(r"\s*(\d+)\s*M\s*", every, flags=re.IGNORECASE)
    if not match or int(match[1]) < 1:
        raise click.BadParameter("use a number of months, e.g. 1M or 3M", param_hint="--every")
    try:
        dates = month_dates(first, last, int(match[1]))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--from/--to") from None
    key = load_key(town.town, data_root())
    if key.announcement:
        click.echo(key.announcement, err=True)
    started = time.perf_counter()
    summary = generate_history(town, inbox, truth_dir or inbox / "truth", dates, population, seed, key, noise=noise)
    files = sum(len(r) for r in summary.rows.values())
    click.echo(
        f"{town.town}: {len(summary.dates)} snapshots {summary.dates[0]} … {summary.dates[-1]}, {files} files, "
        f"{summary.decisions} decisions ({time.perf_counter() - started:.1f} s) → {inbox}"
    )


@main.command("backtest")
@click.option("--town", required=True, type=TownParam())
@click.option("--from", "first", required=True, callback=parse_date, help="first replayed date T, YYYY-MM-DD")
@click.option("--to", "last", required=True, callback=parse_date, help="last replayed date T (inclusive)")
@click.option("--every", default="1M", show_default=True, help="step between replayed dates: 1M, 2W, 14D …")
@click.option("--horizon", default="6M", show_default=True, help="outcomes counted in (T, T + horizon]")
@click.option(
    "--rules",
    "rule_files",
    multiple=True,
    type=EXISTING_FILE,
    help="a rule-set YAML like rules/risk_rules_v1.yaml; repeat to compare (default: rules/risk_rules_v1.yaml)",
)
@click.option(
    "--inbox",
    type=EXISTING_FOLDER,
    help="a history inbox of monthly <feed>_<YYYYMMDD>.csv snapshots (default: a copy of the town's database)",
)
@click.option(
    "--out", type=FOLDER, help="results go to <out>/backtest_<town>_<YYYYMMDD>/ (default: the town's output folder)"
)
@click.option(
    "--outcomes",
    "outcomes_file",
    type=EXISTING_FILE,
    default=None,
    help="outcome definitions (default: rules/outcomes_v1.yaml)",
)
@click.option("--no-town-overrides", is_flag=True, help="judge with the rule files as they are, without the town's")
def backtest_command(
    town: TownConfig,
    first: dt.date,
    last: dt.date,
    every: str,
    horizon: str,
    rule_files: tuple[Path, ...],
    inbox: Path | None,
    out: Path | None,
    outcomes_file: Path | None,
    no_town_overrides: bool,
) -> None:
    """効果検証: replay rule sets as of past dates (data known at T only) and compare alerts with outcomes.

    Works in a scratch copy under <data root>/backtest/<town>/; the town's own database is never written.
    """
    from kodomo_pipeline.backtest.engine import run_backtest
    from kodomo_pipeline.backtest.period import Period
    from kodomo_pipeline.backtest.report import write_report
    from kodomo_pipeline.config.errors import ConfigError

    for name, value in (("--every", every), ("--horizon", horizon)):
        try:
            Period.parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=name) from None
    try:
        result = run_backtest(
            town, data_root(), first, last, every, horizon, rule_files, inbox, out, outcomes_file,
            town_overrides=not no_town_overrides, progress=lambda line: click.echo(f"  {line}"),
        )  # fmt: skip
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        raise click.ClickException(f"{town.town}: {exc}") from None
    assert result.result_dir is not None
    report = write_report(result.result_dir)
    figures = result.headline()
    click.echo(
        f"{town.town}: {figures['replays']} replays × {len(result.rule_sets)} rule set(s) in "
        f"{result.seconds['total']:.1f} s; alerts {len(result.alerts):,}, outcomes {len(result.outcomes):,}"
    )
    for entry in figures["rule_sets"]:  # the report's figures (level ≥ C, pooled over replay dates)
        shown = "; ".join(
            f"{kind} alerts {v['alerts']:,} precision {v['precision']} recall {v['recall']}"
            for kind, v in entry["by_type"].items()
        )
        click.echo(f"  {entry['rule_set']} ({entry['version']}): {shown or 'no alerts'}")
    for line in result.notes:
        click.echo(f"  note: {line}")
    click.echo(f"results: {result.result_dir}")
    click.echo(f"report: {report}")


if __name__ == "__main__":
    main()
