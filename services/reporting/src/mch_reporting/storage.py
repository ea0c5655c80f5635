"""The reporting service's copy of the facts it counts (rebuilt by replaying the topics), and the
set-based reads that turn a period's facts into the plain data the indicator rules take."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet

from sqlalchemy import BigInteger, ColumnElement, Connection, Engine, Index, and_, func, or_, union
from sqlalchemy import select as select_columns
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from mch_events.idempotency import processed_table
from mch_events.outbox import outbox_table
from mch_servicekit.db import reads_only

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


class ReportingLogPosition(SQLModel, table=True):
    """How far into each partition of the log the tables go: the offset after the last record
    applied, written in the same transaction as what it applied (never lowered). A rebuild swaps
    its tables in only when they go at least as far in every partition."""

    __tablename__ = "reporting_log_position"

    topic: str = Field(primary_key=True, max_length=249)
    partition: int = Field(primary_key=True)
    next_offset: int = Field(sa_type=BigInteger)


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
    ReportingLogPosition,
    processed_table(SERVICE),
    outbox_table(SERVICE),
]

REBUILT: list[type[SQLModel]] = MODELS[: MODELS.index(ReportingLogPosition) + 1]
"""What a rebuild makes afresh and swaps in: every table of facts, their log positions (and the
event ids applied, ``processed_table(SERVICE)``, handled beside them); never the outbox."""


DOSE_CODES = frozenset(DOSES)


def advance_positions(session: Session, positions: Mapping[tuple[str, int], int]) -> None:
    """Move the kept positions forward to ``positions`` (a position never goes back: a batch
    consumed again after a rebalance stays within what is applied). Executed at once, so the
    transaction holds these rows from its start (see ``rebuild``: the swap takes them first)."""
    advance(session.connection(), positions)


def advance(conn: Connection, positions: Mapping[tuple[str, int], int]) -> None:
    """``advance_positions`` on a connection."""
    if not positions:
        return
    table = ReportingLogPosition.__table__  # type: ignore[attr-defined]
    rows = [
        {"topic": topic, "partition": partition, "next_offset": offset}
        for (topic, partition), offset in sorted(positions.items())
    ]
    if conn.dialect.name == "postgresql":
        pg = pg_insert(table)
        conn.execute(
            pg.on_conflict_do_update(
                index_elements=["topic", "partition"],
                set_={"next_offset": func.greatest(table.c.next_offset, pg.excluded.next_offset)},
            ),
            rows,
        )
    else:
        lite = sqlite_insert(table)
        conn.execute(
            lite.on_conflict_do_update(
                index_elements=["topic", "partition"],
                set_={"next_offset": func.max(table.c.next_offset, lite.excluded.next_offset)},
            ),
            rows,
        )


def positions_of(session: Session) -> dict[tuple[str, int], int]:
    """The kept positions, (topic, partition) → the offset after the last record applied."""
    p = ReportingLogPosition
    rows = session.exec(select(p.topic, p.partition, p.next_offset)).all()
    return {(topic, partition): offset for topic, partition, offset in rows}


class FactsReader:
    """Reads what the indicators of one period need, in a few queries per question."""

    def __init__(self, engine: Engine) -> None:
        self._engine = reads_only(engine)

    def log_total(self) -> int:
        """How far into the log the facts go, all partitions together: it moves with every batch
        committed, by this process or another one consuming beside it."""
        with Session(self._engine) as session:
            total = session.exec(select(func.sum(ReportingLogPosition.next_offset))).one()
        return int(total or 0)

    # The two hot reads select columns, not ORM rows (building a row per child costs several times
    # the query). SQLModel's ``select`` is typed for four columns at most, so these take
    # SQLAlchemy's, which returns plain rows through ``Session.execute``.
    def measurements(self, period: Period) -> list[Measured]:
        g = ReportingGrowth
        with Session(self._engine) as session:
            rows = session.execute(
                select_columns(
                    col(g.child_id),
                    col(g.visit_id),
                    col(g.visit_date),
                    col(g.birth_date),
                    col(g.residence),
                    col(g.facility),
                    col(g.waz),
                    col(g.lhaz),
                    col(g.whz),
                    col(g.oedema),
                    col(g.sex),
                    col(g.applied_at),
                    col(g.reference),
                    col(g.engine_version),
                ).where(
                    col(g.visit_date) >= period.start,
                    col(g.visit_date) <= period.end,
                    col(g.voided) == False,  # noqa: E712 - SQL expression
                )
            ).all()
        return [
            Measured(
                child_id=child_id,
                visit_id=visit_id,
                visit_date=visit_date,
                birth_date=birth_date,
                residence=residence,
                facility=facility,
                waz=waz,
                lhaz=lhaz,
                whz=whz,
                oedema=oedema,
                sex=_sex(sex),
                applied_at=applied_at,
                reference=reference,
                engine_version=engine_version,
            )
            for (
                child_id,
                visit_id,
                visit_date,
                birth_date,
                residence,
                facility,
                waz,
                lhaz,
                whz,
                oedema,
                sex,
                applied_at,
                reference,
                engine_version,
            ) in rows
        ]

    def children_born_after(self, day: dt.date) -> list[Child]:
        """Registered children born after ``day``, with their first care."""
        return self._children(col(ReportingChild.birth_date) > day)

    def _children(self, *where: ColumnElement[bool]) -> list[Child]:
        wanted = select(ReportingChild.child_id).where(
            col(ReportingChild.voided) == False,  # noqa: E712 - SQL expression
            *where,
        )
        first_care = (
            select(
                col(ReportingCare.person_id),
                func.min(ReportingCare.care_date)
                .filter(col(ReportingCare.voided) == False)  # noqa: E712 - SQL expression
                .label("first_care"),
                # A voided contact changes the registration date too: it is part of the as-of.
                func.max(ReportingCare.applied_at).label("care_applied_at"),
            )
            .where(col(ReportingCare.person_id).in_(wanted))
            .group_by(col(ReportingCare.person_id))
            .subquery()
        )
        c = ReportingChild
        with Session(self._engine) as session:
            rows = session.execute(
                select_columns(
                    col(c.child_id),
                    col(c.birth_date),
                    col(c.registered_on),
                    col(c.residences),
                    col(c.died_on),
                    first_care.c.first_care,
                    col(c.sex),
                    col(c.applied_at),
                    first_care.c.care_applied_at,
                )
                .outerjoin(first_care, first_care.c.person_id == col(c.child_id))
                .where(col(c.voided) == False, *where)  # noqa: E712 - SQL expression
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
        self,
        period: Period,
        codes: AbstractSet[str],
        view: View,
        children: Sequence[Child],
        *,
        born_after: dt.date,
    ) -> ImmunizationFacts:
        """The children and deliveries the immunization indicators of ``period`` count, with the
        status facts they need, in a few set-based queries; ``children`` are those born after
        ``born_after`` (``oldest_counted`` of the periods asked)."""
        start, end = period.start, period.end
        facts = ImmunizationFacts()
        fact = ReportingImmunizationFact
        doses = bool(codes & (DOSE_CODES | {"PENTA_DROPOUT"}))
        population = view == "residence" and bool(codes & (DOSE_CODES | {"FIC", "DEFAULTERS"}))
        dosed = select(fact.person_id).where(
            col(fact.status) == "dose_valid",
            col(fact.holds) == True,  # noqa: E712 - SQL expression
            col(fact.since).between(start, end),
        )
        # The children of the population (``children``); and whoever was given a dose in it.
        young = col(ReportingChild.birth_date) > born_after
        facts.children = list(children)
        if doses:
            # A dose given to a child older than the window still counts.
            known = {c.child_id for c in children}
            facts.children += [
                c
                for c in self._children(col(ReportingChild.child_id).in_(dosed), ~young)
                if c.child_id not in known
            ]
        delivered = (
            col(ReportingBirth.voided) == False,  # noqa: E712 - SQL expression
            col(ReportingBirth.birth_date).between(start, end),
        )
        which = _status_facts_wanted(
            codes,
            period,
            young=young if population else None,
            mothers=select(ReportingBirth.mother_id).where(*delivered),
            doses=doses,
        )
        with Session(self._engine) as session:
            if codes & {"TT_PAB", "HEPB0_24H"}:
                facts.deliveries = [
                    _delivery(b)
                    for b in session.exec(select(ReportingBirth).where(*delivered)).all()
                ]
            rows = session.exec(select(fact).where(or_(*which))).all() if which else []
            if doses and view == "facility":
                recorded = session.exec(
                    select(
                        col(ReportingCare.person_id),
                        col(ReportingCare.care_date),
                        col(ReportingCare.facility),
                    )
                    .where(
                        col(ReportingCare.kind) == "dose",
                        col(ReportingCare.voided) == False,  # noqa: E712 - SQL expression
                        col(ReportingCare.care_date).between(start, end),
                        col(ReportingCare.person_id).in_(dosed),
                    )
                    .order_by(col(ReportingCare.record_id).desc())
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
            for f in rows
        ]
        return facts

    def maternal_facts(
        self, period: Period, codes: AbstractSet[str], children: Sequence[Child]
    ) -> MaternalFacts:
        """Everything the maternal indicators of ``period`` read, in a few set-based queries."""
        start, end = period.start, period.end
        # Pregnancies registered, first seen or delivered in the period.
        first_visits = (
            select(ReportingAntenatal.pregnancy_id)
            .where(col(ReportingAntenatal.voided) == False)  # noqa: E712 - SQL expression
            .group_by(col(ReportingAntenatal.pregnancy_id))
            .having(func.min(ReportingAntenatal.visit_date).between(start, end))
        )
        registered = select(ReportingPregnancy.pregnancy_id).where(
            col(ReportingPregnancy.voided) == False,  # noqa: E712 - SQL expression
            col(ReportingPregnancy.registered_on).between(start, end),
        )
        delivered = (
            col(ReportingBirth.voided) == False,  # noqa: E712 - SQL expression
            col(ReportingBirth.birth_date).between(start, end),
        )
        relevant = union(
            first_visits, registered, select(ReportingBirth.pregnancy_id).where(*delivered)
        ).subquery()
        in_relevant = select(relevant.c[0])
        facts = MaternalFacts()
        with Session(self._engine) as session:
            facts.pregnancies = [
                _pregnancy(p)
                for p in session.exec(
                    select(ReportingPregnancy).where(
                        col(ReportingPregnancy.voided) == False,  # noqa: E712 - SQL expression
                        col(ReportingPregnancy.pregnancy_id).in_(in_relevant),
                    )
                )
            ]
            facts.visits = [
                _antenatal(v)
                for v in session.exec(
                    select(ReportingAntenatal).where(
                        col(ReportingAntenatal.voided) == False,  # noqa: E712 - SQL expression
                        col(ReportingAntenatal.pregnancy_id).in_(in_relevant),
                    )
                )
            ]
            facts.deliveries = [
                _delivery(b) for b in session.exec(select(ReportingBirth).where(*delivered))
            ]
            mothers = select(ReportingBirth.mother_id).where(*delivered)
            facts.postnatal = [
                PostnatalVisit(p.visit_id, p.mother_id, p.visit_date, p.applied_at)
                for p in session.exec(
                    select(ReportingPostnatal).where(
                        col(ReportingPostnatal.voided) == False,  # noqa: E712 - SQL expression
                        col(ReportingPostnatal.mother_id).in_(mothers),
                        col(ReportingPostnatal.visit_date).between(
                            start, end + dt.timedelta(days=PNC_DAYS[1])
                        ),
                    )
                )
            ]
            if "MATERNAL_DEATHS" in codes:
                facts.mothers, facts.maternity = _maternal_deaths(session, period)
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
                    for v in session.exec(
                        select(ReportingVitaminA).where(
                            col(ReportingVitaminA.voided) == False,  # noqa: E712 - SQL expression
                            col(ReportingVitaminA.given) == True,  # noqa: E712 - SQL expression
                            col(ReportingVitaminA.visit_date).between(start, end),
                        )
                    )
                ]
        facts.children = children
        facts.child_deaths = [c for c in children if c.died_on and period.contains(c.died_on)]
        return facts


def _status_facts_wanted(
    codes: AbstractSet[str],
    period: Period,
    *,
    young: ColumnElement[bool] | None,
    mothers: SelectOfScalar[str],
    doses: bool,
) -> list[ColumnElement[bool]]:
    """Which immunization status facts the indicators in ``codes`` read: ``young`` picks the
    children of the population (None when the view counts none), ``mothers`` those who delivered
    in ``period``."""
    start, end = period.start, period.end
    fact = ReportingImmunizationFact
    which: list[ColumnElement[bool]] = []
    if young is not None and codes & {"FIC", "DEFAULTERS"}:
        which.append(
            and_(
                col(fact.status).in_(["fully_immunized", "dose_overdue"]),
                col(fact.person_id).in_(select(ReportingChild.child_id).where(young)),
            )
        )
    if "TT_PAB" in codes:
        which.append(
            and_(col(fact.status) == "protected_at_birth", col(fact.person_id).in_(mothers))
        )
    if doses:
        which.append(and_(col(fact.status) == "dose_valid", col(fact.since).between(start, end)))
    if "PENTA_DROPOUT" in codes:
        first = select(fact.person_id).where(
            col(fact.status) == "dose_valid",
            col(fact.vaccine) == "PENTA",
            col(fact.dose) == 1,
            col(fact.since).between(start, end),
        )
        which.append(
            and_(
                col(fact.status) == "dose_valid",
                col(fact.vaccine) == "PENTA",
                col(fact.dose) == 3,
                col(fact.person_id).in_(first),
            )
        )
    if "HEPB0_24H" in codes:
        which.append(
            and_(
                col(fact.status) == "dose_timely",
                col(fact.vaccine) == "HEPB0",
                # Timely means within days of the birth: a week past the period covers it.
                col(fact.since).between(start, end + dt.timedelta(days=7)),
            )
        )
    return which


def _maternal_deaths(
    session: Session, period: Period
) -> tuple[list[Mother], list[Pregnancy | Delivery]]:
    """The mothers who died in ``period``, and their pregnancies and deliveries."""
    dead = [
        Mother(m.mother_id, _parse_residences(m.residences), m.died_on, m.applied_at)
        for m in session.exec(
            select(ReportingMother).where(
                col(ReportingMother.voided) == False,  # noqa: E712 - SQL expression
                col(ReportingMother.died_on).between(period.start, period.end),
            )
        )
    ]
    ids = [m.mother_id for m in dead]
    pregnancies = session.exec(
        select(ReportingPregnancy).where(
            col(ReportingPregnancy.voided) == False,  # noqa: E712 - SQL expression
            col(ReportingPregnancy.mother_id).in_(ids),
        )
    )
    births = session.exec(
        select(ReportingBirth).where(
            col(ReportingBirth.voided) == False,  # noqa: E712 - SQL expression
            col(ReportingBirth.mother_id).in_(ids),
        )
    )
    return dead, [*(_pregnancy(p) for p in pregnancies), *(_delivery(b) for b in births)]


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
