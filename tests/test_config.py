"""Configuration is data: schema-checked on load, errors name the file and key, a town is one file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from kodomo_pipeline.config import ConfigError, load_feeds, load_town
from kodomo_pipeline.config.paths import config_root
from tests.test_third_town import THIRD_TOWN


@pytest.fixture()
def config_copy(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    shutil.copytree(config_root() / "assets", root / "assets")
    shutil.copytree(config_root() / "resources", root / "resources")
    return root


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _load(root: Path, town: str = "kawashima"):
    return load_town(root / "resources" / "towns" / f"{town}.yaml", load_feeds(root / "assets"))


def test_real_configuration_loads(towns) -> None:
    assert set(towns) == {"kawashima", "misato"}
    assert "toen" in towns["kawashima"].feeds and "toen" not in towns["misato"].feeds
    assert "jido_fuyo" in towns["misato"].feeds and "shogai_techo" not in towns["misato"].feeds
    # The school system is shared: both towns read it through the same layout file.
    assert towns["kawashima"].feeds["gakko_meibo"].source == towns["misato"].feeds["gakko_meibo"].source
    assert towns["kawashima"].feeds["jumin"].mapping.exported_but_dropped == ("本籍",)


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (lambda d: d["feeds"].update({"unknown_feed": {"columns": {"a": "b"}}}), "feeds.unknown_feed", "unknown feed"),
        (lambda d: d["layout"].update({"encoding": "klingon"}), "layout.encoding", "unknown encoding"),
        (lambda d: d["feeds"]["jumin"]["columns"].pop("宛名番号"), "feeds.jumin.columns", "resident_id"),
        (lambda d: d["feeds"]["jumin"]["columns"].update({"氏名": "nickname"}), "feeds.jumin.columns.氏名", "nickname"),
        (lambda d: d["feeds"].update({"toen": {"system": "nope"}}), "feeds.toen.system", "no system file"),
        (lambda d: d.pop("inbox"), "inbox", "required"),
        (lambda d: d.update({"resident_id_pattern": "[0-9"}), "resident_id_pattern", "regular expression"),
        (lambda d: d["layout"]["codes"].update({"sex": {"1": "男", "2": "男"}}), "layout.codes.sex", "男"),
        (lambda d: d.update({"colour": "blue"}), "colour", "Extra inputs"),
        (lambda d: d.update({"essential_feeds": ["sango_shitsumon"]}), "essential_feeds", "not one of the town"),
        (lambda d: d.update({"inbox_settle_seconds": -1}), "inbox_settle_seconds", "greater than or equal"),
    ],
)
def test_town_errors_name_file_and_key(config_copy: Path, change, key: str, words: str) -> None:
    path = config_copy / "resources" / "towns" / "kawashima.yaml"
    _edit(path, change)
    with pytest.raises(ConfigError) as caught:
        _load(config_copy)
    assert caught.value.path == path
    assert caught.value.key == key
    assert words in caught.value.problem
    assert str(path) in str(caught.value)


def test_feed_errors_name_file_and_key(config_copy: Path) -> None:
    path = config_copy / "assets" / "toen.yaml"
    _edit(path, lambda d: d["columns"]["sex"].update({"type": "gender"}))
    with pytest.raises(ConfigError) as caught:
        load_feeds(config_copy / "assets")
    assert caught.value.path == path and caught.value.key == "columns.sex.type"


def test_unique_must_name_a_column(config_copy: Path) -> None:
    path = config_copy / "assets" / "jumin.yaml"
    _edit(path, lambda d: d.update({"unique": ["nobody"]}))
    with pytest.raises(ConfigError, match="nobody"):
        load_feeds(config_copy / "assets")


def test_yaml_syntax_error_names_the_line(config_copy: Path) -> None:
    path = config_copy / "resources" / "towns" / "misato.yaml"
    path.write_text("town: misato\nfeeds: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        _load(config_copy, "misato")
    assert caught.value.key.startswith("line ")


def test_a_third_town_is_one_file(config_copy: Path) -> None:
    """A new town with its own layout variant needs one file and no code (run end to end in test_third_town)."""
    town_file = config_copy / "resources" / "towns" / "yorii.yaml"
    town_file.write_text(THIRD_TOWN, encoding="utf-8")
    town = load_town(town_file, load_feeds(config_copy / "assets"))
    assert "jumin" in town.feeds and "toen" not in town.feeds
    assert town.feeds["jumin"].codes_for("sex") == {"M": "男", "F": "女"}
    assert town.feeds["jumin"].layout.date_style == "iso"
    assert town.feeds["gakko_meibo"].layout.kana_style == "hiragana"  # the shared school system's layout
