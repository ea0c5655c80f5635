"""Outbox rows are staged in the session and written together on commit: what is committed, in
which order, and what a rolled-back savepoint or transaction leaves."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, delete
from sqlmodel import Session, col, select

from mch_events import outbox, topics
from mch_events.contracts import facility as f
from mch_events.envelope import new_event

SERVICE = "staging"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    outbox.outbox_table(SERVICE).__table__.create(engine)  # type: ignore[attr-defined]
    yield engine
    engine.dispose()


def stage(session: Session, key: str) -> str:
    event = new_event(f.Death(person_id=uuid.uuid4(), date=dt.date(2026, 1, 5)), source="TYT-38001")
    outbox.add(session, event, topic=topics.RECORDS, key=key, service=SERVICE)
    return event.id


def committed(engine: Engine) -> list[str]:
    table = outbox.outbox_table(SERVICE)
    with Session(engine) as session:
        return list(session.exec(select(table.key).order_by(col(table.id))).all())  # type: ignore[arg-type]


def test_staged_rows_are_committed_in_the_order_they_were_staged(engine: Engine) -> None:
    with Session(engine) as session:
        for key in ("a", "b", "c"):
            stage(session, key)
        session.commit()
    assert committed(engine) == ["a", "b", "c"]


def test_a_rolled_back_savepoint_drops_only_what_was_staged_inside_it(engine: Engine) -> None:
    with Session(engine) as session:
        stage(session, "before")
        savepoint = session.begin_nested()
        stage(session, "inside")
        savepoint.rollback()
        kept = session.begin_nested()
        stage(session, "kept")
        kept.commit()
        stage(session, "after")
        session.commit()
    assert committed(engine) == ["before", "kept", "after"]


def test_a_transaction_rolled_back_or_never_committed_writes_nothing(engine: Engine) -> None:
    with Session(engine) as session:
        stage(session, "rolled back")
        session.rollback()
        stage(session, "committed")
        session.commit()
    with Session(engine) as session:
        stage(session, "never committed")
    assert committed(engine) == ["committed"]


def test_the_transaction_that_staged_rows_sees_them(engine: Engine) -> None:
    table = outbox.outbox_table(SERVICE)
    with Session(engine) as session:
        event_id = stage(session, "a")
        assert session.exec(select(table.event_id)).all() == [event_id]
        stage(session, "b")
        session.execute(delete(table).where(col(table.key) == "a"))
        session.commit()
    assert committed(engine) == ["b"]


def test_a_commit_that_wrote_outbox_rows_wakes_the_relay(engine: Engine) -> None:
    """Without the wake the relay would sleep for its whole (hour-long) poll interval."""
    topics_sent: list[str] = []

    def commit_one() -> None:
        with Session(engine) as session:
            stage(session, "a")
            session.commit()

    async def scenario() -> None:
        sent = asyncio.Event()

        async def publish(body: bytes, topic: str, **_options: object) -> asyncio.Future[None]:
            topics_sent.append(topic)
            sent.set()
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done

        relay = outbox.OutboxRelay(engine, publish, name=SERVICE, poll_interval=3600)
        relay.start()
        try:
            await asyncio.sleep(0)  # its first drain finds nothing; then it waits
            await asyncio.to_thread(commit_one)  # as a consumer batch commits, in a worker
            await asyncio.wait_for(sent.wait(), timeout=60)
        finally:
            await relay.stop()

    asyncio.run(scenario())
    assert set(topics_sent) == {topics.RECORDS}  # a stop in mid-batch may send it again
    assert committed(engine) == []
