import datetime as dt

import pytest

from kodomo_pipeline.layout.wareki import (
    WarekiError,
    format_wareki_date,
    format_wareki_month,
    parse_wareki_date,
    parse_wareki_month,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("R05.04.01", dt.date(2023, 4, 1)),
        ("R01.05.01", dt.date(2019, 5, 1)),
        ("R元.05.01", dt.date(2019, 5, 1)),
        ("H31.04.30", dt.date(2019, 4, 30)),
        ("H元.01.08", dt.date(1989, 1, 8)),
        ("H01.01.08", dt.date(1989, 1, 8)),
        ("S64.01.07", dt.date(1989, 1, 7)),
        ("S01.12.25", dt.date(1926, 12, 25)),
        ("T15.12.24", dt.date(1926, 12, 24)),
        ("T元.07.30", dt.date(1912, 7, 30)),
        ("M45.07.29", dt.date(1912, 7, 29)),
        ("H12.02.29", dt.date(2000, 2, 29)),
        ("R6.2.9", dt.date(2024, 2, 9)),
    ],
)
def test_parses_era_dates(text: str, expected: dt.date) -> None:
    assert parse_wareki_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "S64.01.08",  # Showa ended on 7 January 1989
        "H31.05.01",  # Heisei ended on 30 April 2019
        "R01.04.30",  # Reiwa began on 1 May 2019
        "H01.01.07",  # Heisei began on 8 January 1989
        "T15.12.25",
        "R05.02.29",  # 2023 is not a leap year
        "R05.02.30",
        "R00.01.01",
        "X05.01.01",
        "R05/04/01",
        "2023-04-01",
        "",
    ],
)
def test_rejects_impossible_or_foreign_dates(text: str) -> None:
    with pytest.raises(WarekiError):
        parse_wareki_date(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("R05.04", dt.date(2023, 4, 1)),
        ("R元.05", dt.date(2019, 5, 1)),
        ("H31.04", dt.date(2019, 4, 1)),
        ("S64.01", dt.date(1989, 1, 1)),
        ("H01.01", dt.date(1989, 1, 1)),
    ],
)
def test_parses_months(text: str, expected: dt.date) -> None:
    assert parse_wareki_month(text) == expected


@pytest.mark.parametrize("text", ["H31.05", "R01.04", "S64.02", "R05.13", "R05"])
def test_rejects_months_outside_their_era(text: str) -> None:
    with pytest.raises(WarekiError):
        parse_wareki_month(text)


def test_formats_round_trip_across_boundaries() -> None:
    day = dt.date(1988, 12, 20)
    while day <= dt.date(1989, 1, 20):
        assert parse_wareki_date(format_wareki_date(day)) == day
        assert parse_wareki_date(format_wareki_date(day, gannen=True)) == day
        day += dt.timedelta(days=1)
    assert format_wareki_date(dt.date(2019, 5, 1), gannen=True) == "R元.05.01"
    assert format_wareki_date(dt.date(2019, 4, 30)) == "H31.04.30"
    assert format_wareki_month(dt.date(2019, 5, 1)) == "R01.05"
    assert format_wareki_month(dt.date(1989, 1, 1)) == "H01.01"
