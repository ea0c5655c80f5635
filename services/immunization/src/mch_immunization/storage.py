"""The immunization service's tables."""

from __future__ import annotations

from sqlmodel import SQLModel

from mch_events.idempotency import ProcessedEvent
from mch_events.outbox import OutboxMessage

MODELS: list[type[SQLModel]] = [ProcessedEvent, OutboxMessage]
