"""How a facility event that passed the gate's checks changes what is stored, and what that
publishes.

Facility systems send late, twice, out of order and amended, so every rule here gives the same
stored state whatever order the events arrive in:

- Of the revisions of one record or registration, the highest wins; an equal one is a duplicate.
- A registration date (a person's or a pregnancy's) is the earliest date among the revisions
  received: a correction sent later does not move it, and neither does the order they arrive in.
- A void is kept as a fact of its own: a later revision of a voided record stays voided, and a
  record arriving for a voided person is voided too.
- A child created by a delivery takes its sex, birth date, mother and registration date from the
  delivery's current revision, and its first residence from the mother's residence on the birth
  date until the child is registered on its own. Every baby of the delivery is a person; one not
  born alive (in the current revision) is voided.
- Of two deaths or two residence changes for the same date, the higher revision wins, then the
  earlier date (deaths) or the lower org-unit code (residences), so a tie cannot depend on order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from mch_events.contracts import facility as f
from mch_events.envelope import CloudEvent

from .domain import checks, rules
from .domain.duplicates import name_key
from .lookups import Lookups
from .publishing import (
    KIND_OF_MODEL,
    publish_person,
    publish_record,
    record_data,
)
from .storage import Person, Record, Residence, Void, new_row

Status = Literal["accepted", "duplicate", "stale"]
_MOTHER_ONLY = ("handbook_no", "national_id", "niis_id", "phone", "ethnicity")


@dataclass
class Outcome:
    status: Status
    created: list[str] = field(default_factory=list)
    """Ids that exist now and did not before: held events waiting for them can go on."""


def record_id(data: BaseModel) -> str:
    """The id of the record or person an event creates or changes."""
    match data:
        case f.MotherRegistered():
            return str(data.mother_id)
        case f.ChildRegistered():
            return str(data.child_id)
        case f.Death() | f.ResidenceChanged():
            return str(data.person_id)
        case f.RecordVoided():
            return str(data.record_id)
        case f.PregnancyRegistered():
            return str(data.pregnancy_id)
        case f.Birth():
            return str(data.birth_id)
        case f.Immunization():
            return str(data.immunization_id)
        case f.AntenatalVisit() | f.PostnatalVisit() | f.ChildVisit():
            return str(data.visit_id)
    raise TypeError(f"{type(data).__name__} is not a facility event")


def store(known: Lookups, event: CloudEvent, data: BaseModel, when: dt.date) -> Outcome:
    """Apply a checked event whose references all exist."""
    match data:
        case f.MotherRegistered() | f.ChildRegistered():
            return _registration(known, event, data, when)
        case f.Death():
            return _death(known, event, data)
        case f.ResidenceChanged():
            return _residence_change(known, event, data)
        case f.RecordVoided():
            return _void(known, event, data, when)
    return _record(known, event, data, when)


# -- people ----------------------------------------------------------------------------------------


def _registration(
    known: Lookups, event: CloudEvent, data: f.MotherRegistered | f.ChildRegistered, when: dt.date
) -> Outcome:
    person_id = record_id(data)
    person = known.person(person_id)
    decided = rules.registration(
        event.revision,
        when,
        person.registration_revision if person is not None else None,
        person.registered_on if person is not None else None,
    )
    if person is not None and decided.verdict != "newer":
        # A child created by a delivery keeps the delivery's date, its birth.
        if person.birth_id is None and decided.registered_on != person.registered_on:
            person.registered_on = decided.registered_on
            known.add_person(person)
            publish_person(known, person)
        return Outcome(decided.verdict)
    is_new = person is None
    if person is None:
        person = new_row(
            Person,
            person_id=person_id,
            role="mother",
            sex="F",
            birth_date=data.birth_date,
            registered_on=when,
            source=event.source,
        )
    before = _context(known, person) if not is_new else None
    if person.birth_id is None:  # a delivery's facts win over a registration's
        if isinstance(data, f.MotherRegistered):
            person.role, person.sex, person.mother_id = "mother", "F", None
        else:
            mother = str(data.mother_id) if data.mother_id else None
            person.role, person.sex = "child", data.sex
            person.mother_id = known.resolve(mother) if mother else None
        person.birth_date = data.birth_date
        person.registered_on = decided.registered_on
    if person.erased_on is None:  # an erased person's identifiers never come back
        person.full_name = data.full_name
        person.name_key = name_key(data.full_name)
        if isinstance(data, f.MotherRegistered):
            for name in _MOTHER_ONLY:
                setattr(person, name, getattr(data, name))
    person.registration_revision = event.revision
    person.revision = max(event.revision, _birth_revision(known, person))
    person.source = event.source
    person.updated_at = dt.datetime.now(dt.UTC)
    known.add_person(person, new=is_new)
    _set_first_residence(known, person_id, data.residence)
    _after_person_change(known, person, before)
    if isinstance(data, f.MotherRegistered) and not is_new:
        _follow_mother(known, person)
    return Outcome("accepted", [person_id] if is_new else [])


def _death(known: Lookups, event: CloudEvent, data: f.Death) -> Outcome:
    person = known.person(known.resolve(str(data.person_id)))
    assert person is not None
    verdict = rules.death_verdict(
        event.revision,
        data.date,
        person.died_revision if person.died_on is not None else None,
        person.died_on,
    )
    if verdict != "newer":
        return Outcome(verdict)
    person.died_on, person.died_revision = data.date, event.revision
    known.add_person(person)
    publish_person(known, person)
    return Outcome("accepted")


def _residence_change(known: Lookups, event: CloudEvent, data: f.ResidenceChanged) -> Outcome:
    person = known.person(known.resolve(str(data.person_id)))
    assert person is not None
    rows = known.residences(person.person_id)
    row = next((r for r in rows if r.effective_date == data.effective_date), None)
    verdict = rules.residence_change_verdict(
        event.revision,
        data.residence,
        row.revision if row is not None else None,
        row.residence if row is not None else None,
    )
    if verdict != "newer":
        return Outcome(verdict)
    if row is not None:
        row.residence, row.revision = data.residence, event.revision
        known.session.add(row)
    else:
        known.add_residence(
            new_row(
                Residence,
                person_id=person.person_id,
                effective_date=data.effective_date,
                residence=data.residence,
                revision=event.revision,
            )
        )
    publish_person(known, person)
    _refresh_records(known, person, since=data.effective_date)
    _follow_mother(known, person)
    return Outcome("accepted")


def _set_first_residence(known: Lookups, person_id: str, residence: str) -> bool:
    """The residence in force from registration until the first change; True when it changed."""
    rows = known.residences(person_id)
    row = next((r for r in rows if r.effective_date is None), None)
    if row is None:
        known.add_residence(
            new_row(Residence, person_id=person_id, effective_date=None, residence=residence)
        )
        return True
    if row.residence == residence:
        return False
    row.residence = residence
    known.session.add(row)
    return True


def _context(known: Lookups, person: Person) -> tuple[Any, ...]:
    """What the records about a person carry of them: when it changes, they are published again."""
    residences = sorted(
        (r.effective_date or dt.date.min, r.residence) for r in known.residences(person.person_id)
    )
    return (person.sex, person.birth_date, person.voided, tuple(residences))


def _after_person_change(known: Lookups, person: Person, before: tuple[Any, ...] | None) -> None:
    publish_person(known, person)
    if before is not None and before != _context(known, person):
        _refresh_records(known, person)


def _refresh_records(known: Lookups, person: Person, since: dt.date | None = None) -> None:
    """The person's context changed: the records about them carry it (and their voided flag
    follows the person's), so each is published again."""
    for row in known.records_of(person.person_id):
        if since is None or row.care_date >= since:
            _set_record_voided(known, row, person)
            publish_record(known, row)


