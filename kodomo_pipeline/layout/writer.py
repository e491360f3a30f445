"""Write canonical rows as a town's system would export them (used by the sample-data generator)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from kodomo_pipeline.config.towns import FeedLayout
from kodomo_pipeline.layout.values import encode_column


def export_headers(feed: FeedLayout) -> list[str]:
    """The export's header row: mapped columns in layout order, then the columns dropped at the door."""
    return [*feed.header_to_canonical, *feed.mapping.exported_but_dropped]


def write_feed_csv(frame: pd.DataFrame, feed: FeedLayout, path: Path, trailing_blank_line: bool = False) -> int:
    """Write canonical rows to `path` in the feed's layout; returns the number of rows.

    `frame` holds canonical columns (missing ones are exported empty) and, under
    their export header, the values of columns the export carries but the
    pipeline drops (本籍, 相談内容, 成績).
    """
    columns: list[pd.Series] = []
    for canonical in feed.header_to_canonical.values():
        if canonical in frame:
            columns.append(encode_column(frame[canonical], canonical, feed))
        else:
            columns.append(pd.Series([""] * len(frame), index=frame.index, dtype=object))
    for header in feed.mapping.exported_but_dropped:
        columns.append(frame[header].fillna("").astype(str) if header in frame else pd.Series([""] * len(frame)))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=feed.layout.newline)
    writer.writerow(export_headers(feed))
    writer.writerows(zip(*(col.tolist() for col in columns), strict=True))
    if trailing_blank_line:
        buffer.write(feed.layout.newline)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue().encode(feed.layout.encoding))
    return len(frame)
