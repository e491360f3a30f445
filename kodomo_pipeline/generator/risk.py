"""Reference scoring of rule set v1 on the generated truth, so planted_risk.csv lists every subject that should alert.

It reads the canonical frames the generator wrote (without the rows carrying
planted defects, which a correct pipeline quarantines) and links nursery and
school records by the truth, i.e. it is what a perfect pipeline would find.
Readings follow spec/risk_rules_v1.md "Precise readings". Vectorised with
pandas so a million-resident town scores in seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kodomo_pipeline.generator import dates as D
from kodomo_pipeline.generator.context import Context
from kodomo_pipeline.generator.population import CHILD0
from kodomo_pipeline.generator.pregnancy import postpartum_depression, pregnancy_of_children
from kodomo_pipeline.generator.school import futoko_prone

AB, PP, DD = "虐待", "産後うつ", "発達障がい"
LOW_WEIGHT = {"4か月": 5000, "10か月": 7000, "1歳6か月": 8500, "3歳": 11000}
ALERT_COLUMNS = [
    "resident_id", "subject_type", "difficulty_type", "score", "level", "indicators", "known_case", "planted_condition",
]  # fmt: skip
CHILD, EXPECTANT = "child", "expectant_mother"
# planted_facts.csv: every (subject, rule) whose indicator fires at T, alerting or not, with its points.
FACT_COLUMNS = ["resident_id", "subject_type", "rule_id", "points_ab", "points_pp", "points_dd"]


def _days(series: pd.Series) -> np.ndarray:
    """datetime64 → day numbers, NaT → NEVER."""
    values = series.to_numpy(dtype="datetime64[ns]")
    out = values.astype("datetime64[D]").astype(np.int64)
    return np.where(np.isnat(values), D.NEVER, out)


def _months_back(t: int, months: int) -> int:
    return int(D.add_months(np.array([t]), -months)[0])


def _flag(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A flag column as plain bool (missing → False); all False when the town does not export it."""
    if column not in frame:
        return np.zeros(len(frame), dtype=bool)
    return frame[column].fillna(False).to_numpy(dtype=bool)


class _Facts:
    """Indicator hits as frame chunks: subject, subject type, rule, points per difficulty type, edge label."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, subjects: object, kind: str, rule: str, ab: object = 0, pp: object = 0, dd: object = 0,
            label: object = "") -> None:  # fmt: skip
        subj = np.asarray(subjects, dtype=object)
        if not len(subj):
            return
        part = pd.DataFrame({"rid": subj, "kind": kind, "rule": rule, "ab": ab, "pp": pp, "dd": dd, "label": label})
        self.parts.append(part.drop_duplicates(subset=["rid"]))

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame(columns=["rid", "kind", "rule", "ab", "pp", "dd", "label"])
        return pd.concat(self.parts, ignore_index=True)


def score(ctx: Context, frames: dict[str, pd.DataFrame], pupil_person: np.ndarray) -> pd.DataFrame:
    """Alerts (score ≥ 3, or R13) per subject and difficulty type, with indicators and planted labels."""
    return reading(ctx, frames, pupil_person)[0]


def reading(
    ctx: Context, frames: dict[str, pd.DataFrame], pupil_person: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The alerts and every indicator fact behind them (also those below the alert threshold, and R02)."""
    t = ctx.asof
    j = frames["jumin"]
    jb = _days(j["birth_date"])
    resident = (j["status"] == "住民").to_numpy()
    age = D.age_years(jb, t)
    is_child = resident & (jb <= t) & (age <= 17) & (age >= 0)
    kids = pd.DataFrame(
        {
            "rid": j["resident_id"].to_numpy(dtype=object)[is_child],
            "hh": j["household_id"].to_numpy(dtype=object)[is_child],
            "birth": jb[is_child],
            "age": age[is_child],
            "rel": j["relationship"].to_numpy(dtype=object)[is_child],
            "since": _days(j["resident_since"])[is_child],
        }
    )
    birth_of = pd.Series(jb, index=j["resident_id"].to_numpy(dtype=object))
    birth_of = birth_of[~birth_of.index.duplicated()]
    res_ids = pd.Index(j["resident_id"].to_numpy(dtype=object)[resident])
    facts = _Facts()
    notices = frames.get("ninshin_todoke")
    sango = frames.get("sango_shitsumon")

    kids["mother"] = _mothers(j, kids, resident, jb, sango, res_ids)
    kids["preg"] = _pregnancy_of_child(kids, notices)
    _consultations(frames.get("jido_soudan"), kids, t, facts)
    known = _known_cases(frames.get("jido_soudan"))
    _checkups(frames.get("nyuyoji_kenshin"), kids, t, facts)
    techo = frames.get("shogai_techo")
    if techo is not None and len(techo):
        ryoiku = (_days(techo["issued_on"]) <= t) & (techo["techo_type"] == "療育").to_numpy()
        facts.add(
            techo.loc[ryoiku & techo["resident_id"].isin(kids["rid"]).to_numpy(), "resident_id"], CHILD, "R22", dd=5
        )
    _pregnancy_facts(frames, kids, birth_of, t, facts)
    _economic_school_nursery(ctx, frames, kids, res_ids, pupil_person, t, facts)
    _postpartum(sango, kids, t, facts)
    moved = (kids["since"] >= _months_back(t, 12)) & (kids["since"] <= t) & (kids["since"] != kids["birth"])
    facts.add(kids.loc[moved, "rid"], CHILD, "R19", ab=1)
    found = facts.frame()
    return _alerts(ctx, found, known, j), _fact_table(found, known, kids)


