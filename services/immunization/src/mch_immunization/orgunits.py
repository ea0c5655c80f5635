"""The org-unit tree, built from the versions received on ``mch.records.v1`` and cached until they
change: a residence's province decides roll-out scopes, and defaulter lists take an org unit's
subtree."""

from __future__ import annotations

import datetime as dt
import threading

from sqlmodel import Session, select

from mch_events.contracts.records import OrgUnit
from mch_events.orgtree import OrgTree, OrgTreeError, OrgUnitNotInForce

from .storage import ImmunizationOrgUnit


class OrgUnits:
    def __init__(self) -> None:
        self._tree: OrgTree | OrgTreeError | None = None
        self._generation = 0
        self._lock = threading.Lock()

    def store(self, session: Session, unit: OrgUnit) -> None:
        row = session.get(ImmunizationOrgUnit, (unit.code, unit.valid_from))
        row = row or ImmunizationOrgUnit(code=unit.code, valid_from=unit.valid_from, version="")
        row.version = unit.model_dump_json()
        session.add(row)

    def forget(self) -> None:
        """Drop the cached tree: versions changed (call again once they are committed, so that a
        reader in between does not keep the tree of an uncommitted transaction)."""
        with self._lock:
            self._tree = None
            self._generation += 1

    def tree(self, session: Session) -> OrgTree:
        """The tree as ``session`` sees it; raises ``OrgTreeError`` while the versions received do
        not form one."""
        with self._lock:
            tree, generation = self._tree, self._generation
        if tree is None:
            # Read without the lock: the caller may wait for the database, and a thread that
            # holds the database must never wait for this lock.
            rows = session.exec(select(ImmunizationOrgUnit.version)).all()
            try:
                tree = OrgTree(OrgUnit.model_validate_json(v) for v in rows)
            except OrgTreeError as error:
                tree = error
            with self._lock:
                if generation == self._generation:
                    self._tree = tree
        if isinstance(tree, OrgTreeError):
            raise tree
        return tree

    def ancestors(self, session: Session, code: str, on: dt.date) -> tuple[str, ...]:
        """The codes of the units that contain ``code`` on ``on`` (district, province, ...); none
        while the unit or a valid tree is unknown (roll-out scopes then match by code prefix)."""
        try:
            return self.tree(session).path(code, on)[1:]
        except (OrgTreeError, OrgUnitNotInForce):
            return ()
