"""Write the crosswalk file (spec/outputs.md) and the review list for T from the stored crosswalk."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd

from kodomo_pipeline.config.towns import TownConfig
from kodomo_pipeline.exports.csvfile import write_contract_csv
from kodomo_pipeline.exports.meiyose_template_xlsx import write_meiyose_template_xlsx
from kodomo_pipeline.linkage.crosswalk import CROSSWALK_COLUMNS
from kodomo_pipeline.linkage.inputs import build_link_persons, build_link_records
from kodomo_pipeline.linkage.review import shown_rows, write_review
from kodomo_pipeline.privacy.services.access_log import record_access
from kodomo_pipeline.storage.feed_tables import read_frame


def export_crosswalk(con: duckdb.DuckDBPyConnection, town: TownConfig, asof: dt.date, out_dir: Path) -> dict[str, Path]:
    crosswalk = read_frame(con, "SELECT * FROM crosswalk WHERE as_of = ? ORDER BY feed, source_key", [asof])
    csv_path = write_contract_csv(crosswalk, CROSSWALK_COLUMNS, out_dir / f"crosswalk_{asof:%Y%m%d}.csv")
    # Only the records and candidates the page shows: rebuilding both whole sides took ~10 s at 1,000,000 residents.
    shown = shown_rows(crosswalk, town.linkage.audit_sample, asof)
    listed = pd.concat(shown)
    records = build_link_records(con, asof, only=listed["record_id"]).rename(columns={"unique_id": "record_id"})
    persons = build_link_persons(con, asof, only=listed["candidate_resident_id"].dropna())
    html, template = write_review(crosswalk, shown, records, persons, town, asof, out_dir)
    written = {"crosswalk_csv": csv_path, "review_html": html, "decision_template": template}
    if template_xlsx := write_meiyose_template_xlsx(template, town, asof):  # the same template, with a dropdown
        written["decision_template_xlsx"] = template_xlsx
    for path, purpose in ((csv_path, "名寄せ結果の連携"), (html, "名寄せ確認"), (template_xlsx, "名寄せ確認")):
        if path is not None:
            record_access(con, path.name, purpose)
    return written