def _fact_table(found: pd.DataFrame, known: set[str], kids: pd.DataFrame) -> pd.DataFrame:
    """One row per subject and rule (R02 for a known case among the children), sorted for a stable file."""
    r02 = pd.DataFrame({"rid": sorted(known & set(kids["rid"])), "kind": CHILD, "rule": "R02", "ab": 0, "pp": 0,
                        "dd": 0})  # fmt: skip
    both = pd.concat([found[["rid", "kind", "rule", "ab", "pp", "dd"]], r02], ignore_index=True)
    both = both.rename(columns={"rid": "resident_id", "kind": "subject_type", "rule": "rule_id", "ab": "points_ab",
                                "pp": "points_pp", "dd": "points_dd"})  # fmt: skip
    for column in ("points_ab", "points_pp", "points_dd"):
        both[column] = both[column].astype(int)
    return both.sort_values(["resident_id", "subject_type", "rule_id"], kind="stable")[FACT_COLUMNS].reset_index(
        drop=True
    )


def _mothers(
    j: pd.DataFrame,
    kids: pd.DataFrame,
    resident: np.ndarray,
    jb: np.ndarray,
    sango: pd.DataFrame | None,
    res_ids: pd.Index,
) -> np.ndarray:
    """The postpartum pair's mother (if 住民), else the household rule.

    The household rule: exactly one woman 世帯主/妻 (of a 子) or 子/子の妻 (of a 孫), 13–55 years older.
    """
    female = resident & (j["sex"] == "女").to_numpy()
    women = pd.DataFrame(
        {
            "mid": j["resident_id"].to_numpy(dtype=object)[female],
            "hh": j["household_id"].to_numpy(dtype=object)[female],
            "mrel": j["relationship"].to_numpy(dtype=object)[female],
            "mbirth": jb[female],
        }
    )
    cand = kids[["rid", "hh", "birth", "rel"]].merge(women, on="hh")
    ok = ((cand["rel"] == "子") & cand["mrel"].isin(["世帯主", "妻"])) | (
        (cand["rel"] == "孫") & cand["mrel"].isin(["子", "子の妻"])
    )
    gap = D.age_years(cand["mbirth"].to_numpy(), cand["birth"].to_numpy())
    cand = cand[ok.to_numpy() & (gap >= 13) & (gap <= 55) & (cand["mid"] != cand["rid"]).to_numpy()]
    counts = cand.groupby("rid")["mid"].agg(["count", "first"])
    single = counts.loc[counts["count"] == 1, "first"]
    mother = kids["rid"].map(single)
    if sango is not None and len(sango):
        latest = sango.assign(_d=_days(sango["assessed_on"])).sort_values("_d", kind="stable")
        latest = latest.groupby("child_resident_id").tail(1)
        latest = latest[latest["mother_resident_id"].isin(res_ids)]
        pair = pd.Series(latest["mother_resident_id"].to_numpy(), index=latest["child_resident_id"].to_numpy())
        from_pair = kids["rid"].map(pair)
        mother = from_pair.where(from_pair.notna(), mother)
    return mother.to_numpy(dtype=object)


