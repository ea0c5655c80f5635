"""What the growth service publishes on ``mch.growth.v1`` (keyed by child id)."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from pydantic import Field

from .common import InternalContract, OrgUnitCode, Revisioned, Sex


class ZScore(InternalContract):
    value: float | None
    """Full precision; None where undefined (out of range, missing measurement, oedema)."""
    flagged: bool = False
    """Outside WHO's plausibility limits: reported, left out of prevalence."""


class GrowthAssessed(Revisioned):
    """One child visit scored against the WHO standards. Names what produced it, so any
    provincial figure can be traced back and reproduced."""

    visit_id: UUID
    child_id: UUID
    facility: OrgUnitCode
    residence: OrgUnitCode
    visit_date: dt.date
    sex: Sex
    birth_date: dt.date
    age_days: int
    waz: ZScore | None = None
    lhaz: ZScore | None = None
    whz: ZScore | None = None
    baz: ZScore | None = None
    hcaz: ZScore | None = None
    oedema: bool = False
    classification: list[str] = Field(default_factory=list)
    """E.g. ``underweight_moderate``, ``stunting_severe``, ``wasting_moderate``, ``overweight``."""
    faltering: bool = False
    reference: str
    engine_version: str
