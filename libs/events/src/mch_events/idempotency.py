"""Idempotent consumption: an event id seen before is acknowledged and skipped.

The claim is written in the same transaction as the state change it guards, so a crash between the
two cannot happen: either both are committed or the redelivered event is processed again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import insert, select
from sqlmodel import Field, Session, SQLModel


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "processed_event"

    consumer: str = Field(primary_key=True, max_length=64)
    event_id: str = Field(primary_key=True, max_length=128)
    processed_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))


def already_processed(session: Session, consumer: str, event_id: str) -> bool:
    row = session.exec(
        select(ProcessedEvent.event_id).where(  # type: ignore[call-overload]
            ProcessedEvent.consumer == consumer, ProcessedEvent.event_id == event_id
        )
    ).first()
    return row is not None


def processed_among(session: Session, consumer: str, event_ids: Sequence[str]) -> set[str]:
    """Which of ``event_ids`` ``consumer`` processed before: one query for a whole batch."""
    found: set[str] = set()
    unique = list(dict.fromkeys(event_ids))
    for start in range(0, len(unique), _IN_CHUNK):
        rows = session.exec(
            select(ProcessedEvent.event_id).where(  # type: ignore[call-overload]
                ProcessedEvent.consumer == consumer,
                ProcessedEvent.event_id.in_(unique[start : start + _IN_CHUNK]),  # type: ignore[attr-defined]
            )
        ).all()
        found.update(row[0] for row in rows)
    return found


_IN_CHUNK = 500
"""Ids per ``IN (...)`` list: well under every database's limit on bound parameters."""


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
