"""What the immunization service publishes on ``mch.immunization.v1`` (keyed by person id)."""

from __future__ import annotations

import datetime as dt
from typing import Literal
from uuid import UUID

from .common import InternalContract, OrgUnitCode, Sex

StatusFact = Literal[
    "dose_overdue",
    "series_complete",
    "fully_immunized",
    "protected_at_birth",
    "dose_valid",
    "dose_timely",
]
Population = Literal["child", "women"]
"""Whose schedule: children's, or women's (tetanus, for mothers)."""


class ImmunizationStatusChanged(InternalContract):
    """One fact of a person's immunization status started to hold, moved to another date, or
    stopped holding.

    A fact is named by ``person_id``, ``status`` and, by status, ``vaccine`` and ``dose``
    (``dose_overdue``, ``dose_valid``, ``dose_timely``), ``vaccine`` (``series_complete``) or
    ``birth_id`` (``protected_at_birth``). ``dose_valid``: that dose of the schedule was given and
    counts (its series code and dose number as the schedule numbers them); ``dose_timely``: it
    was, moreover, given before it became overdue by its recommended age (age-timed doses only).
    A consumer upserts by that name; a person's events are in order (keyed by person), so the
    latest one is the fact's state. Only changes are published: a fact that never held has no
    event. When a person is voided or merged into another, every fact of theirs stops holding.
    """

    person_id: UUID
    status: StatusFact
    holds: bool
    since: dt.date
    """From when the fact holds (or held): for ``dose_overdue`` the dose's overdue date, for
    ``series_complete`` and ``fully_immunized`` the date of the dose that completed it, for
    ``protected_at_birth`` the delivery date, for ``dose_valid`` and ``dose_timely`` the date the
    dose was given."""
    until: dt.date | None = None
    """``dose_overdue`` that stopped holding: the date the dose was given, else the date of the
    person's death, else the day it was found no longer overdue (it expired, left the person's
    schedule, or the person's records were voided)."""
    vaccine: str | None = None
    """Series code of the schedule (``PENTA``, ``TT``)."""
    dose: int | None = None
    birth_id: UUID | None = None
    population: Population
    sex: Sex
    birth_date: dt.date
    residence: OrgUnitCode
    """The person's residence on ``as_of``."""
    as_of: dt.date
    """The date of the forecast that found the change."""
    schedule_version: str
    """``id@version`` of the schedule that produced the forecast."""
