"""generate_history: a town's monthly exports over years, review-meeting decisions, and the truth to check a backtest.

The timeline (households, persons, latent conditions, every dated event) is built once; each date is a snapshot
of it, written as `<feed>_<YYYYMMDD>.csv` into one inbox. So a fact dated on or before T_i is in every later
snapshot (unless its person left the extract and retention dropped them), and no snapshot holds a fact dated
after its extract date.

Latent conditions drive both the indicators and the later outcomes, with noise (see welfare.py, pregnancy.py):
at-risk households (ab_risk) miss check-ups, notify late, keep children home … and most of them later come
to an abuse consultation (escalation), some registered with 要対協; a developmental disability shows as
check-up findings first and a 療育手帳, 特別支援学級 or 障害 consultation later; postpartum depression shows as
high EPDS after a risky pregnancy (psychiatric history, late notice, no confidant) and sometimes as a 精神
certificate later.

Review meeting (taio_kekka): for part of the alerts the reference scoring (risk.py) finds at a month, a decision
dated days to weeks after that month, driven by the latent condition behind the alert (要対協登録/緊急対応
mostly for true abuse risk, 対応不要 mostly for incidental alerts). Each month's taio_kekka file holds every
decision dated on or before its extract date. Alert IDs are those the pipeline computes with the town's key.

Truth in `<truth>/history/`: planted_risk.csv (every month, `as_of` column), decisions.csv, outcomes.csv (the
outcome events as the exports show them), latent_conditions.csv (per subject: condition, onset, first
alert, first outcome), links.csv (every month's nursery/school records with `as_of` and their noise tags, as
truth.py describes) and, with a noise preset that changes surnames, name_history.csv.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.generator import dates as D
from kodomo_pipeline.generator import truth
from kodomo_pipeline.generator.context import Context
from kodomo_pipeline.generator.name_history import name_history_frame
from kodomo_pipeline.generator.population import ASOF_MAX, ASOF_MIN, CHILD0, MOTHER, World, take_snapshot
from kodomo_pipeline.generator.pregnancy import postpartum_depression
from kodomo_pipeline.generator.pupils import Pupils, build_pupils
from kodomo_pipeline.generator.risk import AB, ALERT_COLUMNS, DD, EXPECTANT, PP, score
from kodomo_pipeline.generator.town import _build_frames, _town_digit, _write_feeds, build_town_world
from kodomo_pipeline.generator.welfare import escalation_days
from kodomo_pipeline.privacy.services.pseudonym import PseudonymKey

TYPE_CODE = {AB: "AB", PP: "PP", DD: "DD"}
DECISIONS = np.array(["対応不要", "見守り", "要対協登録", "緊急対応"], dtype=object)
POSITIVE_DECISIONS = ("要対協登録", "緊急対応")
# Share of the alerts new at a month that the meeting decides on (the rest stay on the list undecided).
REVIEW_SHARE = {"A": 0.85, "B": 0.6, "C": 0.25}
REVIEW_LAG_DAYS = (5, 41)  # the decision is dated 5–40 days after the extract the alert first appeared in
# Weights of 対応不要, 見守り, 要対協登録, 緊急対応 by type code, with (True) or without the latent condition behind it.
DECISION_WEIGHTS: dict[tuple[str, bool], tuple[float, ...]] = {
    ("AB", True): (5, 40, 40, 15),
    ("AB", False): (62, 34, 3, 1),
    ("PP", True): (10, 65, 20, 5),
    ("PP", False): (62, 36, 2, 0),
    ("DD", True): (15, 80, 5, 0),
    ("DD", False): (65, 35, 0, 0),
}
LATENT_OF = {
    "AB": {"abuse_risk_household"},
    "PP": {"postpartum_depression", "psychiatric_mother"},
    "DD": {"developmental"},
}
DECISION_COLUMNS = [
    "alert_id", "reviewed_on", "decision", "first_alert_as_of", "resident_id", "subject_type", "difficulty_type",
    "level", "planted_condition",
]  # fmt: skip
OUTCOME_COLUMNS = [
    "difficulty_type", "event", "feed", "column", "on", "first_seen_as_of", "person_uid", "resident_id",
    "mother_resident_id", "source_key",
]  # fmt: skip
LATENT_COLUMNS = [
    "condition", "difficulty_type", "person_uid", "resident_id", "role", "onset_on", "escalation_on",
    "first_alert_as_of", "first_outcome", "first_outcome_on", "alert_before_outcome",
]  # fmt: skip
# Outcome events per difficulty type, as the exports show them (feed, column, which date).
OUTCOME_EVENTS = {
    "abuse_consultation": (AB, "jido_soudan", "category=虐待", "received_on"),
    "yotaikyo_registered": (AB, "jido_soudan", "yotaikyo=有", "received_on"),
    "decision_positive": (AB, "taio_kekka", "判定=要対協登録/緊急対応", "reviewed_on"),
    "epds_high": (PP, "sango_shitsumon", "epds_total>=9", "assessed_on"),
    "epds_self_harm": (PP, "sango_shitsumon", "epds_q10>=1", "assessed_on"),
    "psychiatric_certificate": (PP, "shogai_techo", "techo_type=精神 (mother)", "issued_on"),
    "psychiatric_history": (PP, "ninshin_todoke", "psychiatric_history=有 (mother)", "notified_on"),
    "ryoiku_techo": (DD, "shogai_techo", "techo_type=療育", "issued_on"),
    "disability_consultation": (DD, "jido_soudan", "category=障害", "received_on"),
    "tokubetsu_shien": (DD, "gakko_meibo", "tokubetsu_shien=有", "first extract showing it"),
}


@dataclass(frozen=True)
class HistorySummary:
    """What was written: dates, per-date row counts, truth paths and counts (no personal data)."""

    town: str
    dates: tuple[dt.date, ...]
    seed: int
    population: int
    inbox: Path
    rows: dict[dt.date, dict[str, int]]
    truth_files: dict[str, Path]
    decisions: int
    alerts: dict[dt.date, int]


def month_dates(first: dt.date, last: dt.date, every_months: int = 1) -> list[dt.date]:
    """first, first + n months, … ≤ last: the same day of month, clamped to the month's end (31 Jan → 28 Feb)."""
    if every_months < 1:
        raise ValueError("the step must be at least one month")
    if last < first:
        raise ValueError("the last date is before the first")
    out: list[dt.date] = []
    k = 0
    while True:
        day = int(D.add_months(np.array([D.day(first)]), k * every_months)[0])
        date = D.EPOCH + dt.timedelta(days=day)
        if date > last:
            return out
        out.append(date)
        k += 1


