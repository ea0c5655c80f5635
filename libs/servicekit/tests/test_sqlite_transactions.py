"""SQLite on one machine: a transaction that writes takes the write lock up front (so concurrent
writers queue instead of failing), and one that only reads never waits for a writer."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from mch_servicekit.db import make_engine, reads_only


def test_a_read_answers_while_a_write_is_open_and_a_second_writer_waits(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/facts.db")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE facts (n INTEGER)"))
            connection.execute(text("INSERT INTO facts VALUES (1)"))
        with engine.connect() as writer:
            writer.begin()
            writer.execute(text("INSERT INTO facts VALUES (2)"))  # uncommitted, lock held
            with reads_only(engine).connect() as reader, reader.begin():
                # The snapshot before the open write, at once.
                assert reader.execute(text("SELECT count(*) FROM facts")).scalar_one() == 1
            other = engine.raw_connection()
            try:
                raw = other.driver_connection
                assert isinstance(raw, sqlite3.Connection)
                # A writer queues for the lock; a short busy timeout shows it would wait.
                raw.execute("PRAGMA busy_timeout=50")
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    raw.execute("BEGIN IMMEDIATE")
            finally:
                other.close()
            writer.commit()
        with reads_only(engine).connect() as reader, reader.begin():
            assert reader.execute(text("SELECT count(*) FROM facts")).scalar_one() == 2
    finally:
        engine.dispose()
