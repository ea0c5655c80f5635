"""Rows staged in a session and written together, one statement per table, when its transaction
commits: building an ORM object per row and writing it through the unit of work costs the busiest
consumers most of their time, where one ``executemany`` per table costs little.

A savepoint rolled back drops what was staged inside it, as it would have dropped the rows; a
transaction rolled back, or closed without a commit, drops everything. The transaction that staged
rows sees them in its ORM queries (they are written before any statement that could read or change
them); a Core query through ``session.connection()`` sees them after ``write_staged``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from sqlalchemy import Table
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import ORMExecuteState, SessionTransaction
from sqlmodel import Session

Row = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Target:
    """Where staged rows go: ``write`` puts a list of them (in staging order) into ``table``."""

    table: Table
    write: Callable[[Connection, list[Row]], None]


def stage(session: Session, target: Target, row: Row) -> None:
    """Stage ``row`` for ``target`` in the caller's transaction."""
    staging = _staging(session)
    staging.rows.append((target, row))
    staging.tables.add(target.table)


def staged_count(session: Session, table: Table | None = None) -> int:
    """Rows staged in ``session`` (for ``table``, or in all) and not written yet."""
    staging = session.info.get(_STAGED)
    if not isinstance(staging, _Staging):
        return 0
    return sum(1 for target, _ in staging.rows if table is None or target.table is table)


def write_staged(session: Session) -> None:
    """Write the rows staged in ``session``: one ``write`` per target, targets in the order they
    were first staged to, rows in the order they were staged (done on commit)."""
    staging = session.info.get(_STAGED)
    if not isinstance(staging, _Staging) or not staging.rows:
        return
    by_target: dict[Target, list[Row]] = {}
    for target, row in staging.rows:
        by_target.setdefault(target, []).append(row)
    staging.rows.clear()
    staging.tables.clear()
    # Written rows belong to every transaction still open: a rollback of any of them undoes them.
    staging.marks = dict.fromkeys(staging.marks, 0)
    connection = session.connection()
    for target, rows in by_target.items():
        target.write(connection, rows)


_STAGED = "mch_events.staging"


@dataclasses.dataclass
class _Staging:
    rows: list[tuple[Target, Row]] = dataclasses.field(default_factory=list)
    tables: set[Table] = dataclasses.field(default_factory=set)
    """The tables of ``rows`` (or more, after a rollback)."""
    marks: dict[SessionTransaction, int] = dataclasses.field(default_factory=dict)
    """How many rows were staged when each savepoint began: rolling it back drops those after."""


def _staging(session: Session) -> _Staging:
    found = session.info.get(_STAGED)
    if found is None:
        found = session.info[_STAGED] = _Staging()
        # A transaction begun before the first row was staged holds them all (mark 0).
        sa_event.listen(session, "after_transaction_create", _mark)
        sa_event.listen(session, "after_soft_rollback", _drop_rolled_back)
        sa_event.listen(session, "after_transaction_end", _forget_at_end)
        sa_event.listen(session, "before_commit", write_staged)
        sa_event.listen(session, "do_orm_execute", _before_reading_staged)
    assert isinstance(found, _Staging)
    if not session.in_transaction():
        session.begin()  # so that a rollback, or closing without a commit, drops what is staged
    return found


def _mark(session: Session, transaction: SessionTransaction) -> None:
    staging = session.info.get(_STAGED)
    if isinstance(staging, _Staging):
        staging.marks[transaction] = len(staging.rows)


def _drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    staging = session.info.get(_STAGED)
    if isinstance(staging, _Staging):
        del staging.rows[staging.marks.pop(previous, 0) :]


def _forget_at_end(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended: committed (rows written already) or not (rows dropped).
    staging = session.info.get(_STAGED)
    if transaction.parent is None and isinstance(staging, _Staging):
        staging.rows.clear()
        staging.tables.clear()
        staging.marks.clear()


def _before_reading_staged(state: ORMExecuteState) -> None:
    # Written before any statement that may read or change a staged table, so the transaction
    # sees its rows as if they had been added one by one.
    staging = state.session.info.get(_STAGED)
    if not isinstance(staging, _Staging) or not staging.rows:
        return
    if not state.is_select:
        write_staged(state.session)  # type: ignore[arg-type]
        return
    if any(getattr(m, "local_table", None) in staging.tables for m in state.all_mappers):
        write_staged(state.session)  # type: ignore[arg-type]