def _iso(days: np.ndarray) -> np.ndarray:
    """Day numbers → ISO text ('' for NEVER)."""
    days = np.asarray(days, dtype=np.int64)
    text = D.to_datetime(days).dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
    text[days >= D.NEVER] = ""
    return text


@dataclass
class _Meeting:
    """The review meeting's state over the months: alerts seen so far and the decisions made on them."""

    seen: set[tuple[str, str, str]] = field(default_factory=set)
    decisions: list[pd.DataFrame] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        if not self.decisions:
            return pd.DataFrame(columns=[*DECISION_COLUMNS, "_day", "_person"])
        return pd.concat(self.decisions, ignore_index=True)

    def taio_kekka(self, asof: int) -> pd.DataFrame:
        """Canonical taio_kekka rows: every decision dated on or before the extract date."""
        d = self.frame()
        d = d[d["_day"].to_numpy(dtype=np.int64) <= asof].sort_values(["_day", "alert_id"], kind="stable")
        return pd.DataFrame(
            {
                "alert_id": d["alert_id"].to_numpy(dtype=object),
                "reviewed_on": D.to_datetime(d["_day"].to_numpy(dtype=np.int64)),
                "decision": d["decision"].to_numpy(dtype=object),
            }
        )

    def review(self, ctx: Context, planted: pd.DataFrame, key: PseudonymKey) -> None:
        """Decide on part of the alerts that are new at this month (first appearance of subject × type)."""
        if planted.empty:
            return
        ident = list(zip(planted["resident_id"], planted["subject_type"], planted["difficulty_type"], strict=True))
        new = np.array([i not in self.seen for i in ident], dtype=bool)
        self.seen.update(ident)
        alerts = planted[new].reset_index(drop=True)
        if alerts.empty:
            return
        w, rng = ctx.world, ctx.rng
        jumin = ctx.snap.persons
        rids = ctx.resident_ids(jumin)
        person_of = pd.Series(jumin, index=rids)
        person = alerts["resident_id"].map(person_of).to_numpy(dtype=np.int64)
        code = alerts["difficulty_type"].map(TYPE_CODE).to_numpy(dtype=object)
        code_i = np.select([code == "AB", code == "PP"], [0, 1], 2)
        expectant = (alerts["subject_type"] == EXPECTANT).to_numpy()
        rkey = w.pkey[person] * 8 + code_i * 2 + expectant
        share = alerts["level"].map(REVIEW_SHARE).to_numpy(dtype=float)
        reviewed = rng.uniform("taio_review", rkey) < share
        labels = alerts["planted_condition"].str.split(";")
        latent = np.array([bool(set(lab) & LATENT_OF[c]) for lab, c in zip(labels, code, strict=True)], dtype=bool)
        decision = np.full(len(alerts), "", dtype=object)
        for (c, lat), weights in DECISION_WEIGHTS.items():
            rows = np.flatnonzero((code == c) & (latent == lat))
            if len(rows):
                decision[rows] = DECISIONS[rng.choice(f"taio_decision:{c}:{int(lat)}", weights, rkey[rows])]
        day = ctx.asof + rng.integers("taio_lag", REVIEW_LAG_DAYS[0], REVIEW_LAG_DAYS[1], rkey)
        r = np.flatnonzero(reviewed)
        if not len(r):
            return
        a = alerts.iloc[r]
        self.decisions.append(
            pd.DataFrame(
                {
                    "alert_id": [
                        key.alert_id(rid, st, c)
                        for rid, st, c in zip(a["resident_id"], a["subject_type"], code[r], strict=True)
                    ],
                    "reviewed_on": _iso(day[r]),
                    "decision": decision[r],
                    "first_alert_as_of": ctx.asof_date.isoformat(),
                    "resident_id": a["resident_id"].to_numpy(dtype=object),
                    "subject_type": a["subject_type"].to_numpy(dtype=object),
                    "difficulty_type": a["difficulty_type"].to_numpy(dtype=object),
                    "level": a["level"].to_numpy(dtype=object),
                    "planted_condition": a["planted_condition"].to_numpy(dtype=object),
                    "_day": day[r],
                    "_person": person[r],
                }
            )
        )


