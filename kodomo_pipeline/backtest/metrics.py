"""効果検証の指標: precision, recall, workload and lead time of replayed alerts against later outcomes.

Reads a backtest result folder (`backtest_<town>_<YYYYMMDD>/`, written by engine.py) — `alerts.csv`,
`outcomes.csv`, `replays.csv` (UTF-8 with or without BOM), `backtest.json` and, when the engine writes it, the
optional `below_c.csv` (same columns as alerts.csv, one row per subject × type whose score is above 0 but below
the C boundary) — and computes the figures the report shows. Only pseudonymous keys are read; none is ever logged
or returned.

Definitions (the same everywhere; `h` = the horizon, T = a replay date of one rule set):
- A **subject** is (subject_key, subject_type): a 16-year-old expectant mother and the same girl as a child are
  two subjects, as in the alerts. Alerts and outcomes are matched on subject and difficulty type.
- A **positive** at T for type d is a subject with an outcome of type d dated in (T, T + h].
- Only replay dates whose horizon is **complete** (replays.csv `horizon_complete`, else T + h ≤ the run's
  `outcomes_until`) enter precision, recall, lead time and misses; every date enters the workload. Alerts the
  meeting dismissed (対応不要, `suppressed` 1) count as alerts: the rules are judged, not the meeting.
- **Alerted at level L at T**: an alert row at T of type d whose level is in L (A; A+B; A+B+C).
- **Precision** at T = alert rows at T (level in L) whose subject is a positive at T / alert rows at T.
- **Recall** at T = positives at T that were alerted at T at level in L / positives at T.
- Both are given **averaged over replay dates** (mean of the per-date ratios, dates where the ratio is undefined
  — no alerts, resp. no positives — left out) and **pooled** (sums over all dates, then the ratio).
- **Alerts per 100 children** at T = 100 × alert rows at T / child subjects at T (replays.csv); expectant-mother
  alerts count in the numerator (they are on the meeting's list too) but not in the denominator.
- **Lead time**: for each subject and type, its first outcome dated in (first T, last T + h]; the first alert is
  the earliest replay date T with T < outcome ≤ T + h at which the subject was alerted at level in L; lead time =
  outcome date − that T in days. Outcomes never alerted that way have no lead time (they are misses). It is
  therefore at most h, consistent with precision and recall.
- **Sweep**: a subject × type is flagged at threshold t when its score ≥ t, or when it is level A by an override
  (a rule with effect level_A…, e.g. R13, or level A below the A boundary) — no boundary change removes those.
  alerts.csv only has scores from the C boundary up, so thresholds below C are not derivable (None) unless
  below_c.csv exists.
- **Economic only**: the share of alert rows with economic_only = 1. A **miss** at T is a positive not alerted at
  level in L. Its indicators are known when the subject has a lower-level alert at T (or a below_c.csv row, or
  — when below_c.csv exists — no row, meaning no indicator at all); otherwise they are unknown and counted apart.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from kodomo_pipeline.backtest.period import Period
from kodomo_pipeline.backtest.result_files import (
    ALERTS,
    BELOW_C,
    OUTCOMES,
    REPLAYS,
    BacktestFormatError,
    read_manifest,
    read_table,
)
from kodomo_pipeline.rules.domain import (
    LEVEL_A_EFFECT,
    LEVELS,
    difficulty_names,
    level_a_override_rules,
    level_boundaries,
)

log = logging.getLogger(__name__)

ALL_TYPES = "全種類"  # every difficulty type together (the meeting's whole list)
# The level sets the report compares, most urgent first: A, A+B, A+B+C (the rule file's levels).
LEVEL_SETS: dict[str, tuple[str, ...]] = {"+".join(LEVELS[: i + 1]): LEVELS[: i + 1] for i in range(len(LEVELS))}
ALL_LEVELS = "+".join(LEVELS)  # every alert: level ≥ the lowest level
SWEEP_THRESHOLDS = tuple(range(1, 16))


class AlertRow(NamedTuple):
    key: str
    subject_type: str
    difficulty_type: str
    level: str  # A/B/C; "" for a below_c.csv row
    score: int
    economic_only: bool
    indicators: tuple[str, ...]


@dataclass(frozen=True)
class RuleSetInfo:
    name: str
    version: str
    file: str
    levels: dict[str, int]  # minimum score per level
    override_rules: frozenset[str]  # rules that set level A whatever the score

    def is_override(self, row: AlertRow) -> bool:
        return row.level == LEVELS[0] and (
            row.score < self.levels[LEVELS[0]] or any(r in self.override_rules for r in row.indicators)
        )


@dataclass
class Backtest:
    """One result folder, read and indexed (pseudonymous keys stay in memory only)."""

    result_dir: Path
    meta: dict[str, Any]
    town: str
    horizon: str
    rule_sets: list[RuleSetInfo]
    dates: dict[str, list[dt.date]]  # rule set → replay dates, ascending
    children: dict[tuple[str, dt.date], int]
    seconds: dict[tuple[str, dt.date], float]
    complete: dict[tuple[str, dt.date], bool]  # outcomes known up to T + horizon (else T counts for workload only)
    rows: dict[tuple[str, dt.date], list[AlertRow]]  # (rule set, T) → alert rows
    below_c: dict[tuple[str, dt.date], list[AlertRow]] | None
    outcomes: list[tuple[str, str, str, dt.date]]  # (key, subject type, difficulty type, date), deduplicated
    types: tuple[str, ...]
    flags: dict[str, dict[str, int]]  # rule set → {"suppressed": n, "known_case": n} alert rows (when present)

    @property
    def parameters(self) -> dict[str, Any]:
        """The run's parameters: `parameters` in the engine's backtest.json, else the top level."""
        params = self.meta.get("parameters")
        return params if isinstance(params, dict) else self.meta

    def horizon_end(self, day: dt.date) -> dt.date:
        return horizon_end(day, self.horizon)


def horizon_end(day: dt.date, horizon: str) -> dt.date:
    """T + horizon for "6M", "1Y", "26W" or "180D" (backtest/period.py, as the engine reads it)."""
    try:
        return Period.parse(horizon).after(day)
    except ValueError as exc:
        raise BacktestFormatError(f"horizon {exc}") from None


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(str(value).strip()[:10])


def _flag(value: str) -> bool:
    return str(value).strip().lower() in ("1", "true", "t", "yes", "1.0")


def _resolve(file: str, result_dir: Path) -> Path | None:
    if not file:
        return None
    path = Path(file)
    candidates = [path] if path.is_absolute() else [result_dir / path, Path.cwd() / path]
    if not path.is_absolute():
        from kodomo_pipeline.config.paths import config_root

        candidates.append(config_root() / path)
    return next((c for c in candidates if c.is_file()), None)


def _rule_set_info(entry: dict[str, Any], result_dir: Path) -> RuleSetInfo:
    """Level boundaries and override rules: from the entry (`levels`, `override_rules`: what was in force, town
    overrides included), else the rule set file, else the shared rule file (rules/risk_rules_v1.yaml)."""
    levels, overrides = level_boundaries(), set()
    path = _resolve(str(entry.get("file") or ""), result_dir)
    if path is not None:
        try:
            from kodomo_pipeline.rules.ruleset import read_rules_yaml

            data = read_rules_yaml(path)
            for level, spec in (data.get("levels") or {}).items():
                if isinstance(spec, dict) and "min_score" in spec:
                    levels[level] = int(spec["min_score"])
            for rule_id, rule in (data.get("rules") or {}).items():
                if isinstance(rule, dict) and str(rule.get("effect") or "").startswith(LEVEL_A_EFFECT):
                    overrides.add(rule_id)
        except Exception as exc:  # a broken file must not stop the report; the defaults are said in the log
            log.warning(
                "rule set file %s unreadable (%s); using the shared rule file's level boundaries", path.name, exc
            )
    for level, value in (entry.get("levels") or {}).items():
        levels[level] = int(value["min_score"] if isinstance(value, dict) else value)
    if "override_rules" in entry:
        overrides = {str(r) for r in entry["override_rules"] or []}
    elif not overrides and path is None:
        overrides = set(level_a_override_rules())  # the shared rule file's (R13 in v1)
    return RuleSetInfo(
        str(entry["name"]), str(entry.get("version") or ""), str(entry.get("file") or ""), levels, frozenset(overrides)
    )


def _alert_rows(frame: pd.DataFrame) -> dict[tuple[str, dt.date], list[AlertRow]]:
    rows: dict[tuple[str, dt.date], list[AlertRow]] = defaultdict(list)
    for rec in frame.itertuples(index=False):
        indicators = tuple(i.strip() for i in str(rec.indicators).split(";") if i.strip())
        score = int(float(rec.score)) if str(rec.score).strip() else 0
        rows[(str(rec.rule_set), _date(rec.as_of))].append(
            AlertRow(
                str(rec.subject_key),
                str(rec.subject_type),
                str(rec.difficulty_type),
                str(rec.level).strip(),
                score,
                _flag(rec.economic_only),
                indicators,
            )
        )
    return rows


def load(result_dir: Path) -> Backtest:
    """Read a result folder. Raises BacktestFormatError naming the file and column when something is missing."""
    result_dir = Path(result_dir)
    meta = read_manifest(result_dir)
    params = meta.get("parameters") if isinstance(meta.get("parameters"), dict) else meta
    alerts = read_table(result_dir, ALERTS)
    outcomes = read_table(result_dir, OUTCOMES)
    replays = read_table(result_dir, REPLAYS)
    below = read_table(result_dir, BELOW_C, required=False)
    assert alerts is not None and outcomes is not None and replays is not None

    entries = [e if isinstance(e, dict) else {"name": str(e)} for e in meta.get("rule_sets") or []]
    names = [str(e["name"]) for e in entries]
    for name in list(dict.fromkeys([*replays["rule_set"], *alerts["rule_set"]])):
        if name not in names:  # a rule set the json does not describe still gets its column
            entries.append({"name": name})
            names.append(name)
    rule_sets = [_rule_set_info(e, result_dir) for e in entries]

    dates: dict[str, list[dt.date]] = defaultdict(list)
    children: dict[tuple[str, dt.date], int] = {}
    seconds: dict[tuple[str, dt.date], float] = {}
    complete: dict[tuple[str, dt.date], bool] = {}
    horizon = str(params.get("horizon", "6M"))
    known_until = _date(params["outcomes_until"]) if params.get("outcomes_until") else None
    for rec in replays.to_dict("records"):
        key = (str(rec["rule_set"]), _date(rec["as_of"]))
        dates[key[0]].append(key[1])
        children[key] = int(float(rec["children"])) if str(rec["children"]).strip() else 0
        seconds[key] = float(rec["seconds"]) if str(rec["seconds"]).strip() else 0.0
        if str(rec.get("horizon_complete", "")).strip():
            complete[key] = _flag(rec["horizon_complete"])
        else:
            complete[key] = known_until is None or horizon_end(key[1], horizon) <= known_until
    rows = _alert_rows(alerts)
    for rule_set, day in rows:  # alerts on a date replays.csv forgot: keep them, children unknown
        if day not in dates[rule_set]:
            dates[rule_set].append(day)
            complete[(rule_set, day)] = known_until is None or horizon_end(day, horizon) <= known_until
    found = {
        (str(r.subject_key), str(r.subject_type), str(r.difficulty_type), _date(r.outcome_date))
        for r in outcomes.itertuples(index=False)
    }
    flags: dict[str, dict[str, int]] = {}
    for column in ("suppressed", "known_case"):
        if column in alerts.columns:
            for rule_set, values in alerts.groupby("rule_set")[column]:
                flags.setdefault(str(rule_set), {})[column] = int(sum(_flag(v) for v in values))
    types = tuple(dict.fromkeys([*difficulty_names(), *alerts["difficulty_type"], *outcomes["difficulty_type"]]))
    return Backtest(
        result_dir=result_dir,
        meta=meta,
        town=str(params.get("town", "")),
        horizon=horizon,
        rule_sets=rule_sets,
        dates={k: sorted(set(v)) for k, v in dates.items()},
        children=children,
        seconds=seconds,
        complete=complete,
        rows=rows,
        below_c=_alert_rows(below) if below is not None else None,
        outcomes=sorted(found, key=lambda o: (o[3], o[2], o[1], o[0])),
        types=types,
        flags=flags,
    )


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def quartiles(values: list[int]) -> tuple[float | None, float | None, float | None]:
    """Q1, median, Q3 with linear interpolation between order statistics (numpy's and pandas' default)."""
    if not values:
        return None, None, None
    ordered = sorted(values)

    def at(q: float) -> float:
        pos = q * (len(ordered) - 1)
        low = int(pos)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)

    return at(0.25), at(0.5), at(0.75)


@dataclass
class DateFigures:
    """One replay date. When its horizon is not complete (outcomes not yet known up to T + h), only the workload
    counts: true positives, positives, caught and misses are 0 and the ratios None."""

    as_of: dt.date
    complete: bool
    children: int
    alerts: int
    true_positives: int
    positives: int
    caught: int
    economic_only_alerts: int
    misses_known: int
    misses_economic_only: int

    @property
    def evaluated_alerts(self) -> int:
        return self.alerts if self.complete else 0

    @property
    def precision(self) -> float | None:
        return _ratio(self.true_positives, self.alerts) if self.complete else None

    @property
    def recall(self) -> float | None:
        return _ratio(self.caught, self.positives) if self.complete else None

    @property
    def alerts_per_100(self) -> float | None:
        return _ratio(100 * self.alerts, self.children)


def _summed(name: str) -> property:
    """A count of Figures: the DateFigures count of that name summed over the replay dates."""
    return property(lambda self: sum(getattr(d, name) for d in self.by_date))


@dataclass
class Figures:
    """One rule set × one difficulty type (or 全種類) × one selection (a level set or a sweep threshold)."""

    rule_set: str
    difficulty_type: str
    selection: str  # "A", "A+B", "A+B+C" or "score>=t"
    by_date: list[DateFigures]
    lead_days: list[int] = field(default_factory=list)
    derivable: bool = True

    @property
    def replays(self) -> int:
        return len(self.by_date)

    @property
    def evaluated_replays(self) -> int:
        """Replay dates whose horizon is complete: precision, recall, lead time and misses use only these."""
        return sum(d.complete for d in self.by_date)

    # Counts over the replay dates (evaluated_alerts and the outcome counts come from complete horizons only).
    evaluated_alerts = _summed("evaluated_alerts")
    alerts = _summed("alerts")
    children = _summed("children")
    true_positives = _summed("true_positives")
    positives = _summed("positives")
    caught = _summed("caught")
    economic_only_alerts = _summed("economic_only_alerts")
    misses_known = _summed("misses_known")
    misses_economic_only = _summed("misses_economic_only")

    @property
    def precision(self) -> float | None:
        return _ratio(self.true_positives, self.evaluated_alerts) if self.derivable else None

    @property
    def recall(self) -> float | None:
        return _ratio(self.caught, self.positives) if self.derivable else None

    @property
    def alerts_per_100(self) -> float | None:
        return _ratio(100 * self.alerts, self.children) if self.derivable else None

    @property
    def precision_mean(self) -> float | None:
        return _mean(d.precision for d in self.by_date) if self.derivable else None

    @property
    def recall_mean(self) -> float | None:
        return _mean(d.recall for d in self.by_date) if self.derivable else None

    @property
    def alerts_per_100_mean(self) -> float | None:
        return _mean(d.alerts_per_100 for d in self.by_date) if self.derivable else None

    @property
    def lead(self) -> tuple[float | None, float | None, float | None]:
        return quartiles(self.lead_days)

    @property
    def economic_only_share(self) -> float | None:
        return _ratio(self.economic_only_alerts, self.alerts)

    @property
    def misses(self) -> int:
        return self.positives - self.caught

    @property
    def misses_unknown(self) -> int:
        return self.misses - self.misses_known

    @property
    def misses_economic_only_share(self) -> float | None:
        """Among misses whose indicators are known (see the module docstring)."""
        return _ratio(self.misses_economic_only, self.misses_known)


Subject = tuple[str, str, str]  # (subject_key, subject_type, difficulty_type): what an alert and an outcome share


def _subject(row: AlertRow) -> Subject:
    return (row.key, row.subject_type, row.difficulty_type)


class _Evaluator:
    def __init__(self, bt: Backtest) -> None:
        self.bt = bt
        all_dates = sorted({d for ds in bt.dates.values() for d in ds})
        self.ends = {day: bt.horizon_end(day) for day in all_dates}
        self.positives: dict[dt.date, set[Subject]] = {
            day: {(k, st, t) for k, st, t, when in bt.outcomes if day < when <= end} for day, end in self.ends.items()
        }
        self._first: dict[str, dict[Subject, dt.date]] = {}
        self._cache: dict[tuple[str, dt.date, str], tuple[list[AlertRow], list[AlertRow], set, list[AlertRow]]] = {}

    def first_outcomes(self, rs: RuleSetInfo) -> dict[Subject, dt.date]:
        """Each subject × type's first outcome in (first T, last complete T + h] of the rule set, for lead times."""
        if rs.name not in self._first:
            first: dict[Subject, dt.date] = {}
            days = self.bt.dates.get(rs.name, [])
            evaluated = [d for d in days if self.bt.complete.get((rs.name, d), True)]
            if evaluated:
                start, stop = days[0], self.ends[evaluated[-1]]
                for key, stype, dtype, when in self.bt.outcomes:  # sorted by date: the first one wins
                    if start < when <= stop:
                        first.setdefault((key, stype, dtype), when)
            self._first[rs.name] = first
        return self._first[rs.name]

    def _day(self, rs: RuleSetInfo, day: dt.date, dtype: str) -> tuple[list, list, set, list]:
        """Alert rows, below-C rows, positives and the rows of positives at one date for one type (cached)."""
        cached = self._cache.get((rs.name, day, dtype))
        if cached is None:
            bt = self.bt
            rows = [r for r in bt.rows.get((rs.name, day), []) if dtype in (ALL_TYPES, r.difficulty_type)]
            lower = [r for r in (bt.below_c or {}).get((rs.name, day), []) if dtype in (ALL_TYPES, r.difficulty_type)]
            positives = {p for p in self.positives.get(day, set()) if dtype in (ALL_TYPES, p[2])}
            if not bt.complete.get((rs.name, day), True):
                positives = set()  # outcomes not known up to T + h yet: this date counts for the workload only
            of_positives = [r for r in rows + lower if _subject(r) in positives]
            cached = self._cache[(rs.name, day, dtype)] = (rows, lower, positives, of_positives)
        return cached

    def figures(
        self,
        rs: RuleSetInfo,
        dtype: str,
        selection: str,
        chosen: Callable[[AlertRow], bool],
        include_below_c: bool = False,
        derivable: bool = True,
    ) -> Figures:
        bt = self.bt
        by_date: list[DateFigures] = []
        alerted_on: dict[Subject, list[dt.date]] = defaultdict(list)

        for day in bt.dates.get(rs.name, []):
            complete = bt.complete.get((rs.name, day), True)
            rows, lower, positives, of_positives = self._day(rs, day, dtype)
            selected = [r for r in (rows + lower if include_below_c else rows) if chosen(r)]
            flagged = {_subject(r) for r in selected}
            if complete:
                for subject in flagged:
                    alerted_on[subject].append(day)
            known: dict[Subject, bool] = {}  # miss → economic only, for misses whose indicators are known
            for r in of_positives:
                subject = _subject(r)
                if subject not in flagged:
                    known[subject] = known.get(subject, True) and r.economic_only
            misses = positives - flagged
            misses_known = len(misses) if bt.below_c is not None else len(known)  # no row = no indicator at all
            by_date.append(
                DateFigures(
                    as_of=day,
                    complete=complete,
                    children=bt.children.get((rs.name, day), 0),
                    alerts=len(selected),
                    true_positives=sum(_subject(r) in positives for r in selected),
                    positives=len(positives),
                    caught=len(positives & flagged),
                    economic_only_alerts=sum(r.economic_only for r in selected),
                    misses_known=misses_known,
                    misses_economic_only=sum(known.values()),
                )
            )
        lead_days = []
        for subject, when in self.first_outcomes(rs).items():
            if dtype not in (ALL_TYPES, subject[2]):
                continue
            earlier = [d for d in alerted_on.get(subject, []) if d < when <= self.ends[d]]
            if earlier:
                lead_days.append((when - min(earlier)).days)
        return Figures(rs.name, dtype, selection, by_date, sorted(lead_days), derivable)


