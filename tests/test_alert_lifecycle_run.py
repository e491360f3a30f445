"""The meeting's decisions through the real nightly job: `kodomo run` (Dagster) twice on a generated town.

Night 1 lists the alerts; the meeting's taio_kekka file (a 対応不要 on a listed alert, one dated before its alert
was ever listed, one for an ID no alert has) lands in the inbox; night 2 hides only the first, keeps the others
on the list, puts the two untied rows in quarantine with their reasons, and `kodomo status` and the Dagster
asset's metadata count them — and the night does not fail.
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest
from click.testing import CliRunner
from dagster import AssetKey, DagsterInstance

from kodomo_pipeline.cli import main
from kodomo_pipeline.config import load_towns
from kodomo_pipeline.exports.meeting_xlsx import meeting_rows
from kodomo_pipeline.orchestration.instance import dagster_home
from tests.conftest import generated_data_root, write_export

T1 = dt.date(2026, 11, 26)
T2 = T1 + dt.timedelta(days=1)
UNKNOWN_ID = "AL-Q7XK2M9P4T8B"


def test_decisions_are_tied_or_quarantined_in_the_nightly_job(tmp_path_factory: pytest.TempPathFactory) -> None:
    town = load_towns()["misato"]
    with generated_data_root(tmp_path_factory, ["misato"], T1, 2500, seed=13) as root:
        with duckdb.connect(str(town.database(root)), read_only=True) as con:
            query = "SELECT alert_id FROM alerts ORDER BY level, score DESC, alert_id"
            listed = [row[0] for row in con.execute(query).fetchall()]
        assert len(listed) >= 2
        dismissed, too_early = listed[0], listed[1]
        decisions = [
            [dismissed, f"{T1:%Y/%m/%d}", "対応不要"],  # the day of night 1's list
            [too_early, f"{T1 - dt.timedelta(days=10):%Y/%m/%d}", "対応不要"],  # before any list showed it
            [UNKNOWN_ID, f"{T1:%Y/%m/%d}", "対応不要"],
        ]
        write_export(town.inbox(root) / f"taio_kekka_{T2:%Y%m%d}.csv", town.feeds["taio_kekka"], decisions)

        result = CliRunner().invoke(main, ["run", "--town", "misato", "--asof", T2.isoformat()])
        assert result.exit_code == 0, result.output

        with duckdb.connect(str(town.database(root)), read_only=True) as con:
            hidden = {row[0] for row in con.execute("SELECT alert_id FROM alerts WHERE suppressed").fetchall()}
            held = con.execute(
                """SELECT row_number, column_name, reason FROM quarantine
                   WHERE feed = 'taio_kekka' AND check_name = 'alert_state' ORDER BY row_number"""
            ).fetchall()
            on_list = {str(row[-1]) for row in meeting_rows(con, T2)}
        assert hidden == {dismissed}
        assert held == [(2, "reviewed_on", "decision_before_alert"), (3, "alert_id", "unknown_alert")]
        assert too_early in on_list and dismissed not in on_list

        status = CliRunner().invoke(main, ["status", "--town", "misato", "--json"])
        assert status.exit_code == 0, status.output
        feed = json.loads(status.output)["feeds"]["taio_kekka"]
        assert feed["quarantine_reasons"] == {"decision_before_alert": 1, "unknown_alert": 1}
        assert feed["rows_valid"] == 3  # the contract passed all three: they are held back from suppression only

        # the operator's view in the Dagster UI: counts on the taio_decisions asset, never an alert ID
        with DagsterInstance.from_config(str(dagster_home(root))) as instance:
            [record] = instance.fetch_materializations(AssetKey(["misato", "taio_decisions"]), limit=1).records
        metadata = {key: value.value for key, value in record.asset_materialization.metadata.items()}
        assert metadata["decisions"] == 3 and metadata["decisions_tied"] == 1
        assert metadata["decisions_quarantined_by_reason"] == {"decision_before_alert": 1, "unknown_alert": 1}
