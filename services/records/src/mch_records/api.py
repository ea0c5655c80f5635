"""HTTP edges of the records service: facility events in (same gate as Kafka), rejections for the
facility's IT staff, and the org-unit tree."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel
from sqlmodel import Session, col, select

from mch_events import safejson
from mch_events.consume import apply_events
from mch_events.contracts.records import OrgUnit
from mch_events.contracts.results import EventResult, Problem, ReasonCode
from mch_events.envelope import MAX_EVENT_BYTES, CloudEvent, EventError, parse_envelope
from mch_events.orgtree import OrgTreeError, OrgUnitNotInForce
from mch_servicekit.access import (
    Action,
    ManagesReference,
    Principal,
    ReadsReference,
    ReadsRejections,
    SubmitsEvents,
    decide,
    enforce,
)
from mch_servicekit.app import ServiceContext, context_of
from mch_servicekit.guards import SafeJSONRoute, parse_json_body

from .domain import orgunits as orgunit_io
from .orgunits import ImportSummary, import_versions, stored_versions
from .processing import CONSUMER, Gate
from .publishing import SOURCE
from .rejections import record_rejection, resolve_rejections
from .storage import SERVICE, Rejection

MAX_ROW_ID = 2**63 - 1
"""The largest id PostgreSQL can hold: a larger one in a path is a client error, not a query."""
MAX_BATCH_EVENTS = 1000
MAX_BATCH_BYTES = MAX_BATCH_EVENTS * 8 * 1024

router = APIRouter(route_class=SafeJSONRoute)
Ctx = Annotated[ServiceContext, Depends(context_of)]


def gate_of(request: Request) -> Gate:
    gate: Gate = request.app.state.gate
    return gate


GateDep = Annotated[Gate, Depends(gate_of)]


class IngestResponse(BaseModel):
    results: list[EventResult]
    summary: dict[str, int]


class EventOutcome(EventResult):
    http_status_code: int


def _ingest(
    ctx: ServiceContext, gate: Gate, items: list[Any], body_bytes: int, who: Principal
) -> list[EventResult]:
    """Validate and apply a batch; the same path as Kafka, plus keeping the rejections."""
    today = dt.datetime.now(dt.UTC).date()
    results: list[EventResult | None] = [None] * len(items)
    valid: list[tuple[int, CloudEvent]] = []
    for i, item in enumerate(items):
        try:
            # No event can be over the limit when the whole body is not.
            if (
                body_bytes > MAX_EVENT_BYTES
                and len(json.dumps(item, default=str)) > MAX_EVENT_BYTES
            ):
                raise EventError(
                    [
                        Problem(
                            code=ReasonCode.PAYLOAD_TOO_LARGE,
                            message=f"an event is limited to {MAX_EVENT_BYTES} bytes",
                        )
                    ]
                )
            event = parse_envelope(item)
            _authorize(who, event, gate, today)
            valid.append((i, event))
        except EventError as exc:
            ident = item.get("id") if isinstance(item, dict) else None
            results[i] = EventResult(
                id=str(ident)[:128] if ident else None, status="rejected", problems=exc.problems
            )
    applied = apply_events(ctx.engine, CONSUMER, [(e, {}) for _, e in valid], gate, service=SERVICE)
    for (i, _), result in zip(valid, applied, strict=True):
        results[i] = result
    final = [r for r in results if r is not None]
    with Session(ctx.engine) as session:
        for item, result in zip(items, final, strict=True):
            if result.status == "rejected":
                record_rejection(session, item, result.problems, "http")
        resolve_rejections(session, [r.id for r in final if r.status == "accepted" and r.id])
        session.commit()
    ctx.relay.wake()
    return final


def _authorize(who: Principal, event: CloudEvent, gate: Gate, today: dt.date) -> None:
    """A submitter may submit only for facilities it may act for: both the event's ``source`` and
    the facility its data names (a facility system: its own facility only)."""
    claimed = [("source", event.source)]
    if isinstance(event.data.get("facility"), str):
        claimed.append(("data.facility", event.data["facility"]))
    tree = gate.orgunits.tree() if any(r.value != "facility_system" for r in who.roles) else None
    for field, facility in claimed:
        if not decide(who, Action.SUBMIT_EVENTS, facility=facility, tree=tree, on=today).allowed:
            raise EventError(
                [
                    Problem(
                        code=ReasonCode.NOT_AUTHORIZED,
                        field=field,
                        message=f"this client may not submit events for {facility}",
                    )
                ]
            )


@router.post("/v1/events", response_model=IngestResponse, tags=["events"])
async def post_events(
    request: Request, response: Response, ctx: Ctx, gate: GateDep, who: SubmitsEvents
) -> IngestResponse:
    """Submit facility events: a JSON array of CloudEvents (structured mode), at most 1,000.

    Every event gets its own result: ``accepted``, ``duplicate`` (this id was seen before),
    ``stale`` (an older revision), ``held`` (waiting for the record it refers to) or ``rejected``
    with machine-readable problems. The response is 200 when every event was accepted or
    harmless, 207 when some were rejected."""
    body = await request.body()
    parsed = parse_json_body(body, max_bytes=MAX_BATCH_BYTES)
    items = parsed if isinstance(parsed, list) else [parsed]
    if len(items) > MAX_BATCH_EVENTS:
        raise HTTPException(413, f"a batch is limited to {MAX_BATCH_EVENTS} events; split it")
    results = await asyncio.to_thread(_ingest, ctx, gate, items, len(body), who)
    summary: dict[str, int] = {}
    for result in results:
        summary[result.status] = summary.get(result.status, 0) + 1
    response.status_code = 207 if summary.get("rejected") else 200
    return IngestResponse(results=results, summary=summary)


class RejectionView(BaseModel):
    id: int
    event_id: str | None
    source: str | None
    event_type: str | None
    channel: str
    reason: str
    problems: list[Problem]
    payload: Any
    received_at: dt.datetime
    resolved_by: str | None


@router.get("/v1/rejections", response_model=list[RejectionView], tags=["events"])
def list_rejections(
    ctx: Ctx,
    gate: GateDep,
    who: ReadsRejections,
    facility: Annotated[str | None, Query(description="the facility (event source) code")] = None,
    reason: str | None = None,
    include_resolved: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RejectionView]:
    """Rejected events, newest first, with their reasons; correct and re-submit them to /v1/events
    (or to /v1/rejections/{id}/resubmit)."""
    query = select(Rejection).order_by(col(Rejection.received_at).desc()).limit(limit)
    facility = facility or who.facility
    if facility:
        query = query.where(Rejection.source == facility)
    if reason:
        query = query.where(Rejection.reason == reason)
    if not include_resolved:
        query = query.where(col(Rejection.resolved_by).is_(None))
    if facility:
        enforce(
            who,
            Action.READ_REJECTIONS,
            facility=facility,
            tree=gate.orgunits.tree(),
            on=_on(None, gate),
        )
    with Session(ctx.engine) as session:
        rows = session.exec(query).all()
    # Without a facility asked for, the rejections of the facilities the token may see.
    visible = _rejections_visible_to(who, gate)
    return [_view(row) for row in rows if visible(row.source)]


def _rejections_visible_to(who: Principal, gate: Gate) -> Callable[[str | None], bool]:
    tree, today = gate.orgunits.tree(), _on(None, gate)
    roots = [u.code for u in tree.versions() if u.parent is None and tree.exists(u.code, today)]

    def visible(source: str | None) -> bool:
        # An event from a source not in the tree belongs to no area: only those who cover the
        # whole country see it.
        known = source is not None and tree.exists(source, today)
        return decide(
            who,
            Action.READ_REJECTIONS,
            facility=source,
            orgunit=None if known else (roots[0] if roots else ""),
            tree=tree,
            on=today,
        ).allowed

    return visible


def _view(row: Rejection) -> RejectionView:
    try:
        # What a rejected event held may be exactly what JSON parsing chokes on.
        payload = safejson.loads(row.payload.encode("utf-8", "replace"), max_bytes=MAX_BATCH_BYTES)
    except safejson.JSONRejected:
        payload = row.payload
    return RejectionView(
        id=row.id or 0,
        event_id=row.event_id,
        source=row.source,
        event_type=row.event_type,
        channel=row.channel,
        reason=row.reason,
        problems=[Problem.model_validate(p) for p in json.loads(row.problems)],
        payload=payload,
        received_at=row.received_at,
        resolved_by=row.resolved_by,
    )


@router.post("/v1/rejections/{rejection_id}/resubmit", response_model=EventResult, tags=["events"])
async def resubmit(
    rejection_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
    request: Request,
    ctx: Ctx,
    gate: GateDep,
    who: SubmitsEvents,
) -> EventResult:
    """Re-submit the corrected version of a rejected event (the body is the corrected CloudEvent,
    under any id). The rejection is resolved once the correction is accepted (or held)."""

    def source() -> str | None:
        with Session(ctx.engine) as session:
            row = session.get(Rejection, rejection_id)
            return None if row is None else (row.source or "")

    rejected_from = await asyncio.to_thread(source)
    if rejected_from is None or not _rejections_visible_to(who, gate)(rejected_from or None):
        # Another facility's rejection is as unknown to this client as a missing one.
        raise HTTPException(404, f"no rejection {rejection_id}")
    body = await request.body()
    item = parse_json_body(body, max_bytes=MAX_EVENT_BYTES)
    result = (await asyncio.to_thread(_ingest, ctx, gate, [item], len(body), who))[0]
    if result.status in ("accepted", "duplicate", "held"):

        def mark() -> None:
            with Session(ctx.engine) as session:
                row = session.get(Rejection, rejection_id)
                if row is not None:
                    row.resolved_by = result.id
                    session.add(row)
                    session.commit()

        await asyncio.to_thread(mark)
    return result


# -- org units ------------------------------------------------------------------------------------

MAX_IMPORT_BYTES = 16 * 1024 * 1024
"""A whole country's org units, with every version, is far below this."""