def _pregnancy_of_child(kids: pd.DataFrame, notices: pd.DataFrame | None) -> np.ndarray:
    """Row of the mother's notice whose due date is closest to the birth, within ±45 days (-1 if none)."""
    out = np.full(len(kids), -1, dtype=np.int64)
    if notices is None or not len(notices):
        return out
    n = pd.DataFrame({"mother": notices["mother_resident_id"].to_numpy(dtype=object), "due": _days(notices["due_date"]),
                      "k": np.arange(len(notices))})  # fmt: skip
    c = pd.DataFrame(
        {"mother": kids["mother"].to_numpy(dtype=object), "birth": kids["birth"].to_numpy(), "i": np.arange(len(kids))}
    )
    m = c.dropna(subset=["mother"]).merge(n, on="mother")
    m["dist"] = (m["due"] - m["birth"]).abs()
    m = m[m["dist"] <= 45].sort_values(["i", "dist", "k"], kind="stable").drop_duplicates("i")
    out[m["i"].to_numpy()] = m["k"].to_numpy()
    return out


def _consultations(soudan: pd.DataFrame | None, kids: pd.DataFrame, t: int, facts: _Facts) -> None:
    """R01 abuse and R25 disability consultations within 36 months."""
    if soudan is None or not len(soudan):
        return
    rec = _days(soudan["received_on"])
    in36 = (rec >= _months_back(t, 36)) & (rec <= t) & soudan["resident_id"].isin(kids["rid"]).to_numpy()
    facts.add(soudan.loc[in36 & (soudan["category"] == "虐待").to_numpy(), "resident_id"], CHILD, "R01", ab=4)
    facts.add(soudan.loc[in36 & (soudan["category"] == "障害").to_numpy(), "resident_id"], CHILD, "R25", dd=3)


def _known_cases(soudan: pd.DataFrame | None) -> set[str]:
    """R02: registered with 要対協 and still 継続."""
    if soudan is None or not len(soudan):
        return set()
    return set(soudan.loc[_flag(soudan, "yotaikyo") & (soudan["status"] == "継続").to_numpy(), "resident_id"])


def _checkups(ken: pd.DataFrame | None, kids: pd.DataFrame, t: int, facts: _Facts) -> None:
    """R03 missed, R04 low weight, R15 parenting anxiety, R20/R21 developmental findings."""
    if ken is None or not len(ken):
        return
    ken = ken[ken["resident_id"].isin(kids["rid"])]
    att = _days(ken["attended_on"])
    attended = att <= t
    six = ken["resident_id"].isin(kids.loc[kids["age"] <= 6, "rid"]).to_numpy()
    due = _days(ken["due_month"])
    missed = (D.add_months(due, 2) <= t) & ~attended & six
    counts = ken.loc[missed, "resident_id"].value_counts()
    facts.add(counts.index, CHILD, "R03", ab=3 * np.minimum(counts.to_numpy(), 2))
    thr = ken["exam"].map(LOW_WEIGHT).to_numpy(dtype=float)
    weight = (
        ken["weight_g"].astype("Float64").to_numpy(dtype=float, na_value=np.inf)
        if "weight_g" in ken
        else np.full(len(ken), np.inf)
    )
    low = attended & six & (weight < thr)
    lows = pd.DataFrame({"rid": ken["resident_id"].to_numpy()[low], "edge": (weight == thr - 1)[low]})
    edge = lows.groupby("rid")["edge"].any()
    facts.add(edge.index, CHILD, "R04", ab=2, label=np.where(edge.to_numpy(), "edge:weight_just_below", ""))
    if "parenting_anxiety" in ken:
        done = ken.loc[attended].assign(_a=att[attended]).sort_values(["_a", "exam"], kind="stable")
        latest = done.groupby("resident_id").tail(1)
        facts.add(latest.loc[_flag(latest, "parenting_anxiety"), "resident_id"], CHILD, "R15", ab=1, pp=1)
    late_exam = ken["exam"].isin(["1歳6か月", "3歳"]).to_numpy()
    dev = (_flag(ken, "dev_language") | _flag(ken, "dev_social")) & late_exam & attended
    findings = pd.DataFrame(
        {"rid": ken["resident_id"].to_numpy()[dev], "seimitsu": (ken["result"] == "要精密").to_numpy()[dev]}
    )
    extra = findings.groupby("rid")["seimitsu"].any()
    facts.add(extra.index, CHILD, "R20", dd=3 + 2 * extra.to_numpy().astype(int))
    motor = _flag(ken, "dev_motor") & ~late_exam & attended
    facts.add(ken.loc[motor, "resident_id"], CHILD, "R21", dd=1)


