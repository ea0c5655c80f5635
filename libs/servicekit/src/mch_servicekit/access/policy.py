"""Who may do what, where: the one access policy of the platform.

A decision depends on the token's roles, the org-unit subtrees it covers, and the org unit the
request is about, evaluated on the effective-dated org-unit tree for the date the request is about:
a token for a district abolished on 01/07/2025 covers that district's communes for dates before,
because the tree of those dates has them under it, and nothing after.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from mch_events.orgtree import OrgTree

if TYPE_CHECKING:
    from .tokens import Principal


class Role(StrEnum):
    HEALTH_WORKER = "health_worker"
    """Serves the families of her area: their handbooks, named lists, and the area's numbers."""
    MANAGER = "manager"
    """District or province health manager: the area's numbers, no named records."""
    DATA_MANAGER = "data_manager"
    """Keeps the area's data right: named records, duplicates and merges, rejected events."""
    FACILITY_SYSTEM = "facility_system"
    """A facility's software (client credentials): submits its own facility's events."""
    OPERATOR = "operator"
    """Runs the platform: reference data, the audit log; no health data."""


ROLE_NAMES = frozenset(r.value for r in Role)


class Action(StrEnum):
    READ_REFERENCE = "read_reference"
    """Org units, schedules, calculators that keep nothing (no personal data)."""
    READ_AGGREGATES = "read_aggregates"
    """Indicator values of an org unit."""
    READ_NAMED = "read_named"
    """A named person's record or a list of named people (handbook, defaulters, duplicates)."""
    CHANGE_NAMED = "change_named"
    """Merging people, dismissing likely duplicates."""
    SUBMIT_EVENTS = "submit_events"
    """Facility events, for a facility."""
    READ_REJECTIONS = "read_rejections"
    """A facility's rejected events, with their payloads (which name people)."""
    EXPORT_NAMED = "export_named"
    """Everything held about one person, with the audit entries about them (subject access)."""
    ERASE_NAMED = "erase_named"
    """Anonymising a person on a lawful request (identifiers cleared everywhere)."""
    MANAGE_REFERENCE = "manage_reference"
    """Org-unit tree imports, schedule uploads."""
    READ_AUDIT = "read_audit"
    """Who read or changed which person's record."""
    OPERATE = "operate"
    """Running a service: republishing its state after the broker lost its log."""
    REBUILD = "rebuild"
    """Rebuilding reporting's tables from the log (the answers stay the same; nothing is shown)."""


PERMISSIONS: Mapping[Role, frozenset[Action]] = {
    Role.HEALTH_WORKER: frozenset(
        {Action.READ_REFERENCE, Action.READ_AGGREGATES, Action.READ_NAMED}
    ),
    Role.MANAGER: frozenset({Action.READ_REFERENCE, Action.READ_AGGREGATES}),
    Role.DATA_MANAGER: frozenset(
        {
            Action.READ_REFERENCE,
            Action.READ_AGGREGATES,
            Action.READ_NAMED,
            Action.CHANGE_NAMED,
            Action.SUBMIT_EVENTS,
            Action.READ_REJECTIONS,
            Action.EXPORT_NAMED,
            Action.ERASE_NAMED,
            Action.REBUILD,
        }
    ),
    Role.FACILITY_SYSTEM: frozenset(
        {Action.READ_REFERENCE, Action.SUBMIT_EVENTS, Action.READ_REJECTIONS}
    ),
    Role.OPERATOR: frozenset(
        {
            Action.READ_REFERENCE,
            Action.MANAGE_REFERENCE,
            Action.READ_AUDIT,
            Action.OPERATE,
            # Carrying out an erasure reads nothing: the operator never sees the record.
            Action.ERASE_NAMED,
            Action.REBUILD,
        }
    ),
}

AREA_BOUND = frozenset(
    {
        Action.READ_AGGREGATES,
        Action.READ_NAMED,
        Action.CHANGE_NAMED,
        Action.SUBMIT_EVENTS,
        Action.READ_REJECTIONS,
        Action.EXPORT_NAMED,
        Action.ERASE_NAMED,
    }
)
"""Actions about an org unit (or a facility): allowed only inside the token's subtrees."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    """Why, in words that name no person: fit for a 403 body and the audit log."""


def may(principal: Principal, action: Action) -> bool:
    """Whether some role of the token allows the action somewhere."""
    return any(
        action in PERMISSIONS[role]
        and (role is not Role.FACILITY_SYSTEM or principal.facility is not None)
        for role in principal.roles
    )


def covers(scopes: Iterable[str], code: str, tree: OrgTree | None, on: dt.date | None) -> bool:
    """Whether ``code`` lies in one of the subtrees rooted at ``scopes`` on ``on``; a unit no
    longer in force then is placed where it was on its last day (a commune merged away in 2025
    stays in its district's history).

    Without a tree only the roots themselves are covered: a service that keeps no tree refuses
    rather than guesses."""
    roots = set(scopes)
    if code in roots:
        return True
    if tree is None or on is None:
        return False
    day = tree.last_in_force(code, on)
    return day is not None and not roots.isdisjoint(tree.path(code, day))


def decide(
    principal: Principal,
    action: Action,
    *,
    orgunit: str | None = None,
    facility: str | None = None,
    tree: OrgTree | None = None,
    on: dt.date | None = None,
) -> Decision:
    """May ``principal`` do ``action`` about ``orgunit`` (or for ``facility``) on ``on``?

    An area-bound action needs the org unit or facility it is about; a facility system is bound to
    its own facility, every other role to the subtrees of its token."""
    roles = [r for r in principal.roles if action in PERMISSIONS[r]]
    if not roles:
        return Decision(False, f"no role of the token may {action.value}")
    if action not in AREA_BOUND:
        return Decision(True, f"{roles[0].value} may {action.value}")
    for role in roles:
        if role is Role.FACILITY_SYSTEM:
            if facility is not None and principal.facility == facility:
                return Decision(True, "the facility's own system")
            continue
        target = orgunit if orgunit is not None else facility
        if target is not None and covers(principal.orgunits, target, tree, on):
            return Decision(True, f"{role.value} of the area")
    return Decision(False, f"{action.value} is outside the token's area")
