"""Org-unit imports: validate the whole resulting tree, store the versions that changed, and publish
them so that the other services keep their own copy."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, select

from mch_events import outbox, topics
from mch_events.contracts.records import OrgUnit
from mch_events.envelope import new_event
from mch_events.orgtree import OrgTree
from mch_events.orgtree_cache import OrgTreeCache
from mch_servicekit.db import reads_only

from .storage import SERVICE, OrgUnitVersion

ORGUNITS_KEY = "orgunits"


@dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int
    unchanged: int


def stored_versions(session: Session) -> list[OrgUnit]:
    rows = session.exec(select(OrgUnitVersion)).all()
    return [OrgUnit.model_validate(row.model_dump()) for row in rows]


def tree_cache(engine: Engine) -> OrgTreeCache[Session]:
    """The tree of the stored versions, kept until an import has committed (``forget``); read
    through the caller's session when given one."""
    return OrgTreeCache(stored_versions, connect=lambda: Session(reads_only(engine)))


def import_versions(session: Session, units: list[OrgUnit], *, source: str) -> ImportSummary:
    """Upsert ``units`` (keyed by code and valid_from). Raises ``OrgTreeError`` listing every
    problem when the tree they would make is not valid; nothing is stored then."""
    current = {(u.code, u.valid_from): u for u in stored_versions(session)}
    merged = dict(current)
    merged.update({(u.code, u.valid_from): u for u in units})
    OrgTree(merged.values())  # validates; raises before anything is written
    created = updated = unchanged = 0
    for unit in in_dependency_order(units):
        before = current.get((unit.code, unit.valid_from))
        if before == unit:
            unchanged += 1
            continue
        row = session.get(OrgUnitVersion, (unit.code, unit.valid_from))
        if row is None:
            session.add(OrgUnitVersion(**unit.model_dump()))
            created += 1
        else:
            for name, value in unit.model_dump().items():
                setattr(row, name, value)
            session.add(row)
            updated += 1
        # One key for every org unit: one partition, so readers receive parents before children.
        outbox.add(
            session,
            new_event(unit, source=source),
            topic=topics.RECORDS,
            key=ORGUNITS_KEY,
            service=SERVICE,
        )
    return ImportSummary(created=created, updated=updated, unchanged=unchanged)


def in_dependency_order(units: list[OrgUnit]) -> list[OrgUnit]:
    """Parents, regional centres and successors before the units that refer to them (stable
    otherwise): a reader's tree is whole after each version it receives."""
    pending = list(units)
    known = {u.code for u in units}
    placed: set[str] = set()
    ordered: list[OrgUnit] = []
    while pending:
        ready = [
            u
            for u in pending
            if all(
                ref in placed or ref not in known
                for ref in (u.parent, u.region, u.successor)
                if ref
            )
        ]
        if not ready:  # a cycle: the tree check reports it; keep the rest as given
            ready = pending
        ordered += ready
        placed.update(u.code for u in ready)
        pending = [u for u in pending if u not in ready]
    return ordered
