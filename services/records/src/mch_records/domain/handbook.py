"""A person's history in the order of the paper handbook's parts, with the yellow boxes it prints.

Parts: I basic information (the person, residence, identifiers; for a mother her pregnancies'
obstetric history and tetanus doses); II pregnancy care (antenatal visits); III delivery, postpartum
and newborn care; IV child health (checks and immunizations; a mother's part IV lists her
children, whose own handbook views hold their checks). Voided records count nowhere and are left
out.

Yellow boxes (the paper book's "go to a facility" marks), with the thresholds as data:

- ``danger_signs``: an antenatal visit with danger signs, a postnatal check with findings;
- ``high_blood_pressure``: systolic ≥ 140 or diastolic ≥ 90 mmHg at an antenatal visit;
- ``low_birth_weight``: a live-born baby under 2,500 g;
- ``missed_antenatal_visits``: fewer visits than the schedule expects by a gestational age that
  has passed (by default at least 1 by week 12, 2 by week 28, 3 by week 36);
- ``no_postnatal_check_7_days``: a live birth more than 7 days ago with no postnatal check in its
  first 7 days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from mch_events.contracts import facility as f
from mch_events.contracts.common import Role, SexCode

from .checks import birth_day

HIGH_SYSTOLIC_MMHG = 140
HIGH_DIASTOLIC_MMHG = 90
LOW_BIRTH_WEIGHT_G = 2500
ANTENATAL_SCHEDULE: tuple[tuple[float, int], ...] = ((12, 1), (28, 2), (36, 3))
"""(gestational week, visits expected by then)."""
POSTNATAL_CHECK_DAYS = 7
TETANUS_VACCINES = frozenset({"TT", "TD"})
FULL_TERM_DAYS = 280

T = TypeVar("T", bound=BaseModel)
FlagCode = Literal[
    "danger_signs",
    "high_blood_pressure",
    "low_birth_weight",
    "missed_antenatal_visits",
    "no_postnatal_check_7_days",
]


# -- what the view is built from -------------------------------------------------------------------


@dataclass(frozen=True)
class PersonFacts:
    person_id: str
    role: Role
    sex: SexCode
    birth_date: dt.date
    registered_on: dt.date
    residences: Sequence[tuple[dt.date | None, str]]
    """(effective date, org-unit code); None for the residence given at registration."""
    full_name: str | None = None
    handbook_no: str | None = None
    national_id: str | None = None
    niis_id: str | None = None
    phone: str | None = None
    ethnicity: str | None = None
    mother_id: str | None = None
    birth_id: str | None = None
    died_on: dt.date | None = None
    merged_into: str | None = None
    voided: bool = False


RecordData = (
    f.PregnancyRegistered
    | f.AntenatalVisit
    | f.Birth
    | f.PostnatalVisit
    | f.ChildVisit
    | f.Immunization
)


@dataclass(frozen=True)
class StoredRecord:
    """A record as stored: its facility data at the winning revision."""

    record_id: str
    care_date: dt.date
    data: RecordData
    facility: str | None = None
    revision: int = 1
    voided: bool = False


@dataclass(frozen=True)
class ChildFacts:
    """A mother's child, as her part IV lists it."""

    person_id: str
    sex: SexCode
    birth_date: dt.date
    full_name: str | None = None
    died_on: dt.date | None = None


# -- the view --------------------------------------------------------------------------------------


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class Flag(_View):
    """A yellow box."""

    code: FlagCode
    message: str
    record_id: str | None = None
    date: dt.date | None = None


class Residence(_View):
    residence: str
    effective_date: dt.date | None = None


class Dose(_View):
    record_id: str
    date: dt.date
    vaccine: str
    dose: int | None = None
    facility: str


class ObstetricHistory(_View):
    pregnancy_id: str
    registered_on: dt.date
    edd: dt.date
    lmp_date: dt.date | None = None
    gravida: int | None = None
    para: int | None = None


