"""Kafka edges of the reporting service."""

from __future__ import annotations

from mch_events import topics
from mch_servicekit.app import ServiceContext

from .processing import Facts


def register(ctx: ServiceContext, facts: Facts) -> None:
    ctx.subscribe(topics.RECORDS, topics.GROWTH, topics.IMMUNIZATION, apply=facts.apply)
    ctx.on_batch.append(facts.after_batch)
