"""What the records service announces on ``mch.records.v1``: the current state of a person or a
record, staged in the outbox in the caller's transaction. Each message is the whole state, so a
consumer upserts it; re-publishing after a change of context (residence, merge, void) is how every
service follows."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel

from mch_events import outbox, topics
from mch_events.contracts import facility as f
from mch_events.contracts import records as r
from mch_events.envelope import new_event
from mch_servicekit.resync import content_id

from .domain.projection import Subject, project
from .lookups import Lookups
from .storage import SERVICE, Person, Record

SOURCE = "mch-records"

MODEL_OF_KIND: dict[str, type[BaseModel]] = {
    "pregnancy": f.PregnancyRegistered,
    "antenatal_visit": f.AntenatalVisit,
    "birth": f.Birth,
    "postnatal_visit": f.PostnatalVisit,
    "child_visit": f.ChildVisit,
    "immunization": f.Immunization,
}
KIND_OF_MODEL = {model: kind for kind, model in MODEL_OF_KIND.items()}


def emit(known: Lookups, model: BaseModel, key: str, *, again: bool = False) -> None:
    """Stage ``model`` in the outbox; ``again`` (a republish) gives it an id derived from its
    content, so consumers that applied the same state already skip it."""
    event_id = content_id("resync", type(model).__name__, model) if again else None
    outbox.add(
        known.session,
        new_event(model, source=SOURCE, event_id=event_id),
        topic=topics.RECORDS,
        key=key,
        service=SERVICE,
    )


def person_state(known: Lookups, person: Person) -> r.PersonState:
    periods = sorted(
        (
            r.ResidencePeriod(residence=row.residence, effective_date=row.effective_date)
            for row in known.residences(person.person_id)
        ),
        key=lambda p: p.effective_date or dt.date.min,
    )
    return r.PersonState(
        person_id=uuid.UUID(person.person_id),
        role=person.role,
        sex=person.sex,
        birth_date=person.birth_date,
        registered_on=person.registered_on,
        residences=periods,
        mother_id=uuid.UUID(person.mother_id) if person.mother_id else None,
        died_on=person.died_on,
        merged_into=uuid.UUID(person.merged_into) if person.merged_into else None,
        revision=person.revision,
        voided=person.voided,
    )


def publish_person(known: Lookups, person: Person, *, again: bool = False) -> None:
    emit(known, person_state(known, person), person.person_id, again=again)


def record_data(row: Record) -> BaseModel:
    """The facility data of a stored record, at its stored revision."""
    return MODEL_OF_KIND[row.kind].model_validate_json(row.data)


def publish_record(known: Lookups, row: Record, *, again: bool = False) -> None:
    person = known.person(row.person_id)
    assert person is not None, f"record {row.record_id} is about unknown person {row.person_id}"
    data = record_data(row)
    subject = Subject(
        person_id=uuid.UUID(person.person_id),
        sex=person.sex,  # type: ignore[arg-type]  # stored from a validated sex
        birth_date=person.birth_date,
        residence=known.residence_on(person.person_id, row.care_date),
        merged=_merged_among(known, data),
    )
    projected = project(
        data, subject, care_date=row.care_date, revision=row.revision, voided=row.voided
    )
    if projected is not None:
        emit(known, *projected, again=again)


def _merged_among(known: Lookups, data: BaseModel) -> dict[uuid.UUID, uuid.UUID]:
    """The people a record names besides its subject who were merged into someone else."""
    named: list[uuid.UUID] = []
    if isinstance(data, f.Birth):
        named = [b.child_id for b in data.babies]
    elif isinstance(data, f.PostnatalVisit) and data.child_id is not None:
        named = [data.child_id]
    merged = {}
    for person_id in named:
        surviving = known.resolve(str(person_id))
        if surviving != str(person_id):
            merged[person_id] = uuid.UUID(surviving)
    return merged
