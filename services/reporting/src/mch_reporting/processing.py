"""What reporting keeps from ``mch.records.v1`` and ``mch.growth.v1`` (highest revision wins, a voided
record counts nowhere), and the queries indicators are computed from."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Sequence
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Engine, and_, func, or_, select, union
from sqlmodel import Session, SQLModel

from mch_events.consume import BatchSummary
from mch_events.contracts import growth as g
from mch_events.contracts import immunization as i
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
from .domain.immunization_indicators import CODES as IMMUNIZATION_CODES
from .domain.immunization_indicators import (
    DOSES,
    ImmunizationFacts,
    StatusFact,
    immunization_counts,
)
from .domain.indicators import Count, Indicator, IndicatorValue, Sex, View, aggregate
from .domain.maternal import (
    CODES as MATERNAL_CODES,
)
from .domain.maternal import (
    PNC_DAYS,
    AntenatalVisit,
    Baby,
    Delivery,
    MaternalFacts,
    Mother,
    PostnatalVisit,
    Pregnancy,
    VitaminA,
    maternal_counts,
)
from .domain.periods import Period
from .storage import (
    ReportingAntenatal,
    ReportingBirth,
    ReportingCare,
    ReportingChild,
    ReportingGrowth,
    ReportingImmunizationFact,
    ReportingMother,
    ReportingOrgUnit,
    ReportingPostnatal,
    ReportingPregnancy,
    ReportingVitaminA,
)

DOSE_CODES = frozenset(DOSES)


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
            case r.PersonState():
                self._mother(session, data)
            case g.GrowthAssessed():
                self._growth(session, data)
            case r.ChildVisitRecorded():
                self._care(
                    session,
                    data.visit_id,
                    data.child_id,
                    "child_visit",
                    data.visit_date,
                    data,
                    data.facility,
                )
                self._vitamin_a(session, data)
            case r.ImmunizationRecorded():
                self._care(
                    session,
                    data.immunization_id,
                    data.person_id,
                    "dose",
                    data.date,
                    data,
                    data.facility,
                )
            case r.PostnatalVisitRecorded():
                if data.child_id is not None:
                    self._care(
                        session, data.visit_id, data.child_id, "postnatal", data.visit_date, data
                    )
                _upsert(
                    session,
                    ReportingPostnatal,
                    str(data.visit_id),
                    data,
                    mother_id=str(data.mother_id),
                    visit_date=data.visit_date,
                )
            case r.BirthRecorded():
                for baby in data.babies:
                    self._care(
                        session, data.birth_id, baby.child_id, "birth", data.birth_date, data
                    )
                self._birth(session, data)
            case r.PregnancyState():
                _upsert(
                    session,
                    ReportingPregnancy,
                    str(data.pregnancy_id),
                    data,
                    mother_id=str(data.mother_id),
                    edd=data.edd,
                    lmp_date=data.lmp_date,
                    registered_on=data.registered_on,
                    residence=data.residence,
                )
            case i.ImmunizationStatusChanged():
                self._status(session, data)
            case r.AntenatalVisitRecorded():
                tests = data.tests
                _upsert(
                    session,
                    ReportingAntenatal,
                    str(data.visit_id),
                    data,
                    pregnancy_id=str(data.pregnancy_id),
                    facility=data.facility,
                    visit_date=data.visit_date,
                    residence=data.residence,
                    gestational_weeks=data.gestational_weeks,
                    hiv=tests is not None and tests.hiv is not None,
                    syphilis=tests is not None and tests.syphilis is not None,
                    hepb=tests is not None and tests.hepb is not None,
                )
        return EventResult(id=event.id, status="accepted")

    def _status(self, session: Session, data: i.ImmunizationStatusChanged) -> None:
        key = (
            str(data.person_id),
            data.status,
            data.vaccine or "",
            data.dose or 0,
            str(data.birth_id) if data.birth_id else "",
        )
        row = session.get(ReportingImmunizationFact, key) or ReportingImmunizationFact(
            person_id=key[0],
            status=key[1],
            vaccine=key[2],
            dose=key[3],
            birth_id=key[4],
            holds=data.holds,
            since=data.since,
            population=data.population,
            schedule_version=data.schedule_version,
        )
        row.holds, row.since, row.until = data.holds, data.since, data.until
        row.population, row.schedule_version = data.population, data.schedule_version
        row.applied_at = _now()
        session.add(row)

    def _mother(self, session: Session, data: r.PersonState) -> None:
        _upsert(
            session,
            ReportingMother,
            str(data.person_id),
            data,
            residences=_residences(data),
            died_on=data.died_on,
            voided=data.voided or data.merged_into is not None,
        )

    def _birth(self, session: Session, data: r.BirthRecorded) -> None:
        babies = [
            {
                "child_id": str(b.child_id),
                "sex": b.sex,
                "live": b.outcome == "live",
                "weight_g": b.weight_g,
            }
            for b in data.babies
        ]
        _upsert(
            session,
            ReportingBirth,
            str(data.birth_id),
            data,
            pregnancy_id=str(data.pregnancy_id),
            mother_id=str(data.mother_id),
            facility=data.facility,
            birth_date=data.birth_date,
            residence=data.residence,
            place=data.place,
            attendant=data.attendant,
            babies=json.dumps(babies),
        )

    def _vitamin_a(self, session: Session, data: r.ChildVisitRecorded) -> None:
        _upsert(
            session,
            ReportingVitaminA,
            str(data.visit_id),
            data,
            child_id=str(data.child_id),
            facility=data.facility,
            visit_date=data.visit_date,
            residence=data.residence,
            birth_date=data.birth_date,
            sex=data.sex,
            given=bool(data.vitamin_a),
        )

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
        values = {
            "birth_date": data.birth_date,
            "registered_on": data.registered_on,
            "residences": _residences(data),
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
        facility: str | None = None,
    ) -> None:
        key = (str(record_id), str(person_id))
        row = session.get(ReportingCare, key)
        if row is not None and data.revision < row.revision:
            return
        row = row or ReportingCare(record_id=key[0], person_id=key[1], kind=kind, care_date=day)
        row.kind, row.care_date, row.facility = kind, day, facility
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
        if codes & MATERNAL_CODES:
            counts += maternal_counts(
                period=period, facts=self.maternal_facts(period, codes), view=view, wanted=codes
            )
        if codes & IMMUNIZATION_CODES:
            counts += immunization_counts(
                period=period,
                facts=self.immunization_facts(period, codes, view),
                view=view,
                wanted=codes,
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
        born_after = on - dt.timedelta(days=5 * 366)
        return [
            c
            for c in self._children(ReportingChild.birth_date > born_after)
            if under_five(c.birth_date, on)
        ]

    def children_dead_during(self, period: Period) -> list[Child]:
        return self._children(
            ReportingChild.died_on >= period.start,  # type: ignore[operator]
            ReportingChild.died_on <= period.end,  # type: ignore[operator]
        )

    def _children(self, *where: ColumnElement[bool]) -> list[Child]:
        wanted = select(ReportingChild.child_id).where(
            ReportingChild.voided == False,  # noqa: E712 - SQL expression
            *where,
        )
        first_care = (
            select(
                ReportingCare.person_id,
                func.min(ReportingCare.care_date)
                .filter(ReportingCare.voided == False)  # noqa: E712 - SQL expression
                .label("first_care"),
                # A voided contact changes the registration date too: it is part of the as-of.
                func.max(ReportingCare.applied_at).label("care_applied_at"),
            )
            .where(ReportingCare.person_id.in_(wanted))  # type: ignore[attr-defined]
            .group_by(ReportingCare.person_id)
            .subquery()
        )
        with Session(self._engine) as session:
            rows = session.exec(  # type: ignore[call-overload]
                select(ReportingChild, first_care.c.first_care, first_care.c.care_applied_at)
                .outerjoin(first_care, first_care.c.person_id == ReportingChild.child_id)
                .where(ReportingChild.voided == False, *where)  # noqa: E712 - SQL expression
            ).all()
        return [
            Child(
                child_id=c.child_id,
                birth_date=c.birth_date,
                registered_on=c.registered_on,
                residences=_parse_residences(c.residences),
                died_on=c.died_on,
                first_care=first,
                sex=_sex(c.sex),
                applied_at=_newest(c.applied_at, care_applied_at),
            )
            for c, first, care_applied_at in rows
        ]

    def immunization_facts(self, period: Period, codes: set[str], view: View) -> ImmunizationFacts:
        """The children and deliveries the immunization indicators of ``period`` count, with the
        status facts they need, in a few set-based queries."""
        start, end = period.start, period.end
        facts = ImmunizationFacts()
        fact = ReportingImmunizationFact
        doses = bool(codes & (DOSE_CODES | {"PENTA_DROPOUT"}))
        population = view == "residence" and bool(codes & (DOSE_CODES | {"FIC", "DEFAULTERS"}))
        dosed = select(fact.person_id).where(
            fact.status == "dose_valid",
            fact.holds == True,  # noqa: E712 - SQL expression
            fact.since.between(start, end),  # type: ignore[attr-defined]
        )
        # Under 6 at the end, or turning 1 during the period; and whoever was given a dose in it.
        oldest = min(end - dt.timedelta(days=6 * 366), start - dt.timedelta(days=366))
        young = ReportingChild.birth_date > oldest
        children_wanted: list[ColumnElement[bool]] = []
        if population:
            children_wanted.append(young)
        if doses:
            children_wanted.append(ReportingChild.child_id.in_(dosed))  # type: ignore[attr-defined]
        if children_wanted:
            facts.children = self._children(or_(*children_wanted))
        delivered = (
            ReportingBirth.voided == False,  # noqa: E712 - SQL expression
            ReportingBirth.birth_date.between(start, end),  # type: ignore[attr-defined]
        )
        which: list[ColumnElement[bool]] = []
        if population and codes & {"FIC", "DEFAULTERS"}:
            which.append(
                and_(
                    fact.status.in_(["fully_immunized", "dose_overdue"]),  # type: ignore[attr-defined]
                    fact.person_id.in_(select(ReportingChild.child_id).where(young)),  # type: ignore[attr-defined]
                )
            )
        if "TT_PAB" in codes:
            mothers = select(ReportingBirth.mother_id).where(*delivered)
            which.append(
                and_(fact.status == "protected_at_birth", fact.person_id.in_(mothers))  # type: ignore[attr-defined]
            )
        if doses:
            which.append(and_(fact.status == "dose_valid", fact.since.between(start, end)))  # type: ignore[attr-defined]
        if "PENTA_DROPOUT" in codes:
            first = select(fact.person_id).where(
                fact.status == "dose_valid",
                fact.vaccine == "PENTA",
                fact.dose == 1,
                fact.since.between(start, end),  # type: ignore[attr-defined]
            )
            which.append(
                and_(
                    fact.status == "dose_valid",
                    fact.vaccine == "PENTA",
                    fact.dose == 3,
                    fact.person_id.in_(first),  # type: ignore[attr-defined]
                )
            )
        if "HEPB0_24H" in codes:
            which.append(
                and_(
                    fact.status == "dose_timely",
                    fact.vaccine == "HEPB0",
                    # Timely means within days of the birth: a week past the period covers it.
                    fact.since.between(start, end + dt.timedelta(days=7)),  # type: ignore[attr-defined]
                )
            )
        with Session(self._engine) as session:
            if codes & {"TT_PAB", "HEPB0_24H"}:
                facts.deliveries = [
                    _delivery(b)
                    for (b,) in session.exec(  # type: ignore[call-overload]
                        select(ReportingBirth).where(*delivered)
                    ).all()
                ]
            rows = (
                session.exec(select(fact).where(or_(*which))).all()  # type: ignore[call-overload]
                if which
                else []
            )
            if doses and view == "facility":
                recorded = session.exec(  # type: ignore[call-overload]
                    select(ReportingCare.person_id, ReportingCare.care_date, ReportingCare.facility)
                    .where(
                        ReportingCare.kind == "dose",
                        ReportingCare.voided == False,  # noqa: E712 - SQL expression
                        ReportingCare.care_date.between(start, end),  # type: ignore[attr-defined]
                        ReportingCare.person_id.in_(dosed),  # type: ignore[attr-defined]
                    )
                    .order_by(ReportingCare.record_id.desc())  # type: ignore[attr-defined]
                ).all()
                # Two doses recorded for one child on one day: the lowest record id decides.
                facts.dose_facilities = {
                    (person, day): facility for person, day, facility in recorded if facility
                }
        facts.facts = [
            StatusFact(
                person_id=f.person_id,
                status=f.status,
                holds=f.holds,
                since=f.since,
                until=f.until,
                vaccine=f.vaccine or None,
                dose=f.dose or None,
                birth_id=f.birth_id or None,
                schedule_version=f.schedule_version,
                applied_at=f.applied_at,
            )
            for (f,) in rows
        ]
        return facts

    def maternal_facts(self, period: Period, codes: set[str]) -> MaternalFacts:
        """Everything the maternal indicators of ``period`` read, in a few set-based queries."""
        start, end = period.start, period.end
        live = {
            model: model.voided == False  # type: ignore[attr-defined]  # noqa: E712
            for model in (
                ReportingPregnancy,
                ReportingAntenatal,
                ReportingBirth,
                ReportingPostnatal,
                ReportingMother,
                ReportingVitaminA,
            )
        }
        # Pregnancies registered, first seen or delivered in the period.
        first_visits = (
            select(ReportingAntenatal.pregnancy_id)
            .where(live[ReportingAntenatal])
            .group_by(ReportingAntenatal.pregnancy_id)
            .having(func.min(ReportingAntenatal.visit_date).between(start, end))
        )
        registered = select(ReportingPregnancy.pregnancy_id).where(
            live[ReportingPregnancy],
            ReportingPregnancy.registered_on.between(start, end),  # type: ignore[attr-defined]
        )
        delivered = select(ReportingBirth.pregnancy_id).where(
            live[ReportingBirth],
            ReportingBirth.birth_date.between(start, end),  # type: ignore[attr-defined]
        )
        relevant = union(first_visits, registered, delivered).subquery()
        in_relevant = select(relevant.c[0])
        facts = MaternalFacts()
        with Session(self._engine) as session:

            def rows(statement: Any) -> list[Any]:
                return [row for (row,) in session.exec(statement).all()]

            facts.pregnancies = [
                _pregnancy(p)
                for p in rows(
                    select(ReportingPregnancy).where(
                        live[ReportingPregnancy],
                        ReportingPregnancy.pregnancy_id.in_(in_relevant),  # type: ignore[attr-defined]
                    )
                )
            ]
            facts.visits = [
                _antenatal(v)
                for v in rows(
                    select(ReportingAntenatal).where(
                        live[ReportingAntenatal],
                        ReportingAntenatal.pregnancy_id.in_(in_relevant),  # type: ignore[attr-defined]
                    )
                )
            ]
            facts.deliveries = [
                _delivery(b)
                for b in rows(
                    select(ReportingBirth).where(
                        live[ReportingBirth],
                        ReportingBirth.birth_date.between(start, end),  # type: ignore[attr-defined]
                    )
                )
            ]
            mothers = select(ReportingBirth.mother_id).where(
                live[ReportingBirth],
                ReportingBirth.birth_date.between(start, end),  # type: ignore[attr-defined]
            )
            facts.postnatal = [
                PostnatalVisit(p.visit_id, p.mother_id, p.visit_date, p.applied_at)
                for p in rows(
                    select(ReportingPostnatal).where(
                        live[ReportingPostnatal],
                        ReportingPostnatal.mother_id.in_(mothers),  # type: ignore[attr-defined]
                        ReportingPostnatal.visit_date.between(  # type: ignore[attr-defined]
                            start, end + dt.timedelta(days=PNC_DAYS[1])
                        ),
                    )
                )
            ]
            if "MATERNAL_DEATHS" in codes:
                dead = [
                    Mother(m.mother_id, _parse_residences(m.residences), m.died_on, m.applied_at)
                    for m in rows(
                        select(ReportingMother).where(
                            live[ReportingMother],
                            ReportingMother.died_on.between(start, end),  # type: ignore[union-attr]
                        )
                    )
                ]
                ids = [m.mother_id for m in dead]
                facts.mothers = dead
                facts.maternity = [
                    *(
                        _pregnancy(p)
                        for p in rows(
                            select(ReportingPregnancy).where(
                                live[ReportingPregnancy],
                                ReportingPregnancy.mother_id.in_(ids),  # type: ignore[attr-defined]
                            )
                        )
                    ),
                    *(
                        _delivery(b)
                        for b in rows(
                            select(ReportingBirth).where(
                                live[ReportingBirth],
                                ReportingBirth.mother_id.in_(ids),  # type: ignore[attr-defined]
                            )
                        )
                    ),
                ]
            if "VITA" in codes:
                facts.vitamin_a = [
                    VitaminA(
                        v.visit_id,
                        v.child_id,
                        v.facility,
                        v.visit_date,
                        v.residence,
                        v.birth_date,
                        _sex(v.sex),
                        v.applied_at,
                    )
                    for v in rows(
                        select(ReportingVitaminA).where(
                            live[ReportingVitaminA],
                            ReportingVitaminA.given == True,  # noqa: E712 - SQL expression
                            ReportingVitaminA.visit_date.between(start, end),  # type: ignore[attr-defined]
                        )
                    )
                ]
        if "VITA" in codes:
            oldest = start - dt.timedelta(days=38 * 31)
            facts.children = self._children(ReportingChild.birth_date > oldest)
        if codes & {"NEONATAL_DEATHS", "U5_DEATHS"}:
            facts.child_deaths = self.children_dead_during(period)
        return facts


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _sex(value: str | None) -> Sex | None:
    return "M" if value == "M" else "F" if value == "F" else None


def _newest(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def _residences(data: r.PersonState) -> str:
    return json.dumps(
        [
            [p.effective_date.isoformat() if p.effective_date else None, p.residence]
            for p in data.residences
        ]
    )


def _parse_residences(text: str) -> tuple[tuple[dt.date | None, str], ...]:
    return tuple(
        (dt.date.fromisoformat(since) if since else None, code) for since, code in json.loads(text)
    )


Row = TypeVar("Row", bound=SQLModel)


def _upsert(
    session: Session, model: type[Row], key: str, data: Revisioned, **values: object
) -> None:
    """Keep the highest revision of one record (an equal one is the same record again)."""
    row = session.get(model, key)
    if row is not None and data.revision < row.revision:  # type: ignore[attr-defined]
        return
    values = {"revision": data.revision, "voided": data.voided, "applied_at": _now()} | values
    if row is None:
        pk = model.__table__.primary_key.columns.keys()[0]  # type: ignore[attr-defined]
        row = model(**{pk: key}, **values)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    session.add(row)


def _pregnancy(p: ReportingPregnancy) -> Pregnancy:
    return Pregnancy(
        p.pregnancy_id, p.mother_id, p.edd, p.lmp_date, p.registered_on, p.residence, p.applied_at
    )


def _antenatal(v: ReportingAntenatal) -> AntenatalVisit:
    return AntenatalVisit(
        v.visit_id,
        v.pregnancy_id,
        v.facility,
        v.visit_date,
        v.residence,
        v.gestational_weeks,
        v.hiv,
        v.syphilis,
        v.hepb,
        v.applied_at,
    )


def _delivery(b: ReportingBirth) -> Delivery:
    babies = tuple(
        Baby(x["child_id"], x["sex"], x["live"], x.get("weight_g")) for x in json.loads(b.babies)
    )
    return Delivery(
        b.birth_id,
        b.pregnancy_id,
        b.mother_id,
        b.facility,
        b.birth_date,
        b.residence,
        b.place,
        b.attendant,
        babies,
        b.applied_at,
    )
