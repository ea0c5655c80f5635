"""What reporting keeps from ``mch.records.v1`` and ``mch.growth.v1`` (highest revision wins, a voided
record counts nowhere), and the queries indicators are computed from."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Sequence
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from mch_events.consume import BatchSummary
from mch_events.contracts import growth as g
from mch_events.contracts import records as r
from mch_events.contracts.common import Revisioned
from mch_events.contracts.results import EventResult
from mch_events.envelope import CloudEvent
from mch_events.orgtree import OrgTree

from .domain.growth_indicators import (
    GROWTH_INDICATORS,
    Child,
    Measured,
    growth_counts,
    under_five,
)
from .domain.indicators import Count, Indicator, IndicatorValue, Sex, View, aggregate
from .domain.periods import Period
from .storage import ReportingCare, ReportingChild, ReportingGrowth, ReportingOrgUnit


class Facts:
    """Applies events to the reporting tables and answers the questions indicators ask."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._tree: OrgTree | None = None
        self._tree_changed = False
        self._lock = threading.Lock()

    # -- writing (consume.ApplyFn) ---------------------------------------------------------------
    def apply(self, session: Session, event: CloudEvent, data: BaseModel) -> EventResult:
        match data:
            case r.OrgUnit():
                self._orgunit(session, data)
            case r.PersonState() if data.role == "child":
                self._child(session, data)
            case g.GrowthAssessed():
                self._growth(session, data)
            case r.ChildVisitRecorded():
                self._care(
                    session, data.visit_id, data.child_id, "child_visit", data.visit_date, data
                )
            case r.ImmunizationRecorded():
                self._care(session, data.immunization_id, data.person_id, "dose", data.date, data)
            case r.PostnatalVisitRecorded() if data.child_id is not None:
                self._care(
                    session, data.visit_id, data.child_id, "postnatal", data.visit_date, data
                )
            case r.BirthRecorded():
                for baby in data.babies:
                    self._care(
                        session, data.birth_id, baby.child_id, "birth", data.birth_date, data
                    )
        return EventResult(id=event.id, status="accepted")

    def _orgunit(self, session: Session, data: r.OrgUnit) -> None:
        row = session.get(ReportingOrgUnit, (data.code, data.valid_from))
        row = row or ReportingOrgUnit(code=data.code, valid_from=data.valid_from, version="")
        row.version = data.model_dump_json()
        session.add(row)
        self._tree_changed = True

    async def after_batch(self, _summary: BatchSummary) -> None:
        """Forget the cached tree once a batch that changed it is committed (not before: a reader
        in between would cache the old tree again)."""
        if self._tree_changed:
            self._tree_changed = False
            with self._lock:
                self._tree = None

    def _child(self, session: Session, data: r.PersonState) -> None:
        row = session.get(ReportingChild, str(data.person_id))
        if row is not None and data.revision < row.revision:
            return
        residences = [
            [p.effective_date.isoformat() if p.effective_date else None, p.residence]
            for p in data.residences
        ]
        values = {
            "birth_date": data.birth_date,
            "registered_on": data.registered_on,
            "residences": json.dumps(residences),
            "died_on": data.died_on,
            "sex": data.sex,
            "revision": data.revision,
            "voided": data.voided or data.merged_into is not None,
            "applied_at": _now(),
        }
        row = row or ReportingChild(child_id=str(data.person_id), **values)
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)

    def _care(
        self,
        session: Session,
        record_id: UUID,
        person_id: UUID,
        kind: str,
        day: dt.date,
        data: Revisioned,
    ) -> None:
        key = (str(record_id), str(person_id))
        row = session.get(ReportingCare, key)
        if row is not None and data.revision < row.revision:
            return
        row = row or ReportingCare(record_id=key[0], person_id=key[1], kind=kind, care_date=day)
        row.kind, row.care_date = kind, day
        row.revision, row.voided, row.applied_at = data.revision, data.voided, _now()
        session.add(row)

    def _growth(self, session: Session, data: g.GrowthAssessed) -> None:
        row = session.get(ReportingGrowth, str(data.visit_id))
        if row is not None and data.revision < row.revision:
            return

        def valid(z: g.ZScore | None) -> float | None:
            return z.value if z is not None and not z.flagged else None

        values = {
            "child_id": str(data.child_id),
            "visit_date": data.visit_date,
            "birth_date": data.birth_date,
            "residence": data.residence,
            "facility": data.facility,
            "waz": valid(data.waz),
            "lhaz": valid(data.lhaz),
            "whz": valid(data.whz),
            "oedema": data.oedema,
            "sex": data.sex,
            "reference": data.reference,
            "engine_version": data.engine_version,
            "revision": data.revision,
            "voided": data.voided,
            "applied_at": _now(),
        }
        row = row or ReportingGrowth(visit_id=str(data.visit_id), **values)
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)

    # -- reading ---------------------------------------------------------------------------------
    def tree(self) -> OrgTree:
        with self._lock:
            if self._tree is None:
                with Session(self._engine) as session:
                    rows = session.exec(select(ReportingOrgUnit.version)).all()  # type: ignore[call-overload]
                self._tree = OrgTree(r.OrgUnit.model_validate_json(v) for (v,) in rows)
            return self._tree

    def values(
        self,
        orgunits: Sequence[str],
        period: Period,
        view: View,
        indicators: Sequence[Indicator],
        tree: OrgTree,
    ) -> dict[str, list[IndicatorValue]]:
        """The values of ``indicators`` for each of ``orgunits``, from one read of the facts."""
        codes = {i.code for i in indicators}
        counts: list[Count] = []
        if codes & set(GROWTH_INDICATORS):
            counts += growth_counts(
                period=period,
                measurements=self.measurements(period),
                children=self.children(period.end),
                view=view,
            )
        return aggregate(counts, orgunits=orgunits, tree=tree, catalog=indicators, view=view)

    def measurements(self, period: Period) -> list[Measured]:
        with Session(self._engine) as session:
            rows = session.exec(  # type: ignore[call-overload]
                select(ReportingGrowth).where(
                    ReportingGrowth.visit_date >= period.start,
                    ReportingGrowth.visit_date <= period.end,
                    ReportingGrowth.voided == False,  # noqa: E712 - SQL expression
                )
            ).all()
        return [
            Measured(
                child_id=m.child_id,
                visit_id=m.visit_id,
                visit_date=m.visit_date,
                birth_date=m.birth_date,
                residence=m.residence,
                facility=m.facility,
                waz=m.waz,
                lhaz=m.lhaz,
                whz=m.whz,
                oedema=m.oedema,
                sex=_sex(m.sex),
                applied_at=m.applied_at,
                reference=m.reference,
                engine_version=m.engine_version,
            )
            for (m,) in rows
        ]

    def children(self, on: dt.date) -> list[Child]:
        """Registered children who could be under 5 on ``on``, with their first care."""
        first_care = (
            select(
                ReportingCare.person_id,
                func.min(ReportingCare.care_date)
                .filter(ReportingCare.voided == False)  # noqa: E712 - SQL expression
                .label("first_care"),
                # A voided contact changes the registration date too: it is part of the as-of.
                func.max(ReportingCare.applied_at).label("care_applied_at"),
            )
            .group_by(ReportingCare.person_id)
            .subquery()
        )
        with Session(self._engine) as session:
            rows = session.exec(  # type: ignore[call-overload]
                select(ReportingChild, first_care.c.first_care, first_care.c.care_applied_at)
                .outerjoin(first_care, first_care.c.person_id == ReportingChild.child_id)
                .where(
                    ReportingChild.birth_date > on - dt.timedelta(days=5 * 366),
                    ReportingChild.voided == False,  # noqa: E712 - SQL expression
                )
            ).all()
        children = []
        for c, first, care_applied_at in rows:
            if not under_five(c.birth_date, on):
                continue
            residences = tuple(
                (dt.date.fromisoformat(since) if since else None, code)
                for since, code in json.loads(c.residences)
            )
            children.append(
                Child(
                    child_id=c.child_id,
                    birth_date=c.birth_date,
                    registered_on=c.registered_on,
                    residences=residences,
                    died_on=c.died_on,
                    first_care=first,
                    sex=_sex(c.sex),
                    applied_at=_newest(c.applied_at, care_applied_at),
                )
            )
        return children


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _sex(value: str | None) -> Sex | None:
    return "M" if value == "M" else "F" if value == "F" else None


def _newest(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)