def _csv_text(body: bytes) -> str:
    if len(body) > MAX_IMPORT_BYTES:
        raise HTTPException(
            413,
            {
                "reason": ReasonCode.PAYLOAD_TOO_LARGE.value,
                "message": f"the body is {len(body)} bytes; the limit is {MAX_IMPORT_BYTES}",
            },
        )
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HTTPException(
            400, {"reason": ReasonCode.INVALID_ENCODING.value, "message": f"not UTF-8: {exc}"}
        ) from None


class OrgUnitRef(BaseModel):
    code: str
    name: str
    level: str


class OrgUnitView(OrgUnitRef):
    parent: str | None
    children: list[OrgUnitRef]
    valid_from: dt.date
    valid_to: dt.date | None
    kind: str | None = None
    region: str | None = None
    illustrative: bool = False
    successor: str | None = None


def _on(on: dt.date | None, gate: Gate) -> dt.date:
    return on or gate.today()


def _ref(unit: OrgUnit) -> OrgUnitRef:
    return OrgUnitRef(code=unit.code, name=unit.name, level=unit.level)


@router.get("/v1/orgunits/{code}", response_model=OrgUnitView, tags=["org units"])
def get_orgunit(
    code: str, gate: GateDep, who: ReadsReference, on: dt.date | None = None
) -> OrgUnitView:
    """An org unit as it is in force on ``on`` (default today), with its children then."""
    tree = gate.orgunits.tree()
    day = _on(on, gate)
    unit = tree.get(code, day)
    if unit is None:
        raise HTTPException(404, f"no org unit {code!r} in force on {day}")
    return OrgUnitView(
        **unit.model_dump(exclude={"code", "name", "level", "parent"}),
        code=unit.code,
        name=unit.name,
        level=unit.level,
        parent=unit.parent,
        children=[_ref(c) for c in tree.children(code, day)],
    )


