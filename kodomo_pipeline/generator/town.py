"""generate_town: one town's nightly exports as of a date, plus the ground truth.

Builds the timeline, takes the snapshot at as-of, builds one canonical frame
per feed the town has, writes each through the layout writer, patches the
planted defects into the text, and writes the truth files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kodomo_pipeline.config.towns import FeedLayout, TownConfig
from kodomo_pipeline.generator import dates as D
from kodomo_pipeline.generator import truth
from kodomo_pipeline.generator.checkups import kenshin_frame
from kodomo_pipeline.generator.context import Context
from kodomo_pipeline.generator.defects import Defect, apply_defects, plan_defects
from kodomo_pipeline.generator.frames import sex_text
from kodomo_pipeline.generator.gaiji import apply_placeholders, has_gaiji, in_cp932, placeholder_mark
from kodomo_pipeline.generator.guarantee import plant_missing_rules
from kodomo_pipeline.generator.name_history import earlier_registry_days, name_history_frame
from kodomo_pipeline.generator.nursery import enrolments, toen_frame
from kodomo_pipeline.generator.outsiders import outsider_identity
from kodomo_pipeline.generator.places import TownPlaces, town_places
from kodomo_pipeline.generator.population import (
    ASOF_MAX,
    ASOF_MIN,
    CHILD0,
    RELATIONSHIPS,
    World,
    build_world,
    first_child,
    take_snapshot,
)
from kodomo_pipeline.generator.pregnancy import ninpu_frame, ninshin_frame, sango_frame
from kodomo_pipeline.generator.presets import load_preset
from kodomo_pipeline.generator.pupils import Pupils, build_pupils
from kodomo_pipeline.generator.registry import STATUS, jumin_frame
from kodomo_pipeline.generator.risk import ALERT_COLUMNS, FACT_COLUMNS, reading
from kodomo_pipeline.generator.rng import Rng
from kodomo_pipeline.generator.school import roster, school_records, shusseki_frame
from kodomo_pipeline.generator.welfare import fuyo_frame, hogo_frame, soudan_frame, techo_frame
from kodomo_pipeline.layout.writer import write_feed_csv

TRAILING_BLANK_SHARE = 1 / 3
_SIMPLE: dict[str, Callable[[Context], pd.DataFrame]] = {
    "jumin": jumin_frame,
    "jido_soudan": soudan_frame,
    "shogai_techo": techo_frame,
    "seikatsu_hogo": hogo_frame,
    "jido_fuyo": fuyo_frame,
    "ninshin_todoke": ninshin_frame,
    "ninpu_kenshin": ninpu_frame,
    "sango_shitsumon": sango_frame,
    "nyuyoji_kenshin": kenshin_frame,
}


@dataclass(frozen=True)
class GenerationSummary:
    """What was written: per-feed row counts and paths (no personal data)."""

    town: str
    asof: dt.date
    seed: int
    population: int
    files: dict[str, Path]
    rows: dict[str, int]
    truth_files: dict[str, Path]
    defects: int
    trailing_blank_line: tuple[str, ...]
    earlier_registry: tuple[Path, ...] = ()  # older jumin extracts written for name history (hard preset)


def _town_seed(seed: int, town: str) -> int:
    """Different towns with the same seed get different people."""
    return int.from_bytes(hashlib.blake2b(f"{seed}:{town}".encode(), digest_size=8).digest(), "little")


def build_town_world(
    town: TownConfig, population: int | None, seed: int, noise: str = "default"
) -> tuple[Rng, TownPlaces, World, int]:
    """The town's whole timeline for a seed and noise preset (the same people whatever the as-of date)."""
    population = int(population or town.population)
    if population < 100:
        raise ValueError("population must be at least 100")
    rng = Rng(_town_seed(seed, town.town))
    places = town_places(town.town, town.name_ja, town.prefecture)
    return rng, places, build_world(rng, places, population, load_preset(noise)), population


def _town_digit(town: str) -> int:
    return {"kawashima": 1, "misato": 2}.get(town, 3 + zlib.crc32(town.encode()) % 7)


def _restrict(frame: pd.DataFrame, feed: FeedLayout) -> pd.DataFrame:
    """Keep the columns the town's export maps or carries (and internal `_` columns)."""
    keep = set(feed.header_to_canonical.values()) | set(feed.mapping.exported_but_dropped)
    return frame[[c for c in frame.columns if c in keep or c.startswith("_")]]


