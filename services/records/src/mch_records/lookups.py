"""What the gate looks up while it applies a batch: people, records, residences, voids and which ids
held events wait for. ``preload`` fetches them for a whole batch in a few queries; whatever was not
preloaded is queried when asked for, so the gate is correct with or without it.

One ``Lookups`` lives in ``session.info`` for the session's transaction. It caches what it loaded
and what the gate added, so it must not outlive changes that were rolled back: a savepoint rolled
back while the gate was storing drops it (the next event starts from the database again).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import event, inspect
from sqlmodel import Session, SQLModel, col, select

from .domain import rules
from .storage import HeldEvent, Person, Record, Residence, Void

_KEY = "mch_records.lookups"
_LISTENING = "mch_records.lookups.listening"
_IN_CHUNK = 500
_ID_FIELDS = (
    "mother_id",
    "child_id",
    "person_id",
    "pregnancy_id",
    "visit_id",
    "birth_id",
    "immunization_id",
    "record_id",
)
_MAX_MERGE_CHAIN = 32

_Row = TypeVar("_Row", bound=SQLModel)


def lookups(session: Session) -> Lookups:
    """The session's ``Lookups``, created on first use."""
    found = session.info.get(_KEY)
    if found is None:
        found = session.info[_KEY] = Lookups(session)
        if not session.info.get(_LISTENING):
            session.info[_LISTENING] = True
            event.listen(session, "after_soft_rollback", _forget_if_storing)
    assert isinstance(found, Lookups)
    return found


def _forget_if_storing(session: Session, _previous: Any) -> None:
    # Only a rollback in the middle of storing can leave the cache holding rows that are gone;
    # rejections happen before anything is stored.
    found = session.info.get(_KEY)
    if isinstance(found, Lookups) and found.storing:
        del session.info[_KEY]


def ids_in(data: Mapping[str, Any]) -> set[str]:
    """The person and record ids an event's (unvalidated) data names, in their stored form."""
    values: list[Any] = [data.get(name) for name in _ID_FIELDS]
    babies = data.get("babies")
    if isinstance(babies, list):
        values.extend(b.get("child_id") for b in babies if isinstance(b, dict))
    ids = set()
    for value in values:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                ids.add(str(uuid.UUID(value)))
    return ids