@router.get("/v1/orgunits/{code}/ancestors", response_model=list[OrgUnitRef], tags=["org units"])
def get_ancestors(
    code: str, gate: GateDep, who: ReadsReference, on: dt.date | None = None
) -> list[OrgUnitRef]:
    """The org units ``code`` rolls up into on ``on``, nearest first."""
    try:
        return [_ref(u) for u in gate.orgunits.tree().ancestors(code, _on(on, gate))]
    except OrgUnitNotInForce as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get("/v1/orgunits/{code}/subtree", response_model=list[OrgUnit], tags=["org units"])
def get_subtree(
    code: str, gate: GateDep, who: ReadsReference, on: dt.date | None = None
) -> list[OrgUnit]:
    """Every org unit below ``code`` in force on ``on``."""
    try:
        return gate.orgunits.tree().subtree(code, _on(on, gate))
    except OrgUnitNotInForce as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get("/v1/orgunits", tags=["org units"])
def export_orgunits(ctx: Ctx, who: ReadsReference, format: str = "json") -> Response:
    """Every org-unit version, as JSON (default) or CSV (``format=csv``)."""
    with Session(ctx.engine) as session:
        units = stored_versions(session)
    if format == "csv":
        return Response(orgunit_io.to_csv(units), media_type="text/csv; charset=utf-8")
    return Response(orgunit_io.to_json(units), media_type="application/json")


@router.post("/v1/orgunits/import", tags=["org units"])
async def import_orgunits(
    request: Request, ctx: Ctx, gate: GateDep, who: ManagesReference
) -> ImportSummary:
    """Import org-unit versions (JSON list, or CSV with ``Content-Type: text/csv``). The whole
    resulting tree is validated first; changed versions are published on ``mch.records.v1``."""
    body = await request.body()
    try:
        if "csv" in request.headers.get("content-type", ""):
            units = orgunit_io.from_csv(_csv_text(body))
        else:
            units = orgunit_io.from_payload(parse_json_body(body, max_bytes=MAX_IMPORT_BYTES))
    except orgunit_io.OrgUnitFormatError as exc:
        raise HTTPException(422, str(exc)) from exc

    def run() -> ImportSummary:
        with Session(ctx.engine) as session:
            summary = import_versions(session, units, source=SOURCE)
            session.commit()
        return summary

    try:
        summary = await asyncio.to_thread(run)
    except OrgTreeError as exc:
        raise HTTPException(
            422, {"message": "the org-unit tree would not be valid", "problems": list(exc.problems)}
        ) from exc
    gate.orgunits.forget()
    ctx.relay.wake()
    return summary
