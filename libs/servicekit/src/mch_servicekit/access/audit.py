"""The access log of a service: who read or changed which person's record, when, for which purpose,
allowed or refused. Rows are only ever added: the table's triggers refuse updates and deletes, and
no route changes one. (Records keeps its own, ``records_access_log``, of the same shape.)"""

from __future__ import annotations

import datetime as dt
import functools
import types
import uuid
from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from ..guards import SafeJSONRoute
from .deps import ReadsAudit
from .policy import Role
from .tokens import Principal

_PURPOSES = {Role.HEALTH_WORKER: "care", Role.DATA_MANAGER: "data_quality"}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AccessEntry(SQLModel):
    """The shape of an access-log row; ``access_log_table`` gives a service's table of them."""

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=_now, index=True)
    user: str = Field(max_length=128)
    """The token's subject."""
    action: str = Field(max_length=32)
    person_id: str = Field(index=True, max_length=36)
    detail: str | None = Field(default=None, max_length=200)
    purpose: str | None = Field(default=None, max_length=64)
    outcome: str = Field(default="allowed", max_length=16)


@functools.cache
def access_log_table(service: str) -> type[AccessEntry]:
    """The access-log table of ``service`` (one class per service, made once)."""
    return types.new_class(
        f"{service.capitalize()}AccessEntry",
        (AccessEntry,),
        {"table": True},
        exec_body=lambda ns: ns.update(__tablename__=f"{service}_access_log", __module__=__name__),
    )


def purpose_of(who: Principal, asked: str | None = None) -> str | None:
    """The purpose the client states (``X-Purpose``), else the one its role serves."""
    if asked:
        return asked[:64]
    return next((p for r, p in _PURPOSES.items() if r in who.roles), None)


def log_access(
    engine: Engine,
    service: str,
    who: Principal,
    action: str,
    person_ids: Iterable[str],
    *,
    outcome: str = "allowed",
    detail: str | None = None,
    purpose: str | None = None,
) -> None:
    """Append one entry per person, in a transaction of its own: a refusal is kept although the
    request fails."""
    table = access_log_table(service)
    with Session(engine) as session:
        for person_id in person_ids:
            session.add(
                table(
                    user=who.subject[:128],
                    action=action,
                    person_id=person_id,
                    detail=detail[:200] if detail else None,
                    purpose=purpose_of(who, purpose),
                    outcome=outcome,
                )
            )
        session.commit()


def read_log(
    engine: Engine, service: str, *, person_id: str | None, user: str | None, limit: int
) -> list[AccessEntry]:
    table = access_log_table(service)
    query = select(table).order_by(col(table.id).desc()).limit(limit)
    if person_id is not None:
        query = query.where(col(table.person_id) == person_id)
    if user is not None:
        query = query.where(col(table.user) == user)
    with Session(engine) as session:
        return [
            AccessEntry.model_validate(row, from_attributes=True) for row in session.exec(query)
        ]


def access_log_router(service: str) -> APIRouter:
    """``GET /v1/access-log`` of a service, for operators."""
    router = APIRouter(route_class=SafeJSONRoute)

    @router.get("/v1/access-log", response_model=list[AccessEntry], tags=["people"])
    def access_log(
        request: Request,
        who: ReadsAudit,
        person_id: uuid.UUID | None = None,
        user: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[AccessEntry]:
        """Who read which person's record here (or was refused), newest first. The API has no way
        to change or delete an entry, and the database refuses to."""
        engine: Engine = request.app.state.ctx.engine
        return read_log(
            engine,
            service,
            person_id=str(person_id) if person_id else None,
            user=user,
            limit=limit,
        )

    return router


def append_only(table: str, dialect: str) -> list[str]:
    """The DDL that makes ``table`` refuse updates and deletes (for a migration)."""
    message = f"{table} is append-only"
    if dialect == "postgresql":
        return [
            f"CREATE FUNCTION {table}_append_only() RETURNS trigger AS $$ "
            f"BEGIN RAISE EXCEPTION '{message}'; END; $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
        ]
    return [
        f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        for event in ("UPDATE", "DELETE")
    ]


def drop_append_only(table: str, dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [
            f"DROP TRIGGER {table}_append_only ON {table}",
            f"DROP FUNCTION {table}_append_only()",
        ]
    return [f"DROP TRIGGER {table}_no_{event}" for event in ("update", "delete")]