def _public(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[c for c in frame.columns if not c.startswith("_")]]


def generate_town(
    town: TownConfig,
    out_dir: Path,
    truth_dir: Path,
    asof: dt.date,
    population: int | None = None,
    seed: int = 0,
    defect_rate: float = 0.0005,
    noise: str = "default",
) -> GenerationSummary:
    """Write every feed of `town` as of `asof` to out_dir and the ground truth to truth_dir.

    `noise` names a preset of noise_presets.yaml: how often each identity case occurs.
    """
    if not ASOF_MIN <= asof <= ASOF_MAX:
        raise ValueError(f"as-of date must be between {ASOF_MIN} and {ASOF_MAX}")
    out_dir, truth_dir = Path(out_dir), Path(truth_dir)
    rng, places, world, population = build_town_world(town, population, seed, noise)
    snap = take_snapshot(world, D.day(asof))
    ctx = Context(town, places, rng, world, snap, asof, _town_digit(town.town), population)
    ctx.check_id_space()

    pupils = build_pupils(ctx) if any(f in town.feeds for f in ("toen", "gakko_meibo", "gakko_shusseki")) else None
    frames, link_rows = _build_frames(ctx, pupils)
    plant_missing_rules(ctx, frames, pupils.person if pupils is not None else np.zeros(0, dtype=np.int64))
    written = _write_feeds(ctx, frames, out_dir, defect_rate)

    truth_files = {
        "links": truth.write_links(link_rows, truth_dir / "links.csv"),
        "persons": truth.write_persons(_persons(ctx, pupils, link_rows), truth_dir / "persons.csv"),
        "defects": truth.write_defects(written.defects, truth_dir / "defects.csv"),
    }
    earlier: list[Path] = []
    if world.surname_changes is not None:
        # Name history in the same inbox: the registry extracts that still show the old surnames.
        if pupils is not None:
            earlier = _write_earlier_registry(ctx, earlier_registry_days(ctx, pupils, link_rows), out_dir)
        history = name_history_frame(ctx, ctx.snap.persons)
        truth_files["name_history"] = truth.write_name_history(history, truth_dir / "name_history.csv")
    if "jumin" in written.clean:
        pupil_person = pupils.person if pupils is not None else np.zeros(0, dtype=np.int64)
        planted, planted_facts = reading(ctx, written.clean, pupil_person)
    else:
        planted, planted_facts = pd.DataFrame(columns=ALERT_COLUMNS), pd.DataFrame(columns=FACT_COLUMNS)
    truth_files["planted_risk"] = truth.write_planted(planted, truth_dir / "planted_risk.csv")
    truth_files["planted_facts"] = truth.write_planted(planted_facts, truth_dir / "planted_facts.csv")
    return GenerationSummary(
        town=town.town,
        asof=asof,
        seed=seed,
        population=population,
        files=written.files,
        rows=written.rows,
        truth_files=truth_files,
        defects=len(written.defects),
        trailing_blank_line=tuple(written.trailing),
        earlier_registry=tuple(earlier),
    )


def _write_earlier_registry(ctx: Context, days: list[int], out_dir: Path) -> list[Path]:
    """jumin_<date>.csv for each earlier extract date (no planted defects): the registry as it was then."""
    paths = []
    if "jumin" not in ctx.town.feeds:
        return paths
    for day in days:
        snap = take_snapshot(ctx.world, day)
        date = D.EPOCH + dt.timedelta(days=day)
        then = Context(ctx.town, ctx.places, ctx.rng, ctx.world, snap, date, ctx.town_digit, ctx.population)
        paths.append(_write_feeds(then, {"jumin": jumin_frame(then)}, out_dir, 0.0).files["jumin"])
    return paths


