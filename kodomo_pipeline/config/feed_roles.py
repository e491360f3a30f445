"""Which feed plays which part, each named once.

The feed contracts (assets/<feed>.yaml) say what a feed holds. Code that reads one feed for a purpose of its
own — the registry for persons, the review meeting's decisions, the nursery's and school's records — names it
through here, never as a string literal: tests/test_domain_facts.py greps the reports, the backtest, the exports
and the command line for feed names, and checks every name here against the contracts.
"""

from __future__ import annotations

from kodomo_pipeline.config.feeds import load_feeds

REGISTRY = "jumin"  # 住民基本台帳: persons, households and ages at T
POSTPARTUM = "sango_shitsumon"  # 産後質問票: besides its rules, it names (mother, child) pairs
MEETING_DECISIONS = "taio_kekka"  # the review meeting's 判定 on alerts (returned in the meeting list)
LINKAGE_DECISIONS = "meiyose_kekka"  # staff's 名寄せ decisions (returned in the 名寄せ template)
NURSERY = "toen"  # 登園記録: per facility and month
SCHOOL_ROSTER = "gakko_meibo"  # 児童生徒名簿: per school and grade

ROLES = {
    "registry": REGISTRY,
    "postpartum": POSTPARTUM,
    "meeting_decisions": MEETING_DECISIONS,
    "linkage_decisions": LINKAGE_DECISIONS,
    "nursery": NURSERY,
    "school_roster": SCHOOL_ROSTER,
}


def linked_feeds() -> tuple[str, ...]:
    """The feeds whose records carry no resident ID and reach one through the 名寄せ: those whose contract names
    a record_key (toen, gakko_meibo), in contract order."""
    return tuple(name for name, spec in load_feeds().items() if spec.record_key)
