"""Facility data as accepted → what ``mch.records.v1`` carries: no names, no contact details, and the
subject's sex, birth date and residence on the care date for attribution."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from uuid import UUID

from pydantic import BaseModel

from mch_events.contracts import facility as f
from mch_events.contracts import records as r
from mch_events.contracts.common import Sex

from .checks import birth_day


@dataclass(frozen=True)
class Subject:
    """The person a record is about, as known when it is published."""

    person_id: UUID
    """Whom the record is about now: after a merge, the surviving person, whatever id the
    facility sent."""
    sex: Sex
    birth_date: dt.date
    residence: str
    """Residence on the record's care date."""
    merged: Mapping[UUID, UUID] = field(default_factory=dict)
    """Other people the record names (a baby, the child of a postnatal check) that were merged
    into someone else: duplicate id → surviving id."""

    def follow(self, person_id: UUID) -> UUID:
        return self.merged.get(person_id, person_id)


def project(
    data: BaseModel, subject: Subject, *, care_date: dt.date, revision: int, voided: bool
) -> tuple[BaseModel, str] | None:
    """The record's public form and its key (the person id); None for data published otherwise."""
    common = {"revision": revision, "voided": voided}
    key = str(subject.person_id)
    match data:
        case f.PregnancyRegistered():
            return r.PregnancyState(
                pregnancy_id=data.pregnancy_id,
                mother_id=subject.person_id,
                edd=data.edd,
                lmp_date=data.lmp_date,
                registered_on=care_date,
                residence=subject.residence,
                gravida=data.gravida,
                para=data.para,
                **common,
            ), key
        case f.AntenatalVisit():
            return r.AntenatalVisitRecorded(
                mother_id=subject.person_id,
                residence=subject.residence,
                **data.model_dump(),
                **common,
            ), key
        case f.Birth():
            when = data.birth_date
            babies = [
                b.model_copy(update={"child_id": subject.follow(b.child_id)}) for b in data.babies
            ]
            return r.BirthRecorded(
                **data.model_dump(exclude={"birth_date", "mother_id", "babies"}),
                mother_id=subject.person_id,
                babies=babies,
                birth_date=birth_day(data),
                birth_time=when if isinstance(when, dt.datetime) else None,
                residence=subject.residence,
                **common,
            ), key
        case f.PostnatalVisit():
            return r.PostnatalVisitRecorded(
                **data.model_dump(exclude={"mother_id", "child_id"}),
                mother_id=subject.person_id,
                child_id=subject.follow(data.child_id) if data.child_id else None,
                residence=subject.residence,
                **common,
            ), key
        case f.ChildVisit():
            return r.ChildVisitRecorded(
                **data.model_dump(exclude={"child_id"}),
                child_id=subject.person_id,
                sex=subject.sex,
                birth_date=subject.birth_date,
                residence=subject.residence,
                **common,
            ), key
        case f.Immunization():
            return r.ImmunizationRecorded(
                **data.model_dump(exclude={"lot", "person_id"}),
                person_id=subject.person_id,
                sex=subject.sex,
                birth_date=subject.birth_date,
                residence=subject.residence,
                **common,
            ), key
    return None
