"""What the immunization service publishes on ``mch.immunization.v1`` (keyed by person id)."""

from __future__ import annotations

import datetime as dt
from typing import Literal
from uuid import UUID

from .common import InternalContract, OrgUnitCode


class ImmunizationStatusChanged(InternalContract):
    """A change in a person's immunization status, as of ``as_of``."""

    person_id: UUID
    change: Literal[
        "dose_overdue", "dose_given", "series_complete", "fully_immunized", "protected_at_birth"
    ]
    as_of: dt.date
    residence: OrgUnitCode
    vaccine: str | None = None
    dose: int | None = None
    since: dt.date | None = None
    schedule_version: str
