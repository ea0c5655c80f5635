"""What the records service checks before it accepts a facility event: which date the care happened
on, which org-unit codes must exist, which records must exist first, and what is plausible."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from mch_events.contracts import facility as f
from mch_events.contracts.results import Problem, ReasonCode
from mch_events.envelope import VN_TZ

RefKind = Literal["person", "pregnancy", "record"]


@dataclass(frozen=True)
class Reference:
    field: str
    kind: RefKind
    id: UUID


def care_date(data: BaseModel, event_time: dt.datetime | None) -> dt.date:
    """The date the care happened: it decides the period an event counts in, never arrival."""
    match data:
        case f.AntenatalVisit() | f.PostnatalVisit() | f.ChildVisit():
            return data.visit_date
        case f.Birth():
            return _as_date(data.birth_date)
        case f.Immunization() | f.Death():
            return data.date
        case f.ResidenceChanged():
            return data.effective_date
    # Registrations and voids happened when the producer says (CloudEvent time, Vietnam's day).
    return (event_time or dt.datetime.now(VN_TZ)).astimezone(VN_TZ).date()


def _as_date(value: dt.date | dt.datetime) -> dt.date:
    if isinstance(value, dt.datetime):
        return (value.astimezone(VN_TZ) if value.tzinfo else value).date()
    return value


def birth_day(data: f.Birth) -> dt.date:
    return _as_date(data.birth_date)


def nul_characters(data: BaseModel) -> list[Problem]:
    """Text holding a NUL character, which PostgreSQL cannot store."""
    problems = []
    for path, value in _strings(data.model_dump(mode="json"), "data"):
        if "\x00" in value:
            problems.append(
                Problem(
                    code=ReasonCode.SCHEMA_VIOLATION,
                    field=path,
                    rule="no_nul_character",
                    message=f"{path} holds a NUL character",
                )
            )
    return problems


def _strings(value: object, path: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [s for i, v in enumerate(value) for s in _strings(v, f"{path}.{i}")]
    return []


def org_codes(data: BaseModel) -> list[tuple[str, str]]:
    """(field, code) pairs that must name an org unit in force on the care date."""
    codes = []
    for name in ("facility", "residence"):
        value = getattr(data, name, None)
        if isinstance(value, str):
            codes.append((f"data.{name}", value))
    return codes


def references(data: BaseModel) -> list[Reference]:
    """Records that must exist before this event can be stored; missing ones hold it."""
    match data:
        case f.PregnancyRegistered():
            return [Reference("data.mother_id", "person", data.mother_id)]
        case f.AntenatalVisit():
            return [Reference("data.pregnancy_id", "pregnancy", data.pregnancy_id)]
        case f.Birth():
            return [
                Reference("data.mother_id", "person", data.mother_id),
                Reference("data.pregnancy_id", "pregnancy", data.pregnancy_id),
            ]
        case f.PostnatalVisit():
            refs = [Reference("data.mother_id", "person", data.mother_id)]
            if data.child_id:
                refs.append(Reference("data.child_id", "person", data.child_id))
            return refs
        case f.ChildVisit():
            return [Reference("data.child_id", "person", data.child_id)]
        case f.Immunization() | f.Death() | f.ResidenceChanged():
            return [Reference("data.person_id", "person", data.person_id)]
        case f.RecordVoided():
            return [Reference("data.record_id", "record", data.record_id)]
    return []


@dataclass(frozen=True)
class Facts:
    """What is known about the records an event refers to (for plausibility)."""

    subject_birth_date: dt.date | None = None
    lmp_date: dt.date | None = None
    edd: dt.date | None = None
    today: dt.date = dt.date.max


def _implausible(field: str, rule: str, message: str) -> Problem:
    return Problem(code=ReasonCode.IMPLAUSIBLE_VALUE, field=field, rule=rule, message=message)


def plausibility(data: BaseModel, when: dt.date, facts: Facts) -> list[Problem]:
    """Values that pass the schema but cannot be right. Each problem names its field and rule."""
    problems: list[Problem] = []
    if when > facts.today + dt.timedelta(days=1):
        problems.append(
            _implausible("data", "not_in_future", f"the care date {when} is in the future")
        )
    born = facts.subject_birth_date
    if born is not None and when < born and not isinstance(data, f.RecordVoided):
        problems.append(
            _implausible(
                _date_field(data), "not_before_birth", f"{when} is before the birth on {born}"
            )
        )
    match data:
        case f.MotherRegistered():
            age = (when - data.birth_date).days / 365.25
            if not 10 <= age <= 60:
                problems.append(
                    _implausible(
                        "data.birth_date", "mother_age_10_60", f"a mother aged {age:.0f} years"
                    )
                )
        case f.PregnancyRegistered():
            problems.extend(_pregnancy_problems(data))
        case f.AntenatalVisit():
            problems.extend(_antenatal_problems(data, facts))
        case f.Birth():
            problems.extend(_birth_problems(data, facts))
        case f.ChildVisit():
            if data.measured == "standing" and data.length_height_cm and data.length_height_cm < 45:
                problems.append(
                    _implausible(
                        "data.length_height_cm",
                        "standing_height_min_45cm",
                        "a standing height under 45 cm",
                    )
                )
    return problems


def _pregnancy_problems(data: f.PregnancyRegistered) -> list[Problem]:
    problems: list[Problem] = []
    if data.lmp_date and not 240 <= (data.edd - data.lmp_date).days <= 310:
        problems.append(
            _implausible("data.edd", "edd_240_310_days_after_lmp", "edd is not ~280 days after lmp")
        )
    if data.gravida is not None and data.para is not None and data.para >= data.gravida:
        problems.append(
            _implausible("data.para", "para_below_gravida", "para must be below gravida")
        )
    return problems


def _antenatal_problems(data: f.AntenatalVisit, facts: Facts) -> list[Problem]:
    problems: list[Problem] = []
    if facts.lmp_date and data.visit_date < facts.lmp_date:
        problems.append(
            _implausible("data.visit_date", "visit_after_lmp", "visit before the last period")
        )
    if facts.edd and data.visit_date > facts.edd + dt.timedelta(days=56):
        problems.append(
            _implausible(
                "data.visit_date",
                "visit_before_edd_plus_8_weeks",
                "antenatal visit more than 8 weeks after the expected delivery date",
            )
        )
    if (
        data.bp_systolic is not None
        and data.bp_diastolic is not None
        and data.bp_systolic <= data.bp_diastolic
    ):
        problems.append(
            _implausible(
                "data.bp_systolic",
                "systolic_above_diastolic",
                "systolic pressure must exceed diastolic",
            )
        )
    return problems


def _birth_problems(data: f.Birth, facts: Facts) -> list[Problem]:
    problems: list[Problem] = []
    for i, baby in enumerate(data.babies):
        if baby.weight_g is not None and not 300 <= baby.weight_g <= 6500:
            problems.append(
                _implausible(
                    f"data.babies.{i}.weight_g",
                    "birth_weight_300_6500g",
                    f"a birth weight of {baby.weight_g} g",
                )
            )
        if baby.length_cm is not None and not 20 <= baby.length_cm <= 65:
            problems.append(
                _implausible(
                    f"data.babies.{i}.length_cm",
                    "birth_length_20_65cm",
                    f"a birth length of {baby.length_cm} cm",
                )
            )
    if facts.lmp_date and (birth_day(data) - facts.lmp_date).days < 16 * 7:
        problems.append(
            _implausible("data.birth_date", "birth_after_16_weeks", "birth before 16 weeks")
        )
    return problems


def _date_field(data: BaseModel) -> str:
    for name in ("visit_date", "date", "effective_date", "birth_date"):
        if name in type(data).model_fields:
            return f"data.{name}"
    return "data"
