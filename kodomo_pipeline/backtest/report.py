"""効果検証レポート: the backtest report for the town's staff — one self-contained HTML file and metrics.csv.

`write_report(result_dir)` reads the engine's result folder (see metrics.py for the files and every definition),
writes `metrics.csv` and `report.html` next to them and returns the HTML path. `headline(result_dir)` gives the
figures the Dagster asset shows in its metadata.

The plots are inline SVG computed here and drawn by a small macro in the template: the town's network is closed
(LGWAN — no CDN, and the file must open anywhere it is copied to, so no JavaScript and no external file either),
and no plotting library is installed (matplotlib is not among the pinned dependencies). Geometry is computed in
Python; the template only writes the elements, so every label still goes through Jinja's autoescaping.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kodomo_pipeline.backtest.metrics import (
    ALL_LEVELS,
    ALL_TYPES,
    LEVEL_SETS,
    SWEEP_THRESHOLDS,
    Figures,
    Metrics,
    compute,
    headline_of,
    load,
    metrics_frame,
)
from kodomo_pipeline.reports import render_template
from kodomo_pipeline.rules.domain import LEVELS, type_name

log = logging.getLogger(__name__)

PALETTE = ("#1f5fa8", "#c0392b", "#2e8b57", "#8e44ad", "#d35400", "#555555")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "4 4", "1 2")  # rule sets apart without colour too (printed in grey)


def _level_set_words(name: str, members: tuple[str, ...]) -> tuple[str, str]:
    """A level set in words (Japanese, English): "A のみ", "B 以上", "C 以上（全アラート）"."""
    if len(members) == 1:
        return f"{members[0]} のみ", f"level {members[0]}"
    return f"{members[-1]} 以上" + ("（全アラート）" if len(members) == len(LEVELS) else ""), name


LEVEL_SET_WORDS = {name: _level_set_words(name, members) for name, members in LEVEL_SETS.items()}
SUBJECT_TYPE_WORDS = {"child": "子ども", "expectant_mother": "妊婦"}


# ---------------------------------------------------------------------------------------------------------------
# SVG geometry (drawn by the `chart` macro in backtest_report.html.j2)


@dataclass
class Series:
    name: str
    colour: str
    dash: str
    segments: list[str]  # "x,y x,y …" polylines, broken where a value is missing
    dots: list[tuple[float, float, str]]  # x, y, tooltip


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str


@dataclass
class Chart:
    title: str
    title_en: str
    width: int = 360
    height: int = 230
    left: int = 46
    top: int = 28
    right: int = 12
    bottom: int = 42
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    marks: list[tuple[float, str, str]] = field(default_factory=list)  # vertical lines: x, label, colour
    legend: list[tuple[str, str, str]] = field(default_factory=list)  # name, colour, dash
    note: str = ""

    @property
    def plot_right(self) -> float:
        return self.width - self.right

    @property
    def plot_bottom(self) -> float:
        return self.height - self.bottom


def _nice_max(value: float) -> float:
    """The axis top: a round number whose quarters (the grid lines) are round too."""
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    return next(step * exponent for step in (1, 1.2, 1.6, 2, 3, 4, 5, 6, 8, 10) if step * exponent >= value)


def _y_axis(chart: Chart, y_max: float, percent: bool) -> None:
    for i in range(5):
        value = y_max * i / 4
        y = chart.plot_bottom - (chart.plot_bottom - chart.top) * i / 4
        chart.y_ticks.append((y, f"{value:.0%}" if percent else f"{value:g}"))


def _y(chart: Chart, value: float, y_max: float) -> float:
    return chart.plot_bottom - (chart.plot_bottom - chart.top) * min(value, y_max) / y_max


def _chart_with_axis(
    title: str, title_en: str, width: int, series: Sequence[tuple[str, Sequence[float | None]]], percent: bool
) -> tuple[Chart, float]:
    """An empty chart and its y axis, up to 100 % for shares or a round number above the largest value."""
    chart = Chart(title, title_en, width=width)
    values = [v for _, vs in series for v in vs if v is not None]
    y_max = 1.0 if percent else _nice_max(max(values, default=0.0))
    _y_axis(chart, y_max, percent)
    return chart, y_max


def line_chart(
    title: str,
    title_en: str,
    x_labels: Sequence[str],
    lines: Sequence[tuple[str, Sequence[float | None]]],
    percent: bool,
    marks: Sequence[tuple[int, str, str]] = (),
    max_labels: int = 8,
    width: int = 360,
) -> Chart:
    """One line per (name, values) over categorical x positions; None breaks the line (a value not derivable)."""
    chart, y_max = _chart_with_axis(title, title_en, width, lines, percent)
    n = len(x_labels)
    span = chart.plot_right - chart.left

    def x_at(i: int) -> float:
        return chart.left + (span * (i + 0.5) / n if n else 0)

    step = max(1, math.ceil(n / max_labels))
    chart.x_ticks = [(x_at(i), label) for i, label in enumerate(x_labels) if i % step == 0]
    for k, (name, vs) in enumerate(lines):
        colour, dash = PALETTE[k % len(PALETTE)], DASHES[k % len(DASHES)]
        segments, current, dots = [], [], []
        for i, v in enumerate(vs):
            if v is None:
                if current:
                    segments.append(" ".join(current))
                current = []
                continue
            x, y = x_at(i), _y(chart, v, y_max)
            current.append(f"{x:.1f},{y:.1f}")
            dots.append((round(x, 1), round(y, 1), f"{name} {x_labels[i]}: {_fmt(v, percent)}"))
        if current:
            segments.append(" ".join(current))
        chart.series.append(Series(name, colour, dash, segments, dots))
        chart.legend.append((name, colour, dash))
    for index, label, colour in marks:
        chart.marks.append((x_at(index), label, colour))
    return chart


def bar_chart(
    title: str,
    title_en: str,
    groups: Sequence[str],
    bars: Sequence[tuple[str, Sequence[float | None]]],
    percent: bool,
    width: int = 360,
) -> Chart:
    """Grouped bars: one group per x label, one bar per (name, values) in the rule set's colour."""
    chart, y_max = _chart_with_axis(title, title_en, width, bars, percent)
    group_width = (chart.plot_right - chart.left) / max(1, len(groups))
    bar_width = group_width * 0.8 / max(1, len(bars))
    for g, group in enumerate(groups):
        chart.x_ticks.append((chart.left + group_width * (g + 0.5), group))
        for k, (_name, vs) in enumerate(bars):
            v = vs[g]
            if v is None:
                continue
            x = chart.left + group_width * (g + 0.1) + bar_width * k
            y = _y(chart, v, y_max)
            chart.bars.append(
                Bar(
                    round(x, 1),
                    round(y, 1),
                    round(bar_width - 1, 1),
                    round(chart.plot_bottom - y, 1),
                    PALETTE[k % len(PALETTE)],
                    _fmt(v, percent),
                )
            )
    chart.legend = [(name, PALETTE[k % len(PALETTE)], "") for k, (name, _) in enumerate(bars)]
    return chart


