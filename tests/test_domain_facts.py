"""One owner for each domain fact: difficulty types and level boundaries live in the rule file only; feed names in
the feed contracts (assets/) and, for a feed read for a part of its own, in config/feed_roles.py.

A grep over the package (the generator excepted: it keeps its own reading as a test oracle) fails when Python
re-types a difficulty type's name or a level boundary; another over the reports, the backtest, the exports and the
command line fails when one types a feed's name; the accessors are checked to follow the files that own them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import kodomo_pipeline
from kodomo_pipeline.reports.rule_matrix import rule_rows
from kodomo_pipeline.rules import domain
from kodomo_pipeline.rules.ruleset import load_base_rules

PACKAGE = Path(kodomo_pipeline.__file__).parent
RULE_FILE = Path(__file__).resolve().parents[1] / "rules" / "risk_rules_v1.yaml"
# A level mapped to a number ({"A": 8}), a score compared with a number (score >= 8), a min_score given a number.
THRESHOLD_PATTERNS = (
    re.compile(r"""["'][ABC]["']\s*:\s*\d"""),
    re.compile(r"\bscore\s*(?:>=|<=|>|<)\s*[1-9]"),  # "score > 0" (any points at all) is no boundary
    re.compile(r"\bmin_score\s*[:=]\s*\d"),
    re.compile(r"""["']A["'],\s*["']B["']|["']C["'],\s*["']B["']"""),  # the levels listed by hand
)
OWNER = Path("rules") / "ruleset.py"  # the rule file's schema names the levels and type codes
ASSETS = Path(__file__).resolve().parents[1] / "assets"  # the feed contracts, one <feed>.yaml each
# Where no feed is named by hand: names come from config/feed_roles.py or the town's configuration.
FEED_NAME_FREE = ("reports", "backtest", "exports", "cli.py", "cli_params.py", "cli_table.py")


def _rule_file() -> dict:
    """The rule file read here with plain YAML: the test's own reading, independent of ruleset.py."""
    return yaml.safe_load(RULE_FILE.read_text(encoding="utf-8"))


def domain_literals(text: str, names: list[str]) -> list[str]:
    """What in `text` re-types a domain fact: a difficulty type's name or a level boundary."""
    found = [name for name in names if name in text]
    found += [m.group(0) for pattern in THRESHOLD_PATTERNS for m in pattern.finditer(text)]
    return found


def _feed_names() -> list[str]:
    """The feeds as the contracts folder lists them: the test's own reading, independent of config/feeds.py."""
    return sorted(path.stem for path in ASSETS.glob("*.yaml"))


def feed_literals(text: str, feeds: list[str]) -> list[str]:
    """What in `text` types a feed's name: a string that is one ("jumin", 'toen'), or one of its tables written
    out (valid_jumin, stg_toen, raw_taio_kekka). A name in prose ("the taio_kekka layout") is left alone."""
    names = "|".join(re.escape(feed) for feed in feeds)
    quoted = re.compile(rf"""(["'])(?:raw_|valid_|stg_)?(?:{names})\1""")
    tables = re.compile(rf"\b(?:raw|valid|stg)_(?:{names})\b")
    return [m.group(0) for pattern in (quoted, tables) for m in pattern.finditer(text)]


def test_the_grep_finds_what_it_looks_for() -> None:
    """The check can fail: planted literals are found, owner-based code is not."""
    names = list(_rule_file()["difficulty_types"].values())
    planted = f'TYPES = ("{names[0]}",)\nDEFAULT = {{"A": 8, "B": 5}}\nif row.score >= 5: pass\nmin_score=3'
    assert len(domain_literals(planted, names)) == 5
    assert len(domain_literals('for level in ("C", "B", "A"): pass\nLEVELS = ("A", "B", "C")', names)) == 2
    clean = 'kinds = difficulty_names()\nlevels = level_boundaries(rules)\nif row.score >= levels["A"]: pass'
    assert domain_literals(clean, names) == []


