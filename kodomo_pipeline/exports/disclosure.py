"""Per-profile exports for T: each consumer gets exactly its profile's columns for exactly its children.

Written under `<out>/<town>/disclosure/<profile>/`: one file per nursery or school for profiles split by
facility or school (a file for every one in the roster at T, empty when none of its children is under watch,
so a missing file never reads as "nobody"), else one file; a small-groups report next to a profile that asks
for one. Only alerts in force (not suppressed by a 対応不要 decision) count. Each file is recorded in the
access log; `manifest_<YYYYMMDD>.json` lists files and counts (no values) for the privacy review report.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from kodomo_pipeline.config.feed_roles import NURSERY, SCHOOL_ROSTER
from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.exports.csvfile import write_contract_csv
from kodomo_pipeline.privacy.services.access_log import record_access
from kodomo_pipeline.privacy.services.profiles import WATCH, DisclosureProfile, load_profiles
from kodomo_pipeline.privacy.services.pseudonym import PseudonymKey, load_key
from kodomo_pipeline.rules.domain import LEVELS, record_key_sql
from kodomo_pipeline.storage.feed_tables import read_frame
from kodomo_pipeline.storage.snapshots import current_rows_sql, has_table

PERSON_FIELDS = ["name_kanji", "name_kana", "birth_date", "sex", "address", "age"]
LEVEL_ORDER = {level: rank for rank, level in enumerate(LEVELS)}  # most urgent first
_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\s]+')


@dataclass
class ProfileExport:
    """What one profile received at T: file names and counts, never a value."""

    files: list[str] = field(default_factory=list)
    rows: int = 0
    subjects: int = 0
    small_groups: int | None = None  # groups below k, for profiles that report them


@dataclass
class DisclosureResult:
    as_of: str
    folder: Path
    manifest: Path | None = None
    profiles: dict[str, ProfileExport] = field(default_factory=dict)
    key_source: str | None = None  # where the pseudonym key came from (environment / key file), never the key
    key_notice: str | None = None  # set when this run created the key file: the caller logs it


def disclosure_dir(out_dir: Path) -> Path:
    return out_dir / "disclosure"


def manifest_path(out_dir: Path, asof: dt.date) -> Path:
    return disclosure_dir(out_dir) / f"manifest_{asof:%Y%m%d}.json"


def _alerts(con: duckdb.DuckDBPyConnection, asof: dt.date) -> pd.DataFrame:
    """Alerts in force at T with the subject's registry fields (empty for a subject not in the registry)."""
    if not has_table(con, "alerts"):
        raise RuntimeError("the town's database has no alerts table: materialise the alerts asset first")
    person = ", ".join(f"p.{name}" for name in PERSON_FIELDS)
    join = "LEFT JOIN persons p ON p.resident_id = a.subject_resident_id" if has_table(con, "persons") else ""
    if not join:
        person = ", ".join(f"NULL AS {name}" for name in PERSON_FIELDS)
    return read_frame(
        con, f"SELECT a.*, {person} FROM alerts a {join} WHERE a.as_of = ? AND NOT a.suppressed", [asof]
    ).astype(object)


def _enrolment(con: duckdb.DuckDBPyConnection, feed: str, asof: dt.date) -> tuple[pd.DataFrame, list[str]]:
    """(resident → facility or school at T, every facility or school at T) through matched crosswalk records.

    Nursery: a child is enrolled where they have a record in that nursery's latest month up to T (a child
    who left no longer appears there; a nursery whose list lags a month still counts). School: the roster.
    """
    if not has_table(con, f"valid_{feed}") or not has_table(con, "crosswalk"):
        return pd.DataFrame(columns=["resident_id", "facility", "school", "grade"]), []
    if feed == NURSERY:
        records = f"""
            SELECT facility, NULL AS school, NULL AS grade, {record_key_sql(NURSERY)} AS source_key, month
            FROM ({current_rows_sql(NURSERY)}) WHERE month <= ?
            QUALIFY month = max(month) OVER (PARTITION BY facility)"""
        params: list = [asof, asof]
        unit = "facility"
    else:
        records = f"""SELECT NULL AS facility, school, grade, {record_key_sql(SCHOOL_ROSTER)} AS source_key,
                      NULL::DATE AS month
                      FROM ({current_rows_sql(SCHOOL_ROSTER)})"""
        params = [asof]
        unit = "school"
    units = sorted(row[0] for row in con.execute(f"SELECT DISTINCT {unit} FROM ({records})", params).fetchall())
    enrolled = read_frame(
        con,
        f"""SELECT c.resident_id, r.facility, r.school, r.grade FROM ({records}) r
            JOIN crosswalk c ON c.feed = '{feed}' AND c.status = 'matched' AND c.source_key = r.source_key
             AND c.as_of = ?
            QUALIFY row_number() OVER (PARTITION BY c.resident_id ORDER BY r.month DESC NULLS LAST, r.{unit}) = 1""",
        [*params, asof],
    ).astype(object)
    return enrolled, units


def _text(value: object) -> object:
    """Booleans as 1/0 (as known_case), dates as ISO, whole numbers without a decimal point; missing stays missing.

    (An integer column with a missing value, such as the age of a subject not in the registry, arrives as float.)
    """
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dt.date | pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return value


def _year_month(value: object) -> str | None:
    return value.strftime("%Y-%m") if isinstance(value, dt.date | pd.Timestamp) else None


