"""The defaulter list of an org unit: who has which doses overdue, grouped by commune of residence."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from mch_immunization.domain.schedule import Population


class OverdueRow(NamedTuple):
    """One overdue dose of one person, as stored."""

    person_id: str
    population: Population
    birth_date: dt.date
    residence: str
    vaccine: str
    dose: int
    since: dt.date


class OverdueDose(NamedTuple):
    vaccine: str
    dose: int
    since: dt.date
    days: int
    """Days overdue on the list's date."""


@dataclass(frozen=True)
class Defaulter:
    person_id: str
    population: Population
    birth_date: dt.date
    overdue: tuple[OverdueDose, ...]
    """Longest overdue first."""


@dataclass(frozen=True)
class CommuneDefaulters:
    code: str
    name: str
    people: tuple[Defaulter, ...]
    """Children first, then women; the oldest first."""


def group_by_commune(
    rows: Iterable[OverdueRow], as_of: dt.date, name_of: Callable[[str], str]
) -> list[CommuneDefaulters]:
    """Rows grouped by residence (a commune), then by person; communes in code order."""
    by_commune: dict[str, dict[str, list[OverdueRow]]] = {}
    for row in rows:
        by_commune.setdefault(row.residence, {}).setdefault(row.person_id, []).append(row)
    communes = []
    for code in sorted(by_commune):
        people = []
        for person_id, doses in by_commune[code].items():
            first = doses[0]
            overdue = tuple(
                OverdueDose(d.vaccine, d.dose, d.since, (as_of - d.since).days)
                for d in sorted(doses, key=lambda d: (d.since, d.vaccine, d.dose))
            )
            people.append(Defaulter(person_id, first.population, first.birth_date, overdue))
        people.sort(key=lambda p: (p.population != "child", p.birth_date, p.person_id))
        communes.append(CommuneDefaulters(code, name_of(code), tuple(people)))
    return communes
