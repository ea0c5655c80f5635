"""What the records service publishes on ``mch.records.v1`` (keyed by person id).

Each message is the current state of one record, so a consumer upserts by id: the highest
``revision`` wins and a ``voided`` record counts nowhere. Messages carry ids, dates, codes and
measurements, never names, phone numbers or national ids. The subject's sex, birth date and residence
on the date of the care ride along so that consumers need no lookups for attribution.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal
from uuid import UUID

from pydantic import Field

from .common import Code, InternalContract, OrgUnitCode, Position, Revisioned, Role, Sex
from .facility import AntenatalTests, Baby, BirthAttendant, BirthPlace, DeliveryMode, Vaccine


class ResidencePeriod(InternalContract):
    residence: OrgUnitCode
    effective_date: dt.date | None = None
    """None for the residence given at registration (in force until the first change)."""


class PersonState(Revisioned):
    """A mother or a child as the other services need them."""

    person_id: UUID
    role: Role
    sex: Sex
    birth_date: dt.date
    registered_on: dt.date
    residences: list[ResidencePeriod] = Field(min_length=1)
    mother_id: UUID | None = None
    died_on: dt.date | None = None
    merged_into: UUID | None = None
    """Set when this person was found to be a duplicate of another: follow the surviving id."""


class PregnancyState(Revisioned):
    pregnancy_id: UUID
    mother_id: UUID
    edd: dt.date
    lmp_date: dt.date | None = None
    registered_on: dt.date
    residence: OrgUnitCode
    gravida: int | None = None
    para: int | None = None


class AntenatalVisitRecorded(Revisioned):
    visit_id: UUID
    pregnancy_id: UUID
    mother_id: UUID
    facility: OrgUnitCode
    visit_date: dt.date
    residence: OrgUnitCode
    gestational_weeks: float | None = None
    weight_kg: float | None = None
    bp_systolic: int | None = None
    bp_diastolic: int | None = None
    fundal_height_cm: float | None = None
    fetal_heart_rate: int | None = None
    oedema: bool | None = None
    tests: AntenatalTests | None = None
    iron_folic: bool | None = None
    danger_signs: list[Code] = Field(default_factory=list)


class BirthRecorded(Revisioned):
    birth_id: UUID
    pregnancy_id: UUID
    mother_id: UUID
    facility: OrgUnitCode
    birth_date: dt.date
    birth_time: dt.datetime | None = None
    residence: OrgUnitCode
    place: BirthPlace
    attendant: BirthAttendant
    mode: DeliveryMode
    babies: list[Baby]
    gestational_weeks: float | None = None


class PostnatalVisitRecorded(Revisioned):
    visit_id: UUID
    mother_id: UUID
    facility: OrgUnitCode
    visit_date: dt.date
    residence: OrgUnitCode
    child_id: UUID | None = None
    findings: list[Code] = Field(default_factory=list)


class ChildVisitRecorded(Revisioned):
    visit_id: UUID
    child_id: UUID
    facility: OrgUnitCode
    visit_date: dt.date
    sex: Sex
    birth_date: dt.date
    residence: OrgUnitCode
    weight_kg: float | None = None
    length_height_cm: float | None = None
    measured: Position | None = None
    head_cm: float | None = None
    muac_cm: float | None = None
    oedema: bool | None = None
    vitamin_a: bool | None = None
    deworming: bool | None = None


class ImmunizationRecorded(Revisioned):
    immunization_id: UUID
    person_id: UUID
    facility: OrgUnitCode
    date: dt.date
    vaccine: Vaccine
    dose: int | None = None
    sex: Sex
    birth_date: dt.date
    residence: OrgUnitCode


class PersonsMerged(InternalContract):
    """``duplicate_id`` was the same person as ``surviving_id``: move everything of it over."""

    duplicate_id: UUID
    surviving_id: UUID
    merged_on: dt.date


class PersonErased(InternalContract):
    """The person was anonymised on a lawful request: drop or anonymise what is held about them
    (identifiers, and anything that serves finding or contacting them). Pseudonymous facts that
    aggregates count may stay."""

    person_id: UUID
    erased_on: dt.date


class OrgUnit(InternalContract):
    """One version of an org unit: the tree changes over time (the 2025 reform removed districts)."""

    code: OrgUnitCode
    name: str
    level: Literal["national", "province", "district", "commune", "facility"]
    parent: OrgUnitCode | None = None
    valid_from: dt.date
    valid_to: dt.date | None = None
    """Exclusive end; None while in force."""
    kind: str | None = None
    """What a facility is (``commune_station``, ``regional_centre``, ``district_hospital``,
    ``provincial_hospital``) or a grouping it belongs to."""
    region: OrgUnitCode | None = None
    """The regional health centre serving this commune (a grouping, not an admin level)."""
    illustrative: bool = False
    """True where the code was not confirmed against the national list."""
    successor: OrgUnitCode | None = None
    """For a version that ends (``valid_to``) with no version of the same code after it: the unit
    that takes over its people and facilities from that day (the 2025 mergers gave each old
    commune exactly one). What was counted at this code from then on counts there. Added
    compatibly to v1: absent means none."""