def _select(profile: DisclosureProfile, alerts: pd.DataFrame, enrolled: pd.DataFrame | None) -> pd.DataFrame:
    """The profile's children, one row per alert or per subject, in reading order."""
    chosen = alerts[
        alerts["level"].isin(profile.subjects.levels) & alerts["subject_type"].isin(profile.subjects.subject_types)
    ]
    if enrolled is not None:
        chosen = chosen.merge(enrolled, left_on="subject_resident_id", right_on="resident_id", how="inner")
    chosen = chosen.assign(
        _level=chosen["level"].map(LEVEL_ORDER), _key=chosen["subject_resident_id"].fillna(chosen["alert_id"])
    )
    if profile.one_row_per == "subject":
        chosen = chosen.sort_values(["_level", "score"], ascending=[True, False], kind="stable")
        chosen = chosen.drop_duplicates("_key").sort_values(
            [c for c in (profile.split_by, "name_kana", "_key") if c], kind="stable"
        )
    else:
        chosen = chosen.sort_values(["_level", "score", "alert_id"], ascending=[True, False, True], kind="stable")
    return chosen.reset_index(drop=True)


def _columns(profile: DisclosureProfile, chosen: pd.DataFrame, key: PseudonymKey | None) -> pd.DataFrame:
    """Exactly the profile's columns, rules applied, headed as the recipient reads them."""
    out = pd.DataFrame(index=chosen.index)
    for col in profile.columns:
        if col.rule == "pseudonymise":
            assert key is not None  # loaded whenever a profile pseudonymises
            out[col.column] = chosen[col.source].map(lambda v: key.pseudonym(str(v)) if isinstance(v, str) else None)
        elif col.rule == "year_month":
            out[col.column] = chosen[col.source].map(_year_month)
        elif col.source == "watch":
            out[col.column] = WATCH
        elif col.source == "contact_department":
            out[col.column] = profile.contact_department
        else:
            out[col.column] = chosen[col.source].map(_text)
    out.columns = profile.header_names
    return out


def _small_groups(profile: DisclosureProfile, frame: pd.DataFrame, subject_keys: pd.Series) -> pd.DataFrame:
    """Groups of the profile's `by` columns holding fewer than k subjects, with their count."""
    assert profile.small_groups is not None
    by = list(profile.small_groups.by)
    headers = dict(zip(profile.column_names, profile.header_names, strict=True))
    keyed = frame[[headers[name] for name in by]].set_axis(by, axis=1).assign(_key=subject_keys.values)
    counts = keyed.fillna("").groupby(by, dropna=False)["_key"].nunique().rename("subjects").reset_index()
    return counts[counts["subjects"] < profile.small_groups.k].reset_index(drop=True)


def _file_stem(unit: str) -> str:
    return _UNSAFE_NAME.sub("_", unit).strip("_") or "unnamed"


def _write(con: duckdb.DuckDBPyConnection, profile: DisclosureProfile, frame: pd.DataFrame, path: Path) -> None:
    write_contract_csv(frame, list(frame.columns), path)
    record_access(con, f"disclosure/{profile.profile}/{path.name} ({profile.title_ja})", profile.purpose)


def export_profile(
    con: duckdb.DuckDBPyConnection,
    profile: DisclosureProfile,
    alerts: pd.DataFrame,
    asof: dt.date,
    out_dir: Path,
    key: PseudonymKey | None,
) -> ProfileExport:
    """Write one profile's files for T (replacing that T's earlier files of the profile)."""
    folder = disclosure_dir(out_dir) / profile.profile
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(f"*_{asof:%Y%m%d}.csv"):
        stale.unlink()
    enrolled, units = (
        _enrolment(con, profile.subjects.enrolled_in, asof) if profile.subjects.enrolled_in else (None, [])
    )
    chosen = _select(profile, alerts, enrolled)
    frame = _columns(profile, chosen, key)
    result = ProfileExport(rows=len(frame), subjects=int(chosen["_key"].nunique()))
    if profile.split_by:
        for unit in units:
            part = frame[(chosen[profile.split_by] == unit).to_numpy()]
            path = folder / f"{_file_stem(unit)}_{asof:%Y%m%d}.csv"
            _write(con, profile, part, path)
            result.files.append(path.name)
    else:
        path = folder / f"{profile.profile}_{asof:%Y%m%d}.csv"
        _write(con, profile, frame, path)
        result.files.append(path.name)
    if profile.small_groups:
        small = _small_groups(profile, frame, chosen["_key"])
        path = folder / f"small_groups_{asof:%Y%m%d}.csv"
        _write(con, profile, small, path)
        result.files.append(path.name)
        result.small_groups = len(small)
    return result


def export_disclosures(
    con: duckdb.DuckDBPyConnection,
    town: TownConfig,
    asof: dt.date,
    out_dir: Path,
    root: Path,
    profiles: dict[str, DisclosureProfile] | None = None,
) -> DisclosureResult:
    """Every profile's exports for T, the pseudonym key loaded (or created) only when a profile needs it."""
    profiles = profiles if profiles is not None else load_profiles()
    result = DisclosureResult(as_of=asof.isoformat(), folder=disclosure_dir(out_dir))
    key = None
    if any(profile.pseudonymised for profile in profiles.values()):
        key = load_key(town.town, root)
        result.key_source, result.key_notice = key.source, key.announcement
    alerts = _alerts(con, asof)
    for name, profile in sorted(profiles.items()):
        result.profiles[name] = export_profile(con, profile, alerts, asof, out_dir, key)
    result.manifest = manifest_path(out_dir, asof)
    manifest = {
        "as_of": result.as_of,
        "key_source": result.key_source,
        "profiles": {name: asdict(export) for name, export in result.profiles.items()},
    }
    result.manifest.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return result