class BasicInformation(_View):
    """Part I."""

    person_id: str
    role: Role
    full_name: str | None
    sex: SexCode
    birth_date: dt.date
    registered_on: dt.date
    residences: list[Residence]
    handbook_no: str | None = None
    national_id: str | None = None
    niis_id: str | None = None
    phone: str | None = None
    ethnicity: str | None = None
    mother_id: str | None = None
    died_on: dt.date | None = None
    merged_into: str | None = None
    """This record was found to be a duplicate: the person's history is under this id."""
    voided: bool = False
    pregnancies: list[ObstetricHistory] = []
    tetanus_doses: list[Dose] = []


class AntenatalEntry(_View):
    record_id: str
    visit_date: dt.date
    facility: str
    gestational_weeks: float | None = None
    weight_kg: float | None = None
    bp_systolic: int | None = None
    bp_diastolic: int | None = None
    fundal_height_cm: float | None = None
    fetal_heart_rate: int | None = None
    oedema: bool | None = None
    tests: f.AntenatalTests | None = None
    iron_folic: bool | None = None
    danger_signs: list[str] = []
    flags: list[Flag] = []


class PregnancyCare(_View):
    """Part II, one pregnancy."""

    pregnancy_id: str
    edd: dt.date
    lmp_date: dt.date | None
    gestational_weeks: float | None
    """At delivery, or today while the pregnancy goes on."""
    delivered_on: dt.date | None
    visits: list[AntenatalEntry]
    flags: list[Flag] = []


class BabyEntry(_View):
    child_id: str
    sex: SexCode
    outcome: str
    weight_g: int | None = None
    length_cm: float | None = None
    head_cm: float | None = None
    flags: list[Flag] = []


class PostnatalEntry(_View):
    record_id: str
    visit_date: dt.date
    facility: str
    child_id: str | None = None
    findings: list[str] = []
    flags: list[Flag] = []


class DeliveryCare(_View):
    """Part III, one delivery with its postnatal checks."""

    birth_id: str
    pregnancy_id: str
    birth_date: dt.date
    facility: str
    place: str
    attendant: str
    mode: str
    gestational_weeks: float | None = None
    babies: list[BabyEntry]
    postnatal_checks: list[PostnatalEntry]
    flags: list[Flag] = []


class ChildCheck(_View):
    record_id: str
    visit_date: dt.date
    facility: str
    age_days: int
    weight_kg: float | None = None
    length_height_cm: float | None = None
    measured: str | None = None
    head_cm: float | None = None
    muac_cm: float | None = None
    oedema: bool | None = None
    vitamin_a: bool | None = None
    deworming: bool | None = None


class ChildSummary(_View):
    person_id: str
    full_name: str | None
    sex: SexCode
    birth_date: dt.date
    died_on: dt.date | None = None


class ChildHealth(_View):
    """Part IV: a child's checks and doses, or a mother's children."""

    checks: list[ChildCheck] = []
    immunizations: list[Dose] = []
    children: list[ChildSummary] = []


class Handbook(_View):
    person_id: str
    role: Role
    as_of: dt.date
    basic_information: BasicInformation
    pregnancy_care: list[PregnancyCare]
    delivery_and_postnatal: list[DeliveryCare]
    child_health: ChildHealth
    flags: list[Flag]
    """Every yellow box of the parts above, in the order of the parts."""


# -- building it -----------------------------------------------------------------------------------


def mother_handbook(
    person: PersonFacts,
    records: Sequence[StoredRecord],
    children: Sequence[ChildFacts],
    today: dt.date,
) -> Handbook:
    """``records``: the mother's own records (pregnancies, visits, deliveries, doses)."""
    live = [r for r in records if not r.voided]
    births = _of(live, f.Birth)
    delivered = {data.pregnancy_id: birth_day(data) for _, data in births}
    visits = _of(live, f.AntenatalVisit)
    pregnancies = _of(live, f.PregnancyRegistered)
    part_ii = [
        pregnancy_care(
            record,
            [v for v, visit in visits if visit.pregnancy_id == data.pregnancy_id],
            delivered.get(data.pregnancy_id),
            today,
        )
        for record, data in pregnancies
    ]
    postnatal = [r for r, _ in _of(live, f.PostnatalVisit)]
    part_iii = [delivery_care(record, postnatal, today) for record, _ in births]
    basic = _basic(person).model_copy(
        update={
            "pregnancies": [_history(r, data) for r, data in pregnancies],
            "tetanus_doses": [
                _dose(r, data)
                for r, data in _of(live, f.Immunization)
                if data.vaccine in TETANUS_VACCINES
            ],
        }
    )
    part_iv = ChildHealth(
        children=[
            ChildSummary(
                person_id=c.person_id,
                full_name=c.full_name,
                sex=c.sex,
                birth_date=c.birth_date,
                died_on=c.died_on,
            )
            for c in sorted(children, key=lambda c: (c.birth_date, c.person_id))
        ]
    )
    return _handbook(person, today, basic, part_ii, part_iii, part_iv)