def _outcome_events(ctx: Context, frames: dict[str, pd.DataFrame], pupils: Pupils | None) -> pd.DataFrame:
    """Outcome events visible in this month's exports: (event, person, mother, day, source key)."""
    parts: list[pd.DataFrame] = []

    def add(event: str, person: np.ndarray, day: np.ndarray, source: np.ndarray, mother: np.ndarray | None = None):
        if len(person):
            parts.append(
                pd.DataFrame(
                    {
                        "event": event,
                        "_person": np.asarray(person, dtype=np.int64),
                        "_mother": np.full(len(person), -1) if mother is None else np.asarray(mother, dtype=np.int64),
                        "_day": np.asarray(day, dtype=np.int64),
                        "source_key": np.asarray(source, dtype=object),
                    }
                )
            )

    def days(series: pd.Series) -> np.ndarray:
        values = series.to_numpy(dtype="datetime64[ns]")
        return np.where(np.isnat(values), D.NEVER, values.astype("datetime64[D]").astype(np.int64))

    s = frames.get("jido_soudan")
    if s is not None and len(s):
        rec, p, case = days(s["received_on"]), s["_person"].to_numpy(), s["case_no"].to_numpy(dtype=object)
        cat = s["category"].to_numpy(dtype=object)
        add("abuse_consultation", p[cat == "虐待"], rec[cat == "虐待"], case[cat == "虐待"])
        add("disability_consultation", p[cat == "障害"], rec[cat == "障害"], case[cat == "障害"])
        yota = s["yotaikyo"].fillna(False).to_numpy(dtype=bool)
        add("yotaikyo_registered", p[yota], rec[yota], case[yota])
    t = frames.get("shogai_techo")
    if t is not None and len(t):
        p, iss, kind = t["_person"].to_numpy(), days(t["issued_on"]), t["techo_type"].to_numpy(dtype=object)
        src = np.array([f"{k}:{d}" for k, d in zip(kind, iss, strict=True)], dtype=object)
        ryo = kind == "療育"
        add("ryoiku_techo", p[ryo], iss[ryo], src[ryo])
        psy = (kind == "精神") & (ctx.world.slot[p] == MOTHER)
        add("psychiatric_certificate", p[psy], iss[psy], src[psy])
    q = frames.get("sango_shitsumon")
    if q is not None and len(q):
        p, m, a = q["_person"].to_numpy(), q["_mother"].to_numpy(), days(q["assessed_on"])
        src = np.array([f"sango:{d}" for d in a], dtype=object)
        hi = q["epds_total"].fillna(0).to_numpy(dtype=np.int64) >= 9
        add("epds_high", p[hi], a[hi], src[hi], m[hi])
        sh = q["epds_q10"].fillna(0).to_numpy(dtype=np.int64) >= 1
        add("epds_self_harm", p[sh], a[sh], src[sh], m[sh])
    n = frames.get("ninshin_todoke")
    if n is not None and len(n) and "psychiatric_history" in n:
        psy = n["psychiatric_history"].fillna(False).to_numpy(dtype=bool)
        noti = days(n["notified_on"])
        src = np.array([f"notice:{d}" for d in noti], dtype=object)
        add("psychiatric_history", n["_person"].to_numpy()[psy], noti[psy], src[psy])
    r = frames.get("gakko_meibo")
    if r is not None and len(r) and pupils is not None:
        pupil = r["_pupil"].to_numpy()
        person = pupils.person[pupil]
        shien = r["tokubetsu_shien"].fillna(False).to_numpy(dtype=bool) & (person >= 0)
        add("tokubetsu_shien", person[shien], np.full(int(shien.sum()), ctx.asof), r["student_no"].to_numpy()[shien])
    if not parts:
        return pd.DataFrame(columns=["event", "_person", "_mother", "_day", "source_key"])
    return pd.concat(parts, ignore_index=True)


