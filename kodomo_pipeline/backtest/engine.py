"""効果検証: replay rule sets as of past dates and set their alerts against what happened afterwards.

For each T from `start` to `end` (every `every`), in date order, in a scratch copy of the town's data:
persons, mothers and 名寄せ at T, then for each rule set the real SQL models (`judge_at`: `prepare` + every model in
`run_order`), exactly as the nightly job judges T. Only snapshots extracted on or before T and facts dated on
or before T are read (the models guarantee it; `tests/test_backtest.py` plants a later fact to prove it).

Decisions (documented in the README of the backtest and in `backtest.json`):
- Each rule set has its own alert history, replayed in date order: `change` and 対応不要 suppression at T read
  only that rule set's alerts of earlier dates.
- 対応不要 suppression: the alerts model applies it as in production (decisions dated on or before T), and
  alerts.csv keeps every alert with `suppressed` 1/0. Suppressed alerts count as alerts in the figures: the
  rules are being judged, and a dismissed alert followed by an outcome is a case the rules did find.
- 名寄せ: the Splink model is trained at the first replayed date and every `retrain_months` after (never on
  data after the date it is used for); each T scores its records with it and assigns links as production does.

Output (`<out>/backtest_<town>_<YYYYMMDD of the last T>/`, the report module reads it): alerts.csv, below_c.csv
(subject × type scored above 0 but below level C, same columns, level empty: the threshold sweep needs it),
outcomes.csv, replays.csv and backtest.json (parameters, rule sets with the levels in force, decisions, counts).
Subjects appear only as keyed pseudonyms (the town's key); no resident ID, name or date of birth is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import pandas as pd

from kodomo_pipeline.backtest.metrics import compute, headline_of, load
from kodomo_pipeline.backtest.outcomes import OutcomesFile, load_outcomes, read_outcomes
from kodomo_pipeline.backtest.period import Period
from kodomo_pipeline.backtest.replay import (
    LinkageState,
    copy_town_database,
    history_of,
    ingest_history,
    link_at,
    mark_source,
    reset_replay_tables,
    scratch_database,
)
from kodomo_pipeline.backtest.result_files import (
    ALERT_COLUMNS,
    ALERTS,
    BELOW_C,
    MANIFEST,
    OUTCOME_FILE_COLUMNS,
    OUTCOMES,
    REPLAY_COLUMNS,
    REPLAYS,
    read_manifest,
    read_table,
)
from kodomo_pipeline.config.feed_roles import POSTPARTUM, REGISTRY, linked_feeds
from kodomo_pipeline.config.paths import config_root
from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.exports.csvfile import write_contract_csv
from kodomo_pipeline.privacy.services.pseudonym import PseudonymKey, load_key
from kodomo_pipeline.rules.domain import TYPE_CODES, level_a_override_rules, level_boundaries
from kodomo_pipeline.rules.ruleset import RuleSet, apply_overrides, load_base_rules
from kodomo_pipeline.sqlmodels.runner import judge_at
from kodomo_pipeline.storage.feed_tables import valid_table
from kodomo_pipeline.storage.snapshots import has_table, newest_extract
from kodomo_pipeline.storage.town_db import town_lock


def as_of_dates(start: dt.date, end: dt.date, every: Period) -> list[dt.date]:
    """start, start + every, … up to end (each counted from start, so 31 Jan + 1M, 2M = 28 Feb, 31 Mar)."""
    if end < start:
        raise ValueError("--to must not be before --from")
    dates, k = [], 0
    while (day := every.after(start, k)) <= end:
        dates.append(day)
        k += 1
    return dates


@dataclass(frozen=True)
class RuleSetInfo:
    """A rule set under test: its name in the outputs (the file's stem), its file and the version in force."""

    name: str
    file: Path
    version: str
    sha256: str
    rules: RuleSet = field(repr=False, compare=False)

    def describe(self) -> dict:
        """What the report reads: the level boundaries and the level-A override rules in force (town included)."""
        return {
            "name": self.name,
            "file": str(self.file),
            "version": self.version,
            "sha256": self.sha256,
            "levels": level_boundaries(self.rules),
            "override_rules": sorted(level_a_override_rules(self.rules)),
        }


def load_rule_sets(town: TownConfig, files: Sequence[Path], town_overrides: bool = True) -> list[RuleSetInfo]:
    """Each file is a rule-set YAML like rules/risk_rules_v1.yaml; the town's `rule_overrides:` apply on top (as
    they do in production) unless `town_overrides` is False. Names are file stems, made unique."""
    infos: list[RuleSetInfo] = []
    for file in files or [config_root() / "rules" / "risk_rules_v1.yaml"]:
        path = Path(file).resolve()
        load_base_rules(path)  # schema check, naming the file and key
        rules = apply_overrides(town.path, town.rule_overrides if town_overrides else {}, path)
        name, n = path.stem, 2
        while any(info.name == name for info in infos):
            name, n = f"{path.stem}_{n}", n + 1
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        infos.append(RuleSetInfo(name, path, rules.version, digest, rules))
    return infos


@dataclass
class BacktestResult:
    """What a backtest produced, in memory; the same as the files in `result_dir`."""

    town: str
    parameters: dict
    rule_sets: list[dict]
    alerts: pd.DataFrame  # ALERT_COLUMNS
    below_c: pd.DataFrame  # ALERT_COLUMNS, level "": subjects × types scored above 0 but below level C
    outcomes: pd.DataFrame  # OUTCOME_FILE_COLUMNS + type_code
    replays: pd.DataFrame  # REPLAY_COLUMNS
    result_dir: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    report: Path | None = None

    def headline(self) -> dict:
        """The report's headline figures (metrics.headline_of over the written result folder), so the CLI, the
        Dagster metadata and report.html show the same numbers. No personal values."""
        if self.result_dir is not None:
            return headline_of(compute(load(self.result_dir)))
        with tempfile.TemporaryDirectory(prefix="kodomo_backtest_") as scratch:  # write=False: files for the reader
            return headline_of(compute(load(write_result(replace(self), Path(scratch)))))


def _alert_subject_lookup(con: duckdb.DuckDBPyConnection, key: PseudonymKey) -> Callable[[str], tuple | None]:
    """alert_id → (resident, subject type, type code): `alert_ids` first, else the keyed ID of every resident
    and type (new alert IDs are an HMAC with the town's key, so a decision on an alert this replay never raised
    still names its subject)."""
    known: dict[str, tuple] = {}
    if has_table(con, "alert_ids"):
        for rid, subject_type, code, alert_id in con.execute(
            "SELECT subject_resident_id, subject_type, type_code, alert_id FROM alert_ids"
        ).fetchall():
            known[str(alert_id)] = (str(rid), subject_type, code)
    computed: dict[str, tuple] | None = None

    def lookup(alert_id: str) -> tuple | None:
        nonlocal computed
        if alert_id in known:
            return known[alert_id]
        if computed is None:
            computed = {}
            if has_table(con, valid_table(REGISTRY)):
                query = f"SELECT DISTINCT resident_id FROM {valid_table(REGISTRY)}"
                residents = [r[0] for r in con.execute(query).fetchall()]
                for rid in residents:
                    for subject_type in ("child", "expectant_mother"):
                        for code in TYPE_CODES:
                            computed[key.alert_id(str(rid), subject_type, code)] = (str(rid), subject_type, code)
        return computed.get(alert_id)

    return lookup


def _open_scratch(town: TownConfig, root: Path, inbox: Path | None, until: dt.date, notes: list[str]):
    """The scratch database, filled: a fresh copy of the town's, or the history inbox ingested up to `until`."""
    path = scratch_database(town, root, inbox)
    if inbox is None:
        copy_town_database(town, root, path)
        notes.append(f"data: a copy of the town database ({town.database(root).name})")
        return path, {}
    where = str(inbox.resolve())
    path.parent.mkdir(parents=True, exist_ok=True)
    with town_lock(path), duckdb.connect(str(path)) as con:
        fresh = mark_source(con, "inbox", where)
    if not fresh:  # built from another inbox: start again
        path.unlink()
        path.with_suffix(path.suffix + ".wal").unlink(missing_ok=True)
    with town_lock(path), duckdb.connect(str(path)) as con:
        mark_source(con, "inbox", where)
        counts = ingest_history(con, town, inbox, path.parent / "staging", until)
    notes.append(f"data: history inbox ingested up to {until} ({counts})")
    return path, counts


def run_backtest(
    town: TownConfig,
    root: Path,
    start: dt.date,
    end: dt.date,
    every: str = "1M",
    horizon: str = "6M",
    rule_files: Sequence[Path] = (),
    inbox: Path | None = None,
    out: Path | None = None,
    outcomes_file: Path | None = None,
    retrain_months: int = 12,
    town_overrides: bool = True,
    key: PseudonymKey | None = None,
    progress: Callable[[str], None] | None = None,
    write: bool = True,
) -> BacktestResult:
    """Replay the rule sets at every T and read the outcomes; write the result folder (unless `write` is False)."""
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    step, span = Period.parse(every), Period.parse(horizon)
    dates = as_of_dates(start, end, step)
    if not dates:
        raise ValueError("no replay date between --from and --to")
    rule_sets = load_rule_sets(town, rule_files, town_overrides)
    outcomes_config: OutcomesFile = load_outcomes(outcomes_file)
    key = key or load_key(town.town, root)
    until = span.after(dates[-1])
    notes: list[str] = []
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    database, ingest_counts = _open_scratch(town, root, inbox, until, notes)
    seconds["data"] = time.perf_counter() - t0
    say(f"scratch database ready ({seconds['data']:.1f} s)")

    state = LinkageState(retrain_months=retrain_months)
    alert_frames: list[pd.DataFrame] = []
    below_frames: list[pd.DataFrame] = []
    replay_rows: list[dict] = []
    mother_pairs: set[tuple[str, str]] = set()
    expectant: set[str] = set()
    seconds["linkage"] = seconds["models"] = 0.0
    with town_lock(database), duckdb.connect(str(database)) as con:
        reset_replay_tables(con)
        newest = newest_extract(con)
        for asof in dates:
            t0 = time.perf_counter()
            link_at(con, town, asof, f"backtest-{asof:%Y%m%d}", state)
            linked = time.perf_counter() - t0
            seconds["linkage"] += linked
            for index, info in enumerate(rule_sets):
                t1 = time.perf_counter()
                with history_of(con, index):
                    judge_at(con, town, asof, info.rules, key)
                    alerts = con.execute(
                        """SELECT subject_resident_id, subject_type, difficulty_type, level, score, indicators,
                                  CAST(economic_only AS INTEGER) AS economic_only, known_case,
                                  CAST(suppressed AS INTEGER) AS suppressed FROM alerts"""
                    ).df()
                    below = con.execute(
                        """SELECT subject_resident_id, subject_type, difficulty_type, '' AS level, score, indicators,
                                  CAST(economic_only AS INTEGER) AS economic_only, known_case, 0 AS suppressed
                           FROM risk_scores WHERE level IS NULL AND score > 0"""
                    ).df()
                    children = con.execute("SELECT count(*) FROM subjects WHERE subject_type = 'child'").fetchone()[0]
                    if index == 0:
                        mother_pairs.update(
                            con.execute(
                                """SELECT subject_resident_id, mother_resident_id FROM subject_mothers
                                   WHERE subject_type = 'child' AND mother_resident_id IS NOT NULL"""
                            ).fetchall()
                        )
                        expectant.update(
                            r[0]
                            for r in con.execute(
                                "SELECT subject_resident_id FROM subjects WHERE subject_type = 'expectant_mother'"
                            ).fetchall()
                        )
                modelled = time.perf_counter() - t1
                seconds["models"] += modelled
                alert_frames.append(alerts.assign(rule_set=info.name, as_of=asof))
                below_frames.append(below.assign(rule_set=info.name, as_of=asof))
                end_of_window = span.after(asof)
                replay_rows.append(
                    {
                        "rule_set": info.name,
                        "as_of": asof,
                        "children": int(children),
                        "seconds": round(modelled + linked / len(rule_sets), 3),
                        "rule_set_version": info.version,
                        "alerts": len(alerts),
                        "linkage_seconds": round(linked, 3),
                        "horizon_end": end_of_window,
                        "horizon_complete": newest is not None and newest >= end_of_window,
                    }
                )
            counts = ", ".join(f"{row['rule_set']} {row['alerts']}" for row in replay_rows[-len(rule_sets) :])
            say(f"{asof}: alerts {counts} ({time.perf_counter() - t0:.1f} s)")

        t0 = time.perf_counter()
        outcome_until = min(until, newest) if newest else until
        if any(feed in town.feeds for feed in linked_feeds()) and outcome_until > dates[-1]:
            # Records first seen after the last T, linked with the last model (no training on the answer key).
            link_at(con, town, outcome_until, "backtest-answer-key", state, train=False)
        if has_table(con, valid_table(POSTPARTUM)):  # the questionnaire's own (child, mother) pairs
            mother_pairs.update(
                con.execute(
                    f"""SELECT DISTINCT CAST(child_resident_id AS VARCHAR), CAST(mother_resident_id AS VARCHAR)
                        FROM {valid_table(POSTPARTUM)} WHERE _extract_date <= ?""",
                    [outcome_until],
                ).fetchall()
            )
        mothers = pd.DataFrame(sorted(mother_pairs), columns=["child", "mother"])
        outcomes, not_linked = read_outcomes(
            con,
            outcomes_config,
            set(town.feeds),
            dates[0],
            outcome_until,
            mothers,
            expectant,
            _alert_subject_lookup(con, key),
        )
        seconds["outcomes"] = time.perf_counter() - t0

    pseudonyms: dict[str, str] = {}

    def pseudonym(rid: object) -> str:
        text = str(rid)
        if text not in pseudonyms:
            pseudonyms[text] = key.pseudonym(text)
        return pseudonyms[text]

    def keyed(frames: list[pd.DataFrame]) -> pd.DataFrame:
        rows = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else None
        if rows is None:
            return pd.DataFrame(columns=ALERT_COLUMNS)
        return rows.assign(subject_key=rows["subject_resident_id"].map(pseudonym))[ALERT_COLUMNS]

    alerts, below_c = keyed(alert_frames), keyed(below_frames)
    outcomes = outcomes.assign(subject_key=outcomes["resident_id"].map(pseudonym))
    outcomes = outcomes[[*OUTCOME_FILE_COLUMNS, "type_code"]]
    replays = pd.DataFrame(replay_rows, columns=REPLAY_COLUMNS)
    if not_linked:
        notes.append(f"outcome events 未連携 for {town.town} (feed absent): {', '.join(not_linked)}")
    notes.append(
        f"名寄せ: Splink model trained {state.trainings} time(s) (every {retrain_months} months, on data known at "
        "the date it was trained), reused for the dates in between"
    )
    seconds["total"] = time.perf_counter() - started
    parameters = {
        "town": town.town,
        "from": dates[0].isoformat(),
        "to": dates[-1].isoformat(),
        "every": str(step),
        "horizon": str(span),
        "replay_dates": len(dates),
        "outcomes_until": outcome_until.isoformat(),
        "newest_extract": newest.isoformat() if newest else None,
        "outcomes_file": str((outcomes_file or config_root() / "rules" / "outcomes_v1.yaml").resolve()),
        "outcomes_version": outcomes_config.version,
        "outcome_not_linked": not_linked,
        "town_overrides_applied": town_overrides,
        "data_source": "inbox" if inbox else "town database copy",
        "ingest_counts": ingest_counts,
        "linkage_model_trainings": state.trainings,
        "retrain_months": retrain_months,
        "suppression": "applied as in production (taio_kekka 対応不要 up to T); suppressed alerts are kept in "
        "alerts.csv with suppressed=1 and count as alerts",
        "outcome_window": "T < outcome_date <= T + horizon",
        "outcome_events": {
            code: {event_id: event.name for event_id, event in events.items()}
            for code, events in outcomes_config.outcomes.items()
        },
    }
    result = BacktestResult(
        town.town, parameters, [info.describe() for info in rule_sets], alerts, below_c, outcomes, replays,
        seconds=seconds, notes=notes,
    )  # fmt: skip
    if write:
        target = (out or town.output(root)) / f"backtest_{town.town}_{dates[-1]:%Y%m%d}"
        write_result(result, target)
    return result


def write_result(result: BacktestResult, target: Path) -> Path:
    """alerts.csv, outcomes.csv, replays.csv and backtest.json in `target` (UTF-8 with BOM, CRLF)."""
    target.mkdir(parents=True, exist_ok=True)
    write_contract_csv(result.alerts, ALERT_COLUMNS, target / ALERTS)
    write_contract_csv(result.below_c, ALERT_COLUMNS, target / BELOW_C)
    write_contract_csv(result.outcomes, OUTCOME_FILE_COLUMNS, target / OUTCOMES)
    write_contract_csv(result.replays, REPLAY_COLUMNS, target / REPLAYS)
    manifest = {
        "parameters": result.parameters,
        "rule_sets": result.rule_sets,
        "seconds": {k: round(v, 2) for k, v in result.seconds.items()},
        "notes": result.notes,
        "counts": {
            "alerts": len(result.alerts),
            "below_c": len(result.below_c),
            "outcomes": len(result.outcomes),
            "replays": len(result.replays),
        },
    }
    (target / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    result.result_dir = target
    return target


def read_result(result_dir: Path) -> BacktestResult:
    """A result folder read back as a BacktestResult (dates as dates, flags as ints), through the same reader as
    the report (result_files.py)."""
    manifest = read_manifest(result_dir)

    def read(name: str, dates: list[str]) -> pd.DataFrame:
        frame = read_table(result_dir, name)
        assert frame is not None
        for column in dates:
            frame[column] = pd.to_datetime(frame[column]).dt.date
        return frame

    alerts, below_c = read(ALERTS, ["as_of"]), read(BELOW_C, ["as_of"])
    for frame in (alerts, below_c):
        for column in ("score", "economic_only", "known_case", "suppressed"):
            frame[column] = frame[column].astype(int)
    outcomes = read(OUTCOMES, ["outcome_date", "first_seen"])
    replays = read(REPLAYS, ["as_of", "horizon_end"])
    replays["children"] = replays["children"].astype(int)
    replays["alerts"] = replays["alerts"].astype(int)
    replays["horizon_complete"] = replays["horizon_complete"] == "True"
    return BacktestResult(
        manifest["parameters"]["town"], manifest["parameters"], manifest["rule_sets"], alerts, below_c, outcomes,
        replays,
        result_dir=result_dir, seconds=manifest["seconds"], notes=manifest["notes"],
    )  # fmt: skip
