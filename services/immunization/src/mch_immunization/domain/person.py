"""A person as the service keeps them from the records, and the forecast made from that.

Children are forecast on the child schedule; mothers on the women's (tetanus) schedule, with the
expected delivery date of their current pregnancy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from mch_events.contracts.common import Role, SexCode
from mch_immunization.domain.engine import Forecast, GivenDose, Person, forecast
from mch_immunization.domain.schedule import Population, Schedule

OVERRUN = dt.timedelta(days=42)
"""(P) A pregnancy with no delivery recorded stays current until this long after its expected
delivery date (the postnatal period); after that its outcome is taken as unrecorded."""


class Residence(NamedTuple):
    since: dt.date | None
    """None for the residence given at registration (in force until the first change)."""
    code: str


class Pregnancy(NamedTuple):
    pregnancy_id: str
    edd: dt.date


class Delivery(NamedTuple):
    birth_id: str
    pregnancy_id: str
    date: dt.date


@dataclass(frozen=True)
class Recorded:
    """Everything recorded about one person that their immunization status depends on; voided
    records are left out before they get here."""

    role: Role
    sex: SexCode
    birth_date: dt.date
    residences: tuple[Residence, ...]
    doses: tuple[GivenDose, ...] = ()
    died_on: dt.date | None = None
    pregnancies: tuple[Pregnancy, ...] = ()
    deliveries: tuple[Delivery, ...] = ()

    @property
    def population(self) -> Population:
        return population_of(self.role)


def population_of(role: str) -> Population:
    """Mothers are forecast on the women's schedule, everyone else on the child schedule."""
    return "women" if role == "mother" else "child"


def residence_on(residences: Sequence[Residence], on: dt.date) -> str:
    """The residence in force on ``on``: the latest change on or before it, else the one given at
    registration (else the earliest known, for a date before every change)."""
    ordered = sorted(residences, key=lambda r: r.since or dt.date.min)
    in_force = [r for r in ordered if r.since is None or r.since <= on]
    return (in_force[-1] if in_force else ordered[0]).code


def current_edd(
    pregnancies: Sequence[Pregnancy], deliveries: Sequence[Delivery], on: dt.date
) -> dt.date | None:
    """The expected delivery date of the pregnancy under way on ``on``: the latest one without a
    recorded delivery whose expected date has not passed by more than ``OVERRUN``."""
    delivered = {d.pregnancy_id for d in deliveries}
    open_edds = [
        p.edd for p in pregnancies if p.pregnancy_id not in delivered and on <= p.edd + OVERRUN
    ]
    return max(open_edds, default=None)


def forecast_date(recorded: Recorded, today: dt.date) -> dt.date:
    """Today, or a later date the records already reach (a facility a time zone ahead, or a
    birth date in the future entered in error), so that no recorded dose is left out."""
    return max(today, recorded.birth_date, *(dose.date for dose in recorded.doses))


def forecast_recorded(
    schedule: Schedule, recorded: Recorded, residence_ancestors: tuple[str, ...], as_of: dt.date
) -> Forecast:
    """The forecast of ``recorded`` on ``as_of`` (see ``forecast_date``).

    Doses dated before the birth date cannot count (the birth date was amended after they were
    accepted) and are left out rather than refused: the rest of the record still stands.
    """
    person = Person(
        birth_date=recorded.birth_date,
        # A mother is a woman whatever the sex field says; the engine refuses men on her schedule.
        sex="F" if recorded.role == "mother" else recorded.sex,
        residence=residence_on(recorded.residences, as_of),
        residence_ancestors=residence_ancestors,
    )
    doses = [dose for dose in recorded.doses if dose.date >= recorded.birth_date]
    edd = None
    if schedule.pregnancy_length is not None:
        edd = current_edd(recorded.pregnancies, recorded.deliveries, as_of)
    return forecast(schedule, person, doses, as_of, edd)
