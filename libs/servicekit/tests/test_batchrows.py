"""A batch's rows, loaded in a few queries, are found again without a query, missing ones too;
a savepoint rolled back makes the batch read from the database again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Field, Session, SQLModel

from mch_servicekit import batchrows
from mch_servicekit.batchrows import BatchRows, named_id
from mch_servicekit.db import make_engine


class BatchProbe(SQLModel, table=True):
    __tablename__ = "batchrows_probe"

    key: str = Field(primary_key=True)
    value: int = 0


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'rows.db'}")
    BatchProbe.__table__.create(engine)  # type: ignore[attr-defined]
    with Session(engine) as session:
        session.add_all([BatchProbe(key="a", value=1), BatchProbe(key="b", value=2)])
        session.commit()
    yield engine
    engine.dispose()


def counting(engine: Engine) -> list[str]:
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    return statements


def test_loaded_and_missing_rows_are_found_without_a_query(engine: Engine) -> None:
    with Session(engine) as session:
        rows = BatchRows.start(session)
        rows.load(session, BatchProbe, {"a", "b", "c", "d"})
        statements = counting(engine)
        assert batchrows.get(session, BatchProbe, "a").value == 1  # type: ignore[union-attr]
        assert batchrows.get(session, BatchProbe, "c") is None
        batchrows.keep(session, BatchProbe(key="c", value=3))
        assert batchrows.get(session, BatchProbe, "c").value == 3  # type: ignore[union-attr]
        assert statements == []
        assert batchrows.get(session, BatchProbe, "e") is None  # not loaded: read
        assert [s.split()[0] for s in statements] == ["INSERT", "SELECT"]  # "c" flushed first


def test_a_savepoint_rolled_back_drops_the_batch_rows(engine: Engine) -> None:
    with Session(engine) as session:
        BatchRows.start(session).load(session, BatchProbe, {"a"})
        savepoint = session.begin_nested()
        batchrows.keep(session, BatchProbe(key="z", value=9))
        savepoint.rollback()
        assert BatchRows.of(session) is None
        assert batchrows.get(session, BatchProbe, "z") is None


def test_an_id_is_named_in_its_stored_form_and_anything_else_names_nothing() -> None:
    assert named_id("6F9619FF-8B86-D011-B42D-00CF4FC964FF") == {
        "6f9619ff-8b86-d011-b42d-00cf4fc964ff"
    }
    assert named_id("not an id") == set()
    assert named_id(None) == set()
