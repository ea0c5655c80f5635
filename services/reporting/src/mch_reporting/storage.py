"""The reporting service's copy of the facts it counts (rebuilt by replaying the topics)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from mch_events.idempotency import ProcessedEvent
from mch_events.outbox import OutboxMessage


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
    ProcessedEvent,
    OutboxMessage,
]
