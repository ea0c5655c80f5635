"""What the growth service does with ``mch.records.v1``: score every child visit against the WHO
standards, detect faltering against the visit before, publish the assessment (outbox)."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import Session

from mch_events import outbox, topics
from mch_events.contracts import growth as g
from mch_events.contracts import records as r
from mch_events.contracts.results import EventResult
from mch_events.envelope import CloudEvent, new_event

from .domain.nutrition import Assessment, Weighing, assess, detect_faltering
from .domain.zscores import Measurement, Position, Sex, age_in_days
from .storage import GrowthChild, GrowthVisit

SOURCE = "mch-growth"
_POSITIONS = {"lying": Position.LYING, "standing": Position.STANDING, None: Position.UNKNOWN}
_PUBLISHED = ("waz", "lhaz", "whz", "baz", "hcaz")


def apply(session: Session, event: CloudEvent, data: BaseModel) -> EventResult:
    """``consume.ApplyFn`` for ``mch.records.v1``: other types are acknowledged and ignored."""
    match data:
        case r.ChildVisitRecorded():
            return _visit(session, event, data)
        case r.PersonState() if data.role == "child":
            _child(session, data)
    return EventResult(id=event.id, status="accepted")


def _child(session: Session, data: r.PersonState) -> None:
    row = session.get(GrowthChild, str(data.person_id))
    if row is not None and data.revision < row.revision:
        return
    row = row or GrowthChild(child_id=str(data.person_id), sex=data.sex, birth_date=data.birth_date)
    row.sex, row.birth_date = data.sex, data.birth_date
    row.revision, row.voided = data.revision, data.voided or data.merged_into is not None
    session.add(row)


def measurement_of(visit: r.ChildVisitRecorded) -> Measurement:
    return Measurement(
        sex=Sex.MALE if visit.sex == "M" else Sex.FEMALE,
        age_days=age_in_days(visit.birth_date, visit.visit_date),
        weight_kg=visit.weight_kg,
        length_height_cm=visit.length_height_cm,
        position=_POSITIONS[visit.measured],
        head_cm=visit.head_cm,
        muac_cm=visit.muac_cm,
        oedema=bool(visit.oedema),
    )


def to_contract(
    visit: r.ChildVisitRecorded, result: Assessment, faltering: bool
) -> g.GrowthAssessed:
    scores = result.scores
    status = result.status
    classification = [
        f"{name}_{severity.value}"
        for name, severity in (
            ("underweight", status.underweight),
            ("stunting", status.stunting),
            ("wasting", status.wasting),
            ("overweight", status.overweight),
        )
        if severity is not None and severity.value != "normal"
    ]
    z = {
        ind: g.ZScore(value=scores.z[ind], flagged=ind in scores.flagged)
        if scores.z[ind] is not None
        else None
        for ind in _PUBLISHED
    }
    return g.GrowthAssessed(
        visit_id=visit.visit_id,
        child_id=visit.child_id,
        facility=visit.facility,
        residence=visit.residence,
        visit_date=visit.visit_date,
        sex=visit.sex,
        birth_date=visit.birth_date,
        age_days=age_in_days(visit.birth_date, visit.visit_date),
        oedema=bool(visit.oedema),
        classification=classification,
        faltering=faltering,
        reference=result.reference,
        engine_version=result.engine_version,
        revision=visit.revision,
        voided=visit.voided,
        **z,
    )


def _visit(session: Session, event: CloudEvent, visit: r.ChildVisitRecorded) -> EventResult:
    key = str(visit.visit_id)
    row = session.get(GrowthVisit, key)
    if row is not None and visit.revision < row.revision:
        return EventResult(id=event.id, status="stale")
    row = row or GrowthVisit(
        visit_id=key,
        child_id=str(visit.child_id),
        visit_date=visit.visit_date,
        age_days=0,
        record="",
        assessment="",
    )
    row.child_id, row.visit_date = str(visit.child_id), visit.visit_date
    row.revision, row.voided = visit.revision, visit.voided
    row.weight_kg, row.oedema = visit.weight_kg, bool(visit.oedema)
    row.age_days = age_in_days(visit.birth_date, visit.visit_date)
    row.record = visit.model_dump_json()
    session.add(row)
    session.flush()
    # A visit slotted in between (late or amended) changes the faltering of the one after it.
    for affected in _this_and_next(session, row):
        _assess_and_publish(session, affected)
    return EventResult(id=event.id, status="accepted")


def _series(session: Session, child_id: str) -> list[GrowthVisit]:
    rows = session.exec(  # type: ignore[call-overload]
        select(GrowthVisit)
        .where(GrowthVisit.child_id == child_id)
        .order_by(GrowthVisit.visit_date, GrowthVisit.visit_id)
    ).all()
    return [row for (row,) in rows]


def _this_and_next(session: Session, row: GrowthVisit) -> list[GrowthVisit]:
    live = [v for v in _series(session, row.child_id) if not v.voided or v.visit_id == row.visit_id]
    index = next(i for i, v in enumerate(live) if v.visit_id == row.visit_id)
    return live[index : index + 2]


def _previous_weighing(session: Session, row: GrowthVisit) -> Weighing | None:
    previous = None
    for v in _series(session, row.child_id):
        if v.visit_id == row.visit_id:
            break
        if not v.voided and v.weight_kg is not None and not v.oedema and v.age_days < row.age_days:
            previous = Weighing(age_days=v.age_days, weight_kg=v.weight_kg)
    return previous


def _assess_and_publish(session: Session, row: GrowthVisit) -> None:
    visit = r.ChildVisitRecorded.model_validate_json(row.record)
    result = assess(measurement_of(visit))
    faltering = False
    previous = _previous_weighing(session, row)
    if previous is not None and visit.weight_kg is not None and not visit.oedema:
        faltering = detect_faltering(previous, Weighing(row.age_days, visit.weight_kg)) is not None
    contract = to_contract(visit, result, faltering)
    if row.assessment and g.GrowthAssessed.model_validate_json(row.assessment) == contract:
        return  # nothing changed for consumers
    row.assessment = contract.model_dump_json()
    session.add(row)
    outbox.add(
        session,
        new_event(contract, source=SOURCE),
        topic=topics.GROWTH,
        key=str(visit.child_id),
    )