def child_handbook(
    person: PersonFacts,
    records: Sequence[StoredRecord],
    delivery: StoredRecord | None,
    postnatal: Sequence[StoredRecord],
    today: dt.date,
) -> Handbook:
    """``records``: the child's own records (checks, doses); ``delivery``: the delivery that
    created the child; ``postnatal``: the mother's postnatal checks after it."""
    live = [r for r in records if not r.voided]
    part_iii = []
    if delivery is not None and not delivery.voided:
        part_iii = [
            delivery_care(delivery, [p for p in postnatal if not p.voided], today, person.person_id)
        ]
    part_iv = ChildHealth(
        checks=[_check(r, data, person.birth_date) for r, data in _of(live, f.ChildVisit)],
        immunizations=[_dose(r, data) for r, data in _of(live, f.Immunization)],
    )
    return _handbook(person, today, _basic(person), [], part_iii, part_iv)


def pregnancy_care(
    pregnancy: StoredRecord,
    visits: Sequence[StoredRecord],
    delivered_on: dt.date | None,
    today: dt.date,
) -> PregnancyCare:
    data = pregnancy.data
    assert isinstance(data, f.PregnancyRegistered)
    entries = [
        _antenatal(v, data) for v in sorted(visits, key=lambda v: (v.care_date, v.record_id))
    ]
    as_of = delivered_on or min(today, data.edd + dt.timedelta(days=14))
    weeks = gestational_weeks(data, as_of)
    flags = []
    missed = missed_antenatal_visits(data, entries, as_of)
    if missed:
        flags.append(
            Flag(
                code="missed_antenatal_visits",
                message="fewer antenatal visits than expected: " + "; ".join(missed),
                record_id=pregnancy.record_id,
                date=as_of,
            )
        )
    return PregnancyCare(
        pregnancy_id=pregnancy.record_id,
        edd=data.edd,
        lmp_date=data.lmp_date,
        gestational_weeks=round(weeks, 1) if weeks is not None else None,
        delivered_on=delivered_on,
        visits=entries,
        flags=flags,
    )


def gestational_weeks(pregnancy: f.PregnancyRegistered, on: dt.date) -> float | None:
    """From the last period when known, else from the expected delivery date (40 weeks)."""
    if pregnancy.lmp_date is not None:
        days = (on - pregnancy.lmp_date).days
    else:
        days = FULL_TERM_DAYS - (pregnancy.edd - on).days
    return days / 7 if days >= 0 else None


def missed_antenatal_visits(
    pregnancy: f.PregnancyRegistered,
    visits: Sequence[AntenatalEntry],
    as_of: dt.date,
    schedule: Sequence[tuple[float, int]] = ANTENATAL_SCHEDULE,
) -> list[str]:
    """For each week of the schedule that has passed by ``as_of``, a note when fewer visits
    happened by then than expected."""
    weeks_now = gestational_weeks(pregnancy, as_of)
    if weeks_now is None:
        return []
    notes = []
    for week, expected in schedule:
        if weeks_now < week:
            break
        had = sum(
            1 for v in visits if v.gestational_weeks is not None and v.gestational_weeks <= week
        )
        if had < expected:
            notes.append(f"{had} by week {week:g}, at least {expected} expected")
    return notes