def _birth_revision(known: Lookups, person: Person) -> int:
    if person.birth_id is None:
        return 0
    birth = known.record(person.birth_id)
    return birth.revision if birth is not None else 0


def _follow_mother(known: Lookups, mother: Person) -> None:
    """A mother's residences changed: her children not registered on their own took their first
    residence from hers on their birth date."""
    for child in known.children_of(mother.person_id):
        if child.birth_id is None or child.registration_revision > 0:
            continue
        before = _context(known, child)
        if _set_first_residence(
            known, child.person_id, known.residence_on(mother.person_id, child.birth_date)
        ):
            _after_person_change(known, child, before)


# -- records ---------------------------------------------------------------------------------------


def _subject(known: Lookups, data: BaseModel) -> Person:
    """The person a record is about (the surviving one, if they were merged)."""
    if isinstance(data, f.AntenatalVisit):
        pregnancy = known.record(str(data.pregnancy_id))
        assert pregnancy is not None
        person_id = pregnancy.person_id
    elif isinstance(data, f.ChildVisit):
        person_id = str(data.child_id)
    elif isinstance(data, f.Immunization):
        person_id = str(data.person_id)
    else:
        person_id = str(data.mother_id)  # type: ignore[attr-defined]  # every other kind names the mother
    person = known.person(known.resolve(person_id))
    assert person is not None, f"no person {person_id}"
    return person


