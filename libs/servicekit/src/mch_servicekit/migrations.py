"""Alembic, driven from code: each service keeps its environment in ``mch_<service>/migrations``
and calls ``run_env`` from its ``env.py`` with the tables it owns.

Each service records its revision in a version table of its own (``alembic_version_<service>``), so
the four services can share one database or each have their own. A database migrated before that,
by one service, has the revision in ``alembic_version``: the service it belongs to takes it over.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from importlib.resources import files

from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import Connection, MetaData, Table, inspect, text
from sqlmodel import SQLModel

from .db import make_engine

LEGACY_VERSION_TABLE = "alembic_version"
SHARED_TABLES = frozenset({"outbox", "processed_event"})
"""The tables every service created under these names before each got tables of its own."""

_LOCK_KEY = zlib.crc32(b"mch-migrate")
"""One migration at a time per PostgreSQL database: services sharing one must not interleave."""


def version_table(service: str) -> str:
    return f"{LEGACY_VERSION_TABLE}_{service}"


def metadata_for(models: Sequence[type[SQLModel]]) -> MetaData:
    """A MetaData holding only one service's tables (all services share SQLModel's registry)."""
    metadata = MetaData()
    for model in models:
        table = model.__table__  # type: ignore[attr-defined]
        assert isinstance(table, Table)
        table.to_metadata(metadata)
    return metadata


def alembic_config(package: str, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files(package) / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(package: str, url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(package, url), revision)


def run_env(service: str, target_metadata: MetaData) -> None:
    """The body of every service's ``migrations/env.py``."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    versions = version_table(service)
    if context.is_offline_mode():
        context.configure(
            url=url, target_metadata=target_metadata, literal_binds=True, version_table=versions
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
            connection.commit()
        try:
            with connection.begin():
                _adopt_legacy_version(connection, service)
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                version_table=versions,
                render_as_batch=connection.dialect.name == "sqlite",
                # In a shared database the other services' tables are not this one's to drop.
                include_name=lambda name, kind, _parents: (
                    kind != "table" or name in target_metadata.tables
                ),
            )
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if postgres:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
                connection.commit()
    engine.dispose()


def _adopt_legacy_version(connection: Connection, service: str) -> None:
    """Rename ``alembic_version`` to the service's version table when it belongs to the service:
    the database holds tables of the service (named ``<service>_…``), or nothing but the tables
    every service has (a database migrated only to a first revision)."""
    tables = set(inspect(connection).get_table_names())
    mine = version_table(service)
    if LEGACY_VERSION_TABLE not in tables or mine in tables:
        return
    data = tables - {LEGACY_VERSION_TABLE} - SHARED_TABLES
    own = {t for t in data if t.startswith(f"{service}_")}
    if not own and data:
        return  # another service's database
    connection.execute(text(f"ALTER TABLE {LEGACY_VERSION_TABLE} RENAME TO {mine}"))
    if connection.dialect.name == "postgresql":
        connection.execute(
            text(f"ALTER TABLE {mine} RENAME CONSTRAINT {LEGACY_VERSION_TABLE}_pkc TO {mine}_pkc")
        )


def rename_shared_tables(service: str) -> None:
    """In a migration: give the service's ``outbox`` and ``processed_event``, created under those
    names by an earlier version of its first revision, the names of its own (``<service>_…``).
    A database created since has them under those names already, and is left as it is."""
    bind = op.get_bind()
    tables = set(inspect(bind).get_table_names())
    for old in sorted(SHARED_TABLES):
        new = f"{service}_{old}"
        if old not in tables or new in tables:
            continue
        op.rename_table(old, new)
        if bind.dialect.name == "postgresql":
            # What PostgreSQL named after the table, renamed so that a service migrating into
            # the same database later gets the names it expects.
            op.execute(f"ALTER TABLE {new} RENAME CONSTRAINT {old}_pkey TO {new}_pkey")
            if old == "outbox":
                op.execute(f"ALTER SEQUENCE {old}_id_seq RENAME TO {new}_id_seq")
