"""The privacy review report (個人情報保護の整理) per town per run: one self-contained HTML page.

For reviewers who are not programmers: per feed its purpose and department, the columns kept with their
personal-data class (要配慮個人情報 marked), the columns dropped at the door, rows read / valid / quarantined
by reason, the 名寄せ figures, which disclosure profile receives which columns, and retention. Built from
configuration and bookkeeping tables only, so it holds counts and column names, never a personal value.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from kodomo_pipeline.config.feeds import FeedSpec
from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.exports.disclosure import manifest_path
from kodomo_pipeline.privacy.services.profiles import DisclosureProfile, load_profiles
from kodomo_pipeline.privacy.services.retention import RetentionPolicy, load_retention, years_before
from kodomo_pipeline.reports import render_template
from kodomo_pipeline.rules.column_gaps import describe_gap, read_column_gaps
from kodomo_pipeline.sqlmodels.lifecycle import quarantine_meaning
from kodomo_pipeline.storage.feed_tables import latest_run_feeds, quarantine_reasons
from kodomo_pipeline.storage.snapshots import has_table

PERSONAL_JA = {
    "identifier": "識別子 identifier",
    "name": "氏名 name",
    "kana": "氏名カナ kana",
    "birth_date": "生年月日 birth date",
    "address": "住所 address",
}
# What an exported column discloses, by its source column (the feeds' classes, plus what alerts reveal).
EXPORT_CLASS = {
    "subject_resident_id": "identifier",
    "alert_id": "identifier",
    "name_kanji": "name",
    "name_kana": "kana",
    "birth_date": "birth_date",
    "address": "address",
}
# Alert columns derived from consultations, disability and mental-health data: special care as their sources.
DERIVED_SPECIAL_CARE = {"difficulty_type", "type_code", "level", "score", "indicators", "known_case"}
RULE_JA = {
    "copy": "そのまま as is",
    "pseudonymise": "仮名化 HMAC-SHA256 pseudonym",
    "year_month": "年月に丸め year-month only",
}
STATUS_JA = {"matched": "照合 matched", "review": "要確認 review", "unmatched": "照合なし unmatched"}
OUTCOME_JA = {
    "ingested": "取込 ingested",
    "already_ingested": "取込済 already ingested",
    "no_file": "ファイルなし no file",
    "failed": "失敗 failed",
}


@dataclass(frozen=True)
class PrivacyReport:
    path: Path
    feeds: int
    special_care_columns: int
    rows_quarantined: int
    profiles: int
    purge_due: int


def report_path(out_dir: Path, asof: dt.date) -> Path:
    return out_dir / "reports" / f"privacy_{asof:%Y%m%d}.html"


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def _in_force(con: duckdb.DuckDBPyConnection, asof: dt.date) -> dict[str, tuple]:
    """feed → (file, sha256, extract date, read, valid, quarantined, dropped) of the snapshot in force at T."""
    if not has_table(con, "ingested_files"):
        return {}
    rows = _rows(
        con,
        """SELECT feed, file_name, sha256, extract_date, rows_read, rows_valid, rows_quarantined, dropped_columns
           FROM ingested_files WHERE extract_date <= ?
           QUALIFY row_number() OVER (PARTITION BY feed ORDER BY extract_date DESC, ingested_at DESC) = 1""",
        [asof],
    )
    return {row[0]: row[1:] for row in rows}


def _reasons(con: duckdb.DuckDBPyConnection, sha256: str) -> list[dict]:
    if not has_table(con, "quarantine"):
        return []
    counts = quarantine_reasons(con, sha256)
    return [{"code": code, "rows": count, "meaning": quarantine_meaning(code)} for code, count in counts.items()]


def _latest_outcomes(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str | None]]:
    """feed → (outcome, cause) in the latest run recorded in the town's database."""
    if not has_table(con, "run_feeds"):
        return {}
    return {feed: (outcome, cause) for feed, outcome, _, _, cause in latest_run_feeds(con)}


