"""Kafka edges of the growth service."""

from __future__ import annotations

from mch_events import topics
from mch_servicekit.app import ServiceContext

from . import processing


def register(ctx: ServiceContext) -> None:
    ctx.subscribe(topics.RECORDS, apply=processing.RecordsConsumer())
