"""Upserts where the newer revision wins, set-based: the rows of a batch are staged in the session
(``mch_events.staging``) and written on commit in one ``INSERT ... ON CONFLICT DO UPDATE`` per
table, the database keeping the stored row when it has a higher revision. Nothing is read first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Insert

from mch_events import staging

Row = dict[str, Any]


def upsert_newest(table: Table, *, revision: str | None = "revision") -> staging.Target:
    """Where rows of ``table`` go when the newest revision of a record wins: a row replaces the
    stored one of its primary key when its ``revision`` is at least the stored one's (an equal one
    is the same record again); with ``revision=None``, the row last staged wins."""
    key = [c.name for c in table.primary_key.columns]
    statements: dict[str, Insert] = {}

    def statement(dialect: str) -> Insert:
        if dialect not in statements:
            insert = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
            changed = {c.name: insert.excluded[c.name] for c in table.columns if c.name not in key}
            where = None if revision is None else table.c[revision] <= insert.excluded[revision]
            statements[dialect] = insert.on_conflict_do_update(
                index_elements=key, set_=changed, where=where
            )
        return statements[dialect]

    def write(connection: Connection, rows: list[Row]) -> None:
        connection.execute(statement(connection.dialect.name), _newest(rows, key, revision))

    return staging.Target(table, write)


def _newest(rows: list[Row], key: list[str], revision: str | None) -> list[Row]:
    # One row per key: a statement may not change one row twice (PostgreSQL refuses it).
    newest: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        k = tuple(row[name] for name in key)
        kept = newest.get(k)
        if kept is None or revision is None or row[revision] >= kept[revision]:
            newest[k] = row
    return list(newest.values())
