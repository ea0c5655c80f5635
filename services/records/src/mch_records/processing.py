"""The gate every facility event passes through, whichever way it came (Kafka or HTTP): org units,
references (hold until they arrive), plausibility, revisions, voids; then the change and the event
announcing it are staged in the caller's transaction (outbox)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, select
from sqlmodel import Session

from mch_events import idempotency, outbox, topics
from mch_events.contracts import facility as f
from mch_events.contracts import records as r
from mch_events.contracts.results import EventResult, Problem, ReasonCode
from mch_events.envelope import CloudEvent, EventError, new_event, parse_data
from mch_events.orgtree import OrgTree
from mch_events.telemetry import current_traceparent

from .domain import checks
from .domain.projection import Subject, project
from .storage import HeldEvent, OrgUnitVersion, Person, Record, Rejection, Residence

CONSUMER = "mch-records"
SOURCE = "mch-records"
_NS = uuid.UUID("6b2f7c1e-3d4a-4e8b-9f10-2a5c6d7e8f90")

_KIND = {
    f.PregnancyRegistered: "pregnancy",
    f.AntenatalVisit: "antenatal_visit",
    f.Birth: "birth",
    f.PostnatalVisit: "postnatal_visit",
    f.ChildVisit: "child_visit",
    f.Immunization: "immunization",
}
_MODEL_OF_KIND = {kind: model for model, kind in _KIND.items()}
_ID_FIELD = {
    "pregnancy": "pregnancy_id",
    "antenatal_visit": "visit_id",
    "birth": "birth_id",
    "postnatal_visit": "visit_id",
    "child_visit": "visit_id",
    "immunization": "immunization_id",
}


class OrgUnits:
    """The org-unit tree, read from the database once and again after each import."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._tree: OrgTree | None = None
        self._lock = threading.Lock()

    def tree(self, session: Session | None = None) -> OrgTree:
        """Inside a transaction, pass its session: a second connection would wait for the first
        (SQLite takes the write lock when a transaction begins)."""
        with self._lock:
            if self._tree is None:
                if session is None:
                    with Session(self._engine) as own:
                        self._tree = _load_tree(own)
                else:
                    self._tree = _load_tree(session)
            return self._tree

    def invalidate(self) -> None:
        with self._lock:
            self._tree = None


def _load_tree(session: Session) -> OrgTree:
    rows = session.exec(select(OrgUnitVersion)).all()  # type: ignore[call-overload]
    return OrgTree([to_contract(row[0]) for row in rows])


def _load_tree(session: Session) -> OrgTree:
    rows = session.exec(select(OrgUnitVersion)).all()  # type: ignore[call-overload]
    return OrgTree([to_contract(row[0]) for row in rows])


def to_contract(row: OrgUnitVersion) -> r.OrgUnit:
    return r.OrgUnit.model_validate(row.model_dump())


