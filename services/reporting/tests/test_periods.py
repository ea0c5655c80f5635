"""Reporting periods and their DHIS2 codes."""

from __future__ import annotations

import datetime as dt

import pytest

from mch_reporting.domain.periods import parse_period


@pytest.mark.parametrize(
    ("code", "start", "end", "dhis2"),
    [
        ("2026-11", dt.date(2026, 11, 1), dt.date(2026, 11, 30), "202611"),
        ("2024-02", dt.date(2024, 2, 1), dt.date(2024, 2, 29), "202402"),
        ("2026Q4", dt.date(2026, 10, 1), dt.date(2026, 12, 31), "2026Q4"),
        ("2026Q1", dt.date(2026, 1, 1), dt.date(2026, 3, 31), "2026Q1"),
        ("2026", dt.date(2026, 1, 1), dt.date(2026, 12, 31), "2026"),
        ("2026S1", dt.date(2026, 1, 1), dt.date(2026, 6, 30), "2026S1"),
        ("2026S2", dt.date(2026, 7, 1), dt.date(2026, 12, 31), "2026S2"),
        ("2026-9M", dt.date(2026, 1, 1), dt.date(2026, 9, 30), None),
    ],
)
def test_periods_cover_their_days(
    code: str, start: dt.date, end: dt.date, dhis2: str | None
) -> None:
    period = parse_period(code)
    assert (period.start, period.end, period.dhis2) == (start, end, dhis2)
    assert period.contains(start)
    assert period.contains(end)
    assert not period.contains(end + dt.timedelta(days=1))
    assert not period.contains(start - dt.timedelta(days=1))


@pytest.mark.parametrize(
    "code", ["2026-13", "2026Q5", "26-11", "2026-11-01", "november", "", "2026S3", "2026-6M"]
)
def test_unknown_periods_are_refused_with_the_accepted_forms(code: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM, YYYYQn, YYYY, YYYYS1, YYYYS2 or YYYY-9M"):
        parse_period(code)


@pytest.mark.parametrize("code", ["0000", "0000-01", "9999Q4", "1899S1"])
def test_years_out_of_range_are_refused(code: str) -> None:
    with pytest.raises(ValueError, match="the year must be"):
        parse_period(code)


def test_a_period_lists_its_months() -> None:
    assert [m.code for m in parse_period("2026-9M").months()] == [
        f"2026-{m:02d}" for m in range(1, 10)
    ]
    assert [m.code for m in parse_period("2025Q4").months()] == ["2025-10", "2025-11", "2025-12"]
    assert [m.code for m in parse_period("2026-02").months()] == ["2026-02"]
