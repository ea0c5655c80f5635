"""HTTP edges for people: the handbook view, likely duplicates and merging, and the access log.

Every read of a person's handbook and every merge is logged with the user the ``X-User`` header
names (``anonymous`` without it): health data is sensitive personal data.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from pydantic import BaseModel
from sqlmodel import Session, col, select

from mch_events.contracts.common import Role
from mch_servicekit.app import ServiceContext, context_of
from mch_servicekit.guards import SafeJSONRoute

from .api import GateDep
from .audit import log_access
from .domain.handbook import Handbook
from .duplicates import DuplicateView, dismiss, find_duplicates
from .handbook import NotFound, handbook_of
from .merging import MergeRefused, MergeResult, merge
from .storage import AccessLog, Person

router = APIRouter(route_class=SafeJSONRoute)
Ctx = Annotated[ServiceContext, Depends(context_of)]
User = Annotated[str | None, Header(alias="X-User", description="who is asking (audit log)")]


def _read_handbook(
    ctx: ServiceContext,
    person_id: uuid.UUID,
    role: Role,
    user: str | None,
    today: dt.date,
) -> Handbook:
    with Session(ctx.engine) as session:
        try:
            view = handbook_of(session, str(person_id), role, today)
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        log_access(session, user, "read_handbook", str(person_id))
        session.commit()
    return view


@router.get("/v1/mothers/{person_id}", response_model=Handbook, tags=["handbook"])
def get_mother(person_id: uuid.UUID, ctx: Ctx, gate: GateDep, user: User = None) -> Handbook:
    """A mother's handbook: I basic information (with her obstetric history and tetanus doses),
    II pregnancy care, III delivery and postnatal care, IV her children; with the yellow boxes."""
    return _read_handbook(ctx, person_id, "mother", user, gate.today())


@router.get("/v1/children/{person_id}", response_model=Handbook, tags=["handbook"])
def get_child(person_id: uuid.UUID, ctx: Ctx, gate: GateDep, user: User = None) -> Handbook:
    """A child's handbook: I basic information, III the delivery and newborn care, IV checks and
    immunizations; with the yellow boxes."""
    return _read_handbook(ctx, person_id, "child", user, gate.today())


@router.get("/v1/duplicates", response_model=list[DuplicateView], tags=["people"])
def list_duplicates(
    ctx: Ctx, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[DuplicateView]:
    """Likely duplicate people for review, with the rules each pair meets: ``same_handbook_no``,
    ``same_national_id``, ``same_niis_id``, ``same_name_birth_date_mother`` (children),
    ``same_name_birth_date`` (mothers). Merged, voided and dismissed pairs are left out."""
    with Session(ctx.engine) as session:
        return find_duplicates(session, limit)


@router.post("/v1/duplicates/{person_a}/{person_b}/dismiss", status_code=204, tags=["people"])
def dismiss_duplicate(
    person_a: uuid.UUID, person_b: uuid.UUID, ctx: Ctx, user: User = None
) -> None:
    """A reviewer found the two to be different people: they are no longer listed."""
    with Session(ctx.engine) as session:
        for person_id in (person_a, person_b):
            if session.get(Person, str(person_id)) is None:
                raise HTTPException(404, f"no person {person_id}")
        dismiss(session, str(person_a), str(person_b), user)
        session.commit()


@router.post(
    "/v1/persons/{duplicate_id}/merge-into/{surviving_id}",
    response_model=MergeResult,
    tags=["people"],
)
async def merge_persons(
    duplicate_id: uuid.UUID, surviving_id: uuid.UUID, ctx: Ctx, gate: GateDep, user: User = None
) -> MergeResult:
    """Move the duplicate's records and children to the surviving person and mark the duplicate
    merged; publishes ``PersonsMerged`` and every changed person and record on
    ``mch.records.v1``. Merging again into the same person changes nothing."""

    today = gate.today()

    def run() -> MergeResult:
        with Session(ctx.engine) as session:
            result = merge(session, str(duplicate_id), str(surviving_id), user=user, today=today)
            session.commit()
        return result

    try:
        result = await asyncio.to_thread(run)
    except MergeRefused as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    ctx.relay.wake()
    return result


class AccessEntry(BaseModel):
    at: dt.datetime
    user: str
    action: str
    person_id: str
    detail: str | None


@router.get("/v1/access-log", response_model=list[AccessEntry], tags=["people"])
def access_log(
    ctx: Ctx,
    person_id: uuid.UUID | None = None,
    user: Annotated[str | None, Query(alias="user")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AccessEntry]:
    """Who read or changed which person's record, newest first."""
    query = select(AccessLog).order_by(col(AccessLog.id).desc()).limit(limit)
    if person_id is not None:
        query = query.where(AccessLog.person_id == str(person_id))
    if user is not None:
        query = query.where(AccessLog.user == user)
    with Session(ctx.engine) as session:
        rows = session.exec(query).all()
    return [AccessEntry.model_validate(row, from_attributes=True) for row in rows]
