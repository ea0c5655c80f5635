"""Growth and nutrition indicators (children under 5), per org unit and period.

Each child counts once per period, at the org unit of its latest measurement in the period, so that
sums up the tree stay exact; numerators and denominators are counted, the ratio comes last.

A numerator never exceeds its denominator: a child counts as registered from the earlier of its
registration and its first care, and a child counted in ``U5_MEASURED`` is in its denominator at the
same org unit, even if it moved, died or turned 5 later in the period.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from mch_events.orgtree import OrgTree

from .periods import Period

View = Literal["residence", "facility"]

GROWTH_INDICATORS = (
    "U5_MEASURED",
    "UNDERWEIGHT",
    "UNDERWEIGHT_SEVERE",
    "STUNTING",
    "STUNTING_SEVERE",
    "WASTING",
    "WASTING_SEVERE",
    "OVERWEIGHT",
)


@dataclass(frozen=True)
class Measured:
    """One scored child visit; z-scores are None where undefined or flagged implausible."""

    child_id: str
    visit_id: str
    visit_date: dt.date
    birth_date: dt.date
    residence: str
    facility: str
    waz: float | None
    lhaz: float | None
    whz: float | None
    oedema: bool = False


@dataclass(frozen=True)
class Child:
    child_id: str
    birth_date: dt.date
    registered_on: dt.date
    residences: tuple[tuple[dt.date | None, str], ...]
    """(effective date or None for the registered residence, commune code)."""
    died_on: dt.date | None = None
    first_care: dt.date | None = None
    """The earliest care recorded for the child (a visit, a dose, its birth)."""

    @property
    def registered_from(self) -> dt.date:
        """Registered from the earlier of the registration and the first care, so a registration
        that arrives after the care it should precede cannot leave that care without a
        denominator."""
        return registered_from(self.registered_on, self.first_care)

    def residence_on(self, day: dt.date) -> str:
        best: tuple[dt.date | None, str] | None = None
        for since, code in self.residences:
            if since is not None and since > day:
                continue
            if best is None or (since or dt.date.min) >= (best[0] or dt.date.min):
                best = (since, code)
        if best is None:
            raise ValueError(f"child {self.child_id} has no residence")
        return best[1]


def registered_from(registered_on: dt.date, first_care: dt.date | None) -> dt.date:
    return registered_on if first_care is None else min(registered_on, first_care)


@dataclass(frozen=True)
class IndicatorValue:
    indicator: str
    numerator: int
    denominator: int | None
    """None where the view has no denominator (a facility serves no registered population)."""

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


def under_five(birth_date: dt.date, on: dt.date) -> bool:
    fifth = _add_years(birth_date, 5)
    return birth_date <= on < fifth


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _rolls_into(tree: OrgTree, code: str, on: dt.date, orgunit: str) -> bool:
    if not tree.exists(code, on):
        return False
    return orgunit in tree.path(code, on)


def _attribution(m: Measured, view: View) -> str:
    # A facility's path holds the facility itself and then the unit it is attached to, so the
    # facility view answers for the facility and for every area above it.
    return m.facility if view == "facility" else m.residence


def latest_per_child(measurements: Iterable[Measured], period: Period) -> list[Measured]:
    latest: dict[str, Measured] = {}
    for m in measurements:
        if not period.contains(m.visit_date) or not under_five(m.birth_date, m.visit_date):
            continue
        current = latest.get(m.child_id)
        if current is None or (m.visit_date, m.visit_id) > (current.visit_date, current.visit_id):
            latest[m.child_id] = m
    return list(latest.values())


def registered_unmeasured(
    children: Iterable[Child], period: Period, tree: OrgTree, orgunit: str, measured: set[str]
) -> int:
    """Registered children alive and under 5 on the period's last day, at their residence then,
    leaving out those measured in the period (they count where they were measured)."""
    end = period.end
    return sum(
        1
        for c in children
        if c.child_id not in measured
        and c.registered_from <= end
        and (c.died_on is None or c.died_on > end)
        and under_five(c.birth_date, end)
        and _rolls_into(tree, c.residence_on(end), end, orgunit)
    )


def growth_indicators(
    *,
    orgunit: str,
    period: Period,
    tree: OrgTree,
    measurements: Iterable[Measured],
    children: Iterable[Child],
    view: View = "residence",
) -> list[IndicatorValue]:
    latest = latest_per_child(measurements, period)
    counted = [m for m in latest if _rolls_into(tree, _attribution(m, view), m.visit_date, orgunit)]
    registered = (
        None
        if view == "facility"
        else len(counted)
        + registered_unmeasured(children, period, tree, orgunit, {m.child_id for m in latest})
    )

    def prevalence(
        name: str, attr: str, threshold: float, severe_by_oedema: bool
    ) -> IndicatorValue:
        valid = [
            m for m in counted if getattr(m, attr) is not None or (severe_by_oedema and m.oedema)
        ]
        below = [
            m
            for m in valid
            if (severe_by_oedema and m.oedema)
            or (getattr(m, attr) is not None and getattr(m, attr) < threshold)
        ]
        return IndicatorValue(name, len(below), len(valid))

    whz_valid = [m for m in counted if m.whz is not None]
    return [
        IndicatorValue("U5_MEASURED", len(counted), registered),
        prevalence("UNDERWEIGHT", "waz", -2, True),
        prevalence("UNDERWEIGHT_SEVERE", "waz", -3, True),
        prevalence("STUNTING", "lhaz", -2, False),
        prevalence("STUNTING_SEVERE", "lhaz", -3, False),
        prevalence("WASTING", "whz", -2, True),
        prevalence("WASTING_SEVERE", "whz", -3, True),
        IndicatorValue(
            "OVERWEIGHT",
            sum(1 for m in whz_valid if m.whz is not None and m.whz > 2),
            len(whz_valid),
        ),
    ]
