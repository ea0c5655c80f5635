"""People erased on a lawful request, as a service that holds data about them remembers them.

Records anonymises the person and publishes ``PersonErased``; every other service keeps a row of
its own per erased person (``<service>_erasure``) and stops serving them by name: their named
views answer 410, and lists that name people leave them out. The erasure is remembered rather
than applied once, so that state about the person arriving later (a resync, a late event) is
kept out of the named views too."""

from __future__ import annotations

import datetime as dt
import functools
import types
from collections.abc import Iterable

import sqlalchemy as sa
from fastapi import HTTPException
from sqlalchemy.orm import Mapped
from sqlmodel import Field, Session, SQLModel, col, select

from mch_events.contracts.records import PersonErased

GONE = "the person's data was erased on a lawful request"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Erasure(SQLModel):
    """The shape of an erasure row; ``erasure_table`` gives a service's table of them."""

    person_id: str = Field(primary_key=True, max_length=36)
    erased_on: dt.date
    applied_at: dt.datetime = Field(default_factory=_now)


@functools.cache
def erasure_table(service: str) -> type[Erasure]:
    """The erasure table of ``service`` (one class per service, made once)."""
    return types.new_class(
        f"{service.capitalize()}Erasure",
        (Erasure,),
        {"table": True},
        exec_body=lambda ns: ns.update(__tablename__=f"{service}_erasure", __module__=__name__),
    )


def remember(session: Session, service: str, event: PersonErased) -> None:
    """Stage the erasure in the caller's transaction (again: nothing changes)."""
    table = erasure_table(service)
    if session.get(table, str(event.person_id)) is None:
        session.add(table(person_id=str(event.person_id), erased_on=event.erased_on))


def erased(session: Session, service: str, person_ids: Iterable[str]) -> set[str]:
    """Which of ``person_ids`` were erased."""
    table = erasure_table(service)
    ids = list(set(person_ids))
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        found |= set(
            session.exec(
                select(table.person_id).where(col(table.person_id).in_(ids[start : start + 500]))
            ).all()
        )
    return found


def not_erased(
    service: str, person_id: sa.ColumnElement[str] | Mapped[str]
) -> sa.ColumnElement[bool]:
    """A condition for a query that lists people: ``person_id`` was not erased."""
    table = erasure_table(service)
    return ~sa.exists().where(col(table.person_id) == person_id)


def refuse_erased(session: Session, service: str, person_id: str) -> None:
    """410 when the person was erased: a named view has nothing to show."""
    if erased(session, service, [person_id]):
        raise HTTPException(410, f"{GONE} (person {person_id})")
