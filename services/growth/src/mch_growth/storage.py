"""The growth service's tables: each child's visits with their assessments."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from mch_events.idempotency import processed_table
from mch_events.outbox import outbox_table
from mch_servicekit.access.audit import access_log_table
from mch_servicekit.erasure import erasure_table

SERVICE = "growth"
"""The name the service's outbox and processed-event tables carry (``growth_outbox``, ...)."""


class GrowthChild(SQLModel, table=True):
    __tablename__ = "growth_child"

    child_id: str = Field(primary_key=True, max_length=36)
    sex: str = Field(max_length=1)
    birth_date: dt.date
    revision: int = 1
    voided: bool = False
    residence: str | None = Field(default=None, max_length=32)
    """Where the child lives now (decides who may see its growth)."""


class GrowthOrgUnit(SQLModel, table=True):
    """Org-unit versions as records publishes them: the tree that decides who may see a child."""

    __tablename__ = "growth_orgunit"

    code: str = Field(primary_key=True, max_length=32)
    valid_from: dt.date = Field(primary_key=True)
    version: str
    """The ``OrgUnit`` contract as JSON."""


class GrowthVisit(SQLModel, table=True):
    """A child visit as recorded, and its assessment (the JSON of the published ``GrowthAssessed``)."""

    __tablename__ = "growth_visit"

    visit_id: str = Field(primary_key=True, max_length=36)
    child_id: str = Field(max_length=36)
    visit_date: dt.date
    revision: int = 1
    voided: bool = False
    weight_kg: float | None = None
    oedema: bool = False
    age_days: int
    faltering: bool = False
    """As published in ``assessment``; kept apart so a new visit can tell which others change."""
    record: str
    """The ``ChildVisitRecorded`` this assessment was made from."""
    assessment: str
    """The ``GrowthAssessed`` published for it."""

    __table_args__ = (Index("ix_growth_visit_child", "child_id", "visit_date"),)


MODELS: list[type[SQLModel]] = [
    GrowthChild,
    GrowthOrgUnit,
    GrowthVisit,
    access_log_table(SERVICE),
    erasure_table(SERVICE),
    processed_table(SERVICE),
    outbox_table(SERVICE),
]
