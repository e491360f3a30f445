"""Shared fixtures: the real town configuration, an isolated data root, and export-writing helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from kodomo_pipeline.config import TownConfig, load_towns
from kodomo_pipeline.config.towns import FeedLayout

# One valid kawashima (layout K) jumin row:
# 宛名番号,世帯番号,氏名,氏名カナ,生年月日,性別,続柄,住所,住定日,住民状態,異動日,本籍
K_JUMIN_ROW = ["0000012345", "200001", "髙橋　一郎", "ﾀｶﾊｼ ｲﾁﾛｳ", "S60.04.02", "1", "世帯主", "川島町大字上伊草1番地",
               "H20.04.01", "住民", "", "埼玉県比企郡川島町"]  # fmt: skip


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
    return path