def generate_history(
    town: TownConfig,
    inbox: Path,
    truth_dir: Path,
    dates: list[dt.date],
    population: int | None = None,
    seed: int = 0,
    key: PseudonymKey | None = None,
    defect_rate: float = 0.0,
    noise: str = "default",
) -> HistorySummary:
    """Write every feed of `town` at each date into `inbox` (one folder), the decisions, and `<truth_dir>/history/`.

    `key` is the town's pseudonymisation key (`privacy.services.pseudonym.load_key`): taio_kekka's alert IDs are
    what the pipeline computes with it. Planted contract defects are off by default (defect_rate 0) so every
    month's file holds every fact; with a rate, each month has its own defective rows. `noise` names a preset of
    noise_presets.yaml.
    """
    if key is None:
        raise ValueError("the town's pseudonymisation key is needed to write taio_kekka alert IDs")
    dates = sorted(set(dates))
    if not dates:
        raise ValueError("no dates")
    if dates[0] < ASOF_MIN or dates[-1] > ASOF_MAX:
        raise ValueError(f"dates must be between {ASOF_MIN} and {ASOF_MAX}")
    inbox, truth_dir = Path(inbox), Path(truth_dir)
    rng, places, world, population = build_town_world(town, population, seed, noise)
    meeting = _Meeting()
    planted_parts: list[pd.DataFrame] = []
    outcome_parts: list[pd.DataFrame] = []
    link_parts: list[pd.DataFrame] = []
    rows: dict[dt.date, dict[str, int]] = {}
    alerts: dict[dt.date, int] = {}
    ever = np.zeros(world.n_persons, dtype=bool)
    ctx: Context | None = None
    for asof in dates:
        snap = take_snapshot(world, D.day(asof))
        ctx = Context(town, places, rng, world, snap, asof, _town_digit(town.town), population)
        ctx.check_id_space()
        ever[snap.persons] = True
        wants_pupils = any(f in town.feeds for f in ("toen", "gakko_meibo", "gakko_shusseki"))
        pupils = build_pupils(ctx) if wants_pupils else None
        frames, link_rows = _build_frames(ctx, pupils)
        link_parts.extend(r.assign(as_of=asof.isoformat()) for r in link_rows)
        if "taio_kekka" in town.feeds:
            frames["taio_kekka"] = meeting.taio_kekka(ctx.asof)
        written = _write_feeds(ctx, frames, inbox, defect_rate)
        rows[asof] = written.rows
        if "jumin" in written.clean:
            pupil_person = pupils.person if pupils is not None else np.zeros(0, dtype=np.int64)
            planted = score(ctx, written.clean, pupil_person)
        else:
            planted = pd.DataFrame(columns=ALERT_COLUMNS)
        alerts[asof] = len(planted)
        meeting.review(ctx, planted, key)
        planted_parts.append(planted.assign(as_of=asof.isoformat())[["as_of", *ALERT_COLUMNS]])
        outcome_parts.append(_outcome_events(ctx, frames, pupils).assign(_seen=ctx.asof))
    assert ctx is not None
    truth_files = _write_truth(
        ctx, world, truth_dir / "history", planted_parts, outcome_parts, meeting, ever, D.day(dates[0])
    )
    links = truth_dir / "history" / "links.csv"
    truth_files["links"] = truth.write_links(link_parts, links, with_as_of=True)
    if world.surname_changes is not None:
        history = name_history_frame(ctx, np.flatnonzero(ever))
        truth_files["name_history"] = truth.write_name_history(history, truth_dir / "history" / "name_history.csv")
    return HistorySummary(
        town=town.town,
        dates=tuple(dates),
        seed=seed,
        population=population,
        inbox=inbox,
        rows=rows,
        truth_files=truth_files,
        decisions=int((meeting.frame()["_day"].to_numpy(dtype=np.int64) <= ctx.asof).sum()),
        alerts=alerts,
    )


