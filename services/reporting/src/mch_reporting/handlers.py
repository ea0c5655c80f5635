"""Kafka edges of the reporting service."""

from __future__ import annotations

from mch_events import topics
from mch_servicekit.app import ServiceContext

from .processing import Facts
from .storage import advance_positions

TOPICS = (topics.RECORDS, topics.GROWTH, topics.IMMUNIZATION)
"""What reporting consumes (and a rebuild replays)."""


def register(ctx: ServiceContext, facts: Facts) -> None:
    ctx.subscribe(*TOPICS, apply=facts, positions=advance_positions)
    ctx.on_batch.append(facts.after_batch)
