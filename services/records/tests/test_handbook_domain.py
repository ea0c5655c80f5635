"""The handbook view's rules: the parts in the paper book's order and its yellow boxes, at their
thresholds."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from mch_events.contracts import facility as f
from mch_records.domain import handbook as h

LMP = dt.date(2025, 6, 1)
EDD = dt.date(2026, 3, 8)
MOTHER = str(uuid.uuid4())
PREGNANCY = uuid.uuid4()


def mother(**fields: Any) -> h.PersonFacts:
    return h.PersonFacts(
        person_id=MOTHER,
        role="mother",
        sex="F",
        birth_date=dt.date(1996, 3, 2),
        registered_on=dt.date(2025, 7, 20),
        residences=[(None, "38001")],
        full_name="Lê Thị Hoa",
        **fields,
    )


def stored(data: h.RecordData, care_date: dt.date, *, voided: bool = False) -> h.StoredRecord:
    record_id = next(str(v) for k, v in data if k.endswith("_id"))
    return h.StoredRecord(record_id=record_id, care_date=care_date, data=data, voided=voided)


def pregnancy() -> h.StoredRecord:
    data = f.PregnancyRegistered(
        pregnancy_id=PREGNANCY, mother_id=uuid.UUID(MOTHER), edd=EDD, lmp_date=LMP
    )
    return stored(data, dt.date(2025, 7, 20))


def visit(on: dt.date, *, voided: bool = False, **fields: Any) -> h.StoredRecord:
    data = f.AntenatalVisit(
        visit_id=uuid.uuid4(), pregnancy_id=PREGNANCY, facility="TYT-38001", visit_date=on, **fields
    )
    return stored(data, on, voided=voided)


def delivery(on: dt.date, *babies: f.Baby) -> h.StoredRecord:
    data = f.Birth(
        birth_id=uuid.uuid4(),
        pregnancy_id=PREGNANCY,
        mother_id=uuid.UUID(MOTHER),
        facility="BVDK-38",
        birth_date=on,
        place="facility",
        attendant="doctor",
        mode="vaginal",
        babies=list(babies),
    )
    return stored(data, on)


def baby(outcome: str = "live", weight_g: int | None = 3100) -> f.Baby:
    return f.Baby(child_id=uuid.uuid4(), sex="F", outcome=outcome, weight_g=weight_g)


def check(birth: h.StoredRecord, on: dt.date, **fields: Any) -> h.StoredRecord:
    data = f.PostnatalVisit(
        visit_id=uuid.uuid4(),
        mother_id=uuid.UUID(MOTHER),
        facility="TYT-38001",
        visit_date=on,
        **fields,
    )
    return stored(data, on)


def codes(view: h.Handbook) -> list[str]:
    return [flag.code for flag in view.flags]


@pytest.mark.parametrize(
    ("systolic", "diastolic", "flagged"),
    [(139, 89, False), (140, 80, True), (120, 90, True), (None, 95, True)],
)
def test_blood_pressure_from_140_over_90_is_a_yellow_box(
    systolic: int | None, diastolic: int | None, flagged: bool
) -> None:
    data = visit(dt.date(2025, 8, 15), bp_systolic=systolic, bp_diastolic=diastolic).data
    assert isinstance(data, f.AntenatalVisit)
    assert [x.code for x in h.antenatal_flags(data, "v")] == (
        ["high_blood_pressure"] if flagged else []
    )


def test_danger_signs_at_a_visit_are_a_yellow_box_naming_them() -> None:
    data = visit(dt.date(2025, 8, 15), danger_signs=["vaginal_bleeding", "fever"]).data
    assert isinstance(data, f.AntenatalVisit)
    [flag] = h.antenatal_flags(data, "v")
    assert (flag.code, flag.message) == ("danger_signs", "danger signs: vaginal_bleeding, fever")


@pytest.mark.parametrize(
    ("weight_g", "outcome", "flagged"),
    [
        (2499, "live", True),
        (2500, "live", False),
        (None, "live", False),
        (1200, "stillbirth", False),
    ],
)
def test_a_live_born_baby_under_2500_g_is_a_yellow_box(
    weight_g: int | None, outcome: str, flagged: bool
) -> None:
    born = dt.date(2026, 3, 1)
    view = h.delivery_care(delivery(born, baby(outcome, weight_g)), [], today=born)
    assert [x.code for x in view.babies[0].flags] == (["low_birth_weight"] if flagged else [])


@pytest.mark.parametrize(
    ("visit_weeks", "today", "missed"),
    [
        ([], LMP + dt.timedelta(weeks=11), []),
        ([], LMP + dt.timedelta(weeks=13), ["0 by week 12, at least 1 expected"]),
        ([10], LMP + dt.timedelta(weeks=30), ["1 by week 28, at least 2 expected"]),
        ([10, 20], LMP + dt.timedelta(weeks=30), []),
        ([16, 20, 30], LMP + dt.timedelta(weeks=37), ["0 by week 12, at least 1 expected"]),
        ([10, 20, 30], LMP + dt.timedelta(weeks=37), []),
    ],
)
def test_fewer_antenatal_visits_than_expected_for_the_gestational_age_are_a_yellow_box(
    visit_weeks: list[int], today: dt.date, missed: list[str]
) -> None:
    visits = [visit(LMP + dt.timedelta(weeks=w)) for w in visit_weeks]
    view = h.pregnancy_care(pregnancy(), visits, None, today)
    notes = [n for flag in view.flags for n in flag.message.split(": ", 1)[1].split("; ")]
    assert notes == missed


def test_the_gestational_age_for_missed_visits_stops_at_delivery() -> None:
    visits = [visit(LMP + dt.timedelta(weeks=10))]
    view = h.pregnancy_care(
        pregnancy(), visits, LMP + dt.timedelta(weeks=27), LMP + dt.timedelta(weeks=45)
    )
    assert (view.flags, view.gestational_weeks) == ([], 27.0)


@pytest.mark.parametrize(
    ("days_since_birth", "check_day", "flagged"),
    [(8, 3, False), (8, None, True), (5, None, False), (20, 9, True)],
)
def test_no_postnatal_check_in_the_first_7_days_is_a_yellow_box(
    days_since_birth: int, check_day: int | None, flagged: bool
) -> None:
    born = dt.date(2026, 3, 1)
    birth = delivery(born, baby())
    checks = [] if check_day is None else [check(birth, born + dt.timedelta(days=check_day))]
    view = h.delivery_care(birth, checks, today=born + dt.timedelta(days=days_since_birth))
    assert [x.code for x in view.flags] == (["no_postnatal_check_7_days"] if flagged else [])


def test_a_mothers_handbook_follows_the_parts_of_the_paper_book_and_leaves_voids_out() -> None:
    born = dt.date(2026, 3, 1)
    twins = (baby(weight_g=2300), baby(weight_g=2600))
    birth = delivery(born, *twins)
    dose = f.Immunization(
        immunization_id=uuid.uuid4(),
        person_id=uuid.UUID(MOTHER),
        facility="TYT-38001",
        date=dt.date(2025, 8, 1),
        vaccine="TT",
        dose=1,
    )
    records = [
        pregnancy(),
        visit(LMP + dt.timedelta(weeks=10), bp_systolic=150, bp_diastolic=95),
        visit(LMP + dt.timedelta(weeks=20), danger_signs=["fever"]),
        visit(LMP + dt.timedelta(weeks=24), voided=True),
        visit(LMP + dt.timedelta(weeks=33)),
        birth,
        check(birth, born + dt.timedelta(days=2), findings=["fever"]),
        stored(dose, dose.date),
    ]
    child = h.ChildFacts(
        person_id=str(twins[0].child_id), sex="F", birth_date=born, full_name="Bé A"
    )

    view = h.mother_handbook(mother(), records, [child], today=born + dt.timedelta(days=30))

    assert list(view.model_dump()) == [
        "person_id",
        "role",
        "as_of",
        "basic_information",
        "pregnancy_care",
        "delivery_and_postnatal",
        "child_health",
        "flags",
    ]
    assert view.basic_information.full_name == "Lê Thị Hoa"
    assert [d.vaccine for d in view.basic_information.tetanus_doses] == ["TT"]
    [care] = view.pregnancy_care
    assert [v.visit_date for v in care.visits] == [
        LMP + dt.timedelta(weeks=w) for w in (10, 20, 33)
    ]
    assert [c.person_id for c in view.child_health.children] == [child.person_id]
    assert codes(view) == [
        "high_blood_pressure",
        "danger_signs",
        "low_birth_weight",
        "danger_signs",
    ]


def test_a_childs_handbook_shows_its_own_birth_and_the_checks_that_concern_it() -> None:
    born = dt.date(2026, 3, 1)
    first, second = baby(weight_g=2400), baby(weight_g=2700)
    birth = delivery(born, first, second)
    child = h.PersonFacts(
        person_id=str(first.child_id),
        role="child",
        sex="F",
        birth_date=born,
        registered_on=born,
        residences=[(None, "38001")],
        mother_id=MOTHER,
    )
    postnatal = [
        check(birth, born + dt.timedelta(days=3), child_id=first.child_id),
        check(birth, born + dt.timedelta(days=4), child_id=second.child_id),
        check(birth, born + dt.timedelta(days=60)),
    ]
    weighing = f.ChildVisit(
        visit_id=uuid.uuid4(),
        child_id=first.child_id,
        facility="TYT-38001",
        visit_date=born + dt.timedelta(days=30),
    )

    view = h.child_handbook(
        child,
        [stored(weighing, weighing.visit_date)],
        birth,
        postnatal,
        born + dt.timedelta(days=90),
    )

    assert view.pregnancy_care == []
    [care] = view.delivery_and_postnatal
    assert [b.child_id for b in care.babies] == [str(first.child_id)]
    assert [c.visit_date for c in care.postnatal_checks] == [born + dt.timedelta(days=3)]
    assert [c.age_days for c in view.child_health.checks] == [30]
    assert codes(view) == ["low_birth_weight"]
