"""Facility events, v1: what commune stations and hospitals publish on ``mch.facility-events.v1``
or POST to the records service. Field names are a public contract: add optional fields, never rename.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from .common import Code, FacilityContract, OrgUnitCode, Position, Sex, ShortText, TestResult

Vaccine = Literal[
    "HEPB0", "BCG", "PENTA", "OPV", "IPV", "MCV1", "MR", "DPT4", "JE", "ROTA", "TD", "TT"
]
BirthPlace = Literal["facility", "home", "en_route"]
BirthAttendant = Literal["doctor", "midwife", "nurse", "trained_other", "untrained"]
DeliveryMode = Literal["vaginal", "caesarean", "assisted"]
BirthOutcome = Literal["live", "stillbirth"]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 .\-]{6,20}$")]
NationalId = Annotated[str, StringConstraints(pattern=r"^[0-9]{9,12}$")]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]


class MotherRegistered(FacilityContract):
    mother_id: UUID
    full_name: ShortText
    birth_date: dt.date
    residence: OrgUnitCode
    handbook_no: Identifier | None = None
    national_id: NationalId | None = None
    niis_id: Identifier | None = None
    phone: Phone | None = None
    ethnicity: ShortText | None = None


class PregnancyRegistered(FacilityContract):
    pregnancy_id: UUID
    mother_id: UUID
    edd: dt.date
    lmp_date: dt.date | None = None
    gravida: int | None = Field(default=None, ge=1, le=30)
    para: int | None = Field(default=None, ge=0, le=30)


class AntenatalTests(FacilityContract):
    hiv: TestResult | None = None
    syphilis: TestResult | None = None
    hepb: TestResult | None = None
    hemoglobin_g_dl: float | None = Field(default=None, gt=0, le=25)
    urine_protein: Literal["negative", "trace", "1+", "2+", "3+", "4+"] | None = None


class AntenatalVisit(FacilityContract):
    visit_id: UUID
    pregnancy_id: UUID
    facility: OrgUnitCode
    visit_date: dt.date
    gestational_weeks: float | None = Field(default=None, ge=0, le=45)
    weight_kg: float | None = Field(default=None, gt=0, le=250)
    bp_systolic: int | None = Field(default=None, ge=40, le=300)
    bp_diastolic: int | None = Field(default=None, ge=20, le=200)
    fundal_height_cm: float | None = Field(default=None, ge=0, le=60)
    fetal_heart_rate: int | None = Field(default=None, ge=0, le=250)
    oedema: bool | None = None
    tests: AntenatalTests | None = None
    iron_folic: bool | None = None
    danger_signs: list[Code] = Field(default_factory=list, max_length=32)


class Baby(FacilityContract):
    child_id: UUID
    sex: Sex
    outcome: BirthOutcome
    weight_g: int | None = Field(default=None, gt=0, le=10000)
    length_cm: float | None = Field(default=None, gt=0, le=80)
    head_cm: float | None = Field(default=None, gt=0, le=60)


class Birth(FacilityContract):
    birth_id: UUID
    pregnancy_id: UUID
    mother_id: UUID
    facility: OrgUnitCode
    birth_date: dt.date | dt.datetime
    place: BirthPlace
    attendant: BirthAttendant
    mode: DeliveryMode
    babies: list[Baby] = Field(min_length=1, max_length=8)
    gestational_weeks: float | None = Field(default=None, ge=16, le=45)


class PostnatalVisit(FacilityContract):
    visit_id: UUID
    mother_id: UUID
    facility: OrgUnitCode
    visit_date: dt.date
    child_id: UUID | None = None
    findings: list[Code] = Field(default_factory=list, max_length=32)


class ChildRegistered(FacilityContract):
    child_id: UUID
    sex: Sex
    birth_date: dt.date
    residence: OrgUnitCode
    mother_id: UUID | None = None
    full_name: ShortText | None = None


class ChildVisit(FacilityContract):
    visit_id: UUID
    child_id: UUID
    facility: OrgUnitCode
    visit_date: dt.date
    weight_kg: float | None = Field(default=None, gt=0, le=80)
    length_height_cm: float | None = Field(default=None, gt=0, le=200)
    measured: Position | None = None
    head_cm: float | None = Field(default=None, gt=0, le=70)
    muac_cm: float | None = Field(default=None, gt=0, le=40)
    oedema: bool | None = None
    vitamin_a: bool | None = None
    deworming: bool | None = None


class Immunization(FacilityContract):
    immunization_id: UUID
    person_id: UUID
    facility: OrgUnitCode
    date: dt.date
    vaccine: Vaccine
    dose: int | None = Field(default=None, ge=1, le=10)
    lot: Identifier | None = None


class Death(FacilityContract):
    person_id: UUID
    date: dt.date
    cause: ShortText | None = None


class ResidenceChanged(FacilityContract):
    person_id: UUID
    residence: OrgUnitCode
    effective_date: dt.date


class RecordVoided(FacilityContract):
    record_id: UUID
    reason: ShortText