def delivery_care(
    delivery: StoredRecord,
    postnatal: Sequence[StoredRecord],
    today: dt.date,
    child_id: str | None = None,
) -> DeliveryCare:
    """A delivery and the postnatal checks of the 42 days after it; for a child's view
    (``child_id``), only that baby and the checks of the mother or of that child."""
    data = delivery.data
    assert isinstance(data, f.Birth)
    born = birth_day(data)
    window = [
        p
        for p in postnatal
        if isinstance(p.data, f.PostnatalVisit)
        and born <= p.data.visit_date <= born + dt.timedelta(days=42)
        and (child_id is None or p.data.child_id is None or str(p.data.child_id) == child_id)
    ]
    checks = [_postnatal(p) for p in sorted(window, key=lambda p: (p.care_date, p.record_id))]
    babies = [
        _baby(b, delivery.record_id, born)
        for b in data.babies
        if child_id is None or str(b.child_id) == child_id
    ]
    flags = []
    any_live = any(b.outcome == "live" for b in data.babies)
    deadline = born + dt.timedelta(days=POSTNATAL_CHECK_DAYS)
    if any_live and today > deadline and not any(c.visit_date <= deadline for c in checks):
        flags.append(
            Flag(
                code="no_postnatal_check_7_days",
                message=f"no postnatal check within {POSTNATAL_CHECK_DAYS} days of the birth "
                f"on {born}",
                record_id=delivery.record_id,
                date=deadline,
            )
        )
    return DeliveryCare(
        birth_id=delivery.record_id,
        pregnancy_id=str(data.pregnancy_id),
        birth_date=born,
        facility=data.facility,
        place=data.place,
        attendant=data.attendant,
        mode=data.mode,
        gestational_weeks=data.gestational_weeks,
        babies=babies,
        postnatal_checks=checks,
        flags=flags,
    )


def antenatal_flags(visit: f.AntenatalVisit, record_id: str) -> list[Flag]:
    flags = []
    if visit.danger_signs:
        flags.append(
            Flag(
                code="danger_signs",
                message="danger signs: " + ", ".join(visit.danger_signs),
                record_id=record_id,
                date=visit.visit_date,
            )
        )
    systolic, diastolic = visit.bp_systolic, visit.bp_diastolic
    if (systolic is not None and systolic >= HIGH_SYSTOLIC_MMHG) or (
        diastolic is not None and diastolic >= HIGH_DIASTOLIC_MMHG
    ):
        flags.append(
            Flag(
                code="high_blood_pressure",
                message=f"blood pressure {systolic or '?'}/{diastolic or '?'} mmHg "
                f"(≥ {HIGH_SYSTOLIC_MMHG}/{HIGH_DIASTOLIC_MMHG})",
                record_id=record_id,
                date=visit.visit_date,
            )
        )
    return flags


# -- helpers ---------------------------------------------------------------------------------------


def _of(records: Sequence[StoredRecord], model: type[T]) -> list[tuple[StoredRecord, T]]:
    """The records holding ``model`` data, each with its data narrowed to it, by care date."""
    found = [(r, r.data) for r in records if isinstance(r.data, model)]
    return sorted(found, key=lambda pair: (pair[0].care_date, pair[0].record_id))


def _basic(person: PersonFacts) -> BasicInformation:
    return BasicInformation(
        person_id=person.person_id,
        role=person.role,
        full_name=person.full_name,
        sex=person.sex,
        birth_date=person.birth_date,
        registered_on=person.registered_on,
        residences=[
            Residence(residence=code, effective_date=since)
            for since, code in sorted(person.residences, key=lambda r: r[0] or dt.date.min)
        ],
        handbook_no=person.handbook_no,
        national_id=person.national_id,
        niis_id=person.niis_id,
        phone=person.phone,
        ethnicity=person.ethnicity,
        mother_id=person.mother_id,
        died_on=person.died_on,
        merged_into=person.merged_into,
        voided=person.voided,
    )


def _history(pregnancy: StoredRecord, data: f.PregnancyRegistered) -> ObstetricHistory:
    return ObstetricHistory(
        pregnancy_id=pregnancy.record_id,
        registered_on=pregnancy.care_date,
        edd=data.edd,
        lmp_date=data.lmp_date,
        gravida=data.gravida,
        para=data.para,
    )