class Lookups:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._persons: dict[str, Person | None] = {}
        self._records: dict[str, Record | None] = {}
        self._residences: dict[str, list[Residence]] = {}
        self._voids: dict[str, Void | None] = {}
        self._waited_for: set[str] | None = None
        self._waiting: dict[str, list[HeldEvent]] = {}
        """Held events by the id they wait for, for the ids loaded."""
        self._held: dict[str, bool] = {}
        """Whether an event id is held, for the ids loaded."""
        self._storing = 0

    # -- loading a batch -------------------------------------------------------------------------
    def preload(self, ids: Iterable[str], event_ids: Iterable[str] = ()) -> None:
        """Fetch, in a few queries, the people, records, voids and residences ``ids`` name, the
        people the records are about, the events held waiting for ``ids`` and what those name,
        and which of ``event_ids`` are held."""
        wanted = self._preload_waiting(set(ids))
        self._preload_held(event_ids)
        wanted = {i for i in wanted if i not in self._persons or i not in self._records}
        if wanted:
            self._preload_ids(wanted)

    def _preload_waiting(self, wanted: set[str]) -> set[str]:
        """Loads the events held waiting for ``wanted``; returns ``wanted`` with the ids they
        name."""
        fresh = [i for i in wanted if i not in self._waiting]
        for i in fresh:
            self._waiting[i] = []
        for row in self._fetch(HeldEvent, HeldEvent.waiting_for, fresh):
            self._waiting[row.waiting_for].append(row)
            self._held[row.event_id] = True
            wanted |= ids_in(json.loads(row.envelope).get("data") or {})
        return wanted

    def _preload_held(self, event_ids: Iterable[str]) -> None:
        unknown = [e for e in set(event_ids) if e not in self._held]
        for row in self._fetch(HeldEvent, HeldEvent.event_id, unknown):
            self._held[row.event_id] = True
        for e in unknown:
            self._held.setdefault(e, False)

    def _preload_ids(self, wanted: set[str]) -> None:
        for row in self._fetch(Person, Person.person_id, list(wanted)):
            self._persons[row.person_id] = row
        for record in self._fetch(Record, Record.record_id, list(wanted)):
            self._records[record.record_id] = record
        for void in self._fetch(Void, Void.target_id, list(wanted)):
            self._voids[void.target_id] = void
        for i in wanted:
            self._persons.setdefault(i, None)
            self._records.setdefault(i, None)
            self._voids.setdefault(i, None)
        subjects = {r.person_id for i in wanted if (r := self._records[i]) is not None}
        missing = [p for p in subjects if p not in self._persons]
        for row in self._fetch(Person, Person.person_id, missing):
            self._persons[row.person_id] = row
        for p in missing:
            self._persons.setdefault(p, None)
        people = [p for p in {*wanted, *subjects} if self._persons.get(p) is not None]
        self._load_residences([p for p in people if p not in self._residences])

    def _fetch(self, model: type[_Row], column: object, ids: Sequence[str]) -> list[_Row]:
        """Rows by id. What this transaction added is cached already, so the query need not see
        it: not flushing first lets the batch's rows be written together at the end."""
        rows: list[_Row] = []
        with self.session.no_autoflush:
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                rows.extend(self.session.exec(select(model).where(col(column).in_(chunk))))
        return rows

    def _get(self, model: Any, key: str) -> Any:
        with self.session.no_autoflush:
            return self.session.get(model, key)

    def _load_residences(self, person_ids: Sequence[str]) -> None:
        for p in person_ids:
            self._residences[p] = []
        for row in self._fetch(Residence, Residence.person_id, person_ids):
            self._residences[row.person_id].append(row)

    # -- reading ---------------------------------------------------------------------------------
    def person(self, person_id: str) -> Person | None:
        if person_id not in self._persons:
            self._persons[person_id] = self._get(Person, person_id)
        return self._persons[person_id]

    def record(self, record_id: str) -> Record | None:
        if record_id not in self._records:
            self._records[record_id] = self._get(Record, record_id)
        return self._records[record_id]

    def void(self, target_id: str) -> Void | None:
        if target_id not in self._voids:
            self._voids[target_id] = self._get(Void, target_id)
        return self._voids[target_id]

    def residences(self, person_id: str) -> list[Residence]:
        if person_id not in self._residences:
            self._load_residences([person_id])
        return self._residences[person_id]

    def residence_on(self, person_id: str, on: dt.date) -> str:
        """The residence in force on a date: the latest change on or before it, else the one
        given at registration."""
        found = rules.residence_on(
            ((row.effective_date, row.residence) for row in self.residences(person_id)), on
        )
        if found is None:
            raise LookupError(f"person {person_id} has no residence")
        return found

    def resolve(self, person_id: str) -> str:
        """The person's id, or the id of the person it was merged into."""
        current = person_id
        for _ in range(_MAX_MERGE_CHAIN):
            person = self.person(current)
            if person is None or person.merged_into is None:
                return current
            current = person.merged_into
        raise RuntimeError(f"the merges from person {person_id} do not end")

    def waiting_for(self, record_id: str) -> list[HeldEvent]:
        """The events held waiting for this id, oldest id first."""
        if record_id not in self._waiting:
            if self._waited_for is None:  # one query per transaction spares one per id
                with self.session.no_autoflush:
                    rows = self.session.exec(select(HeldEvent.waiting_for).distinct())
                    self._waited_for = set(rows)
            found: list[HeldEvent] = []
            if record_id in self._waited_for:
                found = list(self._fetch(HeldEvent, HeldEvent.waiting_for, [record_id]))
            self._waiting[record_id] = found
        return sorted(self._waiting[record_id], key=lambda h: h.event_id)

    def is_held(self, event_id: str) -> bool:
        if event_id not in self._held:
            self._held[event_id] = self._get(HeldEvent, event_id) is not None
        return self._held[event_id]

    def records_of(self, person_id: str) -> list[Record]:
        rows = self.session.exec(
            select(Record).where(col(Record.person_id) == person_id).order_by(col(Record.care_date))
        ).all()
        return [self._cached_record(row) for row in rows]

    def children_of_birth(self, birth_id: str) -> list[Person]:
        rows = self.session.exec(select(Person).where(col(Person.birth_id) == birth_id)).all()
        return [self._cached_person(row) for row in rows]

    def children_of(self, mother_id: str) -> list[Person]:
        rows = self.session.exec(select(Person).where(col(Person.mother_id) == mother_id)).all()
        return [self._cached_person(row) for row in rows]

    def merged_into(self, person_id: str) -> list[Person]:
        rows = self.session.exec(select(Person).where(col(Person.merged_into) == person_id)).all()
        return [self._cached_person(row) for row in rows]

    def _cached_record(self, row: Record) -> Record:
        self._records[row.record_id] = row
        return row

    def _cached_person(self, row: Person) -> Person:
        self._persons[row.person_id] = row
        return row

    # -- writing ---------------------------------------------------------------------------------
    @property
    def storing(self) -> bool:
        return self._storing > 0

    @contextlib.contextmanager
    def storing_changes(self) -> Iterator[None]:
        """Wraps the gate's writes: a failure inside leaves the cache to be dropped."""
        self._storing += 1
        yield
        self._storing -= 1

    def add_person(self, person: Person, *, new: bool = False) -> None:
        self.session.add(person)
        self._persons[person.person_id] = person
        if new:
            self._residences.setdefault(person.person_id, [])

    def add_record(self, record: Record) -> None:
        self.session.add(record)
        self._records[record.record_id] = record

    def add_void(self, void: Void) -> None:
        self.session.add(void)
        self._voids[void.target_id] = void

    def add_residence(self, residence: Residence) -> None:
        self.session.add(residence)
        self.residences(residence.person_id).append(residence)

    def add_held(self, held: HeldEvent) -> None:
        self.waiting_for(held.waiting_for)  # loaded first: later lookups will not query for it
        self.session.add(held)
        self._held[held.event_id] = True
        if self._waited_for is not None:
            self._waited_for.add(held.waiting_for)
        self._waiting[held.waiting_for].append(held)

    def delete_held(self, held: HeldEvent) -> None:
        if inspect(held).pending:  # held and released in one transaction, never written
            self.session.expunge(held)
        else:
            self.session.delete(held)
        self._held[held.event_id] = False
        waiting = self._waiting.get(held.waiting_for)
        if waiting is not None and held in waiting:
            waiting.remove(held)
