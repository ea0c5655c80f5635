"""The reporting service's copy of the facts it counts (rebuilt by replaying the topics), and the
set-based reads that turn a period's facts into the plain data the indicator rules take."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Engine, Index, and_, func, or_, select, union
from sqlmodel import Field, Session, SQLModel

from mch_events.idempotency import processed_table
from mch_events.outbox import outbox_table

from .domain.growth_indicators import Child, Measured
from .domain.immunization_indicators import DOSES, ImmunizationFacts, StatusFact
from .domain.indicators import Sex, View
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
)
from .domain.periods import Period

SERVICE = "reporting"
"""The name the service's outbox and processed-event tables carry (``reporting_outbox``, ...)."""


class ReportingOrgUnit(SQLModel, table=True):
    __tablename__ = "reporting_orgunit"

    code: str = Field(primary_key=True, max_length=32)
    valid_from: dt.date = Field(primary_key=True)
    version: str
    """The ``OrgUnit`` contract as JSON."""


class ReportingChild(SQLModel, table=True):
    __tablename__ = "reporting_child"

    child_id: str = Field(primary_key=True, max_length=36)
    birth_date: dt.date = Field(index=True)
    registered_on: dt.date
    residences: str
    """JSON list of [effective_date or null, commune code]."""
    died_on: dt.date | None = None
    sex: str | None = Field(default=None, max_length=1)
    revision: int = 1
    voided: bool = False
    applied_at: dt.datetime | None = None
    """When the newest event of this row was applied: the ``as_of`` of what it is counted in."""


class ReportingGrowth(SQLModel, table=True):
    """A child visit's assessment; z-scores are left out (None) where undefined or flagged."""

    __tablename__ = "reporting_growth"

    visit_id: str = Field(primary_key=True, max_length=36)
    child_id: str = Field(max_length=36)
    visit_date: dt.date
    birth_date: dt.date
    residence: str = Field(max_length=32)
    facility: str = Field(max_length=32)
    waz: float | None = None
    lhaz: float | None = None
    whz: float | None = None
    oedema: bool = False
    sex: str | None = Field(default=None, max_length=1)
    reference: str | None = None
    engine_version: str | None = None
    revision: int = 1
    voided: bool = False
    applied_at: dt.datetime | None = None

    __table_args__ = (Index("ix_reporting_growth_date", "visit_date"),)


class ReportingCare(SQLModel, table=True):
    """A contact with a person (a child visit, a dose, a birth, a postnatal check): the first one
    dates the person's registration when the registration itself says later."""

    __tablename__ = "reporting_care"

    record_id: str = Field(primary_key=True, max_length=36)
    person_id: str = Field(primary_key=True, max_length=36)
    kind: str = Field(max_length=16)
    care_date: dt.date
    facility: str | None = Field(default=None, max_length=32)
    revision: int = 1
    voided: bool = False
    applied_at: dt.datetime | None = None

    __table_args__ = (Index("ix_reporting_care_person", "person_id", "care_date"),)


class ReportingMother(SQLModel, table=True):
    __tablename__ = "reporting_mother"

    mother_id: str = Field(primary_key=True, max_length=36)
    residences: str
    """JSON list of [effective_date or null, commune code]."""
    died_on: dt.date | None = Field(default=None, index=True)
    revision: int = 1
    voided: bool = False
    applied_at: dt.datetime | None = None


class ReportingPregnancy(SQLModel, table=True):
    __tablename__ = "reporting_pregnancy"

    pregnancy_id: str = Field(primary_key=True, max_length=36)
    mother_id: str = Field(max_length=36, index=True)
    edd: dt.date
    lmp_date: dt.date | None = None
    registered_on: dt.date = Field(index=True)
    residence: str = Field(max_length=32)
    revision: int = 1
    voided: bool = False
    applied_at: dt.datetime | None = None


class ReportingAntenatal(SQLModel, table=True):
    __tablename__ = "reporting_antenatal"

    visit_id: str = Field(primary_key=True, max_length=36)
    pregnancy_id: str = Field(max_length=36, index=True)
    facility: str = Field(max_length=32)
    visit_date: dt.date
    residence: str = Field(max_length=32)
    gestational_weeks: float | None = None
    hiv: bool = False
    syphilis: bool = False
    hepb: bool = False
    revision: int = 1
    voided: bool = False
    applied_at: dt.datetime | None = None


class ReportingBirth(SQLModel, table=True):
    __tablename__ = "reporting_birth"

    birth_id: str = Field(primary_key=True, max_length=36)
    pregnancy_id: str = Field(max_length=36, index=True)
    mother_id: str = Field(max_length=36, index=True)
    facility: str = Field(max_length=32)
    birth_date: dt.date = Field(index=True)
    residence: str = Field(max_length=32)
    place: str = Field(max_length=16)
    attendant: str = Field(max_length=16)
    babies: str
    """JSON list of {child_id, sex, live, weight_g}."""
    revision: int = 1
    voided: bool = False
    applied_at: dt.datetime | None = None


class ReportingPostnatal(SQLModel, table=True):
    __tablename__ = "reporting_postnatal"

    visit_id: str = Field(primary_key=True, max_length=36)
    mother_id: str = Field(max_length=36, index=True)
    visit_date: dt.date
    revision: int = 1
    voided: bool = False
    applied_at: dt.datetime | None = None