@dataclass
class Metrics:
    backtest: Backtest
    levels: list[Figures]  # rule set × (types + 全種類) × level set
    sweep: list[Figures]  # rule set × types × threshold
    sweep_from: dict[str, int]  # rule set → lowest derivable threshold

    def level(self, rule_set: str, dtype: str, level_set: str) -> Figures:
        return next(
            f for f in self.levels if (f.rule_set, f.difficulty_type, f.selection) == (rule_set, dtype, level_set)
        )

    def threshold(self, rule_set: str, dtype: str, t: int) -> Figures:
        return next(
            f for f in self.sweep if (f.rule_set, f.difficulty_type, f.selection) == (rule_set, dtype, f"score>={t}")
        )


def compute(bt: Backtest | Path) -> Metrics:
    """Every figure of the report for a result folder (or an already loaded Backtest)."""
    if not isinstance(bt, Backtest):
        bt = load(bt)
    ev = _Evaluator(bt)
    levels, sweep, sweep_from = [], [], {}
    for rs in bt.rule_sets:
        for dtype in (*bt.types, ALL_TYPES):
            for name, members in LEVEL_SETS.items():
                levels.append(ev.figures(rs, dtype, name, lambda r, m=members: r.level in m))
        sweep_from[rs.name] = 1 if bt.below_c is not None else max(1, rs.levels[LEVELS[-1]])
        for dtype in bt.types:
            for t in SWEEP_THRESHOLDS:
                sweep.append(
                    ev.figures(
                        rs,
                        dtype,
                        f"score>={t}",
                        lambda r, t=t, rs=rs: r.score >= t or rs.is_override(r),
                        include_below_c=True,
                        derivable=t >= sweep_from[rs.name],
                    )
                )
    log.info(
        "backtest metrics for %s: %d rule set(s), %d outcome event(s)", bt.town, len(bt.rule_sets), len(bt.outcomes)
    )
    return Metrics(bt, levels, sweep, sweep_from)


