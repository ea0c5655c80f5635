"""A person's immunization status as facts that hold from a date, and the changes between two.

The facts are what reporting counts: a dose overdue (DEFAULTERS), a series complete, fully
immunized before the first birthday (FIC), protected against tetanus at a delivery (TT_PAB), a
valid dose (BCG, PENTA3, ...) and whether it was given on time (HEPB0_24H). The service keeps the
facts of each person's last forecast and publishes only what differs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from mch_events.contracts.immunization import StatusFact
from mch_immunization.domain.engine import (
    DoseEntry,
    Forecast,
    is_fully_immunized,
    overdue_doses,
    protected_at,
)
from mch_immunization.domain.person import Delivery
from mch_immunization.domain.schedule import Schedule, shift

Fact = StatusFact
"""The facts are those the service publishes (``ImmunizationStatusChanged.status``)."""
DOSE_FACTS: frozenset[Fact] = frozenset({"dose_valid", "dose_timely"})


class FactKey(NamedTuple):
    """What a fact is about: the dose (overdue), the series (complete) or the delivery."""

    fact: Fact
    vaccine: str | None = None
    dose: int | None = None
    birth_id: str | None = None


Status = Mapping[FactKey, dt.date]
"""The facts that hold, each with the date it holds from."""


@dataclass(frozen=True)
class Change:
    key: FactKey
    holds: bool
    since: dt.date
    until: dt.date | None = None


def status_of(
    result: Forecast,
    birth_date: dt.date,
    deliveries: Sequence[Delivery] = (),
    died_on: dt.date | None = None,
) -> dict[FactKey, dt.date]:
    """The facts of a forecast. Nobody is overdue after their death; what they completed stays."""
    facts: dict[FactKey, dt.date] = {}
    if died_on is None:
        facts.update(_overdue(result))
    facts.update(_doses_given(result, birth_date))
    for series, completed in _completed_series(result.doses).items():
        facts[FactKey("series_complete", series)] = completed
    facts.update(_fully_immunized(result, birth_date))
    facts.update(_protected_at_birth(result, deliveries))
    return facts


def _overdue(result: Forecast) -> dict[FactKey, dt.date]:
    return {
        FactKey("dose_overdue", entry.vaccine, entry.dose): entry.overdue
        for entry in overdue_doses(result)
        if entry.overdue is not None
    }


def _doses_given(result: Forecast, birth_date: dt.date) -> dict[FactKey, dt.date]:
    """Each valid dose, and whether it was timely."""
    facts: dict[FactKey, dt.date] = {}
    for entry in result.doses:
        if entry.status != "complete" or entry.dose is None or entry.date_given is None:
            continue
        facts[FactKey("dose_valid", entry.vaccine, entry.dose)] = entry.date_given
        if _timely(result.schedule, entry.vaccine, entry.dose, entry.date_given, birth_date):
            facts[FactKey("dose_timely", entry.vaccine, entry.dose)] = entry.date_given
    return facts


def _fully_immunized(result: Forecast, birth_date: dt.date) -> dict[FactKey, dt.date]:
    schedule = result.schedule
    if schedule.fic_before_age is None or not is_fully_immunized(result, birth_date):
        return {}
    fic = {(schedule.rules[i].series, schedule.rules[i].dose) for i in schedule.fic}
    dates = [
        e.date_given
        for e in result.doses
        if e.status == "complete" and (e.vaccine, e.dose) in fic and e.date_given is not None
    ]
    if not dates:  # a set none of which concerns the person proves nothing
        return {}
    return {FactKey("fully_immunized"): max(dates)}


def _protected_at_birth(result: Forecast, deliveries: Sequence[Delivery]) -> dict[FactKey, dt.date]:
    if result.schedule.protection_series is None:
        return {}
    return {
        FactKey("protected_at_birth", birth_id=delivery.birth_id): delivery.date
        for delivery in deliveries
        if protected_at(result, delivery.date)
    }


def _timely(
    schedule: Schedule, series: str, dose: int, given: dt.date, birth_date: dt.date
) -> bool:
    """Given before the dose became overdue by its recommended age (HEPB0: on the day of birth).
    Doses timed from another dose have no such date of their own: never timely."""
    index = schedule.by_ref.get((series, dose))
    if index is None:
        return False
    rule = schedule.rules[index]
    if rule.recommended_age is None:
        return False
    due = shift(birth_date, rule.recommended_age.months, rule.recommended_age.days)
    return given < shift(due, rule.overdue_after.months, rule.overdue_after.days)


def _completed_series(entries: Sequence[DoseEntry]) -> dict[str, dt.date]:
    """Series whose every dose that concerns the person is complete, with the last dose's date."""
    last: dict[str, dt.date] = {}
    open_series: set[str] = set()
    for entry in entries:
        if entry.status == "invalid" or entry.dose is None:
            continue  # a dose given that does not count fills no dose of the schedule
        if entry.status != "complete" or entry.date_given is None:
            open_series.add(entry.vaccine)
        elif entry.vaccine not in last or entry.date_given > last[entry.vaccine]:
            last[entry.vaccine] = entry.date_given
    return {series: day for series, day in last.items() if series not in open_series}


def changes(
    before: Status, after: Status, result: Forecast | None, stopped_on: dt.date
) -> list[Change]:
    """What differs from ``before`` to ``after``: facts that now hold or hold from another date,
    and facts that stopped holding. An overdue dose stopped on the day it was given (``result``
    has it), else on ``stopped_on``."""
    given: dict[tuple[str, int | None], dt.date] = {}
    if result is not None:
        given = {
            (e.vaccine, e.dose): e.date_given
            for e in result.doses
            if e.status == "complete" and e.date_given is not None
        }
    found = [
        Change(key, holds=True, since=since)
        for key, since in after.items()
        if before.get(key) != since
    ]
    for key, since in before.items():
        if key in after:
            continue
        until = None
        if key.fact == "dose_overdue":
            until = given.get((key.vaccine or "", key.dose), stopped_on)
        found.append(Change(key, holds=False, since=since, until=until))
    return sorted(found, key=lambda c: _order(c.key))


def _order(key: FactKey) -> tuple[str, str, int, str]:
    return (key.fact, key.vaccine or "", key.dose or 0, key.birth_id or "")


def to_json(status: Status) -> str:
    """The stored form: a list of ``[fact, vaccine, dose, birth_id, since]``, in a stable order."""
    return json.dumps(
        [
            [*key, since.isoformat()]
            for key, since in sorted(status.items(), key=lambda i: _order(i[0]))
        ]
    )


def from_json(text: str) -> dict[FactKey, dt.date]:
    return {
        FactKey(fact, vaccine, dose, birth_id): dt.date.fromisoformat(since)
        for fact, vaccine, dose, birth_id, since in json.loads(text)
    }
