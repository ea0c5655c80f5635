"""Finding likely duplicate people in storage (the rules are ``domain.duplicates``'s) and recording
a reviewer's finding that two people are different."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from pydantic import BaseModel
from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from .audit import log_access
from .domain.duplicates import IDENTIFIER_RULES, Candidate, Group, Rule, candidates, pair
from .storage import DuplicateDismissal, Person


class PersonSummary(BaseModel):
    """What a reviewer compares."""

    person_id: str
    role: str
    full_name: str | None
    sex: str
    birth_date: dt.date
    registered_on: dt.date
    mother_id: str | None
    handbook_no: str | None
    national_id: str | None
    niis_id: str | None
    source: str
    """The facility that registered the person."""


class DuplicateView(BaseModel):
    person_a: PersonSummary
    person_b: PersonSummary
    rules: list[Rule]


def _active() -> list[Any]:
    return [col(Person.merged_into).is_(None), col(Person.voided) == False]  # noqa: E712


def _groups(session: Session, rule: Rule, columns: list[Any], *where: Any) -> list[Group]:
    """People sharing the values of ``columns`` (none of them empty), grouped in SQL."""
    filters = [*_active(), *where, *(c.is_not(None) for c in columns)]
    shared = select(*columns).where(*filters).group_by(*columns).having(func.count() > 1).subquery()
    rows = session.exec(
        select(col(Person.person_id), *columns)
        .join(shared, and_(*(c == shared.c[c.key] for c in columns)))
        .where(*filters)
    ).all()
    by_value: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for person_id, *values in rows:
        by_value[tuple(values)].append(person_id)
    return [Group(rule, ids) for ids in by_value.values()]


def find_duplicates(session: Session, limit: int) -> list[DuplicateView]:
    groups: list[Group] = []
    for field, rule in IDENTIFIER_RULES.items():
        groups += _groups(session, rule, [getattr(Person, field)])
    groups += _groups(
        session,
        "same_name_birth_date_mother",
        [Person.name_key, Person.birth_date, Person.mother_id],
        Person.role == "child",
    )
    groups += _groups(
        session,
        "same_name_birth_date",
        [Person.name_key, Person.birth_date],
        Person.role == "mother",
    )
    rows = session.exec(select(DuplicateDismissal.person_a, DuplicateDismissal.person_b)).all()
    found: list[Candidate] = candidates(groups, {(a, b) for a, b in rows})[:limit]
    ids = {i for c in found for i in (c.person_a, c.person_b)}
    people = {
        p.person_id: p for p in session.exec(select(Person).where(col(Person.person_id).in_(ids)))
    }
    return [
        DuplicateView(
            person_a=_summary(people[c.person_a]),
            person_b=_summary(people[c.person_b]),
            rules=c.rules,
        )
        for c in found
    ]


def dismiss(
    session: Session, person_a: str, person_b: str, user: str | None, purpose: str | None = None
) -> None:
    """Record that two people are different; idempotent."""
    a, b = pair(person_a, person_b)
    if session.get(DuplicateDismissal, (a, b)) is None:
        session.add(DuplicateDismissal(person_a=a, person_b=b, dismissed_by=user or "anonymous"))
    for person_id, other in ((a, b), (b, a)):
        log_access(
            session,
            user,
            "dismiss_duplicate",
            person_id,
            f"not a duplicate of {other}",
            purpose=purpose,
        )


def _summary(person: Person) -> PersonSummary:
    return PersonSummary.model_validate(person, from_attributes=True)
