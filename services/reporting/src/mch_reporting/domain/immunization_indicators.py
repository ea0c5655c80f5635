"""Immunization indicators from the immunization service's own evaluation (its status facts on
``mch.immunization.v1``): reporting applies no schedule rule, it only counts the facts against the
registered population.

- ``FIC``: children whose first birthday is in the period, and of them those the immunization
  service found fully immunized before it.
- ``DEFAULTERS``: registered children under 6 on the period's last day, and of them those with at
  least one dose overdue on that day.
- ``TT_PAB``: women who delivered in the period, and of them those the immunization service found
  protected against tetanus at that delivery.
- Dose indicators (``BCG``, ``PENTA3``, ...): the doses the immunization service found valid, on
  their date, over the registered children of the target cohort on the period's last day; a child
  given the dose outside the cohort (a late dose still counts) is in the denominator where the
  dose was given, so a numerator never exceeds its denominator.
- ``PENTA_DROPOUT``: children given PENTA 1 in the period, and of them those with no valid PENTA 3
  yet (P: the catalog's PENTA1 − PENTA3 on dose dates can go below zero; the cohort cannot).
- ``HEPB0_24H``: live births in the period, and of them the babies whose HepB birth dose the
  immunization service found timely.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from .growth_indicators import Child, add_years
from .indicators import Count, Indicator, View
from .maternal import Delivery, add_months
from .periods import Period

DOSES: dict[str, tuple[str, int]] = {
    "BCG": ("BCG", 1),
    "PENTA1": ("PENTA", 1),
    "PENTA3": ("PENTA", 3),
    "OPV3": ("OPV", 3),
    "IPV1": ("IPV", 1),
    "MCV1": ("MCV1", 1),
    "MR": ("MR", 1),
    "DPT4": ("DPT4", 4),
    "JE3": ("JE", 3),
    "ROTA2": ("ROTA", 2),
}
"""Indicator code → (series, dose) as the immunization schedule numbers them."""
COHORTS: dict[str, tuple[int, int]] = {"MR": (18, 24), "DPT4": (18, 24), "JE3": (24, 72)}
"""Target cohort by age in months, [from, to); every other dose indicator: children under 1."""
UNDER_ONE = (0, 12)

CATALOG: tuple[Indicator, ...] = (
    Indicator("TT_PAB", child=False, denominator="contacts"),
    Indicator("HEPB0_24H", child=True, denominator="contacts"),
    *(Indicator(code, child=True, denominator="population") for code in DOSES),
    Indicator("FIC", child=True, denominator="population"),
    Indicator("PENTA_DROPOUT", child=True, denominator="contacts"),
    Indicator("DEFAULTERS", child=True, denominator="population"),
)
CODES = frozenset(i.code for i in CATALOG)
DEFAULTER_AGE_YEARS = 6


def oldest_counted(periods: Sequence[Period]) -> dt.date:
    """Children born after this day are all that any rule may count in ``periods``: under 6 on a
    period's last day (DEFAULTERS, JE3's cohort, and every younger one), or turning 1 during one
    (FIC). From the earliest period, not the span's end: a series read once for several periods
    still counts in its first month the children who are 6 by its last."""
    return min(
        min(p.end for p in periods) - dt.timedelta(days=DEFAULTER_AGE_YEARS * 366),
        min(p.start for p in periods) - dt.timedelta(days=366),
    )


@dataclass(frozen=True)
class StatusFact:
    """The latest state of one fact of a person's immunization status."""

    person_id: str
    status: str
    holds: bool
    since: dt.date
    until: dt.date | None = None
    vaccine: str | None = None
    dose: int | None = None
    birth_id: str | None = None
    schedule_version: str | None = None
    applied_at: dt.datetime | None = None

    def held_on(self, day: dt.date) -> bool:
        if self.since > day:
            return False
        return self.holds or (self.until is not None and self.until > day)

    @property
    def rules(self) -> frozenset[str]:
        return frozenset({f"schedule={self.schedule_version}"} if self.schedule_version else ())


