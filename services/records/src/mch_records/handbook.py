"""The handbook view of one person, read from storage (the rules are ``domain.handbook``'s)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from mch_events.contracts.common import Role

from .domain import handbook
from .publishing import record_data
from .storage import Person, Record, Residence


class NotFound(LookupError):
    pass


def handbook_of(session: Session, person_id: str, role: Role, today: dt.date) -> handbook.Handbook:
    """Raises ``NotFound`` when there is no person with that id and role."""
    person = session.get(Person, person_id)
    if person is None or person.role != role:
        raise NotFound(f"no {role} {person_id}")
    facts = _facts(session, person)
    records = _records(session, col(Record.person_id) == person_id)
    if role == "mother":
        children = session.exec(select(Person).where(col(Person.mother_id) == person_id)).all()
        return handbook.mother_handbook(
            facts,
            records,
            [
                handbook.ChildFacts(
                    person_id=c.person_id,
                    sex=c.sex,  # type: ignore[arg-type]  # stored from a validated sex
                    birth_date=c.birth_date,
                    full_name=c.full_name,
                    died_on=c.died_on,
                )
                for c in children
                if not c.voided and c.merged_into is None
            ],
            today,
        )
    birth = session.get(Record, person.birth_id) if person.birth_id else None
    if birth is None:
        return handbook.child_handbook(facts, records, None, [], today)
    postnatal = _records(
        session, col(Record.person_id) == birth.person_id, col(Record.kind) == "postnatal_visit"
    )
    return handbook.child_handbook(facts, records, _stored(birth), postnatal, today)


def _facts(session: Session, person: Person) -> handbook.PersonFacts:
    rows = session.exec(select(Residence).where(col(Residence.person_id) == person.person_id)).all()
    return handbook.PersonFacts(
        person_id=person.person_id,
        role=person.role,  # type: ignore[arg-type]  # stored from a validated role
        sex=person.sex,  # type: ignore[arg-type]  # stored from a validated sex
        birth_date=person.birth_date,
        registered_on=person.registered_on,
        residences=[(r.effective_date, r.residence) for r in rows],
        full_name=person.full_name,
        handbook_no=person.handbook_no,
        national_id=person.national_id,
        niis_id=person.niis_id,
        phone=person.phone,
        ethnicity=person.ethnicity,
        mother_id=person.mother_id,
        birth_id=person.birth_id,
        died_on=person.died_on,
        merged_into=person.merged_into,
        voided=person.voided,
    )


def _records(session: Session, *where: ColumnElement[bool]) -> list[handbook.StoredRecord]:
    rows = session.exec(select(Record).where(*where)).all()
    return [_stored(row) for row in rows]


def _stored(row: Record) -> handbook.StoredRecord:
    data = record_data(row)
    assert isinstance(data, handbook.RecordData)
    return handbook.StoredRecord(
        record_id=row.record_id,
        care_date=row.care_date,
        data=data,
        facility=row.facility,
        revision=row.revision,
        voided=row.voided,
    )
