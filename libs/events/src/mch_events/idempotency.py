"""Idempotent consumption: an event id seen before is acknowledged and skipped.

The claim is written in the same transaction as the state change it guards, so a crash between the
two cannot happen: either both are committed or the redelivered event is processed again.
"""

from __future__ import annotations

import datetime as dt

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
