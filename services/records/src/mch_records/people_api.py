"""HTTP edges for people: the handbook view, likely duplicates and merging, and the access log.

Every read of a person's handbook and every merge, allowed or refused, is logged with the token's
subject and the purpose (``X-Purpose``, else the role's): health data is sensitive personal data.
A record is seen only by the roles serving people where the person lives now.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from mch_events.contracts.common import Role
from mch_servicekit.access import (
    Action,
    ChangesNamed,
    ErasesNamed,
    ExportsNamed,
    Principal,
    ReadsAudit,
    ReadsNamed,
    decide,
    refuse,
)
from mch_servicekit.access.audit import purpose_of
from mch_servicekit.app import ServiceContext, context_of
from mch_servicekit.erasure import GONE
from mch_servicekit.guards import SafeJSONRoute

from .api import GateDep
from .audit import log_access, residence_of
from .domain.handbook import Handbook
from .duplicates import DuplicateView, dismiss, find_duplicates
from .handbook import NotFound, handbook_of
from .merging import MergeRefused, MergeResult, merge
from .storage import AccessLog, Person
from .subject import ErasureResult, NoPerson, PersonExport, erase_person, export_person

router = APIRouter(route_class=SafeJSONRoute)
Ctx = Annotated[ServiceContext, Depends(context_of)]
Purpose = Annotated[
    str | None, Header(alias="X-Purpose", description="why the record is read (audit log)")
]


def _check_access(
    session: Session,
    gate: GateDep,
    who: Principal,
    action: Action,
    person_ids: list[str],
    logged_as: str,
    purpose: str | None,
) -> None:
    """Allowed only when the policy allows ``action`` where every person lives now; a refusal is
    logged (and committed) before the 403, which names no one."""
    tree, today = gate.orgunits.tree(), gate.today()
    for person_id in person_ids:
        residence = residence_of(session, person_id)
        if residence is None:
            raise HTTPException(404, f"no person {person_id}")
        decision = decide(who, action, orgunit=residence, tree=tree, on=today)
        if not decision.allowed:
            for logged in person_ids:
                log_access(
                    session,
                    who.subject,
                    logged_as,
                    logged,
                    decision.reason,
                    purpose=purpose_of(who, purpose),
                    outcome="refused",
                )
            session.commit()
            raise refuse(decision)


def _read_handbook(
    ctx: ServiceContext,
    gate: GateDep,
    person_id: uuid.UUID,
    role: Role,
    who: Principal,
    purpose: str | None,
) -> Handbook:
    with Session(ctx.engine) as session:
        _check_access(
            session, gate, who, Action.READ_NAMED, [str(person_id)], "read_handbook", purpose
        )
        person = session.get(Person, str(person_id))
        if person is not None and person.erased_on is not None:
            # Like every service's named views: an erased person is served to no one by id.
            raise HTTPException(410, f"{GONE} (person {person_id})")
        try:
            view = handbook_of(session, str(person_id), role, gate.today())
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        log_access(
            session, who.subject, "read_handbook", str(person_id), purpose=purpose_of(who, purpose)
        )
        session.commit()
    return view


@router.get("/v1/mothers/{person_id}", response_model=Handbook, tags=["handbook"])
def get_mother(
    person_id: uuid.UUID, ctx: Ctx, gate: GateDep, who: ReadsNamed, purpose: Purpose = None
) -> Handbook:
    """A mother's handbook: I basic information (with her obstetric history and tetanus doses),
    II pregnancy care, III delivery and postnatal care, IV her children; with the yellow boxes."""
    return _read_handbook(ctx, gate, person_id, "mother", who, purpose)


@router.get("/v1/children/{person_id}", response_model=Handbook, tags=["handbook"])
def get_child(
    person_id: uuid.UUID, ctx: Ctx, gate: GateDep, who: ReadsNamed, purpose: Purpose = None
) -> Handbook:
    """A child's handbook: I basic information, III the delivery and newborn care, IV checks and
    immunizations; with the yellow boxes."""
    return _read_handbook(ctx, gate, person_id, "child", who, purpose)


@router.get("/v1/duplicates", response_model=list[DuplicateView], tags=["people"])
def list_duplicates(
    ctx: Ctx, gate: GateDep, who: ReadsNamed, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[DuplicateView]:
    """Likely duplicate people for review, with the rules each pair meets: ``same_handbook_no``,
    ``same_national_id``, ``same_niis_id``, ``same_name_birth_date_mother`` (children),
    ``same_name_birth_date`` (mothers). Merged, voided and dismissed pairs are left out."""
    tree, today = gate.orgunits.tree(), gate.today()
    with Session(ctx.engine) as session:
        pairs = find_duplicates(session, limit)

        def visible(person_id: str) -> bool:
            residence = residence_of(session, person_id)
            return residence is not None and (
                decide(who, Action.READ_NAMED, orgunit=residence, tree=tree, on=today).allowed
            )

        # Only pairs whose both people live in the token's area: a list names them.
        return [p for p in pairs if visible(p.person_a.person_id) and visible(p.person_b.person_id)]


@router.post("/v1/duplicates/{person_a}/{person_b}/dismiss", status_code=204, tags=["people"])
def dismiss_duplicate(
    person_a: uuid.UUID,
    person_b: uuid.UUID,
    ctx: Ctx,
    gate: GateDep,
    who: ChangesNamed,
    purpose: Purpose = None,
) -> None:
    """A reviewer found the two to be different people: they are no longer listed."""
    with Session(ctx.engine) as session:
        for person_id in (person_a, person_b):
            if session.get(Person, str(person_id)) is None:
                raise HTTPException(404, f"no person {person_id}")
        pair = [str(person_a), str(person_b)]
        _check_access(session, gate, who, Action.CHANGE_NAMED, pair, "dismiss_duplicate", purpose)
        dismiss(session, str(person_a), str(person_b), who.subject, purpose_of(who, purpose))
        session.commit()


@router.post(
    "/v1/persons/{duplicate_id}/merge-into/{surviving_id}",
    response_model=MergeResult,
    tags=["people"],
)
async def merge_persons(
    duplicate_id: uuid.UUID,
    surviving_id: uuid.UUID,
    ctx: Ctx,
    gate: GateDep,
    who: ChangesNamed,
    purpose: Purpose = None,
) -> MergeResult:
    """Move the duplicate's records and children to the surviving person and mark the duplicate
    merged; publishes ``PersonsMerged`` and every changed person and record on
    ``mch.records.v1``. Merging again into the same person changes nothing."""

    today = gate.today()

    def run() -> MergeResult:
        with Session(ctx.engine) as session:
            pair = [str(duplicate_id), str(surviving_id)]
            _check_access(session, gate, who, Action.CHANGE_NAMED, pair, "merge", purpose)
            result = merge(
                session,
                str(duplicate_id),
                str(surviving_id),
                user=who.subject,
                today=today,
                purpose=purpose_of(who, purpose),
            )
            session.commit()
        return result

    try:
        result = await asyncio.to_thread(run)
    except MergeRefused as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    ctx.relay.wake()
    return result


@router.get("/v1/people/{person_id}/export", response_model=PersonExport, tags=["people"])
def export(
    person_id: uuid.UUID, ctx: Ctx, gate: GateDep, who: ExportsNamed, purpose: Purpose = None
) -> PersonExport:
    """Everything records holds about a person (subject access request, JSON): the person, their
    residences, pregnancies, visits, deliveries and doses, voids, merged records, children's ids,
    rejected and held events naming them, and every access-log entry about them (this export's
    included). Data managers of the area where the person lives."""
    with Session(ctx.engine) as session:
        _check_access(session, gate, who, Action.EXPORT_NAMED, [str(person_id)], "export", purpose)
        log_access(
            session,
            who.subject,
            "export",
            str(person_id),
            purpose=purpose_of(who, purpose) or "subject_access",
        )
        session.flush()
        try:
            answer = export_person(session, str(person_id))
        except NoPerson as exc:
            raise HTTPException(404, str(exc)) from exc
        session.commit()
    return answer


class ErasureRequest(BaseModel):
    reason: str = Field(
        min_length=3,
        max_length=200,
        description="the lawful request this erasure carries out (kept in the access log)",
    )


@router.post("/v1/people/{person_id}/erase", response_model=ErasureResult, tags=["people"])
async def erase(
    person_id: uuid.UUID,
    request: ErasureRequest,
    ctx: Ctx,
    gate: GateDep,
    who: ErasesNamed,
) -> ErasureResult:
    """Anonymise a person on a lawful request: identifiers cleared here (and on the records merged
    into them), rejected events naming them deleted, ``PersonErased`` published so every service
    drops or anonymises what it holds. Pseudonymous clinical facts stay for the aggregates (see the
    README). Erasing again changes nothing. Data managers of the area, operators."""
    today = gate.today()

    def run() -> ErasureResult:
        with Session(ctx.engine) as session:
            _check_access(
                session, gate, who, Action.ERASE_NAMED, [str(person_id)], "erase", "lawful_request"
            )
            try:
                result = erase_person(session, str(person_id), today)
            except NoPerson as exc:
                raise HTTPException(404, str(exc)) from exc
            log_access(
                session,
                who.subject,
                "erase",
                str(person_id),
                f"{result.status}: {request.reason}",
                purpose="lawful_request",
            )
            session.commit()
        return result

    result = await asyncio.to_thread(run)
    ctx.relay.wake()
    return result


class AccessEntry(BaseModel):
    at: dt.datetime
    user: str
    """The token's subject."""
    action: str
    person_id: str
    detail: str | None
    purpose: str | None = None
    outcome: str = "allowed"


@router.get("/v1/access-log", response_model=list[AccessEntry], tags=["people"])
def access_log(
    ctx: Ctx,
    who: ReadsAudit,
    person_id: uuid.UUID | None = None,
    user: Annotated[str | None, Query(alias="user")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AccessEntry]:
    """Who read or changed which person's record (or was refused), newest first. Operators only;
    the API has no way to change or delete an entry, and the database refuses to."""
    query = select(AccessLog).order_by(col(AccessLog.id).desc()).limit(limit)
    if person_id is not None:
        query = query.where(AccessLog.person_id == str(person_id))
    if user is not None:
        query = query.where(AccessLog.user == user)
    with Session(ctx.engine) as session:
        rows = session.exec(query).all()
    return [AccessEntry.model_validate(row, from_attributes=True) for row in rows]
