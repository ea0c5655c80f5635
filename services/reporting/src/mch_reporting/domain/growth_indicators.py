"""Growth and nutrition indicators (children under 5), per org unit and period.

Each child counts once per period and indicator, at the org unit of its latest *valid* measurement
in the period (for a prevalence: its latest valid value of that z-score), so that sums up the tree
stay exact. A visit with no valid measurement (vitamin A only, every z-score flagged) measures
nothing and leaves the child where its earlier measurement put it.

A numerator never exceeds its denominator: a child counts as registered from the earlier of its
registration and its first care, and a child counted in ``U5_MEASURED`` is in its denominator at the
same org unit, even if it moved, died or turned 5 later in the period.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

from mch_events.orgtree import OrgTree

from .indicators import Count, Indicator, IndicatorValue, Sex, View, aggregate
from .periods import Period

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
CATALOG = tuple(
    Indicator(code, child=True, denominator="population" if code == "U5_MEASURED" else "contacts")
    for code in GROWTH_INDICATORS
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
    sex: Sex | None = None
    applied_at: dt.datetime | None = None
    reference: str | None = None
    engine_version: str | None = None

    @property
    def valid(self) -> bool:
        """Something was measured: a valid z-score, or bilateral oedema."""
        return self.oedema or self.waz is not None or self.lhaz is not None or self.whz is not None

    @cached_property
    def rules(self) -> frozenset[str]:
        found = set()
        if self.reference:
            found.add(f"growth_reference={self.reference}")
        if self.engine_version:
            found.add(f"growth_engine={self.engine_version}")
        return frozenset(found)


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
    sex: Sex | None = None
    applied_at: dt.datetime | None = None

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

    def registered_alive_on(self, day: dt.date) -> bool:
        return self.registered_from <= day and (self.died_on is None or self.died_on > day)


def registered_from(registered_on: dt.date, first_care: dt.date | None) -> dt.date:
    return registered_on if first_care is None else min(registered_on, first_care)


def under_five(birth_date: dt.date, on: dt.date) -> bool:
    return birth_date <= on < add_years(birth_date, 5)


def add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _attribution(m: Measured, view: View) -> str:
    # A facility's path holds the facility itself and then the unit it is attached to, so the
    # facility view answers for the facility and for every area above it.
    return m.facility if view == "facility" else m.residence


def _latest(visits: list[Measured], keep: Callable[[Measured], bool]) -> Measured | None:
    chosen = [m for m in visits if keep(m)]
    return max(chosen, key=lambda m: (m.visit_date, m.visit_id)) if chosen else None


_FAMILIES: tuple[tuple[str, bool, tuple[tuple[str, Callable[[float], bool]], ...]], ...] = (
    ("waz", True, (("UNDERWEIGHT", lambda z: z < -2), ("UNDERWEIGHT_SEVERE", lambda z: z < -3))),
    ("lhaz", False, (("STUNTING", lambda z: z < -2), ("STUNTING_SEVERE", lambda z: z < -3))),
    ("whz", True, (("WASTING", lambda z: z < -2), ("WASTING_SEVERE", lambda z: z < -3))),
    # Oedema says nothing about overweight: its denominator is the valid WHZ alone.
    ("whz", False, (("OVERWEIGHT", lambda z: z > 2),)),
)


def growth_counts(
    *,
    period: Period,
    measurements: Iterable[Measured],
    children: Iterable[Child],
    view: View = "residence",
) -> list[Count]:
    """The growth indicators' counts for one period."""
    visits: dict[str, list[Measured]] = {}
    for m in measurements:
        if period.contains(m.visit_date) and under_five(m.birth_date, m.visit_date):
            visits.setdefault(m.child_id, []).append(m)
    counts: list[Count] = []
    measured: set[str] = set()
    for child_id, seen in visits.items():
        latest = _latest(seen, lambda m: m.valid)
        if latest is None:
            continue
        measured.add(child_id)
        counts.append(_count("U5_MEASURED", latest, view, numerator=True))
        counts += _family_counts(seen, view)
    if view == "residence":
        counts += _unmeasured(period.end, children, measured)
    return counts


def _count(indicator: str, m: Measured, view: View, *, numerator: bool) -> Count:
    return Count(
        indicator,
        _attribution(m, view),
        m.visit_date,
        numerator=numerator,
        denominator=True,
        sex=m.sex,
        applied_at=m.applied_at,
        rules=m.rules,
    )


def _family_counts(seen: list[Measured], view: View) -> list[Count]:
    """Each z-score family's indicators, from the child's latest visit that measured it."""
    counts: list[Count] = []
    for attr, oedema_counts, thresholds in _FAMILIES:

        def has(m: Measured, attr: str = attr, oedema_counts: bool = oedema_counts) -> bool:
            return getattr(m, attr) is not None or (oedema_counts and m.oedema)

        chosen = _latest(seen, has)
        if chosen is None:
            continue
        z: float | None = getattr(chosen, attr)
        for indicator, below in thresholds:
            # Bilateral oedema is severe acute malnutrition: it counts as underweight and
            # wasting whatever the z-score says.
            numerator = (oedema_counts and chosen.oedema) or (z is not None and below(z))
            counts.append(_count(indicator, chosen, view, numerator=numerator))
    return counts


def _unmeasured(end: dt.date, children: Iterable[Child], measured: set[str]) -> list[Count]:
    """The children under five at ``end`` whom no visit measured: in the denominator only."""
    return [
        Count(
            "U5_MEASURED",
            c.residence_on(end),
            end,
            numerator=False,
            denominator=True,
            sex=c.sex,
            applied_at=c.applied_at,
        )
        for c in children
        if c.child_id not in measured
        and c.registered_alive_on(end)
        and under_five(c.birth_date, end)
    ]


def growth_indicators(
    *,
    orgunit: str,
    period: Period,
    tree: OrgTree,
    measurements: Iterable[Measured],
    children: Iterable[Child],
    view: View = "residence",
) -> list[IndicatorValue]:
    """The totals of one org unit (the rows by sex are in ``aggregate``'s answer)."""
    counts = growth_counts(period=period, measurements=measurements, children=children, view=view)
    values = aggregate(counts, orgunits=[orgunit], tree=tree, catalog=CATALOG, view=view)[orgunit]
    return [v for v in values if v.sex is None]
