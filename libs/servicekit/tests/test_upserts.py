"""Staged upserts where the newer revision wins: what a batch leaves in the table, on SQLite and on
PostgreSQL, whatever the order in which the revisions come, within a batch or across batches."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, select
from sqlmodel import Session

from mch_events import staging
from mch_servicekit.db import make_engine
from mch_servicekit.upserts import upsert_newest

METADATA = MetaData()
RECORDS = Table(
    "upsert_record",
    METADATA,
    Column("record_id", String(36), primary_key=True),
    Column("value", String(32), nullable=False),
    Column("revision", Integer, nullable=False),
)
LATEST = Table(
    "upsert_latest",
    METADATA,
    Column("key", String(36), primary_key=True),
    Column("value", String(32), nullable=False),
)
NEWEST = upsert_newest(RECORDS)
LAST = upsert_newest(LATEST, revision=None)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    METADATA.create_all(engine)
    yield engine
    engine.dispose()


def batch(engine: Engine, *rows: tuple[str, str, int]) -> None:
    with Session(engine) as session:
        for record_id, value, revision in rows:
            staging.stage(
                session, NEWEST, {"record_id": record_id, "value": value, "revision": revision}
            )
        session.commit()


def stored(engine: Engine, table: Table = RECORDS) -> dict[str, tuple[object, ...]]:
    with engine.connect() as conn:
        return {row[0]: tuple(row[1:]) for row in conn.execute(select(table))}


def test_the_highest_revision_wins_within_a_batch_whatever_the_order(engine: Engine) -> None:
    batch(engine, ("a", "second", 2), ("a", "first", 1), ("b", "one", 1), ("a", "third", 3))
    assert stored(engine) == {"a": ("third", 3), "b": ("one", 1)}


def test_an_older_revision_in_a_later_batch_leaves_the_stored_one(engine: Engine) -> None:
    batch(engine, ("a", "second", 2))
    batch(engine, ("a", "first", 1))
    assert stored(engine) == {"a": ("second", 2)}


def test_the_same_revision_again_is_the_same_record_and_is_written_again(engine: Engine) -> None:
    batch(engine, ("a", "first", 1))
    batch(engine, ("a", "first, corrected", 1), ("a", "first, again", 1))
    assert stored(engine) == {"a": ("first, again", 1)}


def test_without_a_revision_the_row_staged_last_wins(engine: Engine) -> None:
    with Session(engine) as session:
        for value in ("x", "y", "z"):
            staging.stage(session, LAST, {"key": "k", "value": value})
        session.commit()
    with Session(engine) as session:
        staging.stage(session, LAST, {"key": "k", "value": "later"})
        session.commit()
    assert stored(engine, LATEST) == {"k": ("later",)}


def test_a_rolled_back_batch_writes_nothing(engine: Engine) -> None:
    batch(engine, ("a", "kept", 1))
    with Session(engine) as session:
        staging.stage(session, NEWEST, {"record_id": "a", "value": "dropped", "revision": 2})
        session.rollback()
    assert stored(engine) == {"a": ("kept", 1)}