def test_no_python_outside_the_generator_names_a_difficulty_type_or_threshold() -> None:
    names = list(_rule_file()["difficulty_types"].values())
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "generator" or relative == OWNER:
            continue
        found = domain_literals(path.read_text(encoding="utf-8"), names)
        if found:
            offenders[str(relative)] = found
    assert offenders == {}, f"read these from the rule file (kodomo_pipeline/rules/domain.py): {offenders}"


def test_the_feed_grep_finds_what_it_looks_for() -> None:
    feeds = _feed_names()
    planted = 'if feed == "toen": pass\nhas_table(con, \'valid_jumin\')\nsql = f"SELECT * FROM stg_taio_kekka t"'
    assert set(feed_literals(planted, feeds)) == {'"toen"', "'valid_jumin'", "valid_jumin", "stg_taio_kekka"}
    clean = 'if feed == NURSERY: pass\nhas_table(con, valid_table(REGISTRY))\n"""the taio_kekka layout"""'
    assert feed_literals(clean, feeds) == []


def test_no_report_backtest_export_or_command_names_a_feed() -> None:
    feeds = _feed_names()
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in FEED_NAME_FREE:
            found = feed_literals(path.read_text(encoding="utf-8"), feeds)
            if found:
                offenders[str(relative)] = found
    assert offenders == {}, f"name feeds through kodomo_pipeline/config/feed_roles.py: {offenders}"


def test_feed_roles_name_contracted_feeds() -> None:
    """Every role is a feed with a contract; the 名寄せ's feeds are those whose contract names a record_key."""
    from kodomo_pipeline.config import feed_roles

    assert set(feed_roles.ROLES.values()) <= set(_feed_names())
    keyed = {path.stem for path in ASSETS.glob("*.yaml") if yaml.safe_load(path.read_text("utf-8")).get("record_key")}
    assert set(feed_roles.linked_feeds()) == keyed == {feed_roles.NURSERY, feed_roles.SCHOOL_ROSTER}


def test_accessors_follow_the_rule_file(tmp_path: Path) -> None:
    """Renamed types and moved boundaries in a rule file reach the accessors and the rule matrix page."""
    data = _rule_file()
    assert domain.difficulty_types() == data["difficulty_types"]
    assert domain.level_boundaries() == {level: spec["min_score"] for level, spec in data["levels"].items()}
    assert tuple(data["levels"]) == domain.LEVELS
    overriding = {rid for rid, rule in data["rules"].items() if str(rule.get("effect", "")).startswith("level_A")}
    assert set(domain.level_a_override_rules()) == overriding

    code = next(iter(domain.level_a_override_rules().values()))
    data["difficulty_types"][code] = "試験用の種類"
    data["levels"]["A"]["min_score"] = 11
    changed = tmp_path / "rules_changed.yaml"
    changed.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    rules = load_base_rules(changed)
    assert domain.type_name(code, rules) == "試験用の種類"
    assert domain.level_boundaries(rules)["A"] == 11
    effects = {row["rule_id"]: row["effect"] for row in rule_rows(rules)}
    assert all(effects[rid] == "試験用の種類をレベルAにする" for rid in overriding)


def test_level_above_walks_the_levels_in_order() -> None:
    assert [domain.level_above(level) for level in domain.LEVELS] == [None, *domain.LEVELS[:-1]]


def test_record_key_is_the_same_in_sql_and_in_pandas() -> None:
    """The 名寄せ's source_key (pandas) and the backtest's / disclosure's (SQL) come from one `record_key`."""
    import duckdb
    import pandas as pd

    toen = pd.DataFrame({"facility": ["さくら保育園", "ひまわり園"], "pupil_no": ["0012", "A-345"]})
    school = pd.DataFrame({"student_no": ["S2026-0001", "S2026-0102"]})
    for feed, frame in (("toen", toen), ("gakko_meibo", school)):
        con = duckdb.connect()
        con.register("frame", frame)
        in_sql = [row[0] for row in con.execute(f"SELECT {domain.record_key_sql(feed)} FROM frame").fetchall()]
        assert in_sql == list(domain.record_key_values(frame, feed))
    assert list(domain.record_key_values(toen, "toen")) == ["さくら保育園:0012", "ひまわり園:A-345"]
    with pytest.raises(ValueError, match="record_key"):
        domain.record_key_columns("jumin")  # has a resident ID: no record key
