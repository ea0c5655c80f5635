"""Idempotent consumption: an event id seen before is acknowledged and skipped.

The claim is written in the same transaction as the state change it guards, so a crash between the
two cannot happen: either both are committed or the redelivered event is processed again.

Each service keeps its claims in a table of its own (``<service>_processed_event``), so that the
four services can share one database.
"""

from __future__ import annotations

import datetime as dt
import functools
import types
from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, Session, SQLModel, col, select


class ProcessedEvent(SQLModel):
    """The shape of a claim; ``processed_table`` gives a service's table of them."""

    consumer: str = Field(primary_key=True, max_length=64)
    event_id: str = Field(primary_key=True, max_length=128)
    processed_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))


@functools.cache
def processed_table(service: str) -> type[ProcessedEvent]:
    """The table of ``service``'s claims (one class per service, made once)."""
    return types.new_class(
        f"{service.capitalize()}ProcessedEvent",
        (ProcessedEvent,),
        {"table": True},
        exec_body=lambda ns: ns.update(
            __tablename__=f"{service}_processed_event", __module__=__name__
        ),
    )


def already_processed(session: Session, consumer: str, event_id: str, *, service: str) -> bool:
    table = processed_table(service)
    row = session.exec(
        select(table.event_id).where(
            col(table.consumer) == consumer, col(table.event_id) == event_id
        )
    ).first()
    return row is not None


def processed_among(
    session: Session, consumer: str, event_ids: Sequence[str], *, service: str
) -> set[str]:
    """Which of ``event_ids`` ``consumer`` processed before: one query for a whole batch."""
    table = processed_table(service)
    found: set[str] = set()
    unique = list(dict.fromkeys(event_ids))
    for start in range(0, len(unique), _IN_CHUNK):
        rows = session.exec(
            select(table.event_id).where(
                col(table.consumer) == consumer,
                col(table.event_id).in_(unique[start : start + _IN_CHUNK]),
            )
        ).all()
        found.update(rows)
    return found


_IN_CHUNK = 500
"""Ids per ``IN (...)`` list: well under every database's limit on bound parameters."""


class ClaimedElsewhere(Exception):
    """Another transaction claimed some of the events while this one applied them (a batch
    delivered again to a second consumer after a rebalance, applied at the same time)."""


_CLAIMED_HERE = "mch_events.idempotency.claimed_here"
"""Ids this session claimed: an exclusive claim of one of them again is no conflict (an event held
and released in one batch is claimed on release; a copy later in the batch comes to nothing)."""


def claim_all(
    session: Session,
    consumer: str,
    event_ids: Sequence[str],
    *,
    service: str,
    exclusive: bool = False,
) -> None:
    """Record that ``consumer`` processed ``event_ids`` (in one statement per few hundred ids);
    ids already recorded are left as they are. ``exclusive``: raise ``ClaimedElsewhere`` when
    another transaction recorded some of them, so that the caller rolls back what it applied and
    finds them processed when it tries again."""
    table = processed_table(service)
    unique = list(dict.fromkeys(event_ids))
    if not unique:
        return
    here: set[str] = session.info.setdefault(_CLAIMED_HERE, set())
    now = dt.datetime.now(dt.UTC)
    dialect = session.get_bind().dialect.name
    elsewhere: set[str] = set()
    if dialect not in ("postgresql", "sqlite"):
        done = processed_among(session, consumer, unique, service=service)
        elsewhere = done - here
        unique = [i for i in unique if i not in done]
    # Core, not the ORM's bulk insert: the same statement at a fraction of the cost per row.
    connection, columns = session.connection(), table.__table__.c  # type: ignore[attr-defined]
    for start in range(0, len(unique), _IN_CHUNK):
        chunk = unique[start : start + _IN_CHUNK]
        rows = [{"consumer": consumer, "event_id": i, "processed_at": now} for i in chunk]
        if dialect in ("postgresql", "sqlite"):
            insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
            statement = insert_(table).on_conflict_do_nothing()
            if exclusive:
                # The rows inserted come back: one missing was claimed before.
                returned = connection.execute(statement.returning(columns.event_id), rows)
                elsewhere |= set(chunk) - set(returned.scalars().all()) - here
            else:
                connection.execute(statement, rows)
        else:
            connection.execute(insert(table), rows)
    here.update(unique)
    if exclusive and elsewhere:
        raise ClaimedElsewhere(
            f"{len(elsewhere)} of {len(event_ids)} events were claimed by another transaction"
        )


def claim(session: Session, consumer: str, event_id: str, *, service: str) -> bool:
    """Record that ``consumer`` processed ``event_id``; False when it already had."""
    if already_processed(session, consumer, event_id, service=service):
        return False
    session.execute(
        insert(processed_table(service)).values(
            consumer=consumer, event_id=event_id, processed_at=dt.datetime.now(dt.UTC)
        )
    )
    return True
