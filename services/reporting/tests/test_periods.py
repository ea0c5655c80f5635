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
        ("2026-6M", dt.date(2026, 1, 1), dt.date(2026, 6, 30), "2026S1"),
        ("2026-9M", dt.date(2026, 1, 1), dt.date(2026, 9, 30), "2026-9M"),
    ],
)
def test_periods_cover_their_days(code: str, start: dt.date, end: dt.date, dhis2: str) -> None:
    period = parse_period(code)
    assert (period.start, period.end, period.dhis2) == (start, end, dhis2)
    assert period.contains(start)
    assert period.contains(end)
    assert not period.contains(end + dt.timedelta(days=1))
    assert not period.contains(start - dt.timedelta(days=1))


@pytest.mark.parametrize("code", ["2026-13", "2026Q5", "26-11", "2026-11-01", "november", ""])
def test_unknown_periods_are_refused_with_the_accepted_forms(code: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM, YYYYQn, YYYY"):
        parse_period(code)