METRIC_COLUMNS = (
    "section",
    "rule_set",
    "rule_set_version",
    "difficulty_type",
    "level",
    "threshold",
    "as_of",
    "horizon_complete",
    "replays",
    "replays_evaluated",
    "children",
    "alerts",
    "alerts_per_100_children",
    "alerts_per_100_children_mean",
    "true_positives",
    "precision",
    "precision_mean",
    "outcomes",
    "alerted_outcomes",
    "recall",
    "recall_mean",
    "lead_days_n",
    "lead_days_q1",
    "lead_days_median",
    "lead_days_q3",
    "economic_only_alerts",
    "economic_only_alert_share",
    "misses",
    "misses_indicators_known",
    "misses_indicators_unknown",
    "misses_economic_only",
    "misses_economic_only_share",
)

INTEGER_COLUMNS = (
    "threshold",
    "horizon_complete",
    "replays",
    "replays_evaluated",
    "children",
    "alerts",
    "true_positives",
    "outcomes",
    "alerted_outcomes",
    "lead_days_n",
    "economic_only_alerts",
    "misses",
    "misses_indicators_known",
    "misses_indicators_unknown",
    "misses_economic_only",
)


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _row_key(f: Figures, section: str, versions: dict[str, str]) -> dict[str, Any]:
    """The columns that say which figures a metrics.csv row holds (with the selection, per section)."""
    return {
        "section": section,
        "rule_set": f.rule_set,
        "rule_set_version": versions[f.rule_set],
        "difficulty_type": f.difficulty_type,
    }