def _pregnancy_facts(
    frames: dict[str, pd.DataFrame], kids: pd.DataFrame, birth_of: pd.Series, t: int, facts: _Facts
) -> None:
    """R05–R09 and R11 for young children (via mother and pregnancy) and for expectant mothers."""
    notices = frames.get("ninshin_todoke")
    techo = frames.get("shogai_techo")
    sango = frames.get("sango_shitsumon")
    visits = frames.get("ninpu_kenshin")
    psych: set[str] = set()
    if techo is not None and len(techo):
        issued = _days(techo["issued_on"]) <= t
        psych |= set(techo.loc[issued & (techo["techo_type"] == "精神").to_numpy(), "resident_id"])
    if notices is not None and len(notices):
        psych |= set(notices.loc[_flag(notices, "psychiatric_history"), "mother_resident_id"])
    has_mother = kids["mother"].notna().to_numpy()
    six = has_mother & (kids["age"] <= 6).to_numpy()
    facts.add(kids.loc[six & kids["mother"].isin(psych).to_numpy(), "rid"], CHILD, "R11", ab=2, pp=3)
    three = has_mother & (kids["age"] <= 3).to_numpy()
    c3 = kids[three]
    m_birth = c3["mother"].map(birth_of).to_numpy(dtype=float)
    m_age = D.age_years(np.nan_to_num(m_birth, nan=0).astype(np.int64), c3["birth"].to_numpy())
    facts.add(c3.loc[~np.isnan(m_birth) & (m_age < 20), "rid"], CHILD, "R07", ab=2, pp=1)
    no_support = pd.Index([])
    if sango is not None and "support_person" in sango:
        none = sango.loc[(sango["support_person"] == False).fillna(False).to_numpy()]  # noqa: E712
        no_support = pd.Index(none["mother_resident_id"].astype(str) + "|" + none["child_resident_id"].astype(str))
    pair_key = c3["mother"].astype(str) + "|" + c3["rid"].astype(str)
    r09 = pair_key.isin(no_support).to_numpy()
    if notices is not None and len(notices):
        k = c3["preg"].to_numpy()
        has = k >= 0
        weeks = notices["weeks_at_notification"].astype("Float64").to_numpy(dtype=float, na_value=-1)
        feel = notices["feeling"].to_numpy(dtype=object) if "feeling" in notices else np.full(len(notices), None)
        conf = notices["has_confidant"] if "has_confidant" in notices else pd.Series(pd.NA, index=notices.index)
        no_conf = (conf == False).fillna(False).to_numpy(dtype=bool)  # noqa: E712
        kk = np.maximum(k, 0)
        w = np.where(has, weeks[kk], -1)
        late = w >= 20
        facts.add(c3.loc[late, "rid"], CHILD, "R05", ab=3, pp=1, label=np.where(w[late] == 20, "edge:weeks_20", ""))
        facts.add(c3.loc[has & np.isin(feel[kk], ["困った", "わからない"]), "rid"], CHILD, "R08", ab=2, pp=1)
        r09 |= has & no_conf[kk]
        # R06: the mother's visits from the notice to due date + 45 days, for a pregnancy already due.
        due = _days(notices["due_date"])
        noti = _days(notices["notified_on"])
        due_c, noti_c = due[kk], noti[kk]
        target = pd.DataFrame(
            {"rid": c3["rid"].to_numpy(), "mother": c3["mother"].to_numpy(), "due": due_c, "noti": noti_c}
        )
        target = target[has & (due_c <= t)]
        if visits is not None and len(visits):
            v = pd.DataFrame(
                {"mother": visits["mother_resident_id"].to_numpy(dtype=object), "day": _days(visits["visit_on"])}
            )
            joined = target.merge(v, on="mother", how="left")
            inside = (joined["day"] >= joined["noti"]) & (joined["day"] <= joined["due"] + 45)
            n_vis = inside.groupby(joined["rid"]).sum().reindex(target["rid"]).fillna(0).to_numpy()
        else:
            n_vis = np.zeros(len(target))
        few = n_vis <= 3
        facts.add(target.loc[few, "rid"], CHILD, "R06", ab=2, label=np.where(n_vis[few] == 3, "edge:visits_3", ""))
        _expectant(notices, kids, birth_of, psych, t, facts)
    facts.add(c3.loc[r09, "rid"], CHILD, "R09", ab=1, pp=2)


