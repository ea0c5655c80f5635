"""Republishing records' whole state on ``mch.records.v1`` (``POST /v1/admin/resync``).

The records database is the source of truth for what was accepted. After the broker lost its log,
every person (with merges and voids) and every record (with voids), each at its revision, is staged
in the outbox again, people by people: a chunk of people and all their records in one transaction,
read in a few set-based queries. Each person's state goes before its records, on the person's key,
as in ordinary publishing.
"""

from __future__ import annotations

import json

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from mch_events import outbox
from mch_servicekit.resync import Progress

from .lookups import ids_in, lookups
from .publishing import publish_person, publish_record
from .storage import SERVICE, Person, Record

CHUNK = 500
"""People per transaction."""


def republish(engine: Engine, progress: Progress, *, chunk: int = CHUNK) -> None:
    after = ""
    while True:
        with Session(engine) as session:
            people = list(
                session.exec(
                    select(Person)
                    .where(col(Person.person_id) > after)
                    .order_by(col(Person.person_id))
                    .limit(chunk)
                )
            )
            if not people:
                return
            after = people[-1].person_id
            staged = _stage(session, people)
            session.commit()
        progress(staged)


def _stage(session: Session, people: list[Person]) -> int:
    ids = [p.person_id for p in people]
    records = list(
        session.exec(
            select(Record)
            .where(col(Record.person_id).in_(ids))
            .order_by(col(Record.person_id), col(Record.care_date), col(Record.record_id))
        )
    )
    known = lookups(session)
    named = set(ids) | {r.record_id for r in records}
    for row in records:
        named |= ids_in(json.loads(row.data))
    known.preload(named)
    by_person: dict[str, list[Record]] = {}
    for row in records:
        by_person.setdefault(row.person_id, []).append(row)
    before = outbox.staged_count(session, SERVICE)
    for person in people:
        publish_person(known, known.person(person.person_id) or person, again=True)
        for row in by_person.get(person.person_id, []):
            publish_record(known, known.record(row.record_id) or row, again=True)
    return outbox.staged_count(session, SERVICE) - before
