"""What the growth service does with ``mch.records.v1``, and what it knows of a child.

Every child visit is scored against the WHO standards and its assessment published on
``mch.growth.v1`` (outbox). Faltering compares a visit's weight with the child's weighing before
it, so a visit that arrives late, changes date or weight, moves to another child (a merge) or is
voided can change the faltering of the visits after it: those are published again when it does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
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
from mch_events.registry import event_type_for
from mch_servicekit import batchrows
from mch_servicekit.batchrows import BatchRows, in_chunks, named_id
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


class RecordsConsumer:
    """``consume.BatchApply`` for ``mch.records.v1``: a batch's visits, the series of their
    children and the children themselves are loaded in a few queries before it is applied, then
    kept current in memory as its events change them (no query, no flush per event)."""

    def prepare(self, session: Session, events: Sequence[CloudEvent]) -> None:
        visit_ids: set[str] = set()
        child_ids: set[str] = set()
        for event in events:
            if event.type == _VISIT_TYPE:
                visit_ids |= named_id(event.data.get("visit_id"))
                child_ids |= named_id(event.data.get("child_id"))
            elif event.type == _PERSON_TYPE:
                child_ids |= named_id(event.data.get("person_id"))
        rows = BatchRows.start(session)
        # A visit moving to another child leaves its child's series: that series is loaded too.
        child_ids |= {v.child_id for v in rows.load(session, GrowthVisit, visit_ids)}
        series: dict[str, dict[str, GrowthVisit]] = {child_id: {} for child_id in child_ids}
        for visit in in_chunks(session, GrowthVisit, col(GrowthVisit.child_id), child_ids):
            rows.keep(visit)
            series[visit.child_id][visit.visit_id] = visit
        rows.load(session, GrowthChild, child_ids)
        rows.derived[_SERIES] = series

    def __call__(self, session: Session, event: CloudEvent, data: BaseModel) -> EventResult:
        return apply(session, event, data)


_SERIES = "series"
"""``BatchRows.derived``: by child id, the child's visits by visit id, kept current."""
_VISIT_TYPE = event_type_for(r.ChildVisitRecorded).name
_PERSON_TYPE = event_type_for(r.PersonState).name


def _kept_series(session: Session) -> tuple[BatchRows, dict[str, dict[str, GrowthVisit]]] | None:
    rows = BatchRows.of(session)
    if rows is None or _SERIES not in rows.derived:
        return None
    return rows, rows.derived[_SERIES]


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
    key = str(data.person_id)
    row = batchrows.get(session, GrowthChild, key)
    if row is not None and data.revision < row.revision:
        return
    row = row or GrowthChild(child_id=key, sex=data.sex, birth_date=data.birth_date)
    row.sex, row.birth_date = data.sex, data.birth_date
    row.revision, row.voided = data.revision, data.voided or data.merged_into is not None
    if data.residences:
        row.residence = max(
            data.residences, key=lambda p: p.effective_date or dt.date.min
        ).residence
    batchrows.keep(session, row)


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
    kept = _kept_series(session)
    if kept is not None and not kept[0].known(GrowthVisit, key):
        kept = None  # not prepared for: read from the database
    row = batchrows.get(session, GrowthVisit, key)
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
    batchrows.keep(session, row)
    if kept is None:
        session.flush()  # the series below is read from the database
    else:
        for series in kept[1].values():
            series.pop(key, None)
        kept[1].setdefault(row.child_id, {})[key] = row
    for child_id in sorted(children):
        _publish_series(session, child_id, changed=visit)
    return EventResult(id=event.id, status="accepted")


def _series(session: Session, child_id: str) -> list[GrowthVisit]:
    kept = _kept_series(session)
    if kept is not None and child_id in kept[1]:
        return sorted(kept[1][child_id].values(), key=lambda v: (v.visit_date, v.visit_id))
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