@dataclass
class ImmunizationFacts:
    children: Sequence[Child] = ()
    """Registered children who may be under 6 at the period's end or turn 1 in it, and those
    given a dose in it."""
    facts: Sequence[StatusFact] = ()
    """The status facts of those children and of the women who delivered: doses valid in the
    period, PENTA 3 of the children given PENTA 1 in it, timely birth doses of its births."""
    deliveries: Sequence[Delivery] = ()
    dose_facilities: Mapping[tuple[str, dt.date], str] = field(default_factory=dict)
    """(person, date) → the facility that recorded a dose that day."""


def _newest(*stamps: dt.datetime | None) -> dt.datetime | None:
    present = [s for s in stamps if s is not None]
    return max(present) if present else None


def immunization_counts(
    *, period: Period, facts: ImmunizationFacts, view: View, wanted: Iterable[str] = CODES
) -> list[Count]:
    wanted = set(wanted)
    counts: list[Count] = []
    if "TT_PAB" in wanted:
        counts += _protected_at_birth(period, facts, view)
    if "HEPB0_24H" in wanted:
        counts += _hepb0_timely(period, facts, view)
    counts += _doses(period, facts, view, wanted)
    # The population indicators have no facility: they count in the residence view only.
    if view == "residence":
        counts += _population(period, facts, wanted)
    return counts


def _protected_at_birth(period: Period, facts: ImmunizationFacts, view: View) -> list[Count]:
    protected = {
        f.birth_id: f
        for f in facts.facts
        if f.status == "protected_at_birth" and f.holds and f.birth_id
    }
    counts: list[Count] = []
    for d in facts.deliveries:
        if not period.contains(d.birth_date):
            continue
        fact = protected.get(d.birth_id)
        counts.append(
            Count(
                "TT_PAB",
                d.residence if view == "residence" else d.facility,
                d.birth_date,
                fact is not None,
                True,
                applied_at=_newest(d.applied_at, fact.applied_at if fact else None),
                rules=fact.rules if fact else frozenset(),
            )
        )
    return counts


def _hepb0_timely(period: Period, facts: ImmunizationFacts, view: View) -> list[Count]:
    timely = {
        f.person_id: f
        for f in facts.facts
        if f.status == "dose_timely" and f.holds and (f.vaccine, f.dose) == ("HEPB0", 1)
    }
    counts: list[Count] = []
    for d in facts.deliveries:
        if not period.contains(d.birth_date):
            continue
        for baby in d.babies:
            if not baby.live:
                continue
            fact = timely.get(baby.child_id)
            counts.append(
                Count(
                    "HEPB0_24H",
                    d.residence if view == "residence" else d.facility,
                    d.birth_date,
                    fact is not None,
                    True,
                    sex=baby.sex,
                    applied_at=_newest(d.applied_at, fact.applied_at if fact else None),
                    rules=fact.rules if fact else frozenset(),
                )
            )
    return counts


def _population(period: Period, facts: ImmunizationFacts, wanted: AbstractSet[str]) -> list[Count]:
    """FIC and DEFAULTERS: counted over the children living in each unit."""
    by_person: dict[str, list[StatusFact]] = {}
    for f in facts.facts:
        by_person.setdefault(f.person_id, []).append(f)
    counts: list[Count] = []
    for c in facts.children:
        own = by_person.get(c.child_id, [])
        if "FIC" in wanted:
            counts += _fully_immunized(period, c, own)
        if "DEFAULTERS" in wanted:
            counts += _defaulter(period.end, c, own)
    return counts


def _fully_immunized(period: Period, c: Child, own: list[StatusFact]) -> list[Count]:
    """The child's FIC count, if they turned one during ``period``."""
    first_birthday = add_years(c.birth_date, 1)
    if not (
        period.contains(first_birthday)
        and c.registered_from <= period.end
        and (c.died_on is None or c.died_on >= first_birthday)
    ):
        return []
    fic = next((f for f in own if f.status == "fully_immunized" and f.holds), None)
    return [
        Count(
            "FIC",
            c.residence_on(first_birthday),
            first_birthday,
            fic is not None and fic.since < first_birthday,
            True,
            sex=c.sex,
            applied_at=_newest(c.applied_at, fic.applied_at if fic else None),
            rules=fic.rules if fic else frozenset(),
        )
    ]


