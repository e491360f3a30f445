"""The backtest's figures agree everywhere: the CLI's lines, the Dagster asset's metadata, report.html and
metrics.csv all come from the report's metrics (backtest/metrics.py), on the same hand-made misato history.

Precision, recall and counts are compared at level ≥ C, pooled over replay dates, per rule set and type.
No personal value is read or printed: subjects are pseudonyms, the output holds counts and ratios.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from kodomo_pipeline.backtest.report import headline
from kodomo_pipeline.privacy.services.pseudonym import load_key
from kodomo_pipeline.rules.domain import difficulty_names
from tests.test_backtest import _write_history

ARGS = {"from": "2026-01-01", "to": "2026-02-01", "horizon": "1M"}
FOLDER = "backtest_misato_20260201"
CLI_TYPE = re.compile(r"([^;\s]+) alerts ([\d,]+) precision ([^;\s]+) recall ([^;\s]+)")
HTML_CELL = re.compile(r'<td class="num">[^<]*<small>\((\d+)/(\d+)\)</small></td>')


def _number(text: str) -> float | None:
    return None if text == "None" else float(text)


def _cli_figures(output: str) -> dict[tuple[str, str], tuple[int, float | None, float | None]]:
    """(rule set, type) → (alerts, precision, recall) from the CLI's lines `  <rule set> (<version>): …`."""
    found = {}
    for line in output.splitlines():
        match = re.match(r"\s+(\S+) \((\S+)\): (.*)$", line)
        if match and "alerts" in match[3]:
            for kind, alerts, precision, recall in CLI_TYPE.findall(match[3]):
                found[(match[1], kind)] = (int(alerts.replace(",", "")), _number(precision), _number(recall))
    return found


def _html_counts(html: str, kinds: tuple[str, ...]) -> dict[str, tuple[int, int, int, int]]:
    """From the report's 要約 table (one rule set): type → (true positives, evaluated alerts, caught, outcomes)."""
    table = html[html.index("<h2>要約") :]
    table = table[: table.index("</table>")]
    rows = {}
    for kind in kinds:
        row = table[table.index(f"<tr><td>{kind}</td>") :]
        row = row[: row.index("</tr>")]
        (tp, evaluated), (caught, outcomes) = HTML_CELL.findall(row)[:2]
        rows[kind] = (int(tp), int(evaluated), int(caught), int(outcomes))
    return rows


def test_cli_metadata_and_report_give_the_same_backtest_figures(towns, home: Path, tmp_path: Path) -> None:
    from dagster import materialize

    from kodomo_pipeline.cli import main
    from kodomo_pipeline.orchestration.backtest_assets import build_backtest_assets
    from kodomo_pipeline.orchestration.resource import KodomoResource

    town = towns["misato"]
    inbox = tmp_path / "history"
    _write_history(inbox, town, load_key(town.town, home))
    cli_out, asset_out = tmp_path / "cli", tmp_path / "asset"

    ran = CliRunner().invoke(
        main,
        ["backtest", "--town", "misato", "--from", ARGS["from"], "--to", ARGS["to"], "--horizon", ARGS["horizon"],
         "--inbox", str(inbox), "--out", str(cli_out)],
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    config = {"from_date": ARGS["from"], "to_date": ARGS["to"], "horizon": ARGS["horizon"], "inbox": str(inbox),
              "out": str(asset_out)}  # fmt: skip
    run = materialize(
        build_backtest_assets(town),
        resources={"kodomo": KodomoResource(home=str(home))},
        run_config={"ops": {"misato__backtest": {"config": config}}},
    )
    assert run.success
    metadata = run.asset_materializations_for_node("misato__backtest")[0].metadata

    kinds = difficulty_names()
    cli = _cli_figures(ran.output)
    for out in (cli_out, asset_out):
        folder = out / FOLDER
        head = headline(folder)  # the report module's own figures for this folder
        metrics = pd.read_csv(folder / "metrics.csv", dtype={"level": str})
        html = (folder / "report.html").read_text(encoding="utf-8")
        assert metadata["replays"].value == head["replays"] == 2
        assert metadata["outcomes_by_type"].value == head["outcomes_by_type"]
        (entry,) = head["rule_sets"]
        name = entry["rule_set"]
        assert metadata[f"{name}_headline"].value == entry["by_type"]
        counts = _html_counts(html, kinds)
        for kind in kinds:
            figures = entry["by_type"][kind]
            row = metrics[
                (metrics["section"] == "level")
                & (metrics["rule_set"] == name)
                & (metrics["difficulty_type"] == kind)
                & (metrics["level"] == "A+B+C")
            ].iloc[0]
            # report.html: (true positives / evaluated alerts), (caught / outcomes)
            assert counts[kind] == (
                figures["alerts_with_outcome"], figures["alerts_evaluated"], figures["outcomes_caught"],
                figures["outcomes"],
            )  # fmt: skip
            # metrics.csv, four digits
            assert (row["alerts"], row["true_positives"], row["outcomes"], row["alerted_outcomes"]) == (
                figures["alerts"], figures["alerts_with_outcome"], figures["outcomes"], figures["outcomes_caught"],
            )  # fmt: skip
            for field in ("precision", "recall"):
                value = figures[field]
                assert (value is None) == pd.isna(row[field])
                if value is not None:
                    assert round(float(row[field]), 3) == value
                    assert metadata[f"{name}_{kind}_{field}"].value == value  # the asset's own float
                else:
                    assert f"{name}_{kind}_{field}" not in metadata
            # the CLI's line
            assert cli[(name, kind)] == (figures["alerts"], figures["precision"], figures["recall"])
    # The history is small but not empty: the figures compared above are real ones.
    abuse = headline(cli_out / FOLDER)["rule_sets"][0]["by_type"][kinds[0]]
    assert abuse["alerts_evaluated"] > 0 and abuse["precision"] is not None and abuse["recall"] is not None