def _record(known: Lookups, event: CloudEvent, data: BaseModel, when: dt.date) -> Outcome:
    kind = KIND_OF_MODEL[type(data)]
    rid = record_id(data)
    row = known.record(rid)
    is_registration = kind == "pregnancy"
    decided = rules.registration(
        event.revision,
        when,
        row.revision if row is not None else None,
        row.care_date if row is not None else None,
    )
    if row is not None and decided.verdict != "newer":
        if is_registration and decided.registered_on != row.care_date:
            row.care_date = decided.registered_on
            known.session.add(row)
            publish_record(known, row)
        return Outcome(decided.verdict)
    subject = _subject(known, data)
    values: dict[str, Any] = {  # columns of several types, set by name on a new or stored row
        "kind": kind,
        "person_id": subject.person_id,
        "care_date": decided.registered_on if is_registration else when,
        "facility": getattr(data, "facility", None),
        "source": event.source,
        "revision": event.revision,
        "voided": rules.record_voided(
            voided_itself=known.void(rid) is not None, person_voided=subject.voided
        ),
        "data": data.model_dump_json(exclude_none=True),
        "updated_at": dt.datetime.now(dt.UTC),
    }
    amended = row is not None
    if row is None:
        row = new_row(Record, record_id=rid, **values)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    known.add_record(row)
    publish_record(known, row)
    created = [] if amended else [rid]
    if isinstance(data, f.Birth):
        created += _babies(known, event, data, row, amended=amended)
    return Outcome("accepted", created)


def _babies(
    known: Lookups, event: CloudEvent, data: f.Birth, row: Record, *, amended: bool
) -> list[str]:
    """Every baby of the delivery is a person; returns the ids of the new ones."""
    born = checks.birth_day(data)
    children: dict[str, tuple[Person, tuple[Any, ...] | None]] = {}
    created = []
    for baby in data.babies:
        child_id = str(baby.child_id)
        child = known.person(child_id)
        if child is None:
            child = new_row(
                Person,
                person_id=child_id,
                role="child",
                sex=baby.sex,
                birth_date=born,
                registered_on=born,
                mother_id=row.person_id,
                birth_id=row.record_id,
                registration_revision=0,
                source=event.source,
            )
            known.add_person(child, new=True)
            created.append(child_id)
            before = None
        elif child.birth_id not in (None, row.record_id):
            continue  # already the child of another delivery: left as it is
        else:
            before = _context(known, child)
            child.sex, child.birth_date, child.registered_on = baby.sex, born, born
            child.mother_id, child.birth_id = row.person_id, row.record_id
        if child.registration_revision == 0:
            child.source = event.source
            _set_first_residence(known, child_id, known.residence_on(row.person_id, born))
        children[child_id] = (child, before)
    if amended:  # a baby an earlier revision listed and this one does not
        for child in known.children_of_birth(row.record_id):
            if child.person_id not in children:
                children[child.person_id] = (child, _context(known, child))
    for child, before in children.values():
        child.revision = max(child.registration_revision, row.revision)
        child.voided = person_voided(known, child)
        child.updated_at = dt.datetime.now(dt.UTC)
        known.add_person(child)
        _after_person_change(known, child, before)
    return created


# -- voids -----------------------------------------------------------------------------------------


def _void(known: Lookups, event: CloudEvent, data: f.RecordVoided, when: dt.date) -> Outcome:
    target = str(data.record_id)
    existing = known.void(target)
    if existing is not None:
        if rules.void_replaces(when, event.id, existing.voided_on, existing.event_id):
            existing.voided_on, existing.event_id = when, event.id
            existing.reason, existing.source = data.reason, event.source
            known.session.add(existing)
        return Outcome("duplicate")
    known.add_void(
        new_row(
            Void,
            target_id=target,
            event_id=event.id,
            source=event.source,
            reason=data.reason,
            voided_on=when,
        )
    )
    row = known.record(target)
    if row is not None:
        refresh_record_voided(known, row)
    else:
        person = known.person(target)
        assert person is not None
        refresh_person_voided(known, person)
    return Outcome("accepted")


def person_voided(known: Lookups, person: Person) -> bool:
    voided_itself = known.void(person.person_id) is not None
    birth = known.record(person.birth_id) if person.birth_id and not voided_itself else None
    delivery = None
    if birth is not None:
        data = record_data(birth)
        assert isinstance(data, f.Birth)
        delivery = rules.Delivery(
            voided=birth.voided,
            live_born={str(b.child_id) for b in data.babies if b.outcome == "live"},
        )
    return rules.person_voided(person.person_id, voided_itself=voided_itself, delivery=delivery)


def refresh_person_voided(known: Lookups, person: Person) -> None:
    voided = person_voided(known, person)
    if voided != person.voided:
        person.voided = voided
        known.add_person(person)
        publish_person(known, person)
    for row in known.records_of(person.person_id):
        refresh_record_voided(known, row)


def refresh_record_voided(known: Lookups, row: Record) -> None:
    person = known.person(row.person_id)
    assert person is not None
    if _set_record_voided(known, row, person):
        publish_record(known, row)


def _set_record_voided(known: Lookups, row: Record, person: Person) -> bool:
    """Voided when voided itself or its person is; True when that changed. A delivery that
    changes passes it on to the children it created."""
    voided = rules.record_voided(
        voided_itself=known.void(row.record_id) is not None, person_voided=person.voided
    )
    if voided == row.voided:
        return False
    row.voided = voided
    known.add_record(row)
    if row.kind == "birth":
        for child in known.children_of_birth(row.record_id):
            refresh_person_voided(known, child)
    return True