def _write_truth(
    ctx: Context,
    world: World,
    folder: Path,
    planted_parts: list[pd.DataFrame],
    outcome_parts: list[pd.DataFrame],
    meeting: _Meeting,
    ever: np.ndarray,
    first_day: int,
) -> dict[str, Path]:
    """planted_risk.csv (all months), decisions.csv, outcomes.csv and latent_conditions.csv."""
    last = ctx.asof
    planted = pd.concat(planted_parts, ignore_index=True)
    decisions = meeting.frame()
    decisions = decisions[decisions["_day"].to_numpy(dtype=np.int64) <= last]

    # Outcome events: each once (its first appearance), plus the meeting's positive decisions.
    out = pd.concat(outcome_parts, ignore_index=True)
    out = out.sort_values("_seen", kind="stable").drop_duplicates(["event", "_person", "source_key"])
    pos = decisions[decisions["decision"].isin(POSITIVE_DECISIONS) & (decisions["difficulty_type"] == AB)]
    out = pd.concat(
        [
            out,
            pd.DataFrame(
                {
                    "event": "decision_positive",
                    "_person": pos["_person"].to_numpy(dtype=np.int64),
                    "_mother": -1,
                    "_day": pos["_day"].to_numpy(dtype=np.int64),
                    "source_key": pos["alert_id"].to_numpy(dtype=object),
                    "_seen": pos["_day"].to_numpy(dtype=np.int64),
                }
            ),
        ],
        ignore_index=True,
    )
    out = out.sort_values(["_day", "event", "_person"], kind="stable").reset_index(drop=True)
    person = out["_person"].to_numpy(dtype=np.int64)
    mother = out["_mother"].to_numpy(dtype=np.int64)
    mother_rid = np.full(len(out), "", dtype=object)
    mother_rid[mother >= 0] = ctx.resident_ids(mother[mother >= 0])
    outcomes = pd.DataFrame(
        {
            "difficulty_type": out["event"].map(lambda e: OUTCOME_EVENTS[e][0]).to_numpy(dtype=object),
            "event": out["event"].to_numpy(dtype=object),
            "feed": out["event"].map(lambda e: OUTCOME_EVENTS[e][1]).to_numpy(dtype=object),
            "column": out["event"].map(lambda e: OUTCOME_EVENTS[e][2]).to_numpy(dtype=object),
            "on": _iso(out["_day"].to_numpy(dtype=np.int64)),
            "first_seen_as_of": _iso(out["_seen"].to_numpy(dtype=np.int64)),
            "person_uid": truth.person_uid(person),
            "resident_id": ctx.resident_ids(person),
            "mother_resident_id": mother_rid,
            "source_key": out["source_key"].to_numpy(dtype=object),
        }
    )
    latent = _latent_conditions(ctx, world, planted, out, ever, first_day)
    files = {
        "planted_risk": folder / "planted_risk.csv",
        "decisions": folder / "decisions.csv",
        "outcomes": folder / "outcomes.csv",
        "latent_conditions": folder / "latent_conditions.csv",
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in (
        ("planted_risk", planted),
        ("decisions", decisions[DECISION_COLUMNS]),
        ("outcomes", outcomes[OUTCOME_COLUMNS]),
        ("latent_conditions", latent[LATENT_COLUMNS]),
    ):
        frame.to_csv(files[name], index=False, encoding="utf-8", lineterminator="\n")
    return files


def _latent_conditions(
    ctx: Context, world: World, planted: pd.DataFrame, out: pd.DataFrame, ever: np.ndarray, first: int
) -> pd.DataFrame:
    """Per subject with a latent condition (ever in an extract): onset, first alert and first outcome of its type."""
    w = world
    child = np.flatnonzero((w.slot >= CHILD0) & ever)
    esc = escalation_days(ctx)
    # Postpartum depression per pregnancy → the child born of it.
    preg_key = w.preg_hh * 4 + w.preg_event
    want = w.hh[child] * 4 + np.maximum(w.birth_event[child], 0)
    pos = np.minimum(np.searchsorted(preg_key, want), max(len(preg_key) - 1, 0))
    has_preg = (len(preg_key) > 0) & (preg_key[pos] == want) & (w.birth_event[child] >= 0)
    pp, _ = postpartum_depression(ctx, pos)
    mothers = np.flatnonzero((w.slot == MOTHER) & ever & w.psych)
    groups = [
        ("abuse_risk_household", AB, child[w.ab_risk[w.hh[child]]], "child"),
        ("developmental", DD, child[w.dd[child]], "child"),
        # Only births from a year before the first date on: older ones are out of the postpartum window.
        ("postpartum_depression", PP, child[has_preg & pp & (w.birth[child] >= first - 365)], "child"),
        ("psychiatric_mother", PP, mothers, "mother"),
    ]
    # First alert per (person, type): for a mother, as expectant mother or through any of her children.
    person_of = pd.Series(ctx.resident_ids(np.flatnonzero(ever)), index=np.flatnonzero(ever))
    rid_to_person = pd.Series(person_of.index.to_numpy(), index=person_of.to_numpy())
    pl = planted.assign(_p=planted["resident_id"].map(rid_to_person))
    pl = pl.dropna(subset=["_p"])
    pl["_p"] = pl["_p"].astype(np.int64)
    pl["_day"] = pd.to_datetime(pl["as_of"]).to_numpy(dtype="datetime64[D]").astype(np.int64)
    first_alert = pl.groupby(["_p", "difficulty_type"])["_day"].min()
    kids_alert = pl[pl["subject_type"] != EXPECTANT].assign(_m=lambda f: w.mother[f["_p"].to_numpy()])
    mother_alert = kids_alert[kids_alert["_m"] >= 0].groupby(["_m", "difficulty_type"])["_day"].min()
    ev = out.assign(_t=out["event"].map(lambda e: OUTCOME_EVENTS[e][0]))
    by_person = ev.groupby(["_person", "_t"])
    by_mother = ev[ev["_mother"] >= 0].groupby(["_mother", "_t"])
    parts = []
    for condition, dtype, persons, role in groups:
        if not len(persons):
            continue
        onset = np.where(role == "child", np.maximum(w.birth[persons], w.start[persons]), w.start[persons])
        if condition == "abuse_risk_household":
            onset = np.maximum(onset, w.hh_in[w.hh[persons]])
        fa = np.array([first_alert.get((p, dtype), D.NEVER) for p in persons], dtype=np.int64)
        if role == "mother":
            fa = np.minimum(fa, np.array([mother_alert.get((p, dtype), D.NEVER) for p in persons], dtype=np.int64))
        first_ev = np.full(len(persons), "", dtype=object)
        first_day = np.full(len(persons), D.NEVER, dtype=np.int64)
        for i, p in enumerate(persons):
            cand = []
            if (p, dtype) in by_person.groups:
                g = by_person.get_group((p, dtype))
                cand.append(g.loc[g["_day"].idxmin()])
            if role == "mother" and (p, dtype) in by_mother.groups:
                g = by_mother.get_group((p, dtype))
                cand.append(g.loc[g["_day"].idxmin()])
            m = w.mother[p] if role == "child" and dtype == PP else -1
            if m >= 0 and (m, dtype) in by_person.groups:  # the mother's own later psychiatric finding
                g = by_person.get_group((m, dtype))
                cand.append(g.loc[g["_day"].idxmin()])
            cand = [c for c in cand if c["_day"] >= onset[i]]
            if cand:
                best = min(cand, key=lambda c: c["_day"])
                first_ev[i], first_day[i] = best["event"], int(best["_day"])
        parts.append(
            pd.DataFrame(
                {
                    "condition": condition,
                    "difficulty_type": dtype,
                    "person_uid": truth.person_uid(persons),
                    "resident_id": ctx.resident_ids(persons),
                    "role": role,
                    "onset_on": _iso(onset),
                    "escalation_on": _iso(esc[w.hh[persons]]) if dtype == AB else "",
                    "first_alert_as_of": _iso(fa),
                    "first_outcome": first_ev,
                    "first_outcome_on": _iso(first_day),
                    "alert_before_outcome": ((fa < first_day) & (fa < D.NEVER)).astype(int),
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=LATENT_COLUMNS)
    return pd.concat(parts, ignore_index=True)