def _build_frames(ctx: Context, pupils: Pupils | None) -> tuple[dict[str, pd.DataFrame], list[pd.DataFrame]]:
    """One canonical frame per feed of the town, and the truth links of the nursery and school records."""
    frames: dict[str, pd.DataFrame] = {}
    link_rows: list[pd.DataFrame] = []
    feeds = ctx.town.feeds
    for feed in sorted(feeds):
        if feed in _SIMPLE:
            frames[feed] = _SIMPLE[feed](ctx)
        elif feed == "toen" and pupils is not None:
            enr = enrolments(ctx, pupils)
            toen = toen_frame(ctx, pupils, enr)
            frames[feed] = toen.frame
            link_rows.append(_links(ctx, pupils, "toen", toen.source_key, enr.pupil[toen.enrolment], toen.noise))
        elif feed in ("gakko_meibo", "gakko_shusseki") and pupils is not None:
            if feed in frames:
                continue
            recs = school_records(ctx, pupils)
            ros = roster(ctx, pupils, recs)
            if "gakko_meibo" in feeds:
                frames["gakko_meibo"] = ros.frame
                numbers = ros.frame["student_no"].to_numpy()
                link_rows.append(_links(ctx, pupils, "gakko_meibo", numbers, recs.pupil[ros.rec], ros.noise))
            if "gakko_shusseki" in feeds:
                frames["gakko_shusseki"] = shusseki_frame(ctx, pupils, recs, ros)
        else:
            # taio_kekka (no meeting yet) and any feed this generator does not know: header only.
            frames[feed] = pd.DataFrame()
    return frames, link_rows


@dataclass
class _Written:
    files: dict[str, Path]
    rows: dict[str, int]
    defects: list[Defect]
    trailing: list[str]
    clean: dict[str, pd.DataFrame]  # frames without the rows that carry a planted defect


def _write_feeds(ctx: Context, frames: dict[str, pd.DataFrame], out_dir: Path, defect_rate: float) -> _Written:
    """Write each frame through the layout writer, then patch the planted defects into the text."""
    stamp = ctx.asof_date.strftime("%Y%m%d")
    out = _Written({}, {}, [], [], {})
    for feed in sorted(frames):
        layout = ctx.town.feeds[feed]
        frame = apply_placeholders(_restrict(frames[feed], layout), feed, layout, ctx.world.preset.gaiji)
        path = out_dir / f"{feed}_{stamp}.csv"
        salt = np.array([zlib.crc32(feed.encode())])
        blank = bool(ctx.rng.uniform("trailing_blank", salt)[0] < TRAILING_BLANK_SHARE)
        public = _public(frame).reset_index(drop=True)
        out.rows[feed] = write_feed_csv(public, layout, path, trailing_blank_line=blank)
        planned = plan_defects(ctx.rng, layout, public, defect_rate, path.name)
        apply_defects(path, layout, planned)
        out.defects.extend(d for d, _ in planned)
        out.files[feed] = path
        if blank:
            out.trailing.append(feed)
        bad_rows = [d.frame_row for d, _ in planned]
        out.clean[feed] = frame.drop(index=frame.index[bad_rows]) if bad_rows else frame
    return out


def _links(
    ctx: Context, pupils: Pupils, feed: str, source_key: np.ndarray, pupil: np.ndarray, noise: list[list[str]]
) -> pd.DataFrame:
    """One truth row per nursery/school record: who it really is and what was changed on it."""
    person = pupils.person[pupil]
    outsider = pupils.outsider[pupil]
    resident = (person >= 0) & ctx.in_extract[np.maximum(person, 0)]
    rid = np.full(len(pupil), "", dtype=object)
    rid[resident] = ctx.resident_ids(person[resident])
    uid = np.where(person >= 0, truth.person_uid(np.maximum(person, 0)), truth.outsider_uid(np.maximum(outsider, 0)))
    namesake = (outsider >= 0) & (pupils.outsiders.namesake_of[np.maximum(outsider, 0)] >= 0)
    ref = pupils.outsiders.namesake_of[np.maximum(outsider, 0)]
    same_day = namesake & (pupils.birth[pupil] == ctx.world.birth[np.maximum(ref, 0)])
    extra = [
        ["namesake", "namesake_same_birthday"] if sd else ["namesake"] if ns else []
        for ns, sd in zip(namesake, same_day, strict=True)
    ]
    _gaiji_tags(ctx, person, resident, extra)
    _household_case_tags(ctx, person, extra)
    tags = [";".join([*t, *x]) for t, x in zip(noise, extra, strict=True)]
    return pd.DataFrame(
        {
            "feed": feed,
            "source_key": source_key,
            "resident_id": rid,
            "person_uid": uid,
            "noise": tags,
            "is_twin": pupils.twin[pupil].astype(int),
            "_pupil": pupil,
        }
    )


