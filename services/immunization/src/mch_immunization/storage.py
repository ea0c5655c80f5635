"""The immunization service's tables: what it keeps of ``mch.records.v1`` (highest revision wins, a
voided record counts nowhere), each person's current forecast, the overdue doses defaulter lists
are read from, and the schedules uploaded by operators."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from mch_events.idempotency import processed_table
from mch_events.outbox import outbox_table
from mch_servicekit.access.audit import access_log_table
from mch_servicekit.erasure import erasure_table

SERVICE = "immunization"
"""The name the service's outbox and processed-event tables carry (``immunization_outbox``, ...)."""


class ImmunizationPerson(SQLModel, table=True):
    """A mother or a child (``PersonState``), and the forecast last made for them."""

    __tablename__ = "immunization_person"

    person_id: str = Field(primary_key=True, max_length=36)
    role: str = Field(max_length=8)
    sex: str = Field(max_length=1)
    birth_date: dt.date
    residences: str
    """JSON list of ``[effective date or null, org-unit code]``."""
    died_on: dt.date | None = None
    revision: int = 1
    voided: bool = False

    pending: bool = True
    """Records of the person (or the org-unit tree) changed since the forecast: make it again."""
    forecast_on: dt.date | None = None
    """The day the forecast was made for."""
    schedule_version: str | None = Field(default=None, max_length=128)
    residence: str | None = Field(default=None, max_length=32)
    """The residence on ``forecast_on``."""
    forecast: str | None = None
    """The engine's output document (JSON); None while the person counts nowhere."""
    status: str = "[]"
    """The facts that held at that forecast (``domain.status.to_json``): what changes compare to."""


class ImmunizationDose(SQLModel, table=True):
    """An ``ImmunizationRecorded``, filed under the person it counts for (merges followed)."""

    __tablename__ = "immunization_dose"

    immunization_id: str = Field(primary_key=True, max_length=36)
    person_id: str = Field(max_length=36, index=True)
    vaccine: str = Field(max_length=16)
    date: dt.date
    revision: int = 1
    voided: bool = False


class ImmunizationPregnancy(SQLModel, table=True):
    __tablename__ = "immunization_pregnancy"

    pregnancy_id: str = Field(primary_key=True, max_length=36)
    mother_id: str = Field(max_length=36, index=True)
    edd: dt.date
    revision: int = 1
    voided: bool = False


class ImmunizationBirth(SQLModel, table=True):
    """A delivery (``BirthRecorded``): whether the mother was protected against tetanus on it."""

    __tablename__ = "immunization_birth"

    birth_id: str = Field(primary_key=True, max_length=36)
    pregnancy_id: str = Field(max_length=36)
    mother_id: str = Field(max_length=36, index=True)
    birth_date: dt.date
    revision: int = 1
    voided: bool = False


class ImmunizationMerge(SQLModel, table=True):
    """``duplicate_id`` is the same person as ``surviving_id``: its records count for the latter."""

    __tablename__ = "immunization_merge"

    duplicate_id: str = Field(primary_key=True, max_length=36)
    surviving_id: str = Field(max_length=36)


class ImmunizationOverdue(SQLModel, table=True):
    """A dose found overdue, from ``since`` until ``until`` (None while it still is): the published
    ``dose_overdue`` facts, queryable by residence for defaulter lists."""

    __tablename__ = "immunization_overdue"

    person_id: str = Field(primary_key=True, max_length=36)
    vaccine: str = Field(primary_key=True, max_length=16)
    dose: int = Field(primary_key=True)
    since: dt.date
    until: dt.date | None = None
    residence: str = Field(max_length=32)
    """The person's residence while overdue (frozen when it stops)."""

    __table_args__ = (Index("ix_immunization_overdue_residence", "residence", "since"),)


class ImmunizationOrgUnit(SQLModel, table=True):
    __tablename__ = "immunization_orgunit"

    code: str = Field(primary_key=True, max_length=32)
    valid_from: dt.date = Field(primary_key=True)
    version: str
    """The ``OrgUnit`` contract as JSON."""


class ImmunizationSchedule(SQLModel, table=True):
    """A schedule uploaded with ``POST /v1/schedules`` (it outranks the shipped and operator files)."""

    __tablename__ = "immunization_schedule"

    schedule_id: str = Field(primary_key=True, max_length=64)
    version: str = Field(max_length=64)
    document: str
    uploaded_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))


MODELS: list[type[SQLModel]] = [
    ImmunizationPerson,
    ImmunizationDose,
    ImmunizationPregnancy,
    ImmunizationBirth,
    ImmunizationMerge,
    ImmunizationOverdue,
    ImmunizationOrgUnit,
    ImmunizationSchedule,
    access_log_table(SERVICE),
    erasure_table(SERVICE),
    processed_table(SERVICE),
    outbox_table(SERVICE),
]
