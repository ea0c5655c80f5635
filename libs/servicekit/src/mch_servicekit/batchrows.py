"""The rows a batch of events changes, loaded in a few queries before it is applied (the
``prepare`` of a ``mch_events.consume.BatchApply``) and found again without a query: a key loaded
and not found is known to have no row, so a batch of new records asks the database nothing more.

Kept in the session for its transaction; a savepoint rolled back drops them all (the objects may
have been expired with it), and ``get`` reads from the database again."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator
from typing import Any, TypeVar, cast

from sqlalchemy import event as sa_event
from sqlmodel import Session, SQLModel, select

IN_CHUNK = 500
"""Values per ``IN (...)`` list: well under every database's limit on bound parameters."""

Row = TypeVar("Row", bound=SQLModel)

_KEY = "mch_servicekit.batchrows"
_LISTENING = "mch_servicekit.batchrows.listening"


def in_chunks(
    session: Session, model: type[Row], column: Any, values: Collection[Any]
) -> Iterator[Row]:
    """The rows of ``model`` whose ``column`` is one of ``values``, a few hundred values a query."""
    ordered = sorted(set(values))
    for start in range(0, len(ordered), IN_CHUNK):
        yield from session.exec(select(model).where(column.in_(ordered[start : start + IN_CHUNK])))


class BatchRows:
    def __init__(self) -> None:
        self._rows: dict[tuple[type[SQLModel], Any], SQLModel | None] = {}
        self.derived: dict[str, Any] = {}
        """What a service keeps beside the rows for the batch (dropped with them)."""

    @staticmethod
    def start(session: Session) -> BatchRows:
        """A fresh set for the batch about to be applied in ``session``."""
        rows = session.info[_KEY] = BatchRows()
        if not session.info.get(_LISTENING):
            session.info[_LISTENING] = True
            sa_event.listen(session, "after_soft_rollback", _forget)
        return rows

    @staticmethod
    def of(session: Session) -> BatchRows | None:
        found = session.info.get(_KEY)
        return found if isinstance(found, BatchRows) else None

    def load(self, session: Session, model: type[Row], keys: Collection[Any]) -> list[Row]:
        """Load the rows of ``model`` with these (single-column) primary keys; the keys without
        one are remembered as having none."""
        column = next(iter(model.__table__.primary_key.columns))  # type: ignore[attr-defined]
        for key in keys:
            self._rows.setdefault((model, key), None)
        found = list(in_chunks(session, model, column, keys))
        for row in found:
            self.keep(row)
        return found

    def keep(self, row: SQLModel) -> None:
        """``row`` (loaded otherwise, or added by the batch) is found by its key from now on."""
        column = next(iter(type(row).__table__.primary_key.columns))  # type: ignore[attr-defined]
        self._rows[(type(row), getattr(row, column.name))] = row

    def known(self, model: type[SQLModel], key: Any) -> bool:
        return (model, key) in self._rows

    def get(self, session: Session, model: type[Row], key: Any) -> Row | None:
        """The row of ``model`` with primary key ``key``: kept, or read (and kept)."""
        if (model, key) not in self._rows:
            self._rows[(model, key)] = session.get(model, key)
        return cast(Row | None, self._rows[(model, key)])


def get(session: Session, model: type[Row], key: Any) -> Row | None:
    """``session.get``, through the batch's rows when it has some."""
    rows = BatchRows.of(session)
    return session.get(model, key) if rows is None else rows.get(session, model, key)


def keep(session: Session, row: SQLModel) -> None:
    """Add ``row`` to the session, and to the batch's rows when it has some."""
    session.add(row)
    rows = BatchRows.of(session)
    if rows is not None:
        rows.keep(row)


def named_id(value: object) -> set[str]:
    """The id an event's unvalidated data names in ``value``, in its stored form (none when it is
    not an id: the event is rejected when applied)."""
    try:
        return {str(uuid.UUID(str(value)))}
    except ValueError:
        return set()


def _forget(session: Session, _previous: object) -> None:
    session.info.pop(_KEY, None)
