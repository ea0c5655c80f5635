"""Reporting periods: month ``2026-11``, quarter ``2026Q4``, year ``2026``, half-years ``2026S1``
(January–June, the statutory 6-month period of Thông tư 37/2019) and ``2026S2`` (July–December),
and the statutory 9-month period ``2026-9M`` (January–September)."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

PeriodKind = Literal["month", "quarter", "year", "six_months", "nine_months"]

FIRST_YEAR, LAST_YEAR = 1900, 2999
FORMS = "YYYY-MM, YYYYQn, YYYY, YYYYS1, YYYYS2 or YYYY-9M"

_PATTERNS: tuple[tuple[PeriodKind, re.Pattern[str]], ...] = (
    ("month", re.compile(r"^(\d{4})-(\d{2})$")),
    ("quarter", re.compile(r"^(\d{4})Q([1-4])$")),
    ("year", re.compile(r"^(\d{4})$")),
    ("six_months", re.compile(r"^(\d{4})S([12])$")),
    ("nine_months", re.compile(r"^(\d{4})-9M$")),
)


@dataclass(frozen=True)
class Period:
    code: str
    kind: PeriodKind
    start: dt.date
    end: dt.date
    """Inclusive."""

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    @property
    def dhis2(self) -> str | None:
        """The DHIS2 period code (``202611``, ``2026Q4``, ``2026``, ``2026S1``); None for the
        9-month period, which no DHIS2 period type holds (its quarterly, six-monthly and
        financial-year types all start or end elsewhere)."""
        if self.kind == "month":
            return self.start.strftime("%Y%m")
        if self.kind == "nine_months":
            return None
        return self.code

    def months(self) -> list[Period]:
        """The months of the period, in order."""
        found = []
        year, month = self.start.year, self.start.month
        while dt.date(year, month, 1) <= self.end:
            found.append(month_period(year, month))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return found


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def month_period(year: int, month: int) -> Period:
    return Period(
        f"{year:04d}-{month:02d}", "month", dt.date(year, month, 1), _month_end(year, month)
    )


def parse_period(code: str) -> Period:
    """Raises ``ValueError`` naming the accepted forms."""
    for kind, pattern in _PATTERNS:
        match = pattern.match(code)
        if not match:
            continue
        year = int(match.group(1))
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise ValueError(f"period {code!r}: the year must be {FIRST_YEAR}-{LAST_YEAR}")
        if kind == "month":
            month = int(match.group(2))
            if not 1 <= month <= 12:
                break
            return month_period(year, month)
        if kind == "quarter":
            q = int(match.group(2))
            return Period(code, kind, dt.date(year, 3 * q - 2, 1), _month_end(year, 3 * q))
        if kind == "year":
            return Period(code, kind, dt.date(year, 1, 1), dt.date(year, 12, 31))
        if kind == "six_months":
            first = 1 if match.group(2) == "1" else 7
            return Period(code, kind, dt.date(year, first, 1), _month_end(year, first + 5))
        return Period(code, kind, dt.date(year, 1, 1), _month_end(year, 9))
    raise ValueError(f"unknown period {code!r}: use {FORMS}")