@dataclass
class Gate:
    orgunits: OrgUnits
    hold_for: dt.timedelta = dt.timedelta(days=7)
    today: Callable[[], dt.date] = lambda: dt.datetime.now(dt.UTC).date()

    # -- entry point (consume.ApplyFn) ---------------------------------------------------------
    def apply(self, session: Session, event: CloudEvent, data: BaseModel) -> EventResult:
        tree = self.orgunits.tree(session)
        when = checks.care_date(data, event.time)
        problems = self._org_problems(tree, event, data, when)
        if problems:
            raise EventError(problems)
        missing = self._missing_reference(session, data)
        if missing is not None:
            return self._hold(session, event, missing)
        problems = checks.plausibility(data, when, self._facts(session, data))
        if problems:
            raise EventError(problems)
        result = self._store(session, event, data, when)
        if result.status == "accepted":
            self._release_held(session, _record_id(data))
        return result

    # -- checks ----------------------------------------------------------------------------------
    def _org_problems(
        self, tree: OrgTree, event: CloudEvent, data: BaseModel, when: dt.date
    ) -> list[Problem]:
        problems = []
        for field, code in [("source", event.source), *checks.org_codes(data)]:
            if not tree.exists(code, when):
                problems.append(
                    Problem(
                        code=ReasonCode.UNKNOWN_ORG_UNIT,
                        field=field,
                        rule="org_unit_in_force",
                        message=f"{field}: no org unit {code!r} in force on {when}",
                    )
                )
        return problems

    def _missing_reference(self, session: Session, data: BaseModel) -> checks.Reference | None:
        for ref in checks.references(data):
            key = str(ref.id)
            found: object
            if ref.kind == "person":
                found = session.get(Person, key)
            elif ref.kind == "pregnancy":
                rec = session.get(Record, key)
                found = rec if rec is not None and rec.kind == "pregnancy" else None
            else:
                found = session.get(Record, key) or session.get(Person, key)
            if found is None:
                return ref
        return None

    def _facts(self, session: Session, data: BaseModel) -> checks.Facts:
        today = self.today()
        match data:
            case f.MotherRegistered() | f.ChildRegistered():
                return checks.Facts(subject_birth_date=data.birth_date, today=today)
            case f.AntenatalVisit() | f.Birth():
                preg = session.get(Record, str(data.pregnancy_id))
                p = f.PregnancyRegistered.model_validate_json(preg.data) if preg else None
                return checks.Facts(
                    lmp_date=p.lmp_date if p else None, edd=p.edd if p else None, today=today
                )
            case f.ChildVisit():
                child = session.get(Person, str(data.child_id))
                return checks.Facts(
                    subject_birth_date=child.birth_date if child else None, today=today
                )
            case f.Immunization() | f.Death() | f.ResidenceChanged():
                person = session.get(Person, str(data.person_id))
                return checks.Facts(
                    subject_birth_date=person.birth_date if person else None, today=today
                )
        return checks.Facts(today=today)

    # -- holding -------------------------------------------------------------------------------
    def _hold(self, session: Session, event: CloudEvent, ref: checks.Reference) -> EventResult:
        if session.get(HeldEvent, event.id) is None:
            session.add(
                HeldEvent(
                    event_id=event.id,
                    waiting_for=str(ref.id),
                    waiting_field=ref.field,
                    source=event.source,
                    event_type=event.type,
                    envelope=event.model_dump_json(),
                    traceparent=current_traceparent(),
                    expires_at=dt.datetime.now(dt.UTC) + self.hold_for,
                )
            )
        return EventResult(
            id=event.id,
            status="held",
            problems=[
                Problem(
                    code=ReasonCode.UNKNOWN_REFERENCE,
                    field=ref.field,
                    rule="held_until_reference_arrives",
                    message=f"waiting for {ref.kind} {ref.id}; held until it arrives "
                    f"(at most {self.hold_for.days} days)",
                )
            ],
        )

    def _release_held(self, session: Session, record_id: str) -> None:
        session.flush()
        held = session.exec(  # type: ignore[call-overload]
            select(HeldEvent).where(HeldEvent.waiting_for == record_id)
        ).all()
        for (row,) in held:
            session.delete(row)
            event = CloudEvent.model_validate_json(row.envelope)
            nested = session.begin_nested()
            try:
                result = self.apply(session, event, parse_data(event))
            except EventError as exc:
                nested.rollback()
                record_rejection(session, event.model_dump(mode="json"), exc.problems, "held")
                continue
            nested.commit()
            if result.status != "held":
                idempotency.claim(session, CONSUMER, event.id)

    def expire_held(self, session: Session, now: dt.datetime) -> list[tuple[CloudEvent, Problem]]:
        """Held events whose reference never came: removed, recorded as rejections, returned so the
        caller can dead-letter them."""
        expired = session.exec(  # type: ignore[call-overload]
            select(HeldEvent).where(HeldEvent.expires_at <= now)
        ).all()
        out = []
        for (row,) in expired:
            event = CloudEvent.model_validate_json(row.envelope)
            problem = Problem(
                code=ReasonCode.UNKNOWN_REFERENCE,
                field=row.waiting_field,
                rule="reference_arrives_within_hold_time",
                message=f"{row.waiting_field} {row.waiting_for} never arrived "
                f"(held since {row.received_at:%Y-%m-%d %H:%M})",
            )
            record_rejection(session, event.model_dump(mode="json"), [problem], "held")
            session.delete(row)
            out.append((event, problem))
        return out

    # -- storing -------------------------------------------------------------------------------
    def _store(
        self, session: Session, event: CloudEvent, data: BaseModel, when: dt.date
    ) -> EventResult:
        match data:
            case f.MotherRegistered() | f.ChildRegistered():
                return self._store_person(session, event, data, when)
            case f.Death():
                return self._store_death(session, event, data)
            case f.ResidenceChanged():
                return self._store_residence(session, event, data)
            case f.RecordVoided():
                return self._void(session, event, data)
        return self._store_record(session, event, data, when)

    def _store_person(
        self,
        session: Session,
        event: CloudEvent,
        data: f.MotherRegistered | f.ChildRegistered,
        when: dt.date,
    ) -> EventResult:
        is_mother = isinstance(data, f.MotherRegistered)
        person_id = str(data.mother_id if isinstance(data, f.MotherRegistered) else data.child_id)
        person = session.get(Person, person_id)
        if person is not None and event.revision <= person.revision:
            return EventResult(
                id=event.id, status="duplicate" if event.revision == person.revision else "stale"
            )
        if isinstance(data, f.MotherRegistered):
            conflict = _identifier_conflicts(session, person_id, data)
            if conflict:
                raise EventError(conflict)
        fields: dict[str, Any] = {
            "role": "mother" if is_mother else "child",
            "sex": "F" if is_mother else data.sex,  # type: ignore[union-attr]
            "birth_date": data.birth_date,
            "registered_on": person.registered_on if person else when,
            "mother_id": None if is_mother else _str(data.mother_id),  # type: ignore[union-attr]
            "revision": event.revision,
            "source": event.source,
            "full_name": data.full_name,
            "updated_at": dt.datetime.now(dt.UTC),
        }
        if isinstance(data, f.MotherRegistered):
            fields |= data.model_dump(
                include={"handbook_no", "national_id", "niis_id", "phone", "ethnicity"}
            )
        if person is None:
            person = Person(person_id=person_id, **fields)
        else:
            for name, value in fields.items():
                setattr(person, name, value)
        session.add(person)
        _set_initial_residence(session, person_id, data.residence)
        session.flush()
        self._publish_person(session, person)
        if person.revision > 1:
            self._republish_records(session, person)
        return EventResult(id=event.id, status="accepted")

    def _store_death(self, session: Session, event: CloudEvent, data: f.Death) -> EventResult:
        person = session.get(Person, str(data.person_id))
        assert person is not None
        if person.died_on == data.date:
            return EventResult(id=event.id, status="duplicate")
        person.died_on = data.date
        session.add(person)
        self._publish_person(session, person)
        return EventResult(id=event.id, status="accepted")

    def _store_residence(
        self, session: Session, event: CloudEvent, data: f.ResidenceChanged
    ) -> EventResult:
        person_id = str(data.person_id)
        existing = session.exec(  # type: ignore[call-overload]
            select(Residence).where(
                Residence.person_id == person_id, Residence.effective_date == data.effective_date
            )
        ).first()
        if existing is not None:
            if existing[0].residence == data.residence:
                return EventResult(id=event.id, status="duplicate")
            existing[0].residence = data.residence
            session.add(existing[0])
        else:
            session.add(
                Residence(
                    person_id=person_id,
                    effective_date=data.effective_date,
                    residence=data.residence,
                )
            )
        session.flush()
        person = session.get(Person, person_id)
        assert person is not None
        self._publish_person(session, person)
        self._republish_records(session, person, since=data.effective_date)
        return EventResult(id=event.id, status="accepted")

    def _store_record(
        self, session: Session, event: CloudEvent, data: BaseModel, when: dt.date
    ) -> EventResult:
        kind = _KIND[type(data)]
        record_id = _record_id(data)
        row = session.get(Record, record_id)
        if row is not None and event.revision <= row.revision:
            return EventResult(
                id=event.id, status="duplicate" if event.revision == row.revision else "stale"
            )
        person_id = self._subject_id(session, data)
        values = {
            "kind": kind,
            "person_id": person_id,
            "care_date": when,
            "facility": getattr(data, "facility", None),
            "source": event.source,
            "revision": event.revision,
            "voided": False,
            "data": data.model_dump_json(exclude_none=True),
            "updated_at": dt.datetime.now(dt.UTC),
        }
        if row is None:
            row = Record(record_id=record_id, **values)
        else:
            for name, value in values.items():
                setattr(row, name, value)
        session.add(row)
        session.flush()
        if isinstance(data, f.Birth):
            self._store_babies(session, event, data, row)
        self._publish_record(session, row)
        return EventResult(id=event.id, status="accepted")

    def _store_babies(
        self, session: Session, event: CloudEvent, data: f.Birth, row: Record
    ) -> None:
        mother = session.get(Person, str(data.mother_id))
        assert mother is not None
        born = checks.birth_day(data)
        residence = residence_on(session, mother.person_id, born)
        for baby in data.babies:
            child_id = str(baby.child_id)
            child = session.get(Person, child_id)
            if baby.outcome != "live":
                if child is not None and child.birth_id == row.record_id:
                    child.voided = True  # amended: this baby was not born alive after all
                    session.add(child)
                    self._publish_person(session, child)
                continue
            if child is None:
                child = Person(
                    person_id=child_id,
                    role="child",
                    sex=baby.sex,
                    birth_date=born,
                    registered_on=born,
                    mother_id=mother.person_id,
                    birth_id=row.record_id,
                    revision=event.revision,
                    source=event.source,
                )
                session.add(child)
                _set_initial_residence(session, child_id, residence)
            elif child.birth_id in (None, row.record_id):
                child.sex, child.birth_date, child.voided = baby.sex, born, False
                child.birth_id, child.mother_id = row.record_id, mother.person_id
                session.add(child)
            session.flush()
            self._publish_person(session, child)

    def _void(self, session: Session, event: CloudEvent, data: f.RecordVoided) -> EventResult:
        target = str(data.record_id)
        row = session.get(Record, target)
        if row is not None:
            if row.voided:
                return EventResult(id=event.id, status="duplicate")
            row.voided = True
            session.add(row)
            self._publish_record(session, row)
            if row.kind == "birth":
                children = session.exec(  # type: ignore[call-overload]
                    select(Person).where(Person.birth_id == target)
                ).all()
                for (child,) in children:
                    self._void_person(session, child)
            return EventResult(id=event.id, status="accepted")
        person = session.get(Person, target)
        assert person is not None
        if person.voided:
            return EventResult(id=event.id, status="duplicate")
        self._void_person(session, person)
        return EventResult(id=event.id, status="accepted")

    def _void_person(self, session: Session, person: Person) -> None:
        person.voided = True
        session.add(person)
        self._publish_person(session, person)
        for record in _records_of(session, person.person_id):
            if not record.voided:
                record.voided = True
                session.add(record)
                self._publish_record(session, record)

    # -- publishing ----------------------------------------------------------------------------
    def _subject_id(self, session: Session, data: BaseModel) -> str:
        if isinstance(data, f.AntenatalVisit):
            preg = session.get(Record, str(data.pregnancy_id))
            assert preg is not None
            return preg.person_id
        for name in ("mother_id", "child_id", "person_id"):
            value = getattr(data, name, None)
            if value is not None and not (
                name == "child_id" and isinstance(data, f.PostnatalVisit)
            ):
                return str(value)
        raise ValueError(f"no subject in {type(data).__name__}")

    def _publish_person(self, session: Session, person: Person) -> None:
        residences = session.exec(  # type: ignore[call-overload]
            select(Residence).where(Residence.person_id == person.person_id)
        ).all()
        periods = sorted(
            (
                r.ResidencePeriod(residence=row.residence, effective_date=row.effective_date)
                for (row,) in residences
            ),
            key=lambda p: p.effective_date or dt.date.min,
        )
        state = r.PersonState(
            person_id=uuid.UUID(person.person_id),
            role=person.role,  # type: ignore[arg-type]
            sex=person.sex,  # type: ignore[arg-type]
            birth_date=person.birth_date,
            registered_on=person.registered_on,
            residences=periods,
            mother_id=uuid.UUID(person.mother_id) if person.mother_id else None,
            died_on=person.died_on,
            merged_into=uuid.UUID(person.merged_into) if person.merged_into else None,
            revision=person.revision,
            voided=person.voided,
        )
        _emit(session, state, person.person_id)

    def _publish_record(self, session: Session, row: Record) -> None:
        person = session.get(Person, row.person_id)
        assert person is not None
        model = _MODEL_OF_KIND[row.kind]
        data = model.model_validate_json(row.data)
        subject = Subject(
            person_id=uuid.UUID(person.person_id),
            sex=person.sex,
            birth_date=person.birth_date,
            residence=residence_on(session, person.person_id, row.care_date),
        )
        projected = project(
            data, subject, care_date=row.care_date, revision=row.revision, voided=row.voided
        )
        if projected is not None:
            _emit(session, projected[0], projected[1])

    def _republish_records(
        self, session: Session, person: Person, since: dt.date | None = None
    ) -> None:
        """The person's context (residence, sex, birth date) changed: publish what depends on it."""
        for record in _records_of(session, person.person_id):
            if since is None or record.care_date >= since:
                self._publish_record(session, record)


