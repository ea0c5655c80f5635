"""The org-unit versions received on ``mch.records.v1`` and the tree they make, cached until they
change: a residence's province decides roll-out scopes, and defaulter lists take an org unit's
subtree."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, select

from mch_events.contracts.records import OrgUnit
from mch_events.orgtree import OrgTreeError, OrgUnitNotInForce
from mch_events.orgtree_cache import OrgTreeCache

from .storage import ImmunizationOrgUnit


def store(session: Session, unit: OrgUnit) -> None:
    row = session.get(ImmunizationOrgUnit, (unit.code, unit.valid_from))
    row = row or ImmunizationOrgUnit(code=unit.code, valid_from=unit.valid_from, version="")
    row.version = unit.model_dump_json()
    session.add(row)


def stored_versions(session: Session) -> list[OrgUnit]:
    return [
        OrgUnit.model_validate_json(v) for v in session.exec(select(ImmunizationOrgUnit.version))
    ]


def tree_cache() -> OrgTreeCache[Session]:
    """The tree as the session a reader passes sees it; ``forget`` once received versions are
    committed. Raises ``OrgTreeError`` while they do not form a tree (a parent not received yet)."""
    return OrgTreeCache(stored_versions)


def ancestors(
    trees: OrgTreeCache[Session], session: Session, code: str, on: dt.date
) -> tuple[str, ...]:
    """The codes of the units that contain ``code`` on ``on`` (district, province, ...); none
    while the unit or a valid tree is unknown (roll-out scopes then match by code prefix)."""
    try:
        return trees.tree(session).path(code, on)[1:]
    except (OrgTreeError, OrgUnitNotInForce):
        return ()