def _expectant(
    notices: pd.DataFrame, kids: pd.DataFrame, birth_of: pd.Series, psych: set[str], t: int, facts: _Facts
) -> None:
    """Expectant mothers: a current notice with no resident child born of it; the latest notified one."""
    due = _days(notices["due_date"])
    noti = _days(notices["notified_on"])
    cur = pd.DataFrame({"mother": notices["mother_resident_id"].to_numpy(dtype=object), "due": due, "noti": noti,
                        "k": np.arange(len(notices))})[(noti <= t) & (t <= due)]  # fmt: skip
    born = kids.dropna(subset=["mother"])[["mother", "birth"]]
    both = cur.merge(born, on="mother", how="left")
    of_it = ((both["birth"] - both["due"]).abs() <= 45).groupby(both["k"]).any()
    cur = cur[~cur["k"].map(of_it).fillna(False).to_numpy(dtype=bool)]
    cur = cur.sort_values(["noti", "k"], kind="stable").drop_duplicates("mother", keep="last")
    k = cur["k"].to_numpy()
    m = cur["mother"].to_numpy(dtype=object)
    weeks = notices["weeks_at_notification"].astype("Float64").to_numpy(dtype=float, na_value=-1)[k]
    facts.add(
        m[weeks >= 20], EXPECTANT, "R05", ab=3, pp=1, label=np.where(weeks[weeks >= 20] == 20, "edge:weeks_20", "")
    )
    if "feeling" in notices:
        facts.add(
            m[np.isin(notices["feeling"].to_numpy(dtype=object)[k], ["困った", "わからない"])],
            EXPECTANT,
            "R08",
            ab=2,
            pp=1,
        )
    if "has_confidant" in notices:
        no_conf = (notices["has_confidant"] == False).fillna(False).to_numpy(dtype=bool)[k]  # noqa: E712
        facts.add(m[no_conf], EXPECTANT, "R09", ab=1, pp=2)
    mb = pd.Series(m).map(birth_of).to_numpy(dtype=float)
    young = ~np.isnan(mb) & (D.age_years(np.nan_to_num(mb, nan=0).astype(np.int64), t) < 20)
    facts.add(m[young], EXPECTANT, "R07", ab=2, pp=1)
    facts.add(m[np.isin(m, list(psych))], EXPECTANT, "R11", ab=2, pp=3)