def _antenatal(visit: StoredRecord, pregnancy: f.PregnancyRegistered) -> AntenatalEntry:
    data = visit.data
    assert isinstance(data, f.AntenatalVisit)
    weeks = data.gestational_weeks
    if weeks is None:
        computed = gestational_weeks(pregnancy, data.visit_date)
        weeks = round(computed, 1) if computed is not None else None
    return AntenatalEntry(
        record_id=visit.record_id,
        visit_date=data.visit_date,
        facility=data.facility,
        gestational_weeks=weeks,
        weight_kg=data.weight_kg,
        bp_systolic=data.bp_systolic,
        bp_diastolic=data.bp_diastolic,
        fundal_height_cm=data.fundal_height_cm,
        fetal_heart_rate=data.fetal_heart_rate,
        oedema=data.oedema,
        tests=data.tests,
        iron_folic=data.iron_folic,
        danger_signs=list(data.danger_signs),
        flags=antenatal_flags(data, visit.record_id),
    )


def _baby(baby: f.Baby, birth_id: str, born: dt.date) -> BabyEntry:
    flags = []
    if baby.outcome == "live" and baby.weight_g is not None and baby.weight_g < LOW_BIRTH_WEIGHT_G:
        flags.append(
            Flag(
                code="low_birth_weight",
                message=f"birth weight {baby.weight_g} g (< {LOW_BIRTH_WEIGHT_G} g)",
                record_id=birth_id,
                date=born,
            )
        )
    return BabyEntry(
        child_id=str(baby.child_id),
        sex=baby.sex,
        outcome=baby.outcome,
        weight_g=baby.weight_g,
        length_cm=baby.length_cm,
        head_cm=baby.head_cm,
        flags=flags,
    )


def _postnatal(check: StoredRecord) -> PostnatalEntry:
    data = check.data
    assert isinstance(data, f.PostnatalVisit)
    flags = []
    if data.findings:
        flags.append(
            Flag(
                code="danger_signs",
                message="postnatal findings: " + ", ".join(data.findings),
                record_id=check.record_id,
                date=data.visit_date,
            )
        )
    return PostnatalEntry(
        record_id=check.record_id,
        visit_date=data.visit_date,
        facility=data.facility,
        child_id=str(data.child_id) if data.child_id else None,
        findings=list(data.findings),
        flags=flags,
    )


def _check(visit: StoredRecord, data: f.ChildVisit, born: dt.date) -> ChildCheck:
    return ChildCheck(
        record_id=visit.record_id,
        visit_date=data.visit_date,
        facility=data.facility,
        age_days=(data.visit_date - born).days,
        weight_kg=data.weight_kg,
        length_height_cm=data.length_height_cm,
        measured=data.measured,
        head_cm=data.head_cm,
        muac_cm=data.muac_cm,
        oedema=data.oedema,
        vitamin_a=data.vitamin_a,
        deworming=data.deworming,
    )


def _dose(dose: StoredRecord, data: f.Immunization) -> Dose:
    return Dose(
        record_id=dose.record_id,
        date=data.date,
        vaccine=data.vaccine,
        dose=data.dose,
        facility=data.facility,
    )


def _handbook(
    person: PersonFacts,
    today: dt.date,
    basic: BasicInformation,
    part_ii: list[PregnancyCare],
    part_iii: list[DeliveryCare],
    part_iv: ChildHealth,
) -> Handbook:
    flags = [
        *(flag for p in part_ii for v in p.visits for flag in v.flags),
        *(flag for p in part_ii for flag in p.flags),
        *(flag for d in part_iii for b in d.babies for flag in b.flags),
        *(flag for d in part_iii for c in d.postnatal_checks for flag in c.flags),
        *(flag for d in part_iii for flag in d.flags),
    ]
    return Handbook(
        person_id=person.person_id,
        role=person.role,
        as_of=today,
        basic_information=basic,
        pregnancy_care=part_ii,
        delivery_and_postnatal=part_iii,
        child_health=part_iv,
        flags=flags,
    )
