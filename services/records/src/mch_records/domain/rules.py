"""The records rules, over plain values: which revision wins, which registration date is kept,
what a void reaches, and when an event waits for the record it refers to.

Facility systems send late, twice, out of order and corrected, so each rule gives the same answer
whatever order the events arrive in. Storage (``recording``, ``lookups``) loads the values these
functions need for a whole batch, asks them, and writes what they decide.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from mch_events.contracts.results import Problem, ReasonCode

from .checks import Reference

Verdict = Literal["newer", "duplicate", "stale"]
"""``newer``: the incoming revision replaces the stored one; ``duplicate``: it is the stored one
again; ``stale``: an older revision than the stored one."""


# -- revisions -------------------------------------------------------------------------------------


def revision_verdict(incoming: int, stored: int | None) -> Verdict:
    """Of the revisions of one record or registration, the highest wins (``stored`` None: none
    stored yet)."""
    if stored is None or incoming > stored:
        return "newer"
    return "duplicate" if incoming == stored else "stale"


@dataclass(frozen=True)
class Registration:
    verdict: Verdict
    registered_on: dt.date
    """The registration date to keep: the earliest among the revisions received."""


def registration(
    incoming_revision: int,
    incoming_date: dt.date,
    stored_revision: int | None,
    stored_date: dt.date | None,
) -> Registration:
    """A registration (a person's, a pregnancy's): the highest revision wins, and its date is the
    earliest date among all revisions received, so a correction sent later does not move it and
    neither does the order the revisions arrive in."""
    verdict = revision_verdict(incoming_revision, stored_revision)
    kept = incoming_date if stored_date is None else min(stored_date, incoming_date)
    return Registration(verdict, kept)


def death_verdict(
    incoming_revision: int,
    incoming_date: dt.date,
    stored_revision: int | None,
    stored_date: dt.date | None,
) -> Verdict:
    """Of two deaths of one person the higher revision wins, then the earlier date."""
    if stored_revision is None or stored_date is None:
        return "newer"
    incoming = (incoming_revision, -incoming_date.toordinal())
    current = (stored_revision, -stored_date.toordinal())
    if incoming > current:
        return "newer"
    return "duplicate" if incoming == current else "stale"


def residence_change_verdict(
    incoming_revision: int,
    incoming_code: str,
    stored_revision: int | None,
    stored_code: str | None,
) -> Verdict:
    """Of two residence changes for one date the higher revision wins, then the lower org-unit
    code, so a tie cannot depend on the order they arrive in."""
    if stored_revision is None or stored_code is None:
        return "newer"
    if (incoming_revision, incoming_code) == (stored_revision, stored_code):
        return "duplicate"
    if incoming_revision < stored_revision or (
        incoming_revision == stored_revision and incoming_code > stored_code
    ):
        return "stale"
    return "newer"


def residence_on(periods: Iterable[tuple[dt.date | None, str]], on: dt.date) -> str | None:
    """The residence in force on a date, of ``(effective_date, code)`` periods: the latest change
    on or before it, else the one given at registration (``effective_date`` None)."""
    best: tuple[dt.date, str] | None = None
    for effective, code in periods:
        if effective is not None and effective > on:
            continue
        start = effective or dt.date.min
        if best is None or start >= best[0]:
            best = (start, code)
    return best[1] if best is not None else None


# -- voids -----------------------------------------------------------------------------------------


def void_replaces(
    incoming_date: dt.date, incoming_event: str, kept_date: dt.date, kept_event: str
) -> bool:
    """Of two voids of one target the earliest (then the lowest event id) is the one kept, so which
    is kept does not depend on the order they arrive in."""
    return (incoming_date, incoming_event) < (kept_date, kept_event)


@dataclass(frozen=True)
class Delivery:
    """What a child's delivery says of it, at the delivery's current revision."""

    voided: bool
    live_born: Collection[str]
    """The ids of the babies born alive."""


def person_voided(person_id: str, *, voided_itself: bool, delivery: Delivery | None) -> bool:
    """A person is voided when voided itself, or, for a child created by a delivery, when the
    delivery is voided or no longer lists the child as born alive (a correction can bring it
    back)."""
    if voided_itself:
        return True
    if delivery is None:
        return False
    return delivery.voided or person_id not in delivery.live_born


def record_voided(*, voided_itself: bool, person_voided: bool) -> bool:
    """A record is voided when voided itself or when the person it is about is: a void of a person
    reaches every record about them, and a void of a delivery every child it created and, through
    them, their records."""
    return voided_itself or person_voided


# -- holding ---------------------------------------------------------------------------------------


def first_missing(
    references: Sequence[Reference], people: Collection[str], record_kinds: Mapping[str, str]
) -> Reference | None:
    """The first reference an event makes to a record that has not arrived, of the ids of the
    ``people`` stored and the kinds of the records stored (by id); the event is held until it
    arrives. A pregnancy must be a pregnancy; a plain record reference may name a person too (a
    void of a person)."""
    for ref in references:
        key = str(ref.id)
        if ref.kind == "person":
            found = key in people
        elif ref.kind == "pregnancy":
            found = record_kinds.get(key) == "pregnancy"
        else:
            found = key in record_kinds or key in people
        if not found:
            return ref
    return None


def held_problem(ref: Reference, hold_for: dt.timedelta) -> Problem:
    """Why an event is answered ``held``."""
    return Problem(
        code=ReasonCode.UNKNOWN_REFERENCE,
        field=ref.field,
        rule="held_until_reference_arrives",
        message=f"waiting for {ref.kind} {ref.id}; held until it arrives "
        f"(at most {hold_for.days} days)",
    )


def expired_problem(waiting_field: str, waiting_for: str, received_at: dt.datetime) -> Problem:
    """Why a held event whose reference never came is rejected."""
    return Problem(
        code=ReasonCode.UNKNOWN_REFERENCE,
        field=waiting_field,
        rule="reference_arrives_within_hold_time",
        message=f"{waiting_field} {waiting_for} never arrived "
        f"(held since {received_at:%Y-%m-%d %H:%M})",
    )