def _pooled(f: Figures) -> dict[str, Any]:
    """Workload, precision and recall of one selection: pooled over the replay dates and averaged per date."""
    return {
        "children": f.children,
        "alerts": f.alerts,
        "alerts_per_100_children": _round(f.alerts_per_100),
        "alerts_per_100_children_mean": _round(f.alerts_per_100_mean),
        "true_positives": f.true_positives,
        "precision": _round(f.precision),
        "precision_mean": _round(f.precision_mean),
        "outcomes": f.positives,
        "alerted_outcomes": f.caught,
        "recall": _round(f.recall),
        "recall_mean": _round(f.recall_mean),
    }


def metrics_frame(metrics: Metrics) -> pd.DataFrame:
    """metrics.csv: one row per (section, rule set, type, level or threshold[, date]); blank = not applicable.

    section `level`: pooled and date-averaged figures per level set; `by_date`: the same per replay date;
    `sweep`: per score threshold (blank figures = not derivable, see the module docstring).
    """
    versions = {rs.name: rs.version for rs in metrics.backtest.rule_sets}
    out: list[dict[str, Any]] = []
    for f in metrics.levels:
        q1, med, q3 = f.lead
        out.append(
            {
                **_row_key(f, "level", versions),
                "level": f.selection,
                "replays": f.replays,
                "replays_evaluated": f.evaluated_replays,
                **_pooled(f),
                "lead_days_n": len(f.lead_days),
                "lead_days_q1": q1,
                "lead_days_median": med,
                "lead_days_q3": q3,
                "economic_only_alerts": f.economic_only_alerts,
                "economic_only_alert_share": _round(f.economic_only_share),
                "misses": f.misses,
                "misses_indicators_known": f.misses_known,
                "misses_indicators_unknown": f.misses_unknown,
                "misses_economic_only": f.misses_economic_only,
                "misses_economic_only_share": _round(f.misses_economic_only_share),
            }
        )
        for d in f.by_date:
            out.append(
                {
                    **_row_key(f, "by_date", versions),
                    "level": f.selection,
                    "as_of": d.as_of.isoformat(),
                    "horizon_complete": int(d.complete),
                    "replays": 1,
                    "replays_evaluated": int(d.complete),
                    "children": d.children,
                    "alerts": d.alerts,
                    "alerts_per_100_children": _round(d.alerts_per_100),
                    "true_positives": d.true_positives,
                    "precision": _round(d.precision),
                    "outcomes": d.positives,
                    "alerted_outcomes": d.caught,
                    "recall": _round(d.recall),
                    "economic_only_alerts": d.economic_only_alerts,
                    "misses": d.positives - d.caught,
                }
            )
    for f in metrics.sweep:
        row: dict[str, Any] = {
            **_row_key(f, "sweep", versions),
            "threshold": int(f.selection.split(">=")[1]),
            "replays": f.replays,
            "replays_evaluated": f.evaluated_replays,
        }
        out.append(row | _pooled(f) if f.derivable else row)
    frame = pd.DataFrame(out, columns=list(METRIC_COLUMNS))
    for column in INTEGER_COLUMNS:  # counts stay whole numbers in the CSV although some rows leave them blank
        frame[column] = frame[column].astype("Int64")
    return frame