def _retention(
    con: duckdb.DuckDBPyConnection, feed: str, asof: dt.date, policy: RetentionPolicy, in_force: str | None
) -> dict:
    """Years kept, snapshots held, the oldest held, how many are past retention at T, and the last purge."""
    years = policy.years(feed)
    held: list[tuple] = []
    if has_table(con, "ingested_files"):
        purged = "AND sha256 NOT IN (SELECT sha256 FROM purge_log WHERE sha256 IS NOT NULL)"
        held = _rows(
            con,
            f"""SELECT sha256, extract_date FROM ingested_files WHERE feed = ?
                {purged if has_table(con, "purge_log") else ""} ORDER BY extract_date""",
            [feed],
        )
    limit = years_before(asof, years)
    due = sum(1 for sha, extract in held if extract < limit and sha != in_force)
    last = (
        _rows(con, "SELECT max(purged_at), count(*) FROM purge_log WHERE feed = ?", [feed])[0]
        if has_table(con, "purge_log")
        else (None, 0)
    )
    return {
        "years": years,
        "held": len(held),
        "oldest": held[0][1].isoformat() if held else "",
        "limit": limit.isoformat(),
        "due": due,
        "last_purge": last[0].isoformat(timespec="minutes") if last[0] else "",
        "purged": last[1],
    }


def _stated_purpose(item: FeedSpec | DisclosureProfile) -> dict:
    """Title and 利用目的 as a reviewer reads them, for a feed and a disclosure profile alike (English optional)."""
    return {"title_ja": item.title_ja, "purpose": item.purpose, "purpose_en": item.purpose_en or ""}


def _feed(
    con: duckdb.DuckDBPyConnection,
    town: TownConfig,
    spec: FeedSpec,
    asof: dt.date,
    in_force: dict[str, tuple],
    outcomes: dict[str, tuple[str, str | None]],
    policy: RetentionPolicy,
) -> dict:
    layout = town.feeds[spec.feed]
    columns = [
        {
            "header": header,
            "column": canonical,
            "personal": PERSONAL_JA.get(spec.columns[canonical].personal or "", ""),
            "special_care": spec.columns[canonical].special_care,
            "description": spec.columns[canonical].description or "",
        }
        for header, canonical in layout.header_to_canonical.items()
    ]
    current = in_force.get(spec.feed)
    outcome, cause = outcomes.get(spec.feed, (None, None))
    gaps = [describe_gap(gap) for gap in read_column_gaps(con) if gap["feed"] == spec.feed]
    return {
        "feed": spec.feed,
        **_stated_purpose(spec),
        "department": spec.department,
        "layout_source": layout.source,
        "columns": columns,
        "special_care": sum(1 for c in columns if c["special_care"]),
        "configured_drop": list(layout.mapping.exported_but_dropped),
        "file": None
        if current is None
        else {
            "name": current[0],
            "extract_date": current[2].isoformat(),
            "read": current[3],
            "valid": current[4],
            "quarantined": current[5],
            "dropped": list(current[6]),
            "reasons": _reasons(con, current[1]),
        },
        "outcome": OUTCOME_JA.get(outcome, outcome) if outcome else "",
        "cause": cause or "",
        "column_gaps": gaps,
        "retention": _retention(con, spec.feed, asof, policy, current[1] if current else None),
    }


def _linkage(con: duckdb.DuckDBPyConnection, asof: dt.date) -> list[dict]:
    if not has_table(con, "crosswalk"):
        return []
    rows = _rows(
        con, "SELECT feed, status, count(*) FROM crosswalk WHERE as_of = ? GROUP BY 1, 2 ORDER BY 1, 2", [asof]
    )
    by_feed: dict[str, dict[str, int]] = {}
    for feed, status, count in rows:
        by_feed.setdefault(feed, {})[status] = count
    return [
        {"feed": feed, "total": sum(counts.values())}
        | {status: counts.get(status, 0) for status in ("matched", "review", "unmatched")}
        for feed, counts in by_feed.items()
    ]


