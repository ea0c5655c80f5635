"""Merging a duplicate person into the person it duplicates.

The duplicate's records and children move to the surviving person; the duplicate stays, marked
``merged_into``, so its id keeps working: events that still name it are applied to the surviving
person. Everything that changed is published (``PersonsMerged``, the duplicate's state, each moved
record, each child whose mother changed), so every service follows. The surviving person's own
registration (name, identifiers, residences) is left as it is.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlmodel import Session

from mch_events.contracts.records import PersonsMerged

from .audit import log_access
from .lookups import lookups
from .publishing import emit, publish_person, publish_record


class MergeRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class MergeResult:
    status: Literal["merged", "already_merged"]
    duplicate_id: str
    surviving_id: str
    records_moved: int
    children_moved: int


def merge(
    session: Session,
    duplicate_id: str,
    surviving_id: str,
    *,
    user: str | None,
    today: dt.date,
    purpose: str | None = None,
) -> MergeResult:
    """Stage the merge in the caller's transaction; raises ``MergeRefused`` with an HTTP status."""
    known = lookups(session)
    if duplicate_id == surviving_id:
        raise MergeRefused(422, "a person cannot be merged into themselves")
    duplicate, surviving = known.person(duplicate_id), known.person(surviving_id)
    if duplicate is None:
        raise MergeRefused(404, f"no person {duplicate_id}")
    if surviving is None:
        raise MergeRefused(404, f"no person {surviving_id}")
    if duplicate.merged_into == surviving_id:
        return MergeResult("already_merged", duplicate_id, surviving_id, 0, 0)
    if duplicate.merged_into is not None:
        raise MergeRefused(409, f"{duplicate_id} was merged into {duplicate.merged_into} already")
    if surviving.merged_into is not None:
        raise MergeRefused(
            409, f"{surviving_id} was merged into {surviving.merged_into}: merge into that one"
        )
    if duplicate.role != surviving.role:
        raise MergeRefused(422, f"a {duplicate.role} cannot be merged into a {surviving.role}")
    if duplicate.voided or surviving.voided:
        raise MergeRefused(409, "a voided person cannot be merged")

    duplicate.merged_into = surviving_id
    known.add_person(duplicate)
    emit(
        known,
        PersonsMerged(
            duplicate_id=uuid.UUID(duplicate_id),
            surviving_id=uuid.UUID(surviving_id),
            merged_on=today,
        ),
        surviving_id,
    )
    publish_person(known, duplicate)
    records = known.records_of(duplicate_id)
    for row in records:
        row.person_id = surviving_id
        row.voided = known.void(row.record_id) is not None  # the survivor is not voided
        known.add_record(row)
        publish_record(known, row)
    children = known.children_of(duplicate_id)
    for child in children:
        child.mother_id = surviving_id
        known.add_person(child)
        publish_person(known, child)
    for earlier in known.merged_into(duplicate_id):  # no chains: each points at the survivor
        earlier.merged_into = surviving_id
        known.add_person(earlier)
        publish_person(known, earlier)
    log_access(session, user, "merge", duplicate_id, f"merged into {surviving_id}", purpose=purpose)
    log_access(
        session,
        user,
        "merge",
        surviving_id,
        f"{duplicate_id} merged into this person",
        purpose=purpose,
    )
    return MergeResult("merged", duplicate_id, surviving_id, len(records), len(children))
