"""Database engines: SQLite for one machine, PostgreSQL for deployments, one code path for both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.pool import ConnectionPoolEntry


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.drivername == "postgresql":
        # psycopg 3 is the driver this project installs; plain "postgresql://" would mean psycopg2.
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # WAL lets the HTTP threads read while a consumer batch writes; NORMAL sync is durable in WAL.
    # The driver's own BEGIN is turned off so that _sqlite_begin decides how a transaction starts.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def reads_only(engine: Engine) -> Engine:
    """The same database and pool, for transactions that only read. On SQLite they start deferred:
    in WAL mode they read a snapshot beside a writer instead of queueing for the write lock, so a
    long consumer batch never makes an answer wait (nor fail once the busy timeout is over)."""
    return engine.execution_options(**{_READS_ONLY: True})


_READS_ONLY = "mch_reads_only"


def _sqlite_begin(connection: Connection) -> None:
    if connection.get_execution_options().get(_READS_ONLY):
        connection.exec_driver_sql("BEGIN")
        return
    # A deferred transaction that reads, then writes after another writer committed, fails at once
    # with "database is locked" (SQLite cannot wait for that). Taking the write lock up front makes
    # concurrent transactions (consumer batches, the outbox relay, HTTP requests) queue instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")