def headline_of(metrics: Metrics) -> dict[str, Any]:
    """The headline figures (pooled over replay dates, level ≥ C) as plain JSON-able values, no personal data."""
    bt = metrics.backtest
    rule_sets = []
    for rs in bt.rule_sets:
        whole = metrics.level(rs.name, ALL_TYPES, ALL_LEVELS)
        by_type = {}
        for dtype in bt.types:
            f = metrics.level(rs.name, dtype, ALL_LEVELS)
            by_type[dtype] = {
                "precision": _round(f.precision, 3),
                "recall": _round(f.recall, 3),
                "alerts_per_100_children": _round(f.alerts_per_100, 2),
                "alerts": f.alerts,
                "alerts_evaluated": f.evaluated_alerts,  # on replay dates whose horizon is complete
                "alerts_with_outcome": f.true_positives,
                "outcomes": f.positives,
                "outcomes_caught": f.caught,
            }
        rule_sets.append(
            {
                "rule_set": rs.name,
                "version": rs.version,
                "alerts": whole.alerts,
                "replays": whole.replays,
                "replays_evaluated": whole.evaluated_replays,
                "alerts_per_100_children": _round(whole.alerts_per_100, 2),
                "precision": _round(whole.precision, 3),
                "recall": _round(whole.recall, 3),
                "by_type": by_type,
            }
        )
    return {
        "town": bt.town,
        "from": bt.parameters.get("from"),
        "to": bt.parameters.get("to"),
        "every": bt.parameters.get("every"),
        "horizon": bt.horizon,
        "level": f">={LEVELS[-1]}",
        "pooled_over_replay_dates": True,
        "replays": len({day for days in bt.dates.values() for day in days}),
        "outcomes": len(bt.outcomes),
        "outcomes_by_type": {dtype: sum(o[2] == dtype for o in bt.outcomes) for dtype in bt.types},
        "rule_sets": rule_sets,
    }