# -- helpers ---------------------------------------------------------------------------------------


def _emit(session: Session, model: BaseModel, key: str) -> None:
    outbox.add(session, new_event(model, source=SOURCE), topic=topics.RECORDS, key=key)


def _str(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def _record_id(data: BaseModel) -> str:
    """The id of the record an event creates or changes (what held events wait for)."""
    match data:
        case f.MotherRegistered():
            return str(data.mother_id)
        case f.ChildRegistered():
            return str(data.child_id)
        case f.Death() | f.ResidenceChanged():
            return str(data.person_id)
        case f.RecordVoided():
            return str(data.record_id)
    return str(getattr(data, _ID_FIELD[_KIND[type(data)]]))


def _records_of(session: Session, person_id: str) -> list[Record]:
    rows = session.exec(  # type: ignore[call-overload]
        select(Record).where(Record.person_id == person_id).order_by(Record.care_date)
    ).all()
    return [row for (row,) in rows]


def _set_initial_residence(session: Session, person_id: str, residence: str) -> None:
    row = session.exec(  # type: ignore[call-overload]
        select(Residence).where(
            Residence.person_id == person_id, Residence.effective_date.is_(None)
        )  # type: ignore[union-attr]
    ).first()
    if row is None:
        session.add(Residence(person_id=person_id, effective_date=None, residence=residence))
    elif row[0].residence != residence:
        row[0].residence = residence
        session.add(row[0])


def residence_on(session: Session, person_id: str, on: dt.date) -> str:
    """The person's residence on a date: the latest change in force, else the registered one."""
    rows = session.exec(  # type: ignore[call-overload]
        select(Residence).where(Residence.person_id == person_id)
    ).all()
    best: Residence | None = None
    for (row,) in rows:
        if row.effective_date is not None and row.effective_date > on:
            continue
        if best is None or (row.effective_date or dt.date.min) >= (
            best.effective_date or dt.date.min
        ):
            best = row
    if best is None:
        raise LookupError(f"person {person_id} has no residence")
    return best.residence


def _identifier_conflicts(
    session: Session, person_id: str, data: f.MotherRegistered
) -> list[Problem]:
    problems = []
    for name in ("handbook_no", "national_id", "niis_id"):
        value = getattr(data, name)
        if value is None:
            continue
        other = session.exec(  # type: ignore[call-overload]
            select(Person.person_id).where(
                getattr(Person, name) == value, Person.person_id != person_id
            )
        ).first()
        if other is not None:
            problems.append(
                Problem(
                    code=ReasonCode.CONFLICT,
                    field=f"data.{name}",
                    rule=f"{name}_unique",
                    message=f"{name} {value!r} already belongs to person {other[0]}",
                )
            )
    return problems


def record_rejection(session: Session, payload: Any, problems: list[Problem], channel: str) -> None:
    """Keep a rejected event for the facility's IT staff (``GET /v1/rejections``)."""
    obj = payload if isinstance(payload, dict) else {}
    session.add(
        Rejection(
            event_id=_text(obj.get("id")),
            source=_text(obj.get("source")),
            event_type=_text(obj.get("type")),
            channel=channel,
            reason=problems[0].code.value if problems else ReasonCode.PROCESSING_ERROR.value,
            problems=json.dumps([p.model_dump(mode="json", exclude_none=True) for p in problems]),
            payload=payload if isinstance(payload, str) else json.dumps(payload, default=str),
        )
    )


def _text(value: Any) -> str | None:
    return str(value)[:256] if value is not None else None
