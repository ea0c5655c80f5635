"""Kafka edges of the records service: facility events in, rejections kept and resolved, held
events retried and expired."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlmodel import Session

from mch_events import topics
from mch_events.consume import BatchSummary
from mch_events.contracts.results import Problem
from mch_events.envelope import CloudEvent, EventError, loads_json
from mch_servicekit.app import ServiceContext

from .processing import ClaimedGate, Gate
from .rejections import record_rejection, resolve_rejections


def register(
    ctx: ServiceContext,
    gate: Gate,
    *,
    held_check_seconds: float,
    inbound: Gate | ClaimedGate | None = None,
) -> None:
    """``inbound``: what facility events from Kafka pass first (the gate itself unless signed
    facility claims are required)."""
    ctx.subscribe(topics.FACILITY_EVENTS, apply=inbound or gate)

    async def keep_rejections(summary: BatchSummary) -> None:
        if summary.rejected or summary.count("accepted"):
            await asyncio.to_thread(_store_rejections, ctx, summary)

    async def check_held() -> None:
        expired = await asyncio.to_thread(_check_held, ctx, gate)
        for event, problem in expired:
            await ctx.dead_letters.send_event(event, [problem], origin="records/held")

    ctx.on_batch.append(keep_rejections)
    ctx.every(held_check_seconds, check_held)


def _payload(body: bytes | None, headers: dict[str, str]) -> object:
    data: object
    try:
        data = loads_json(body or b"")
    except EventError:
        data = (body or b"").decode("utf-8", "replace")[:65536]
    attrs: dict[str, object] = {
        k.removeprefix("ce_"): v for k, v in headers.items() if k.startswith("ce_")
    }
    # In binary mode the attributes (the event id, the facility) are in the headers, so a body
    # that is no JSON still leaves its rejection findable by id.
    return data if not attrs else {**attrs, "data": data}


def _store_rejections(ctx: ServiceContext, summary: BatchSummary) -> None:
    with Session(ctx.engine) as session:
        for record, problems in summary.rejected:
            headers = {k: v.decode("utf-8", "replace") for k, v in record.headers}
            record_rejection(session, _payload(record.value, headers), problems, "kafka")
        resolve_rejections(
            session, [r.id for r in summary.results if r.status == "accepted" and r.id]
        )
        session.commit()


def _check_held(ctx: ServiceContext, gate: Gate) -> list[tuple[CloudEvent, Problem]]:
    with Session(ctx.engine) as session:
        retried = gate.retry_held(session)
        expired = gate.expire_held(session, dt.datetime.now(dt.UTC))
        session.commit()
    if retried:
        ctx.relay.wake()
    return expired