def _household_case_tags(ctx: Context, person: np.ndarray, extra: list[list[str]]) -> None:
    """close_sibling (both children of the pair) and namesake_resident (both first children of the pair)."""
    w = ctx.world
    ok = person >= 0
    p = np.maximum(person, 0)
    hh = w.hh[p]
    if w.close_sibling is not None:
        close = ok & w.close_sibling[hh] & np.isin(w.birth_event[p], (0, 1)) & (w.slot[p] >= CHILD0)
        for i in np.flatnonzero(close):
            extra[i].append("close_sibling")
    if w.same_name_of is not None:
        # Both first children must be in this extract (the other one may have moved away or grown up).
        a = np.flatnonzero(w.same_name_of >= 0)
        b = w.same_name_of[a]
        ca, cb = first_child(w, a), first_child(w, b)
        both = (ca >= 0) & (cb >= 0) & ctx.in_extract[np.maximum(ca, 0)] & ctx.in_extract[np.maximum(cb, 0)]
        paired = np.zeros(w.n_households, dtype=bool)
        paired[a[both]] = paired[b[both]] = True
        same = ok & paired[hh] & (w.slot[p] == CHILD0)
        for i in np.flatnonzero(same):
            extra[i].append("namesake_resident")


def _gaiji_tags(ctx: Context, person: np.ndarray, resident: np.ndarray, extra: list[list[str]]) -> None:
    """gaiji_rare (the registered name has a character cp932 lacks) and gaiji_registry (the cp932 registry
    export shows a placeholder in the child's name), for resident children."""
    rates = ctx.world.preset.gaiji
    if rates.rare_variant <= 0 and not rates.registry_placeholder:
        return
    rows = np.flatnonzero(resident)
    if not len(rows):
        return
    jumin = ctx.town.feeds.get("jumin")
    registry_marks = jumin is not None and bool(placeholder_mark("jumin", jumin, rates))
    kanji = ctx.names(person[rows]).kanji
    for i, name in zip(rows, kanji, strict=True):
        if any(not in_cp932(ch) for ch in name):
            extra[i].append("gaiji_rare")
        if registry_marks and has_gaiji(name):
            extra[i].append("gaiji_registry")


def _persons(ctx: Context, pupils: Pupils | None, link_rows: list[pd.DataFrame]) -> pd.DataFrame:
    """Everyone the exports mention: the jumin extract and the outsiders in nursery/school records."""
    w, s = ctx.world, ctx.snap
    p = s.persons
    names = ctx.snap_names
    twin_group = np.where(
        w.twin[p] & (w.slot[p] >= CHILD0),
        np.array(
            [f"T{h}-{e}" for h, e in zip(ctx.household_ids(w.hh[p]), w.birth_event[p], strict=True)], dtype=object
        ),
        "",
    )
    frame = pd.DataFrame(
        {
            "person_uid": truth.person_uid(p),
            "resident_id": ctx.resident_ids(p),
            "household_id": ctx.household_ids(w.hh[p]),
            "name_kanji": names.kanji,
            "name_kana": names.kana,
            "birth_date": D.to_datetime(w.birth[p]).dt.strftime("%Y-%m-%d").to_numpy(),
            "sex": sex_text(w.female[p]),
            "relationship": np.array(RELATIONSHIPS, dtype=object)[s.relationship],
            "status": STATUS[s.status],
            "twin_group": twin_group,
            "outsider": 0,
        }
    )
    parts = [frame]
    if pupils is not None and link_rows:
        pupil = np.unique(np.concatenate([r["_pupil"].to_numpy() for r in link_rows]))
        pupil = pupil[pupils.outsider[pupil] >= 0]
        if len(pupil):
            o = pupils.outsider[pupil]
            ident = outsider_identity(ctx, pupils.outsiders, o)
            parts.append(
                pd.DataFrame(
                    {
                        "person_uid": truth.outsider_uid(o),
                        "resident_id": "",
                        "household_id": "",
                        "name_kanji": ident.kanji,
                        "name_kana": ident.kana,
                        "birth_date": D.to_datetime(pupils.birth[pupil]).dt.strftime("%Y-%m-%d").to_numpy(),
                        "sex": sex_text(pupils.female[pupil]),
                        "relationship": "",
                        "status": "",
                        "twin_group": "",
                        "outsider": 1,
                    }
                )
            )
    return pd.concat(parts, ignore_index=True).sort_values("person_uid", kind="stable")
