"""The records service's tables. The database is the system of record: everything published on
``mch.records.v1`` can be rebuilt from it."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from pydantic_core import PydanticUndefined
from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from mch_events.idempotency import processed_table
from mch_events.outbox import outbox_table

SERVICE = "records"
"""The name the service's outbox and processed-event tables carry (``records_outbox``, ...)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Person(SQLModel, table=True):
    """A mother or a child. External identifiers are attributes with uniqueness rules, not keys."""

    __tablename__ = "records_person"

    person_id: str = Field(primary_key=True, max_length=36)
    role: str = Field(max_length=8)
    sex: str = Field(max_length=1)
    birth_date: dt.date
    registered_on: dt.date
    """The earliest registration date received; a child created by a delivery: its birth date."""
    mother_id: str | None = Field(default=None, index=True, max_length=36)
    birth_id: str | None = Field(default=None, index=True, max_length=36)
    """The delivery that created this child, when it was created by one."""
    died_on: dt.date | None = None
    died_revision: int = 0
    """The revision of the death event ``died_on`` comes from (0: no death recorded)."""
    merged_into: str | None = Field(default=None, index=True, max_length=36)
    revision: int = 1
    """The revision published for this person: the registration's, or for a child created by a
    delivery the higher of the registration's and the delivery's."""
    registration_revision: int = 1
    """The revision of the registration event stored (0: created by a delivery, never registered
    on its own)."""
    voided: bool = False
    """Entered in error (a void of this person or of the delivery that created it), or a child
    the current revision of its delivery no longer lists as live-born."""
    full_name: str | None = Field(default=None, max_length=200)
    name_key: str | None = Field(default=None, index=True, max_length=200)
    """The name as compared when looking for duplicates (case, spacing and Unicode form ignored)."""
    handbook_no: str | None = Field(default=None, index=True, max_length=64)
    national_id: str | None = Field(default=None, index=True, max_length=12)
    niis_id: str | None = Field(default=None, index=True, max_length=64)
    phone: str | None = Field(default=None, max_length=20)
    ethnicity: str | None = Field(default=None, max_length=200)
    source: str = Field(max_length=32)
    updated_at: dt.datetime = Field(default_factory=_now)
    erased_on: dt.date | None = None
    """Anonymised on a lawful request that day (``subject``): identifiers are cleared and a
    registration arriving later brings none back."""


class Residence(SQLModel, table=True):
    """Where a person lives from a date on (``effective_date`` None: since registration)."""

    __tablename__ = "records_residence"

    id: int | None = Field(default=None, primary_key=True)
    person_id: str = Field(index=True, max_length=36)
    effective_date: dt.date | None = None
    residence: str = Field(max_length=32)
    revision: int = 1
    """For a change: the revision of the event it comes from (a correction re-sends it higher)."""


class Record(SQLModel, table=True):
    """A pregnancy, visit, delivery or dose: the facility's data as accepted, at its best revision."""

    __tablename__ = "records_record"

    record_id: str = Field(primary_key=True, max_length=36)
    kind: str = Field(max_length=24)
    person_id: str = Field(max_length=36)
    care_date: dt.date
    facility: str | None = Field(default=None, max_length=32)
    source: str = Field(max_length=32)
    revision: int = 1
    voided: bool = False
    """Voided itself, or the person it is about is voided."""
    data: str
    updated_at: dt.datetime = Field(default_factory=_now)

    __table_args__ = (Index("ix_records_record_person", "person_id", "care_date"),)


class Void(SQLModel, table=True):
    """A record or person entered in error. Kept apart from the flags it sets, so that a later
    revision of the record cannot bring it back and a record arriving later for a voided person is
    voided too."""

    __tablename__ = "records_void"

    target_id: str = Field(primary_key=True, max_length=36)
    event_id: str = Field(max_length=128)
    source: str = Field(max_length=256)
    reason: str = Field(max_length=200)
    voided_on: dt.date


