"""Immunization indicators from the immunization service's own evaluation (its status facts on
``mch.immunization.v1``): reporting applies no schedule rule, it only counts the facts against the
registered population.

- ``FIC``: children whose first birthday is in the period, and of them those the immunization
  service found fully immunized before it.
- ``DEFAULTERS``: registered children under 6 on the period's last day, and of them those with at
  least one dose overdue on that day.
- ``TT_PAB``: women who delivered in the period, and of them those the immunization service found
  protected against tetanus at that delivery.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .growth_indicators import Child, add_years
from .indicators import Count, Indicator, View
from .maternal import Delivery
from .periods import Period

CATALOG: tuple[Indicator, ...] = (
    Indicator("TT_PAB", child=False, denominator="contacts"),
    Indicator("FIC", child=True, denominator="population"),
    Indicator("DEFAULTERS", child=True, denominator="population"),
)
CODES = frozenset(i.code for i in CATALOG)
DEFAULTER_AGE_YEARS = 6


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
    """Registered children who may be under 6 at the period's end or turn 1 in it."""
    facts: Sequence[StatusFact] = ()
    """The status facts of those children and of the women who delivered."""
    deliveries: Sequence[Delivery] = ()


def _newest(*stamps: dt.datetime | None) -> dt.datetime | None:
    present = [s for s in stamps if s is not None]
    return max(present) if present else None


def immunization_counts(
    *, period: Period, facts: ImmunizationFacts, view: View, wanted: Iterable[str] = CODES
) -> list[Count]:
    wanted = set(wanted)
    by_person: dict[str, list[StatusFact]] = {}
    for f in facts.facts:
        by_person.setdefault(f.person_id, []).append(f)
    counts: list[Count] = []

    if "TT_PAB" in wanted:
        protected = {
            f.birth_id: f
            for f in facts.facts
            if f.status == "protected_at_birth" and f.holds and f.birth_id
        }
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

    # The population indicators have no facility: they count in the residence view only.
    if view != "residence":
        return counts
    end = period.end
    for c in facts.children:
        own = by_person.get(c.child_id, [])
        first_birthday = add_years(c.birth_date, 1)
        if (
            "FIC" in wanted
            and period.contains(first_birthday)
            and c.registered_from <= end
            and (c.died_on is None or c.died_on >= first_birthday)
        ):
            fic = next((f for f in own if f.status == "fully_immunized" and f.holds), None)
            counts.append(
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
            )
        if (
            "DEFAULTERS" in wanted
            and c.registered_alive_on(end)
            and c.birth_date <= end < add_years(c.birth_date, DEFAULTER_AGE_YEARS)
        ):
            overdue = [f for f in own if f.status == "dose_overdue" and f.held_on(end)]
            counts.append(
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
            )
    return counts