def _economic_school_nursery(
    ctx: Context,
    frames: dict[str, pd.DataFrame],
    kids: pd.DataFrame,
    res_ids: pd.Index,
    pupil_person: np.ndarray,
    t: int,
    facts: _Facts,
) -> None:
    """R10 (public assistance, allowance, school-aid), R16–R18 and R23/R24 from records linked by the truth."""
    econ = np.zeros(len(kids), dtype=np.int64)
    hogo = frames.get("seikatsu_hogo")
    if hogo is not None and len(hogo):
        on = (_days(hogo["started_on"]) <= t) & (_days(hogo["ended_on"]) > t)
        econ += kids["hh"].isin(hogo.loc[on, "household_id"]).to_numpy()
    fuyo = frames.get("jido_fuyo")
    j = frames["jumin"]
    if fuyo is not None and len(fuyo):
        paid = (_days(fuyo["certified_on"]) <= t) & fuyo["status"].isin(["全部支給", "一部支給"]).to_numpy()
        recipients = fuyo.loc[paid, "recipient_resident_id"]
        lives = j[(j["status"] == "住民") & j["resident_id"].isin(recipients)]
        econ += kids["hh"].isin(lives["household_id"]).to_numpy()
    pupil_rid = np.full(len(pupil_person), None, dtype=object)
    known = (pupil_person >= 0) & ctx.in_extract[np.maximum(pupil_person, 0)]
    pupil_rid[known] = ctx.resident_ids(pupil_person[known])
    m_t = int(D.month_index(np.array([t]))[0])
    roster = frames.get("gakko_meibo")
    if roster is not None and len(roster):
        roster = roster.assign(_rid=pupil_rid[roster["_pupil"].to_numpy()])
        roster = roster[roster["_rid"].isin(kids["rid"])]
        econ += kids["rid"].isin(roster.loc[_flag(roster, "shugaku_enjo"), "_rid"]).to_numpy()
        facts.add(roster.loc[_flag(roster, "tokubetsu_shien"), "_rid"], CHILD, "R23", dd=3)
        facts.add(
            roster.loc[roster["qu_result"].isin(["侵害行為認知群", "学級生活不満足群"]).to_numpy(), "_rid"],
            CHILD,
            "R24",
            ab=1,
            dd=1,
        )
        shusseki = frames.get("gakko_shusseki")
        if shusseki is not None and len(shusseki):
            by_no = pd.Series(roster["_rid"].to_numpy(), index=roster["student_no"].to_numpy())
            s = shusseki.assign(_rid=shusseki["student_no"].map(by_no)).dropna(subset=["_rid"])
            mi = D.month_index(_days(s["month"]))
            sums = s[(mi >= m_t - 11) & (mi <= m_t)].groupby("_rid")["absent_days"].sum()
            hit = sums[sums >= 30]
            facts.add(hit.index, CHILD, "R17", ab=2, dd=1, label=np.where(hit.to_numpy() == 30, "edge:absence_30", ""))
            nurse = s[(mi >= m_t - 2) & (mi <= m_t)].groupby("_rid")["nurse_visits"].max()
            hit = nurse[nurse >= 8]
            facts.add(hit.index, CHILD, "R18", ab=1, label=np.where(hit.to_numpy() == 8, "edge:nurse_8", ""))
    facts.add(kids.loc[econ > 0, "rid"], CHILD, "R10", ab=np.minimum(econ[econ > 0], 2))
    toen = frames.get("toen")
    if toen is not None and len(toen):
        toen = toen.assign(_rid=pupil_rid[toen["_pupil"].to_numpy()])
        mi = D.month_index(_days(toen["month"]))
        recent = toen[(mi >= m_t - 2) & (mi <= m_t) & toen["_rid"].isin(kids["rid"]).to_numpy()]
        consec = recent["max_consecutive_absence"].to_numpy(dtype=float)
        ratio = recent["absent_days"].to_numpy(dtype=float) / recent["open_days"].to_numpy(dtype=float)
        hit = (consec >= 10) | (ratio >= 0.5)
        over = pd.Series((consec > 10) | (ratio > 0.5), index=recent.index)[hit].groupby(recent.loc[hit, "_rid"]).any()
        facts.add(over.index, CHILD, "R16", ab=3, label=np.where(over.to_numpy(), "", "edge:nursery_absence_threshold"))


def _postpartum(sango: pd.DataFrame | None, kids: pd.DataFrame, t: int, facts: _Facts) -> None:
    """R12–R14: the identified mother's rows within 12 months, for each of her children under 1."""
    if sango is None or not len(sango):
        return
    d = _days(sango["assessed_on"])
    recent = sango[(d >= _months_back(t, 12)) & (d <= t)]
    bond = recent["bonding_total"].fillna(0) >= 5 if "bonding_total" in recent else pd.Series(False, index=recent.index)
    stats = (
        recent.assign(_bond=bond.astype(int))
        .groupby("mother_resident_id")
        .agg(epds=("epds_total", "max"), q10=("epds_q10", "max"), bond=("_bond", "max"))
    )
    infants = kids[(kids["age"] < 1).to_numpy() & kids["mother"].notna().to_numpy()]
    s = infants[["rid", "mother"]].merge(stats, left_on="mother", right_index=True)
    r12 = s[s["epds"] >= 9]
    facts.add(r12["rid"], CHILD, "R12", pp=4, label=np.where(r12["epds"].to_numpy() == 9, "edge:epds_9", ""))
    r13 = s[s["q10"] >= 1]
    facts.add(r13["rid"], CHILD, "R13", label=np.where(r13["q10"].to_numpy() == 1, "edge:q10_1", ""))
    facts.add(s.loc[s["bond"] > 0, "rid"], CHILD, "R14", ab=2, pp=2)