class HeldEvent(SQLModel, table=True):
    """A valid event waiting for a record it refers to (a visit that arrived before its pregnancy)."""

    __tablename__ = "records_held_event"

    event_id: str = Field(primary_key=True, max_length=128)
    waiting_for: str = Field(index=True, max_length=36)
    waiting_field: str = Field(max_length=64)
    source: str = Field(max_length=256)
    event_type: str = Field(max_length=128)
    envelope: str
    traceparent: str | None = Field(default=None, max_length=64)
    received_at: dt.datetime = Field(default_factory=_now)
    expires_at: dt.datetime = Field(index=True)


class Rejection(SQLModel, table=True):
    """A rejected event, kept for the facility's IT staff until a corrected version is accepted."""

    __tablename__ = "records_rejection"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str | None = Field(default=None, index=True, max_length=128)
    source: str | None = Field(default=None, index=True, max_length=256)
    event_type: str | None = Field(default=None, max_length=128)
    channel: str = Field(max_length=8)
    reason: str = Field(max_length=32)
    problems: str
    payload: str
    received_at: dt.datetime = Field(default_factory=_now, index=True)
    resolved_by: str | None = Field(default=None, max_length=128)
    """The id of the accepted event that corrected this one."""


class DuplicateDismissal(SQLModel, table=True):
    """Two people a reviewer found to be different, so they are no longer listed as duplicates."""

    __tablename__ = "records_duplicate_dismissal"

    person_a: str = Field(primary_key=True, max_length=36)
    """The lower of the two ids."""
    person_b: str = Field(primary_key=True, max_length=36)
    dismissed_by: str = Field(max_length=128)
    dismissed_at: dt.datetime = Field(default_factory=_now)


class AccessLog(SQLModel, table=True):
    """Who read or changed which person's record: health data is sensitive personal data.

    Append-only: database triggers refuse to update or delete an entry."""

    __tablename__ = "records_access_log"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=_now, index=True)
    user: str = Field(max_length=128)
    action: str = Field(max_length=32)
    """``read_handbook``, ``merge`` or ``dismiss_duplicate``."""
    person_id: str = Field(index=True, max_length=36)
    detail: str | None = Field(default=None, max_length=200)
    purpose: str | None = Field(default=None, max_length=64)
    outcome: str = Field(default="allowed", max_length=16)
    """``allowed`` or ``refused``: a refused attempt is kept too."""


class OrgUnitVersion(SQLModel, table=True):
    __tablename__ = "records_orgunit"

    code: str = Field(primary_key=True, max_length=32)
    valid_from: dt.date = Field(primary_key=True)
    valid_to: dt.date | None = None
    name: str = Field(max_length=200)
    level: str = Field(max_length=16)
    parent: str | None = Field(default=None, max_length=32)
    kind: str | None = Field(default=None, max_length=32)
    region: str | None = Field(default=None, max_length=32)
    illustrative: bool = False
    successor: str | None = Field(default=None, max_length=32)


MODELS: list[type[SQLModel]] = [
    Person,
    Residence,
    Record,
    Void,
    HeldEvent,
    Rejection,
    DuplicateDismissal,
    AccessLog,
    OrgUnitVersion,
    processed_table(SERVICE),
    outbox_table(SERVICE),
]


_Row = TypeVar("_Row", bound=SQLModel)


def new_row(model: type[_Row], **values: Any) -> _Row:
    """A row to insert, built the way SQLAlchemy builds a row it loads: ``model(**values)`` sets
    each field through SQLModel, pydantic and SQLAlchemy, and asks pydantic about every default
    factory, which took a third of the gate's time (README, "Where the time goes"). Table models
    are not validated on construction either way."""
    row: _Row = model.__mapper__.class_manager.new_instance()  # type: ignore[attr-defined]
    fields = row.__dict__
    for name, info in model.model_fields.items():
        if name in values:
            continue
        if info.default_factory is not None:
            fields[name] = info.default_factory()  # type: ignore[call-arg]
        elif info.default is not PydanticUndefined:
            fields[name] = info.default
        else:
            raise TypeError(f"{model.__name__}: {name} is required")
    fields.update(values)
    row.__pydantic_fields_set__ = set(model.model_fields)
    return row