# ---------------------------------------------------------------------------------------------------------------
# formatting


def _fmt(value: float | None, percent: bool = False, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%" if percent else f"{value:.{digits + 1}f}"


def _lead(f: Figures) -> str:
    q1, med, q3 = f.lead
    if med is None:
        return "—"
    return f"{med:g}日 ({q1:g}–{q3:g}, n={len(f.lead_days)})"


def _cell(f: Figures) -> dict[str, str]:
    return {
        "per100": _fmt(f.alerts_per_100),
        "per100_mean": _fmt(f.alerts_per_100_mean),
        "alerts": str(f.alerts),
        "evaluated": str(f.evaluated_alerts),
        "precision": _fmt(f.precision, True),
        "precision_mean": _fmt(f.precision_mean, True),
        "tp": str(f.true_positives),
        "recall": _fmt(f.recall, True),
        "recall_mean": _fmt(f.recall_mean, True),
        "outcomes": str(f.positives),
        "caught": str(f.caught),
        "lead": _lead(f),
        "econ_share": _fmt(f.economic_only_share, True),
        "econ": str(f.economic_only_alerts),
        "misses": str(f.misses),
        "misses_known": str(f.misses_known),
        "misses_unknown": str(f.misses_unknown),
        "misses_econ": str(f.misses_economic_only),
        "misses_econ_share": _fmt(f.misses_economic_only_share, True),
    }


# ---------------------------------------------------------------------------------------------------------------
# the page


def _outcome_events(events: Any) -> list[tuple[str, str]]:
    """The engine's `outcome_events` ({AB: {id: name}}) as (type, names in words) for the page."""
    if not isinstance(events, dict):
        return []
    return [
        (
            type_name(str(code)),
            "、".join(str(v) for v in (names.values() if isinstance(names, dict) else [])),
        )
        for code, names in events.items()
    ]


def _context(metrics: Metrics) -> dict[str, Any]:
    bt = metrics.backtest
    names = [rs.name for rs in bt.rule_sets]
    types = list(bt.types)
    meta = bt.parameters

    level_rows = []
    for dtype in [*types, ALL_TYPES]:
        for level_set in LEVEL_SETS:
            level_rows.append(
                {
                    "type": dtype,
                    "level": level_set,
                    "level_words": LEVEL_SET_WORDS[level_set],
                    "cells": [_cell(metrics.level(n, dtype, level_set)) for n in names],
                }
            )

    headline_charts = [
        bar_chart(
            "適中率（C以上）",
            "precision, level ≥ C",
            types,
            [(n, [metrics.level(n, t, ALL_LEVELS).precision for t in types]) for n in names],
            True,
        ),
        bar_chart(
            "捕捉率（C以上）",
            "recall, level ≥ C",
            types,
            [(n, [metrics.level(n, t, ALL_LEVELS).recall for t in types]) for n in names],
            True,
        ),
        bar_chart(
            "子ども100人あたりのアラート数（C以上）",
            "alerts per 100 children, level ≥ C",
            types,
            [(n, [metrics.level(n, t, ALL_LEVELS).alerts_per_100 for t in types]) for n in names],
            False,
        ),
    ]

    # over time: the meeting's workload and recall per replay date, level ≥ C, every type together
    all_dates = sorted({d for n in names for d in bt.dates.get(n, [])})
    labels = [d.strftime("%Y-%m") for d in all_dates]

    def over_time(attr: str) -> list[tuple[str, list[float | None]]]:
        lines = []
        for n in names:
            by = {d.as_of: getattr(d, attr) for d in metrics.level(n, ALL_TYPES, ALL_LEVELS).by_date}
            lines.append((n, [by.get(d) for d in all_dates]))
        return lines

    time_charts = [
        line_chart(
            "子ども100人あたりのアラート数（C以上・全種類）",
            "alerts per 100 children over time",
            labels,
            over_time("alerts_per_100"),
            False,
            width=540,
        ),
        line_chart("捕捉率（C以上・全種類）", "recall over time", labels, over_time("recall"), True, width=540),
    ]

    thresholds = list(SWEEP_THRESHOLDS)
    sweep_blocks = []
    for dtype in types:
        marks = []
        for k, rs in enumerate(bt.rule_sets):
            for level in reversed(LEVELS):
                t = rs.levels.get(level)
                if t in thresholds:
                    marks.append((thresholds.index(t), level, PALETTE[k % len(PALETTE)]))
        charts = []
        for attr, title, title_en, percent in (
            ("precision", "適中率", "precision", True),
            ("recall", "捕捉率", "recall", True),
            ("alerts_per_100", "100人あたり件数", "alerts per 100 children", False),
        ):
            lines = [(n, [getattr(metrics.threshold(n, dtype, t), attr) for t in thresholds]) for n in names]
            charts.append(
                line_chart(
                    f"{dtype} {title}",
                    f"{title_en} by score threshold",
                    [str(t) for t in thresholds],
                    lines,
                    percent,
                    marks=marks,
                    max_labels=15,
                    width=300,
                )
            )
        table = [
            {
                "t": t,
                "cells": [_cell(metrics.threshold(n, dtype, t)) for n in names],
                "derivable": [metrics.threshold(n, dtype, t).derivable for n in names],
            }
            for t in thresholds
        ]
        sweep_blocks.append({"type": dtype, "charts": charts, "table": table})

    replays = []
    for rs in bt.rule_sets:
        ds = bt.dates.get(rs.name, [])
        kids = [bt.children.get((rs.name, d), 0) for d in ds]
        evaluated = [d for d in ds if bt.complete.get((rs.name, d), True)]
        secs = [bt.seconds.get((rs.name, d), 0.0) for d in ds]
        replays.append(
            {
                "name": rs.name,
                "version": rs.version,
                "file": rs.file,
                "replays": len(ds),
                "evaluated": len(evaluated),
                "last_evaluated": evaluated[-1].isoformat() if evaluated else "—",
                "suppressed": bt.flags.get(rs.name, {}).get("suppressed"),
                "known_case": bt.flags.get(rs.name, {}).get("known_case"),
                "levels": rs.levels,
                "overrides": sorted(rs.override_rules),
                "children": f"{sum(kids) / len(kids):.0f}" if kids else "—",
                "seconds": f"{sum(secs) / len(secs):.1f}" if secs else "—",
                "first": ds[0].isoformat() if ds else "—",
                "last": ds[-1].isoformat() if ds else "—",
            }
        )

    return {
        "town": bt.town,
        "meta": meta,
        "horizon": bt.horizon,
        "rule_sets": replays,
        "names": names,
        "colours": [PALETTE[k % len(PALETTE)] for k in range(len(names))],
        "types": types,
        "headline": [
            {
                "name": n,
                "rows": [{"type": t, **_cell(metrics.level(n, t, ALL_LEVELS))} for t in types],
                "all": _cell(metrics.level(n, ALL_TYPES, ALL_LEVELS)),
            }
            for n in names
        ],
        "headline_charts": headline_charts,
        "time_charts": time_charts,
        "level_rows": level_rows,
        "sweep_blocks": sweep_blocks,
        "sweep_from": metrics.sweep_from,
        "below_c": bt.below_c is not None,
        "outcome_count": len(bt.outcomes),
        "outcome_definitions": meta.get("outcomes_file") or meta.get("outcome_definitions") or "",
        "outcomes_version": meta.get("outcomes_version") or "",
        "outcome_events": _outcome_events(meta.get("outcome_events")),
        "outcomes_until": meta.get("outcomes_until") or "",
        "notes": [str(n) for n in bt.meta.get("notes") or []],
        "generated_at": dt.datetime.now().replace(microsecond=0).isoformat(sep=" "),
    }


def write_report(result_dir: Path) -> Path:
    """Write `metrics.csv` and `report.html` into the result folder; return the HTML file's path."""
    result_dir = Path(result_dir)
    metrics = compute(load(result_dir))
    metrics_frame(metrics).to_csv(result_dir / "metrics.csv", index=False, encoding="utf-8")
    html = render_template("backtest_report.html.j2", **_context(metrics))
    path = result_dir / "report.html"
    path.write_text(html, encoding="utf-8")
    log.info("backtest report written: %s (%d rule set(s))", path, len(metrics.backtest.rule_sets))
    return path


def headline(result_dir: Path) -> dict[str, Any]:
    """Per rule set and difficulty type: precision and recall at level ≥ C and alerts per 100 children (pooled)."""
    return headline_of(compute(load(Path(result_dir))))
