"""Shared fixtures: the real town configuration, an isolated data root, and export-writing helpers."""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from kodomo_pipeline.config import TownConfig, load_towns
from kodomo_pipeline.config.towns import FeedLayout

# One valid kawashima (layout K) jumin row:
# 宛名番号,世帯番号,氏名,氏名カナ,生年月日,性別,続柄,住所,住定日,住民状態,異動日,本籍
K_JUMIN_ROW = ["0000012345", "200001", "髙橋　一郎", "ﾀｶﾊｼ ｲﾁﾛｳ", "S60.04.02", "1", "世帯主", "川島町大字上伊草1番地",
               "H20.04.01", "住民", "", "埼玉県比企郡川島町"]  # fmt: skip


def in_ci() -> bool:
    """True on the CI runner (`CI=true`, as GitHub/GitLab and .ci/run set it)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require(available: bool, what: str) -> None:
    """Skip a test whose facility (PostgreSQL, Chromium, a network namespace) is missing — but fail it in CI.

    A skip does not fail a pipeline, so a CI machine that silently lacks PostgreSQL would go green
    without ever running the daemon or the one-run-per-town check. .ci/run installs everything these
    tests need; if something is still missing there, that is a CI fault to see, not to skip.
    """
    if available:
        return
    message = f"{what} is not available"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a required facility must not be skipped; .ci/run installs it)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def towns() -> dict[str, TownConfig]:
    return load_towns()


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data root (KODOMO_HOME) with its own Dagster instance."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("KODOMO_HOME", str(root))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return root


def write_export(path: Path, feed: FeedLayout, lines: list[list[str]], trailing_blank: bool = False) -> Path:
    """Write header + rows exactly as the feed's layout would (encoding and line ends)."""
    from kodomo_pipeline.layout.writer import export_headers

    newline = feed.layout.newline
    text = newline.join(",".join(cells) for cells in [export_headers(feed), *lines]) + newline
    if trailing_blank:
        text += newline
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(feed.layout.encoding))
    delivered_a_minute_ago(path)
    return path


def delivered_a_minute_ago(path: Path) -> None:
    """Date the file's last change a minute back: a completed delivery, read without waiting for it to settle."""
    import os
    import time

    past = time.time() - 60
    os.utime(path, (past, past))


def ingest_rows(tmp_path: Path, town: TownConfig, files: dict[str, list[list[str]]], asof: dt.date):
    """A town database holding the given rows (written in the town's layout, then ingested and validated)."""
    import duckdb

    from kodomo_pipeline.ingest.steps import TownPaths, ingest_raw, validate_feed

    inbox = tmp_path / "inbox"
    for feed, rows in files.items():
        write_export(inbox / f"{feed}_{asof:%Y%m%d}.csv", town.feeds[feed], rows)
    con = duckdb.connect(str(tmp_path / f"{town.town}.duckdb"))
    paths = TownPaths.for_town(town, tmp_path, inbox)
    for feed in files:
        ingest_raw(con, town, feed, paths, "test-run", asof)
        validate_feed(con, town, feed, "test-run")
    return con


@contextmanager
def generated_data_root(
    factory: pytest.TempPathFactory, towns: list[str], asof: dt.date, population: int, seed: int
) -> Iterator[Path]:
    """A data root where the towns' generated exports went through `kodomo run` (a real Dagster instance)."""
    from click.testing import CliRunner

    from kodomo_pipeline.cli import main
    from kodomo_pipeline.generator import generate_town

    root = factory.mktemp("data") / "data"
    patch = pytest.MonkeyPatch()
    patch.setenv("KODOMO_HOME", str(root))
    patch.delenv("DAGSTER_HOME", raising=False)
    try:
        for name in towns:
            town = load_towns()[name]
            generate_town(town, town.inbox(root), root / "truth" / name, asof, population, seed=seed)
            result = CliRunner().invoke(main, ["run", "--town", name, "--asof", asof.isoformat()])
            assert result.exit_code == 0, result.output
        yield root
    finally:
        patch.undo()


def read_export_rows(path: Path, town: TownConfig, feed: str) -> pd.DataFrame:
    """An export read back through the pipeline's own decoding (canonical values), for generator tests."""
    from kodomo_pipeline.layout.values import decode_column

    layout = town.feeds[feed]
    text = path.read_bytes().decode(layout.layout.encoding)
    lines = [line for line in text.split(layout.layout.newline) if line]
    rows = list(csv.reader(lines))
    raw = pd.DataFrame(rows[1:], columns=rows[0], dtype=object)
    return pd.DataFrame(
        {
            column: decode_column(raw[header], column, layout).values
            for header, column in layout.header_to_canonical.items()
        }
    )
