"""The alert lifecycle as data (`rules/alert_lifecycle.yaml`): labels the SQL reads, the meeting list's words.

alerts.sql reads the `change` labels and the hiding decision as DuckDB variables (`lifecycle_variables`); the
meeting list marks an alert that is back and says why (`change_shown`, `reasons_shown`); decisions the system
cannot tie to an alert state the meeting saw (taio_decisions.sql) go to quarantine through
`record_decision_problems`; and docs/alert_lifecycle.md prints `lifecycle_markdown()`, so the table, the code
and the docs are one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Literal

import duckdb
import pandas as pd
from pydantic import BaseModel, ConfigDict, model_validator

from kodomo_pipeline.config.errors import ConfigError, read_yaml, validate_model
from kodomo_pipeline.config.feed_roles import MEETING_DECISIONS
from kodomo_pipeline.config.feeds import load_feeds
from kodomo_pipeline.config.paths import config_root
from kodomo_pipeline.ingest.reasons import ALERT_STATE_CHECK, REASONS

ChangeKey = Literal["new", "risen", "same", "fallen"]
ReshownKey = Literal["lifted_by_indicator", "lifted_by_score", "returned"]  # alerts.sql writes these codes
ProblemKey = Literal["unknown_alert", "decision_before_alert"]  # taio_decisions.sql writes these codes
DECISIONS_MODEL = "taio_decisions"
DECISION_FEED = MEETING_DECISIONS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DecisionProblem(_Strict):
    column: str
    ja: str
    en: str


class LifecycleRow(_Strict):
    id: str
    before: str
    tonight: str
    change: list[ChangeKey]
    suppressed: bool
    listed: bool
    reshown: ReshownKey | None = None
    quarantine: str | None = None
    note: str | None = None


class Lifecycle(_Strict):
    change: dict[ChangeKey, str]
    suppressing_decision: str
    reshown_mark: str
    reshown: dict[ReshownKey, str]
    decision_problems: dict[ProblemKey, DecisionProblem]
    rows: list[LifecycleRow]

    @model_validator(mode="after")
    def _consistent(self) -> Lifecycle:
        if set(self.change) != {"new", "risen", "same", "fallen"}:
            raise ValueError("change: needs exactly new, risen, same and fallen")
        if set(self.reshown) != {"lifted_by_indicator", "lifted_by_score", "returned"}:
            raise ValueError("reshown: needs lifted_by_indicator, lifted_by_score and returned")
        if set(self.decision_problems) != {"unknown_alert", "decision_before_alert"}:
            raise ValueError("decision_problems: needs unknown_alert and decision_before_alert")
        ids = [row.id for row in self.rows]
        if len(ids) != len(set(ids)):
            raise ValueError("rows: duplicate id")
        known = set(self.decision_problems) | set(REASONS)
        for row in self.rows:
            if row.quarantine and row.quarantine not in known:
                raise ValueError(f"rows.{row.id}.quarantine: unknown reason code {row.quarantine}")
            if row.suppressed and row.listed:
                raise ValueError(f"rows.{row.id}: a suppressed alert is not listed")
        return self


def lifecycle_path() -> Path:
    return config_root() / "rules" / "alert_lifecycle.yaml"


@cache
def load_lifecycle(path: Path | None = None) -> Lifecycle:
    """The lifecycle table, schema-checked (an error names the file and the key)."""
    path = path or lifecycle_path()
    lifecycle = validate_model(Lifecycle, read_yaml(path), path)
    allowed = load_feeds()[DECISION_FEED].columns["decision"].allowed or ()
    if lifecycle.suppressing_decision not in allowed:  # a typo here would silently hide nothing, ever
        raise ConfigError(path, "suppressing_decision", f"not a 判定 the {DECISION_FEED} contract allows")
    return lifecycle


def quarantine_meaning(code: str) -> str:
    """What a quarantine reason code means: the ingestion vocabulary, or the lifecycle's decision problems."""
    if code in REASONS:
        return REASONS[code]
    problem = load_lifecycle().decision_problems.get(code)  # type: ignore[call-overload]
    return f"{problem.ja} / {problem.en}" if problem else ""


def lifecycle_variables(lifecycle: Lifecycle | None = None) -> dict[str, str]:
    """DuckDB variables the alert models read: `change_new` … `change_fallen`, `suppressing_decision`."""
    lifecycle = lifecycle or load_lifecycle()
    values = {f"change_{key}": label for key, label in lifecycle.change.items()}
    return values | {"suppressing_decision": lifecycle.suppressing_decision}


def _text(value: object) -> str | None:
    return None if value is None or (not isinstance(value, list | tuple) and pd.isna(value)) else str(value)


def reshown_note(alert: object, rule_name: Callable[[str], str], lifecycle: Lifecycle | None = None) -> str | None:
    """Why an alert the meeting dismissed, or one absent from the previous run, is on tonight's list (or None).

    `alert` is a row of `alerts` (attribute access); a table made before these columns existed gives None."""
    key = _text(getattr(alert, "reshown", None))
    if key is None:
        return None
    lifecycle = lifecycle or load_lifecycle()
    new = [rule_id for rule_id in (_text(getattr(alert, "new_indicators", None)) or "").split(";") if rule_id]
    fields = {
        "decided_on": _iso(getattr(alert, "decided_on", None)),
        "reviewed_score": _number(getattr(alert, "reviewed_score", None)),
        "score": _number(getattr(alert, "score", None)),
        "new_indicators": "、".join(f"{rule_id} {rule_name(rule_id)}" for rule_id in new),
        "last_shown": _iso(getattr(alert, "last_shown", None)),
    }
    return lifecycle.reshown[key].format(**fields)  # type: ignore[index]