def _profile(profile: DisclosureProfile, exported: dict | None) -> dict:
    columns = []
    for col in profile.columns:
        personal = EXPORT_CLASS.get(col.source)
        columns.append(
            {
                "label": col.label,
                "column": col.column,
                "source": col.source,
                "rule": RULE_JA[col.rule],
                "personal": PERSONAL_JA[personal] if personal and col.rule == "copy" else "",
                "special_care": col.source in DERIVED_SPECIAL_CARE,
            }
        )
    return {
        "name": profile.profile,
        **_stated_purpose(profile),
        "recipient": profile.recipient,
        "legal_basis": profile.legal_basis,
        "identified": profile.identified,
        "split_by": profile.split_by or "",
        "one_row_per": profile.one_row_per,
        "levels": "・".join(profile.subjects.levels),
        "subject_types": "・".join(profile.subjects.subject_types),
        "enrolled_in": profile.subjects.enrolled_in or "",
        "small_groups_k": profile.small_groups.k if profile.small_groups else None,
        "columns": columns,
        "exported": exported,
    }


def file_register(town: TownConfig, feeds: list[dict], profiles: dict[str, DisclosureProfile]) -> list[dict]:
    """Each feed as the items of a 個人情報ファイル簿 (APPI art. 75): 名称, 利用目的, 記録項目, 記録範囲,
    収集方法, 経常的提供先, 保有期間 — from the feed contracts, the town's layout, the disclosure profiles and the
    retention file, so the register and the running system cannot drift apart."""
    specs = {layout.feed: layout.spec for layout in town.feeds.values()}
    recipients = [
        f"{profile.title_ja}：{profile.recipient}" for _, profile in sorted(profiles.items()) if profile.recipient
    ]
    register = []
    for feed in feeds:
        spec = specs[feed["feed"]]
        register.append(
            {
                "feed": feed["feed"],
                "name": f"{town.name_ja} こどもデータ連携 {spec.title_ja}ファイル",
                "purpose": spec.purpose,
                "recorded_items": "、".join(column["header"] for column in feed["columns"]),
                "scope": spec.record_scope or "（未記入: assets/" + spec.feed + ".yaml の record_scope）",
                "collection": spec.collection or f"{spec.department} からの受信（assets/{spec.feed}.yaml）",
                "recipients": recipients,
                "retention": f"{feed['retention']['years']} 年（抽出日から。基準日に有効なファイルは保持）",
            }
        )
    return register


def build_privacy_report(
    con: duckdb.DuckDBPyConnection,
    town: TownConfig,
    asof: dt.date,
    out_dir: Path,
    profiles: dict[str, DisclosureProfile] | None = None,
    policy: RetentionPolicy | None = None,
) -> PrivacyReport:
    """Write `<out>/<town>/reports/privacy_<YYYYMMDD>.html` for T from configuration and bookkeeping tables."""
    profiles = profiles if profiles is not None else load_profiles()
    policy = policy or load_retention()
    in_force = _in_force(con, asof)
    outcomes = _latest_outcomes(con)
    feeds = [_feed(con, town, layout.spec, asof, in_force, outcomes, policy) for layout in town.feeds.values()]
    manifest_file = manifest_path(out_dir, asof)
    manifest = json.loads(manifest_file.read_text(encoding="utf-8")) if manifest_file.exists() else None
    exported = (manifest or {}).get("profiles", {})
    shown = [_profile(profile, exported.get(name)) for name, profile in sorted(profiles.items())]
    html = render_template(
        "privacy_report.html.j2",
        town=town.town,
        town_ja=town.name_ja,
        as_of=asof.isoformat(),
        generated=dt.datetime.now().isoformat(timespec="minutes"),
        feeds=feeds,
        register=file_register(town, feeds, profiles),
        linkage=_linkage(con, asof),
        status_ja=STATUS_JA,
        profiles=shown,
        key_source=(manifest or {}).get("key_source"),
        disclosure_written=manifest is not None,
        retention_source=policy.source.name,
    )
    path = report_path(out_dir, asof)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return PrivacyReport(
        path=path,
        feeds=len(feeds),
        special_care_columns=sum(feed["special_care"] for feed in feeds),
        rows_quarantined=sum(feed["file"]["quarantined"] or 0 for feed in feeds if feed["file"]),
        profiles=len(shown),
        purge_due=sum(feed["retention"]["due"] for feed in feeds),
    )
