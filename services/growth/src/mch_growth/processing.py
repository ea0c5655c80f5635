"""What the growth service does with ``mch.records.v1``, and what it knows of a child.

Every child visit is scored against the WHO standards and its assessment published on
``mch.growth.v1`` (outbox). Faltering compares a visit's weight with the child's weighing before
it, so a visit that arrives late, changes date or weight, moves to another child (a merge) or is
voided can change the faltering of the visits after it: those are published again when it does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, cast

from pydantic import BaseModel
from sqlmodel import Session, col, func, select

from mch_events import outbox, topics
from mch_events.contracts import growth as g
from mch_events.contracts import records as r
from mch_events.contracts.common import SexCode
from mch_events.contracts.results import EventResult
from mch_events.envelope import CloudEvent, new_event
from mch_events.orgtree import OrgTree, OrgTreeError
from mch_servicekit.erasure import remember

from .domain.nutrition import (
    Assessment,
    NutritionStatus,
    Severity,
    Weighing,
    assess,
    detect_faltering,
)
from .domain.zscores import Indicator, Measurement, Position, Sex, age_in_days
from .storage import SERVICE as _SERVICE
from .storage import GrowthChild, GrowthOrgUnit, GrowthVisit

SOURCE = "mch-growth"
_POSITIONS = {"lying": Position.LYING, "standing": Position.STANDING, None: Position.UNKNOWN}
_PUBLISHED: Final[tuple[Indicator, ...]] = ("waz", "lhaz", "whz", "baz", "hcaz")
_MALNOURISHED = (Severity.MODERATE, Severity.SEVERE)


def apply(session: Session, event: CloudEvent, data: BaseModel) -> EventResult:
    """``consume.ApplyFn`` for ``mch.records.v1``: other types are acknowledged and ignored."""
    match data:
        case r.ChildVisitRecorded():
            return _visit(session, event, data)
        case r.PersonState() if data.role == "child":
            _child(session, data)
        case r.OrgUnit():
            _orgunit(session, data)
        case r.PersonErased():
            remember(session, _SERVICE, data)
    return EventResult(id=event.id, status="accepted")


def _orgunit(session: Session, unit: r.OrgUnit) -> None:
    row = session.get(GrowthOrgUnit, (unit.code, unit.valid_from))
    row = row or GrowthOrgUnit(code=unit.code, valid_from=unit.valid_from, version="")
    row.version = unit.model_dump_json()
    session.add(row)


_trees: dict[tuple[int, int], OrgTree] = {}


def orgunit_tree(session: Session) -> OrgTree | None:
    """The org-unit tree received so far (None while it is not a valid one). Cached by a
    fingerprint of the stored versions, so a changed version is seen by the next request."""
    count, size = session.exec(
        select(func.count(), func.coalesce(func.sum(func.length(GrowthOrgUnit.version)), 0))
    ).one()
    key = (int(count), int(size))
    if key not in _trees:
        rows = session.exec(select(GrowthOrgUnit.version)).all()
        try:
            tree = OrgTree(r.OrgUnit.model_validate_json(v) for v in rows)
        except OrgTreeError:
            return None
        _trees.clear()
        _trees[key] = tree
    return _trees[key]


def _child(session: Session, data: r.PersonState) -> None:
    row = session.get(GrowthChild, str(data.person_id))
    if row is not None and data.revision < row.revision:
        return
    row = row or GrowthChild(child_id=str(data.person_id), sex=data.sex, birth_date=data.birth_date)
    row.sex, row.birth_date = data.sex, data.birth_date
    row.revision, row.voided = data.revision, data.voided or data.merged_into is not None
    if data.residences:
        row.residence = max(
            data.residences, key=lambda p: p.effective_date or dt.date.min
        ).residence
    session.add(row)


def measurement_of(visit: r.ChildVisitRecorded) -> Measurement:
    return Measurement(
        sex=Sex.of(visit.sex),
        age_days=age_in_days(visit.birth_date, visit.visit_date),
        weight_kg=visit.weight_kg,
        length_height_cm=visit.length_height_cm,
        position=_POSITIONS[visit.measured],
        head_cm=visit.head_cm,
        muac_cm=visit.muac_cm,
        oedema=bool(visit.oedema),
    )


def classification(status: NutritionStatus) -> list[str]:
    """The codes of ``GrowthAssessed.classification``: ``<condition>_<moderate|severe>`` for
    underweight, stunting, wasting and overweight, then ``vn_grade_<1|2|3>`` for Vietnam's grade
    of malnutrition. A status that is normal, or cannot be judged, adds no code."""
    codes = [
        f"{name}_{severity.value}"
        for name, severity in (
            ("underweight", status.underweight),
            ("stunting", status.stunting),
            ("wasting", status.wasting),
            ("overweight", status.overweight),
        )
        if severity in _MALNOURISHED
    ]
    if status.vn_grade:
        codes.append(f"vn_grade_{status.vn_grade}")
    return codes


def to_contract(
    visit: r.ChildVisitRecorded, result: Assessment, faltering: bool
) -> g.GrowthAssessed:
    scores = result.scores
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
        classification=classification(result.status),
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
    # After a merge the visit comes again under the surviving child: the series it leaves changes.
    children = {str(visit.child_id)} if row is None else {row.child_id, str(visit.child_id)}
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
    for child_id in sorted(children):
        _publish_series(session, child_id, changed=visit)
    return EventResult(id=event.id, status="accepted")


def _series(session: Session, child_id: str) -> list[GrowthVisit]:
    query = (
        select(GrowthVisit)
        .where(GrowthVisit.child_id == child_id)
        .order_by(col(GrowthVisit.visit_date), col(GrowthVisit.visit_id))
    )
    return list(session.exec(query).all())


def _weighing(row: GrowthVisit) -> Weighing | None:
    """The visit's weight as faltering reads it: a voided visit or a weight taken with oedema is
    no reference for the next one."""
    if row.voided or row.weight_kg is None or row.oedema:
        return None
    return Weighing(age_days=row.age_days, weight_kg=row.weight_kg)


def _publish_series(session: Session, child_id: str, changed: r.ChildVisitRecorded) -> None:
    """Publish the assessment of ``changed`` (when it is in this child's series), and again that of
    every other live visit whose faltering it changed."""
    earlier: list[Weighing] = []
    for row in _series(session, child_id):
        current = _weighing(row)
        # The last weighing on an earlier day: two visits on one day are not compared.
        previous = next((w for w in reversed(earlier) if w.age_days < row.age_days), None)
        faltering = (
            previous is not None
            and current is not None
            and detect_faltering(previous, current) is not None
        )
        if row.visit_id == str(changed.visit_id):
            _publish(session, row, to_contract(changed, assess(measurement_of(changed)), faltering))
        elif not row.voided and faltering != row.faltering:
            published = g.GrowthAssessed.model_validate_json(row.assessment)
            _publish(session, row, published.model_copy(update={"faltering": faltering}))
        if current is not None:
            earlier.append(current)


def _publish(session: Session, row: GrowthVisit, contract: g.GrowthAssessed) -> None:
    if row.assessment and g.GrowthAssessed.model_validate_json(row.assessment) == contract:
        return  # nothing changed for consumers (the same visit sent again)
    row.assessment = contract.model_dump_json()
    row.faltering = contract.faltering
    session.add(row)
    outbox.add(
        session,
        new_event(contract, source=SOURCE, revision=contract.revision),
        topic=topics.GROWTH,
        key=str(contract.child_id),
        service=_SERVICE,
    )


@dataclass(frozen=True, slots=True)
class ChildSeries:
    """A child as the growth service knows it: its live visits in date order, each with the
    assessment published for it."""

    sex: SexCode
    birth_date: dt.date
    visits: list[tuple[r.ChildVisitRecorded, g.GrowthAssessed]]
    residence: str | None = None
    """Where the child lives now: as records announced it, else as its latest visit says."""


def child_series(session: Session, child_id: str) -> ChildSeries | None:
    """``None`` for a child never heard of, voided, or merged into another."""
    child = session.get(GrowthChild, child_id)
    if child is not None and child.voided:
        return None
    visits = [
        (
            r.ChildVisitRecorded.model_validate_json(row.record),
            g.GrowthAssessed.model_validate_json(row.assessment),
        )
        for row in _series(session, child_id)
        if not row.voided
    ]
    if child is not None:
        # The column holds what a PersonState carried, so "M" or "F".
        return ChildSeries(
            sex=cast(SexCode, child.sex),
            birth_date=child.birth_date,
            visits=visits,
            residence=child.residence or (visits[-1][0].residence if visits else None),
        )
    if not visits:
        return None
    # Each visit carries the child's sex and birth date: a child is known before its PersonState.
    latest = visits[-1][0]
    return ChildSeries(
        sex=latest.sex, birth_date=latest.birth_date, visits=visits, residence=latest.residence
    )