def _number(value: object) -> str:
    """A score as staff write it: 5, not 5.0 (a nullable integer column reaches pandas as float)."""
    return "" if _text(value) is None else str(int(value))  # type: ignore[call-overload]


def _iso(value: object) -> str:
    text = _text(value)
    return "" if text is None else text[:10]


def change_shown(alert: object, lifecycle: Lifecycle | None = None) -> str:
    """The meeting list's 前回比 cell: the change label, and under it 再提示 when the alert is back."""
    lifecycle = lifecycle or load_lifecycle()
    change = str(alert.change)  # type: ignore[attr-defined]
    return change if _text(getattr(alert, "reshown", None)) is None else f"{change}\n{lifecycle.reshown_mark}"


def reasons_shown(
    alert: object, reasons: str, rule_name: Callable[[str], str], lifecycle: Lifecycle | None = None
) -> str:
    """The meeting list's 該当理由 cell: why the alert is back first (if it is), then the reasons in words."""
    note = reshown_note(alert, rule_name, lifecycle)
    return reasons if note is None else f"{note}\n{reasons}"


def record_decision_problems(con: duckdb.DuckDBPyConnection, lifecycle: Lifecycle | None = None) -> int:
    """Put the decisions at T that no shown alert state ties to in `quarantine` (check `alert_state`), replacing
    what an earlier run said about the same files; returns how many. The rows stay in valid_taio_kekka (the
    contract passed): they are held back from suppression, which is judged again every night."""
    lifecycle = lifecycle or load_lifecycle()
    columns = pd.DataFrame(
        [(code, problem.column) for code, problem in lifecycle.decision_problems.items()], columns=["code", "column"]
    )
    con.register("_problem_columns", columns)
    try:
        con.execute(
            f"""DELETE FROM quarantine WHERE feed = '{DECISION_FEED}' AND check_name = ?
                AND sha256 IN (SELECT DISTINCT _sha256 FROM stg_{DECISION_FEED})""",
            [ALERT_STATE_CHECK],
        )
        con.execute(
            f"""INSERT INTO quarantine (feed, file_name, sha256, extract_date, row_number, column_name, check_name,
                                        reason)
                SELECT '{DECISION_FEED}', d._file, d._sha256, d._extract_date, d._row, c.column, ?, d.problem
                FROM {DECISIONS_MODEL} AS d JOIN _problem_columns AS c ON c.code = d.problem""",
            [ALERT_STATE_CHECK],
        )
    finally:
        con.unregister("_problem_columns")
    return con.execute(f"SELECT count(*) FROM {DECISIONS_MODEL} WHERE problem IS NOT NULL").fetchall()[0][0]


def decision_figures(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """Counts for the operator (Dagster metadata of taio_decisions): decisions at T, tied, and untied by reason."""
    rows = con.execute(
        f"SELECT coalesce(problem, 'tied'), count(*) FROM {DECISIONS_MODEL} GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    counts = dict(rows)
    return {
        "decisions": sum(counts.values()),
        "decisions_tied": counts.pop("tied", 0),
        "decisions_quarantined_by_reason": counts,
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def lifecycle_markdown(lifecycle: Lifecycle | None = None, reasons: Mapping[str, str] | None = None) -> str:
    """The table for docs/alert_lifecycle.md, rendered from the YAML (a test keeps the two the same)."""
    lifecycle = lifecycle or load_lifecycle()
    reasons = reasons or REASONS
    header = ["状況 (id)", "前回まで / before", "今回 / tonight", "前回比 (change)", "除外 / suppressed",
              "会議リストの表示 / meeting list"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in lifecycle.rows:
        change = "／".join(lifecycle.change[key] for key in row.change) or "（行なし / no row）"
        if len(row.change) == len(lifecycle.change):
            change = "いずれか / any"
        shows = [f"載る（{change}）" if row.listed else "載らない"]
        if row.reshown:
            shows.append(f"前回比に「{lifecycle.reshown_mark}」、該当理由の先頭に「{lifecycle.reshown[row.reshown]}」")
        if row.quarantine:
            problem = lifecycle.decision_problems.get(row.quarantine)
            why = problem.ja if problem else reasons[row.quarantine]
            shows.append(f"判定の行は隔離 `{row.quarantine}`：{why}")
        if row.note:
            shows.append(row.note)
        cells = [row.id, row.before, row.tonight, change, "はい" if row.suppressed else "いいえ", "<br>".join(shows)]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


TABLE_START = "<!-- the table below is rendered from rules/alert_lifecycle.yaml -->"
TABLE_END = "<!-- end of the rendered table -->"


def refresh_doc(path: Path) -> None:
    """Replace the rendered table between the two markers of `path` (docs/alert_lifecycle.md) with the YAML's."""
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    path.write_text(f"{head}{TABLE_START}\n{lifecycle_markdown()}{TABLE_END}{tail}", encoding="utf-8")


if __name__ == "__main__":  # python -m kodomo_pipeline.sqlmodels.lifecycle docs/alert_lifecycle.md
    import sys

    refresh_doc(Path(sys.argv[1]))
