"""What the immunization service keeps of ``mch.records.v1``: people, doses, pregnancies and births
(highest revision wins, a voided record counts nowhere), merges and org units; and who must be
forecast again because of it (``forecasting``, run by the job in ``handlers``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from pydantic import BaseModel
from sqlalchemy import update
from sqlmodel import Session, col

from mch_events.consume import BatchSummary
from mch_events.contracts import records as r
from mch_events.contracts.results import EventResult
from mch_events.envelope import CloudEvent
from mch_events.orgtree_cache import OrgTreeCache
from mch_events.registry import event_type_for
from mch_servicekit import batchrows
from mch_servicekit.batchrows import BatchRows, named_id
from mch_servicekit.erasure import remember

from . import orgunits
from .storage import (
    SERVICE,
    ImmunizationBirth,
    ImmunizationDose,
    ImmunizationMerge,
    ImmunizationPerson,
    ImmunizationPregnancy,
)

_ORGUNIT = event_type_for(r.OrgUnit).name
_NAMES: dict[str, tuple[tuple[str, str], ...]] = {
    event_type_for(r.PersonState).name: (("person", "person_id"), ("person", "merged_into")),
    event_type_for(r.ImmunizationRecorded).name: (
        ("dose", "immunization_id"),
        ("person", "person_id"),
    ),
    event_type_for(r.PregnancyState).name: (("pregnancy", "pregnancy_id"), ("person", "mother_id")),
    event_type_for(r.BirthRecorded).name: (("birth", "birth_id"), ("person", "mother_id")),
    event_type_for(r.PersonsMerged).name: (("person", "duplicate_id"), ("person", "surviving_id")),
}
"""Which ids each type names, as (kind, field of its data)."""


class RecordsConsumer:
    """``consume.BatchApply`` for ``mch.records.v1``; types it has no use for are acknowledged.

    Applying an event only stores it and marks the people whose status it may change: the
    periodic job forecasts them once the batch is committed, once each however many of their
    records the batch held, so that the facts between two records of one batch (a child's state
    before her doses) are never published."""

    def __init__(self, trees: OrgTreeCache[Session], changed: Callable[[], None]) -> None:
        self._trees = trees
        self._changed = changed
        """Called once a batch that marked people is committed (wakes the job)."""
        self._changing_tree = False

    def prepare(self, session: Session, events: Sequence[CloudEvent]) -> None:
        """Load the records and people the batch names, in a few queries (``BatchRows``)."""
        named: dict[str, set[str]] = {}
        for event in events:
            # Unvalidated: a value that is not an id names nothing (the event is rejected later).
            for kind, field in _NAMES.get(event.type, ()):
                named.setdefault(kind, set()).update(named_id(event.data.get(field)))
        rows = BatchRows.start(session)
        people = named.get("person", set())
        for model, kind, owner in (
            (ImmunizationDose, "dose", "person_id"),
            (ImmunizationPregnancy, "pregnancy", "mother_id"),
            (ImmunizationBirth, "birth", "mother_id"),
        ):
            people |= {
                getattr(row, owner) for row in rows.load(session, model, named.get(kind, ()))
            }
        people |= {m.surviving_id for m in rows.load(session, ImmunizationMerge, people)}
        rows.load(session, ImmunizationPerson, people)
        if any(event.type == _ORGUNIT for event in events):
            # Roll-out scopes match a residence's province: everyone is to be forecast again.
            session.execute(update(ImmunizationPerson).values(pending=True))
            self._changing_tree = True

    async def after_batch(self, summary: BatchSummary) -> None:
        if self._changing_tree:
            self._changing_tree = False
            self._trees.forget()
        if summary.count("accepted"):
            self._changed()

    def __call__(self, session: Session, event: CloudEvent, data: BaseModel) -> EventResult:
        changed: list[str] | None = []
        match data:
            case r.PersonState():
                changed = self._person(session, data)
            case r.ImmunizationRecorded():
                changed = self._dose(session, data)
            case r.PregnancyState():
                changed = self._pregnancy(session, data)
            case r.BirthRecorded():
                changed = self._birth(session, data)
            case r.PersonsMerged():
                changed = self._merge(session, str(data.duplicate_id), str(data.surviving_id))
            case r.OrgUnit():
                orgunits.store(session, data)
            case r.PersonErased():
                remember(session, SERVICE, data)
        if changed is None:
            return EventResult(id=event.id, status="stale")
        if changed:
            _mark_pending(session, changed)
        return EventResult(id=event.id, status="accepted")

    # -- storing ---------------------------------------------------------------------------------
    def _person(self, session: Session, data: r.PersonState) -> list[str] | None:
        person_id = str(data.person_id)
        row = batchrows.get(session, ImmunizationPerson, person_id)
        if row is not None and data.revision < row.revision:
            return None
        residences = [
            [p.effective_date.isoformat() if p.effective_date else None, p.residence]
            for p in data.residences
        ]
        row = row or ImmunizationPerson(
            person_id=person_id,
            role=data.role,
            sex=data.sex,
            birth_date=data.birth_date,
            residences="",
        )
        row.role, row.sex, row.birth_date = data.role, data.sex, data.birth_date
        row.residences = json.dumps(residences)
        row.died_on, row.revision, row.voided = data.died_on, data.revision, data.voided
        batchrows.keep(session, row)
        if data.merged_into is not None:
            return [person_id, *self._merge(session, person_id, str(data.merged_into))]
        return [person_id]

    def _dose(self, session: Session, data: r.ImmunizationRecorded) -> list[str] | None:
        row = batchrows.get(session, ImmunizationDose, str(data.immunization_id))
        if row is not None and data.revision < row.revision:
            return None
        person_id = _surviving(session, str(data.person_id))
        before = row.person_id if row is not None else person_id
        row = row or ImmunizationDose(
            immunization_id=str(data.immunization_id),
            person_id=person_id,
            vaccine=data.vaccine,
            date=data.date,
        )
        row.person_id, row.vaccine, row.date = person_id, data.vaccine, data.date
        row.revision, row.voided = data.revision, data.voided
        batchrows.keep(session, row)
        return list(dict.fromkeys([before, person_id]))

    def _pregnancy(self, session: Session, data: r.PregnancyState) -> list[str] | None:
        row = batchrows.get(session, ImmunizationPregnancy, str(data.pregnancy_id))
        if row is not None and data.revision < row.revision:
            return None
        mother_id = _surviving(session, str(data.mother_id))
        before = row.mother_id if row is not None else mother_id
        row = row or ImmunizationPregnancy(
            pregnancy_id=str(data.pregnancy_id), mother_id=mother_id, edd=data.edd
        )
        row.mother_id, row.edd = mother_id, data.edd
        row.revision, row.voided = data.revision, data.voided
        batchrows.keep(session, row)
        return list(dict.fromkeys([before, mother_id]))

    def _birth(self, session: Session, data: r.BirthRecorded) -> list[str] | None:
        row = batchrows.get(session, ImmunizationBirth, str(data.birth_id))
        if row is not None and data.revision < row.revision:
            return None
        mother_id = _surviving(session, str(data.mother_id))
        before = row.mother_id if row is not None else mother_id
        row = row or ImmunizationBirth(
            birth_id=str(data.birth_id),
            pregnancy_id=str(data.pregnancy_id),
            mother_id=mother_id,
            birth_date=data.birth_date,
        )
        row.pregnancy_id, row.mother_id = str(data.pregnancy_id), mother_id
        row.birth_date, row.revision, row.voided = data.birth_date, data.revision, data.voided
        batchrows.keep(session, row)
        return list(dict.fromkeys([before, mother_id]))

    def _merge(self, session: Session, duplicate_id: str, surviving_id: str) -> list[str]:
        """File the duplicate's records under the surviving person, for good."""
        surviving_id = _surviving(session, surviving_id)
        merge = batchrows.get(session, ImmunizationMerge, duplicate_id) or ImmunizationMerge(
            duplicate_id=duplicate_id, surviving_id=surviving_id
        )
        merge.surviving_id = surviving_id
        batchrows.keep(session, merge)
        for table, column in (
            (ImmunizationDose, col(ImmunizationDose.person_id)),
            (ImmunizationPregnancy, col(ImmunizationPregnancy.mother_id)),
            (ImmunizationBirth, col(ImmunizationBirth.mother_id)),
            # Someone merged into the duplicate earlier now counts for the survivor too.
            (ImmunizationMerge, col(ImmunizationMerge.surviving_id)),
        ):
            session.execute(
                update(table).where(column == duplicate_id).values({column: surviving_id})
            )
        return [duplicate_id, surviving_id]


def _mark_pending(session: Session, person_ids: Sequence[str]) -> None:
    """The people to forecast again: on the rows the batch holds, else in the database."""
    rows = BatchRows.of(session)
    elsewhere = []
    for person_id in person_ids:
        if rows is not None and rows.known(ImmunizationPerson, person_id):
            person = rows.get(session, ImmunizationPerson, person_id)
            if person is not None:
                person.pending = True
        else:
            elsewhere.append(person_id)
    if elsewhere:
        session.execute(
            update(ImmunizationPerson)
            .where(col(ImmunizationPerson.person_id).in_(elsewhere))
            .values(pending=True)
        )


def _surviving(session: Session, person_id: str) -> str:
    """The person a (possibly merged) id counts as."""
    merge = batchrows.get(session, ImmunizationMerge, person_id)
    return merge.surviving_id if merge is not None else person_id
