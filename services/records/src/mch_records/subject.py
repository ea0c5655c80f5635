"""A person's rights over their data (Law 91/2025/QH15): a copy of everything records holds about
them (subject access), and erasure on a lawful request.

Erasure anonymises rather than deletes. Cleared: the name (and its comparison key), handbook
number, national id, NIIS id, phone and ethnicity of the person and of every record merged into
them (the same human), and the rejected events whose payloads name them. Kept, under the
pseudonymous id: role, sex, birth date, registration date, residence communes, mother link, death
date, merge links and the clinical records (pregnancies, visits, deliveries, doses). Those are
what statutory aggregates count; without a name, handbook number or national id nothing links
them back to the person. ``erased_on`` stays set, so a registration sent again later (or held
until now) brings no identifier back, and every service is told by a ``PersonErased`` event.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, or_
from sqlmodel import Session, col, select

from mch_events.contracts.records import PersonErased

from .lookups import lookups
from .publishing import emit
from .storage import (
    AccessLog,
    DuplicateDismissal,
    HeldEvent,
    Person,
    Record,
    Rejection,
    Residence,
    Void,
)

IDENTIFIERS = (
    "full_name",
    "name_key",
    "handbook_no",
    "national_id",
    "niis_id",
    "phone",
    "ethnicity",
)
"""What erasure clears on a person."""


class NoPerson(Exception):
    pass


class PersonExport(BaseModel):
    """Everything the records service holds about one person."""

    exported_at: dt.datetime
    person: dict[str, Any]
    residences: list[dict[str, Any]]
    records: list[dict[str, Any]]
    """Pregnancies, visits, deliveries and doses about the person (and the delivery that created a
    child), each with the facility's data as accepted."""
    voids: list[dict[str, Any]]
    merged_from: list[dict[str, Any]]
    """Records of the same person merged into this one."""
    children: list[str]
    """Ids of the children recorded with this mother (their records are their own)."""
    duplicate_dismissals: list[dict[str, Any]]
    rejections: list[dict[str, Any]]
    """Rejected events naming the person, with their payloads."""
    held_events: list[dict[str, Any]]
    """Events naming the person that wait for a record they refer to."""
    access_log: list[dict[str, Any]]
    """Who read or changed this person's record, when, why, allowed or refused (oldest first)."""


def _row(row: Any) -> dict[str, Any]:
    data: dict[str, Any] = row.model_dump(mode="json")
    return data


def export_person(session: Session, person_id: str) -> PersonExport:
    person = session.get(Person, person_id)
    if person is None:
        raise NoPerson(f"no person {person_id}")
    merged = session.exec(select(Person).where(col(Person.merged_into) == person_id)).all()
    ids = [person_id, *(m.person_id for m in merged)]
    about: list[ColumnElement[bool]] = [col(Record.person_id).in_(ids)]
    if person.birth_id is not None:
        about.append(col(Record.record_id) == person.birth_id)
    records = session.exec(
        select(Record).where(or_(*about)).order_by(col(Record.care_date), col(Record.record_id))
    ).all()
    residences = session.exec(
        select(Residence).where(col(Residence.person_id).in_(ids)).order_by(col(Residence.id))
    ).all()
    targets = [*ids, *(r.record_id for r in records)]
    voids = session.exec(select(Void).where(col(Void.target_id).in_(targets))).all()
    children = session.exec(
        select(Person.person_id).where(col(Person.mother_id).in_(ids)).order_by(Person.person_id)
    ).all()
    dismissals = session.exec(
        select(DuplicateDismissal).where(
            or_(
                col(DuplicateDismissal.person_a).in_(ids),
                col(DuplicateDismissal.person_b).in_(ids),
            )
        )
    ).all()
    log = session.exec(
        select(AccessLog).where(col(AccessLog.person_id).in_(ids)).order_by(col(AccessLog.id))
    ).all()
    return PersonExport(
        exported_at=dt.datetime.now(dt.UTC),
        person=_row(person),
        residences=[_row(r) for r in residences],
        records=[_row(r) | {"data": json.loads(r.data)} for r in records],
        voids=[_row(v) for v in voids],
        merged_from=[_row(m) for m in merged],
        children=list(children),
        duplicate_dismissals=[_row(d) for d in dismissals],
        rejections=[
            _row(r) | {"payload": _json(r.payload)} for r in _rejections_naming(session, ids)
        ],
        held_events=[_row(h) | {"envelope": _json(h.envelope)} for h in _held_naming(session, ids)],
        access_log=[_row(e) for e in log],
    )


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _rejections_naming(session: Session, ids: list[str]) -> list[Rejection]:
    # A rejected event may be unparseable: the id anywhere in its text is what names the person.
    return list(
        session.exec(
            select(Rejection)
            .where(or_(*(col(Rejection.payload).contains(i) for i in ids)))
            .order_by(col(Rejection.id))
        ).all()
    )


def _held_naming(session: Session, ids: list[str]) -> list[HeldEvent]:
    return list(
        session.exec(
            select(HeldEvent).where(or_(*(col(HeldEvent.envelope).contains(i) for i in ids)))
        ).all()
    )


@dataclass(frozen=True)
class ErasureResult:
    status: str
    """``erased``, or ``already_erased`` (erasing again changes nothing)."""
    person_id: str
    erased_on: dt.date
    people: list[str]
    """The person and the records merged into them that were anonymised."""
    rejections_deleted: int


def erase_person(session: Session, person_id: str, today: dt.date) -> ErasureResult:
    """Stage the erasure and its ``PersonErased`` event in the caller's transaction."""
    known = lookups(session)
    person = known.person(person_id)
    if person is None:
        raise NoPerson(f"no person {person_id}")
    if person.erased_on is not None:
        return ErasureResult("already_erased", person_id, person.erased_on, [], 0)
    people = [person, *known.merged_into(person_id)]
    for each in people:
        for name in IDENTIFIERS:
            setattr(each, name, None)
        each.erased_on = each.erased_on or today
        each.updated_at = dt.datetime.now(dt.UTC)
        known.add_person(each)
        emit(
            known,
            PersonErased(person_id=uuid.UUID(each.person_id), erased_on=today),
            each.person_id,
        )
    ids = [p.person_id for p in people]
    rejections = _rejections_naming(session, ids)
    for rejection in rejections:
        session.delete(rejection)
    return ErasureResult("erased", person_id, today, ids, len(rejections))