class ReportingVitaminA(SQLModel, table=True):
    """A child visit and whether it gave vitamin A (kept either way, so an amendment that
    withdraws the dose is applied)."""

    __tablename__ = "reporting_vitamin_a"

    visit_id: str = Field(primary_key=True, max_length=36)
    child_id: str = Field(max_length=36)
    facility: str = Field(max_length=32)
    visit_date: dt.date = Field(index=True)
    residence: str = Field(max_length=32)
    birth_date: dt.date
    sex: str | None = Field(default=None, max_length=1)
    given: bool = False
    revision: int = 1
    voided: bool = False
    applied_at: dt.datetime | None = None


class ReportingImmunizationFact(SQLModel, table=True):
    """The latest state of one fact of a person's immunization status, as the immunization service
    published it (its events for one person arrive in order, so the latest wins). Absent parts of
    the fact's name are stored as ``""`` and ``0``."""

    __tablename__ = "reporting_immunization_fact"

    person_id: str = Field(primary_key=True, max_length=36)
    status: str = Field(primary_key=True, max_length=32)
    vaccine: str = Field(primary_key=True, max_length=32)
    dose: int = Field(primary_key=True)
    birth_id: str = Field(primary_key=True, max_length=36)
    holds: bool
    since: dt.date
    until: dt.date | None = None
    population: str = Field(max_length=8)
    schedule_version: str
    applied_at: dt.datetime | None = None

    __table_args__ = (Index("ix_reporting_immunization_fact_birth", "birth_id"),)


MODELS: list[type[SQLModel]] = [
    ReportingImmunizationFact,
    ReportingMother,
    ReportingPregnancy,
    ReportingAntenatal,
    ReportingBirth,
    ReportingPostnatal,
    ReportingVitaminA,
    ReportingOrgUnit,
    ReportingChild,
    ReportingGrowth,
    ReportingCare,
    processed_table(SERVICE),
    outbox_table(SERVICE),
]


DOSE_CODES = frozenset(DOSES)


class FactsReader:
    """Reads what the indicators of one period need, in a few queries per question."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def measurements(self, period: Period) -> list[Measured]:
        g = ReportingGrowth
        with Session(self._engine) as session:
            rows = session.execute(
                select(
                    g.child_id,
                    g.visit_id,
                    g.visit_date,
                    g.birth_date,
                    g.residence,
                    g.facility,
                    g.waz,
                    g.lhaz,
                    g.whz,
                    g.oedema,
                    g.sex,
                    g.applied_at,
                    g.reference,
                    g.engine_version,
                ).where(
                    g.visit_date >= period.start,
                    g.visit_date <= period.end,
                    g.voided == False,  # noqa: E712 - SQL expression
                )
            ).all()
        return [
            Measured(*row[:10], _sex(row[10]), *row[11:])  # type: ignore[misc]
            for row in rows
        ]

    def children_born_after(self, day: dt.date) -> list[Child]:
        """Registered children born after ``day``, with their first care."""
        return self._children(ReportingChild.birth_date > day)

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
        c = ReportingChild
        with Session(self._engine) as session:
            rows = session.execute(
                select(
                    c.child_id,
                    c.birth_date,
                    c.registered_on,
                    c.residences,
                    c.died_on,
                    first_care.c.first_care,
                    c.sex,
                    c.applied_at,
                    first_care.c.care_applied_at,
                )
                .outerjoin(first_care, first_care.c.person_id == c.child_id)
                .where(c.voided == False, *where)  # noqa: E712 - SQL expression
            ).all()
        return [
            Child(
                child_id=child_id,
                birth_date=born,
                registered_on=registered_on,
                residences=_parse_residences(residences),
                died_on=died_on,
                first_care=first,
                sex=_sex(sex),
                applied_at=_newest(applied_at, care_applied_at),
            )
            for (
                child_id,
                born,
                registered_on,
                residences,
                died_on,
                first,
                sex,
                applied_at,
                care_applied_at,
            ) in rows
        ]

    def immunization_facts(
        self, period: Period, codes: set[str], view: View, children: Sequence[Child]
    ) -> ImmunizationFacts:
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
        facts.children = list(children)
        if doses:
            # A dose given to a child older than the window still counts.
            known = {c.child_id for c in children}
            facts.children += [
                c
                for c in self._children(ReportingChild.child_id.in_(dosed), ~young)  # type: ignore[attr-defined]
                if c.child_id not in known
            ]
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

    def maternal_facts(
        self, period: Period, codes: set[str], children: Sequence[Child]
    ) -> MaternalFacts:
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
        facts.children = children
        facts.child_deaths = [c for c in children if c.died_on and period.contains(c.died_on)]
        return facts


def _sex(value: str | None) -> Sex | None:
    return "M" if value == "M" else "F" if value == "F" else None


def _newest(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def _parse_residences(text: str) -> tuple[tuple[dt.date | None, str], ...]:
    return tuple(
        (dt.date.fromisoformat(since) if since else None, code) for since, code in json.loads(text)
    )


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
