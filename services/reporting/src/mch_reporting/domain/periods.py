"""Reporting periods: month ``2026-11``, quarter ``2026Q4``, year ``2026``, and the statutory
cumulative periods of Thông tư 37/2019 (``2026-6M``: January–June, ``2026-9M``: January–September)."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

PeriodKind = Literal["month", "quarter", "year", "six_months", "nine_months"]

_PATTERNS: tuple[tuple[PeriodKind, re.Pattern[str]], ...] = (
    ("month", re.compile(r"^(\d{4})-(\d{2})$")),
    ("quarter", re.compile(r"^(\d{4})Q([1-4])$")),
    ("year", re.compile(r"^(\d{4})$")),
    ("six_months", re.compile(r"^(\d{4})-6M$")),
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
    def dhis2(self) -> str:
        """The DHIS2 period code (``202611``, ``2026Q4``, ``2026``, ``2026S1``); the 9-month
        period has no DHIS2 type and keeps its own code."""
        if self.kind == "month":
            return self.start.strftime("%Y%m")
        if self.kind == "six_months":
            return f"{self.start.year}S1"
        return self.code


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def parse_period(code: str) -> Period:
    """Raises ``ValueError`` naming the accepted forms."""
    for kind, pattern in _PATTERNS:
        match = pattern.match(code)
        if not match:
            continue
        year = int(match.group(1))
        if kind == "month":
            month = int(match.group(2))
            if not 1 <= month <= 12:
                break
            return Period(code, kind, dt.date(year, month, 1), _month_end(year, month))
        if kind == "quarter":
            q = int(match.group(2))
            return Period(code, kind, dt.date(year, 3 * q - 2, 1), _month_end(year, 3 * q))
        if kind == "year":
            return Period(code, kind, dt.date(year, 1, 1), dt.date(year, 12, 31))
        months = 6 if kind == "six_months" else 9
        return Period(code, kind, dt.date(year, 1, 1), _month_end(year, months))
    raise ValueError(f"unknown period {code!r}: use YYYY-MM, YYYYQn, YYYY, YYYY-6M or YYYY-9M")