def _defaulter(end: dt.date, c: Child, own: list[StatusFact]) -> list[Count]:
    """The child's DEFAULTERS count, if they are of the age on ``end``."""
    if not (
        c.registered_alive_on(end)
        and c.birth_date <= end < add_years(c.birth_date, DEFAULTER_AGE_YEARS)
    ):
        return []
    overdue = [f for f in own if f.status == "dose_overdue" and f.held_on(end)]
    return [
        Count(
            "DEFAULTERS",
            c.residence_on(end),
            end,
            bool(overdue),
            True,
            sex=c.sex,
            applied_at=_newest(c.applied_at, *(f.applied_at for f in overdue)),
            rules=frozenset().union(*(f.rules for f in overdue)),
        )
    ]


def months_old(birth_date: dt.date, on: dt.date) -> int:
    """Completed months of age on ``on`` (-1 before birth): the largest ``k`` with
    ``add_months(birth_date, k) <= on``, so ``low <= months_old < high`` is the cohort
    ``[add_months(birth, low), add_months(birth, high))``."""
    if on < birth_date:
        return -1
    k = (on.year - birth_date.year) * 12 + on.month - birth_date.month
    return k if add_months(birth_date, k) <= on else k - 1


def _doses(
    period: Period,
    facts: ImmunizationFacts,
    view: View,
    wanted: AbstractSet[str],
) -> list[Count]:
    counts: list[Count] = []
    valid = {
        (f.person_id, f.vaccine, f.dose): f
        for f in facts.facts
        if f.status == "dose_valid" and f.holds
    }
    children = {c.child_id: c for c in facts.children}
    ages = {c.child_id: months_old(c.birth_date, period.end) for c in facts.children}
    for code, series_dose in DOSES.items():
        dropout = code == "PENTA1" and "PENTA_DROPOUT" in wanted
        if code not in wanted and not dropout:
            continue
        given = _given(series_dose, period, facts, view, children, valid)
        for child, f, where in given:
            if code in wanted:
                counts.append(
                    Count(
                        code,
                        where,
                        f.since,
                        True,
                        True,
                        sex=child.sex,
                        applied_at=_newest(f.applied_at, child.applied_at),
                        rules=f.rules,
                    )
                )
            if dropout:
                counts.append(
                    _penta_dropout(child, f, where, valid.get((child.child_id, "PENTA", 3)))
                )
        if code in wanted and view == "residence":
            done = {child.child_id for child, _, _ in given}
            counts += _not_given(code, period.end, facts.children, ages, done)
    return counts


def _given(
    series_dose: tuple[str, int],
    period: Period,
    facts: ImmunizationFacts,
    view: View,
    children: Mapping[str, Child],
    valid: dict[tuple[str, str | None, int | None], StatusFact],
) -> list[tuple[Child, StatusFact, str]]:
    """The known children given the dose in ``period``, with the dose and the unit it counts in
    (a dose whose unit is unknown counts nowhere)."""
    found: list[tuple[Child, StatusFact, str]] = []
    for (person, s, d), f in valid.items():
        child = children.get(person)
        if (s, d) != series_dose or child is None or not period.contains(f.since):
            continue
        where = (
            child.residence_on(f.since)
            if view == "residence"
            else facts.dose_facilities.get((person, f.since))
        )
        if where is not None:
            found.append((child, f, where))
    return found


def _penta_dropout(child: Child, first: StatusFact, where: str, third: StatusFact | None) -> Count:
    return Count(
        "PENTA_DROPOUT",
        where,
        first.since,
        third is None,
        True,
        rules=first.rules,
        sex=child.sex,
        applied_at=_newest(first.applied_at, child.applied_at, third.applied_at if third else None),
    )


def _not_given(
    code: str,
    end: dt.date,
    children: Sequence[Child],
    ages: dict[str, int],
    given: set[str],
) -> list[Count]:
    """The children of the dose's age cohort on ``end`` not given it: in the denominator only."""
    low, high = COHORTS.get(code, UNDER_ONE)
    return [
        Count(
            code,
            c.residence_on(end),
            end,
            False,
            True,
            sex=c.sex,
            applied_at=c.applied_at,
        )
        for c in children
        if c.child_id not in given and low <= ages[c.child_id] < high and c.registered_alive_on(end)
    ]
