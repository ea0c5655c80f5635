"""Idempotent consumption: an event id seen before is acknowledged and skipped.

The claim is written in the same transaction as the state change it guards, so a crash between the
two cannot happen: either both are committed or the redelivered event is processed again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, Session, SQLModel, col, select


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "processed_event"

    consumer: str = Field(primary_key=True, max_length=64)
    event_id: str = Field(primary_key=True, max_length=128)
    processed_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))


def already_processed(session: Session, consumer: str, event_id: str) -> bool:
    row = session.exec(
        select(ProcessedEvent.event_id).where(
            col(ProcessedEvent.consumer) == consumer, col(ProcessedEvent.event_id) == event_id
        )
    ).first()
    return row is not None


def processed_among(session: Session, consumer: str, event_ids: Sequence[str]) -> set[str]:
    """Which of ``event_ids`` ``consumer`` processed before: one query for a whole batch."""
    found: set[str] = set()
    unique = list(dict.fromkeys(event_ids))
    for start in range(0, len(unique), _IN_CHUNK):
        rows = session.exec(
            select(ProcessedEvent.event_id).where(
                col(ProcessedEvent.consumer) == consumer,
                col(ProcessedEvent.event_id).in_(unique[start : start + _IN_CHUNK]),
            )
        ).all()
        found.update(rows)
    return found


_IN_CHUNK = 500
"""Ids per ``IN (...)`` list: well under every database's limit on bound parameters."""


def claim_all(session: Session, consumer: str, event_ids: Sequence[str]) -> None:
    """Record that ``consumer`` processed ``event_ids`` (in one statement per few hundred ids);
    ids already recorded are left as they are."""
    unique = list(dict.fromkeys(event_ids))
    if not unique:
        return
    now = dt.datetime.now(dt.UTC)
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        done = processed_among(session, consumer, unique)
        unique = [i for i in unique if i not in done]
    for start in range(0, len(unique), _IN_CHUNK):
        rows = [
            {"consumer": consumer, "event_id": i, "processed_at": now}
            for i in unique[start : start + _IN_CHUNK]
        ]
        if dialect == "postgresql":
            session.execute(pg_insert(ProcessedEvent).on_conflict_do_nothing(), rows)
        elif dialect == "sqlite":
            session.execute(sqlite_insert(ProcessedEvent).on_conflict_do_nothing(), rows)
        else:
            session.execute(insert(ProcessedEvent), rows)


def claim(session: Session, consumer: str, event_id: str) -> bool:
    """Record that ``consumer`` processed ``event_id``; False when it already had."""
    if already_processed(session, consumer, event_id):
        return False
    session.execute(
        insert(ProcessedEvent).values(
            consumer=consumer, event_id=event_id, processed_at=dt.datetime.now(dt.UTC)
        )
    )
    return True