def _alerts(ctx: Context, f: pd.DataFrame, known: set[str], j: pd.DataFrame) -> pd.DataFrame:
    """Scores and levels per (subject, difficulty type); indicators ranked by points, then rule ID."""
    if f.empty:
        return pd.DataFrame(columns=ALERT_COLUMNS)
    out = []
    for t_name, col in ((AB, "ab"), (PP, "pp"), (DD, "dd")):
        g = f[(f[col] > 0) | ((f["rule"] == "R13") & (t_name == PP))].copy()
        if g.empty:
            continue
        g["pts"] = g[col].astype(int)
        total = g.groupby(["rid", "kind"])["pts"].sum()
        r13 = (g["rule"] == "R13").groupby([g["rid"], g["kind"]]).any()
        ranked = g.sort_values(["rid", "kind", "pts", "rule"], ascending=[True, True, False, True], kind="stable")
        indicators = ranked.groupby(["rid", "kind"])["rule"].agg(";".join)
        res = pd.DataFrame({"score": total, "r13": r13, "indicators": indicators}).reset_index()
        res = res[(res["score"] >= 3) | res["r13"]]
        res["difficulty_type"] = t_name
        res["level"] = np.where((res["score"] >= 8) | res["r13"], "A", np.where(res["score"] >= 5, "B", "C"))
        out.append(res)
    if not out:
        return pd.DataFrame(columns=ALERT_COLUMNS)
    alerts = pd.concat(out, ignore_index=True)
    edge = f[f["label"] != ""].groupby(["rid", "kind"])["label"].agg(lambda x: set(x))
    person_of = pd.Series(j["_person"].to_numpy(), index=j["resident_id"].to_numpy(dtype=object))
    person_of = person_of[~person_of.index.duplicated()]
    latent = _latent_labels(ctx, alerts["rid"].map(person_of).to_numpy(dtype=float), alerts["kind"].to_numpy())
    labels = []
    for i, (rid, kind) in enumerate(zip(alerts["rid"], alerts["kind"], strict=True)):
        found = set(latent[i]) | edge.get((rid, kind), set())
        labels.append(";".join(sorted(found)) or "incidental")
    alerts["planted_condition"] = labels
    alerts["known_case"] = ((alerts["kind"] == CHILD) & alerts["rid"].isin(known)).astype(int)
    alerts = alerts.rename(columns={"rid": "resident_id", "kind": "subject_type"})
    order = {AB: 0, PP: 1, DD: 2}
    alerts = alerts.sort_values(["resident_id", "subject_type"], kind="stable")
    alerts = alerts.assign(_o=alerts["difficulty_type"].map(order)).sort_values(
        ["resident_id", "subject_type", "_o"], kind="stable"
    )
    return alerts[ALERT_COLUMNS].reset_index(drop=True)


def _latent_labels(ctx: Context, person_f: np.ndarray, kind: np.ndarray) -> list[list[str]]:
    """The generator's own reasons behind each subject's risk (latent flags), as planted-condition labels."""
    w, rng = ctx.world, ctx.rng
    n = len(person_f)
    ok = ~np.isnan(person_f)
    p = np.where(ok, person_f, 0).astype(np.int64)
    hh = w.hh[p]
    child = ok & (kind == CHILD) & (w.slot[p] >= CHILD0)
    expectant = ok & (kind == EXPECTANT)
    m = np.where(child, w.mother[p], -1)
    has_m = m >= 0
    mm = np.maximum(m, 0)
    teen_child = child & has_m & (D.age_years(w.birth[mm], w.birth[p]) < 20)
    teen_exp = expectant & (D.age_years(w.birth[p], ctx.asof) < 20)
    q = np.where(child, pregnancy_of_children(ctx, p), -1)
    for i in np.flatnonzero(expectant):
        cur = np.flatnonzero((w.preg_mother == p[i]) & (w.preg_notified <= ctx.asof) & (w.preg_due >= ctx.asof))
        q[i] = int(cur[-1]) if len(cur) else -1
    qq = np.maximum(q, 0)
    pp, _ = postpartum_depression(ctx, qq)
    flags = {
        "abuse_risk_household": ok & w.ab_risk[hh],
        "developmental": child & w.dd[p],
        "school_refusal": child & futoko_prone(rng, w.pkey[p], w.ab_risk[hh]),
        "psychiatric_mother": (child & has_m & w.psych[mm]) | (expectant & w.psych[p]),
        "teen_mother": teen_child | teen_exp,
        "late_notification": (q >= 0) & w.preg_late[qq],
        "postpartum_depression": (child | expectant) & (q >= 0) & pp,
    }
    return [[name for name, v in flags.items() if v[i]] for i in range(n)]
