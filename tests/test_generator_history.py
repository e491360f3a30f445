"""Monthly history from the generator: consistent snapshots, decisions with the pipeline's alert IDs, outcome
dependence and determinism. Assertion messages carry counts only, never names or IDs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kodomo_pipeline.config import TownConfig, load_towns
from kodomo_pipeline.generator import dates as D
from kodomo_pipeline.generator.history import HistorySummary, generate_history, month_dates
from kodomo_pipeline.generator.places import town_places
from kodomo_pipeline.generator.population import CHILD0, build_world
from kodomo_pipeline.generator.rng import Rng
from kodomo_pipeline.generator.town import _town_seed
from kodomo_pipeline.generator.welfare import escalation_days
from kodomo_pipeline.privacy.services.pseudonym import load_key
from tests.conftest import read_export_rows

FIRST, LAST = dt.date(2024, 1, 31), dt.date(2024, 6, 30)
POPULATION = 3000


@pytest.fixture(scope="module")
def towns() -> dict[str, TownConfig]:
    return load_towns()


def _run(town: TownConfig, root: Path, seed: int = 4) -> HistorySummary:
    key = load_key(town.town, root)
    return generate_history(town, root / "inbox", root / "truth", month_dates(FIRST, LAST), POPULATION, seed, key)


@pytest.fixture(scope="module")
def history(towns: dict[str, TownConfig], tmp_path_factory: pytest.TempPathFactory) -> tuple[HistorySummary, Path]:
    root = tmp_path_factory.mktemp("history")
    return _run(towns["misato"], root), root


def test_month_dates_clamp_to_the_month_end() -> None:
    dates = month_dates(dt.date(2024, 1, 31), dt.date(2024, 5, 31))
    assert dates == [dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2024, 3, 31), dt.date(2024, 4, 30),
                     dt.date(2024, 5, 31)]  # fmt: skip
    assert len(month_dates(dt.date(2023, 1, 1), dt.date(2025, 12, 31), 3)) == 12


def test_one_inbox_holds_every_feed_of_every_month(history: tuple[HistorySummary, Path], towns) -> None:
    summary, root = history
    names = {p.name for p in (root / "inbox").glob("*.csv")}
    expected = {f"{feed}_{d:%Y%m%d}.csv" for d in summary.dates for feed in towns["misato"].feeds}
    assert names == expected
    assert set(summary.truth_files) == {"planted_risk", "decisions", "outcomes", "latent_conditions", "links"}


@pytest.mark.parametrize(
    ("feed", "key", "date_column", "person_column"),
    [
        ("jido_soudan", ["case_no"], "received_on", "resident_id"),
        ("nyuyoji_kenshin", ["resident_id", "exam", "attended_on"], "attended_on", "resident_id"),
        ("sango_shitsumon", ["child_resident_id", "assessed_on"], "assessed_on", "child_resident_id"),
        ("ninshin_todoke", ["mother_resident_id", "notified_on"], "notified_on", "mother_resident_id"),
    ],
)
def test_a_fact_of_one_month_is_in_every_later_snapshot(
    history: tuple[HistorySummary, Path], towns, feed: str, key: list[str], date_column: str, person_column: str
) -> None:
    summary, root = history
    town = towns["misato"]
    months = [(d, read_export_rows(root / "inbox" / f"{feed}_{d:%Y%m%d}.csv", town, feed)) for d in summary.dates]
    checked = 0
    for i, (_, early) in enumerate(months):
        for later_date, later in months[i + 1 :]:
            jumin = read_export_rows(root / "inbox" / f"jumin_{later_date:%Y%m%d}.csv", town, "jumin")
            residents = jumin.loc[jumin["status"] == "住民", "resident_id"]
            # Within the exports' look-back windows (health six years, consultations ten), of persons still there.
            recent = pd.to_datetime(early[date_column]) >= pd.Timestamp(later_date) - pd.DateOffset(years=5)
            still = early[early[person_column].isin(residents) & recent.to_numpy()]
            have = set(map(tuple, later[key].to_numpy()))
            missing = sum(tuple(r) not in have for r in still[key].to_numpy())
            assert missing == 0, f"{feed}: {missing} facts vanished in a later snapshot"
            checked += len(still)
    assert checked > 0
    # No snapshot holds a fact dated after its extract date.
    for date, frame in months:
        assert (pd.to_datetime(frame[date_column]).dropna() <= pd.Timestamp(date)).all()


def test_taio_kekka_is_cumulative_and_uses_the_pipelines_alert_ids(history: tuple[HistorySummary, Path], towns):
    summary, root = history
    town = towns["misato"]
    key = load_key("misato", root)
    planted = pd.read_csv(summary.truth_files["planted_risk"], dtype=str, keep_default_na=False)
    code = {"虐待": "AB", "産後うつ": "PP", "発達障がい": "DD"}
    expected: dict[str, str] = {}
    for r in planted.itertuples():
        alert = key.alert_id(r.resident_id, r.subject_type, code[r.difficulty_type])
        expected[alert] = min(expected.get(alert, r.as_of), r.as_of)
    previous: set[str] = set()
    for date in summary.dates:
        frame = read_export_rows(root / "inbox" / f"taio_kekka_{date:%Y%m%d}.csv", town, "taio_kekka")
        ids = set(frame["alert_id"])
        assert previous <= ids
        assert (pd.to_datetime(frame["reviewed_on"]) <= pd.Timestamp(date)).all()
        assert set(frame["decision"]) <= {"対応不要", "見守り", "要対協登録", "緊急対応"}
        previous = ids
    assert len(previous) > 0
    assert previous <= set(expected), "decision for an alert the reference scoring never found"
    decisions = pd.read_csv(summary.truth_files["decisions"], dtype=str)
    assert len(decisions) == summary.decisions == len(previous)
    first_alert = decisions["alert_id"].map(expected)
    assert (decisions["first_alert_as_of"] == first_alert).all()
    assert (pd.to_datetime(decisions["reviewed_on"]) > pd.to_datetime(decisions["first_alert_as_of"])).all()
    # Only part of the alerts get a decision.
    assert len(previous) < len(expected)


def test_decisions_follow_the_latent_condition(towns, tmp_path: Path) -> None:
    summary = generate_history(
        towns["kawashima"], tmp_path / "inbox", tmp_path / "truth", month_dates(dt.date(2023, 1, 20),
        dt.date(2024, 12, 20)), 12000, 2, load_key("kawashima", tmp_path),
    )  # fmt: skip
    d = pd.read_csv(summary.truth_files["decisions"], dtype=str)
    ab = d[d["difficulty_type"] == "虐待"]
    latent = ab["planted_condition"].str.contains("abuse_risk_household")
    positive = ab["decision"].isin(["要対協登録", "緊急対応"])
    assert latent.sum() >= 3 and (~latent).sum() >= 5
    assert positive[latent].mean() > 0.3 > positive[~latent].mean()
    assert (ab.loc[~latent, "decision"] == "対応不要").mean() > 0.35


def test_latent_abuse_risk_drives_later_abuse_consultations() -> None:
    """On the timeline: children of at-risk households get a later abuse consultation far more often."""
    town = load_towns()["kawashima"]
    rng = Rng(_town_seed(1, town.town))
    world = build_world(rng, town_places(town.town, town.name_ja, town.prefecture), 20_000)

    class _Ctx:  # escalation_days reads only the world and the randomness
        pass

    ctx = _Ctx()
    ctx.world, ctx.rng = world, rng  # type: ignore[attr-defined]
    esc = escalation_days(ctx)  # type: ignore[arg-type]
    hh = np.arange(world.n_households)
    at_risk = world.ab_risk
    assert (esc[~at_risk] == D.NEVER).all()
    share = (esc[at_risk] < D.NEVER).mean()
    assert 0.4 < share < 0.9
    # Escalation comes after the household's first child is born: there is time for earlier signs.
    late = esc[at_risk & (esc < D.NEVER)] > world.anchor[hh[at_risk & (esc < D.NEVER)]]
    assert late.all()
    assert world.slot.max() >= CHILD0


def test_outcomes_follow_alerts_more_often_for_flagged_children(towns, tmp_path: Path) -> None:
    """Children alerted (虐待) in the first month get a later 虐待 outcome far more often than the others."""
    summary = generate_history(
        towns["kawashima"], tmp_path / "inbox", tmp_path / "truth", month_dates(dt.date(2022, 1, 20),
        dt.date(2024, 12, 20), 3), 8000, 5, load_key("kawashima", tmp_path),
    )  # fmt: skip
    planted = pd.read_csv(summary.truth_files["planted_risk"], dtype=str, keep_default_na=False)
    outcomes = pd.read_csv(summary.truth_files["outcomes"], dtype=str, keep_default_na=False)
    first = summary.dates[0].isoformat()
    flagged = set(planted.loc[(planted["as_of"] == first) & (planted["difficulty_type"] == "虐待"), "resident_id"])
    jumin = read_export_rows(summary.inbox / f"jumin_{summary.dates[0]:%Y%m%d}.csv", towns["kawashima"], "jumin")
    births = pd.to_datetime(jumin["birth_date"])
    children = set(jumin.loc[(jumin["status"] == "住民") & (births > pd.Timestamp(first) - pd.DateOffset(years=17)),
                             "resident_id"])  # fmt: skip
    later = outcomes[(outcomes["difficulty_type"] == "虐待") & (outcomes["on"] > first)]
    hit = set(later["resident_id"])
    unflagged = children - flagged
    rate_flagged = len(flagged & hit) / max(len(flagged), 1)
    rate_unflagged = len(unflagged & hit) / max(len(unflagged), 1)
    assert len(flagged) >= 10
    assert rate_flagged > 5 * rate_unflagged, f"{rate_flagged:.3f} vs {rate_unflagged:.3f}"
    latent = pd.read_csv(summary.truth_files["latent_conditions"], dtype=str, keep_default_na=False)
    assert {"abuse_risk_household", "developmental"} <= set(latent["condition"])
    assert (latent["first_outcome"] != "").any() and (latent["first_outcome"] == "").any()


def test_same_seed_gives_identical_files(history: tuple[HistorySummary, Path], towns, tmp_path: Path) -> None:
    summary, root = history
    # The same key file, so the alert IDs can match.
    (tmp_path / "keys").mkdir(mode=0o700)
    (tmp_path / "keys" / "misato.key").write_bytes((root / "keys" / "misato.key").read_bytes())
    (tmp_path / "keys" / "misato.key").chmod(0o600)
    again = _run(towns["misato"], tmp_path)
    for path in sorted((root / "inbox").glob("*.csv")):
        assert path.read_bytes() == (tmp_path / "inbox" / path.name).read_bytes(), path.name
    for name, path in summary.truth_files.items():
        assert path.read_bytes() == again.truth_files[name].read_bytes(), name
