"""The gate, event by event: what is held, stored, stale, rejected and published, whatever order
the events come in."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from records_helpers import (
    COMMUNE,
    OTHER_COMMUNE,
    THIRD_COMMUNE,
    Clinic,
    GateHarness,
    amended,
)

from mch_records import recording

SEPT = dt.date(2025, 9, 1)


def published_of(harness: GateHarness, type_suffix: str) -> list[dict[str, Any]]:
    return [data for name, data in harness.published() if name.endswith(type_suffix)]


def test_a_visit_before_its_pregnancy_is_held_then_stored_when_the_pregnancy_arrives(
    any_harness: GateHarness, clinic: Clinic
) -> None:
    mother = clinic.mother()
    pregnancy = clinic.pregnancy(mother)
    visit = clinic.antenatal(pregnancy, SEPT)

    assert any_harness.statuses([mother, visit]) == ["accepted", "held"]
    [held] = any_harness.held()
    assert (held.event_id, held.waiting_field) == (visit.id, "data.pregnancy_id")

    assert any_harness.statuses([pregnancy]) == ["accepted"]
    assert any_harness.held() == []
    assert any_harness.record(visit.data["visit_id"]).person_id == mother.data["mother_id"]
    assert any_harness.statuses([visit]) == ["duplicate"], "the released event was claimed"


def test_held_events_wait_for_each_missing_reference_in_turn(
    harness: GateHarness, clinic: Clinic
) -> None:
    mother = clinic.mother()
    pregnancy = clinic.pregnancy(mother)
    birth = clinic.birth(pregnancy)
    child_id = birth.data["babies"][0]["child_id"]
    checks = [
        clinic.child_visit(child_id, dt.date(2026, 4, 1)),
        clinic.dose(child_id, dt.date(2026, 3, 1)),
    ]

    assert harness.statuses([*checks, birth, pregnancy]) == ["held"] * 4
    assert harness.statuses([mother]) == ["accepted"]

    assert harness.held() == []
    assert harness.person(child_id).birth_id == birth.data["birth_id"]
    for check in checks:
        record_id = check.data.get("visit_id") or check.data["immunization_id"]
        assert harness.record(record_id).person_id == child_id


def test_an_older_revision_arriving_after_a_newer_one_is_stale(
    harness: GateHarness, clinic: Clinic
) -> None:
    mother = clinic.mother()
    pregnancy = clinic.pregnancy(mother)
    visit = clinic.antenatal(pregnancy, SEPT, weight_kg=55.0)
    corrected = amended(visit, 2, weight_kg=57.5)

    assert harness.statuses([mother, pregnancy, corrected, visit]) == [
        "accepted",
        "accepted",
        "accepted",
        "stale",
    ]
    stored = harness.record(visit.data["visit_id"])
    assert (stored.revision, '"weight_kg":57.5' in stored.data) == (2, True)


@pytest.mark.parametrize("correction_first", [False, True])
def test_a_registration_date_is_the_earliest_of_its_revisions_whatever_the_order(
    harness: GateHarness, clinic: Clinic, correction_first: bool
) -> None:
    mother = clinic.mother(on=dt.date(2025, 8, 1))
    pregnancy = clinic.pregnancy(mother, on=dt.date(2025, 8, 2))
    corrections = [
        amended(mother, 2, days_later=20, phone="0912345678"),
        amended(pregnancy, 2, days_later=20, para=0),
    ]
    originals = [mother, pregnancy]
    harness.apply(corrections + originals if correction_first else originals + corrections)

    person = harness.person(mother.data["mother_id"])
    assert (person.registered_on, person.revision, person.phone) == (
        dt.date(2025, 8, 1),
        2,
        "0912345678",
    )
    assert harness.record(pregnancy.data["pregnancy_id"]).care_date == dt.date(2025, 8, 2)


def test_a_void_before_its_record_voids_the_record_when_it_arrives(
    any_harness: GateHarness, clinic: Clinic
) -> None:
    mother = clinic.mother()
    pregnancy = clinic.pregnancy(mother)
    visit = clinic.antenatal(pregnancy, SEPT)
    void = clinic.void(visit.data["visit_id"], dt.date(2025, 9, 3))

    assert any_harness.statuses([mother, pregnancy, void]) == ["accepted", "accepted", "held"]
    any_harness.clear_published()
    assert any_harness.statuses([visit]) == ["accepted"]

    assert any_harness.record(visit.data["visit_id"]).voided
    assert [v["voided"] for v in published_of(any_harness, "antenatal-visit.v1")][-1] is True


def test_a_later_revision_of_a_voided_record_stays_voided(
    harness: GateHarness, clinic: Clinic
) -> None:
    child = clinic.child()
    dose = clinic.dose(child.data["child_id"], SEPT)
    harness.apply([child, dose, clinic.void(dose.data["immunization_id"], SEPT)])

    assert harness.statuses([amended(dose, 2, lot="B-2")]) == ["accepted"]
    stored = harness.record(dose.data["immunization_id"])
    assert (stored.revision, stored.voided) == (2, True)


def test_records_of_a_voided_person_are_voided_even_when_they_arrive_later(
    harness: GateHarness, clinic: Clinic
) -> None:
    child = clinic.child()
    early = clinic.child_visit(child.data["child_id"], SEPT)
    late = clinic.child_visit(child.data["child_id"], dt.date(2025, 10, 1))
    harness.apply([child, early, clinic.void(child.data["child_id"], SEPT)])
    harness.apply([late])

    assert harness.person(child.data["child_id"]).voided
    assert harness.record(early.data["visit_id"]).voided
    assert harness.record(late.data["visit_id"]).voided


def test_voiding_a_delivery_voids_the_children_it_created_and_their_records(
    harness: GateHarness, clinic: Clinic
) -> None:
    mother = clinic.mother()
    pregnancy = clinic.pregnancy(mother)
    birth = clinic.birth(pregnancy)
    child_id = birth.data["babies"][0]["child_id"]
    check = clinic.child_visit(child_id, dt.date(2026, 4, 1))
    harness.apply([mother, pregnancy, birth, check])

    harness.apply([clinic.void(birth.data["birth_id"], dt.date(2026, 4, 2))])

    assert harness.record(birth.data["birth_id"]).voided
    assert harness.person(child_id).voided
    assert harness.record(check.data["visit_id"]).voided
    assert not harness.person(mother.data["mother_id"]).voided


def test_every_baby_is_a_person_and_one_not_born_alive_is_voided(
    harness: GateHarness, clinic: Clinic
) -> None:
    mother = clinic.mother()
    pregnancy = clinic.pregnancy(mother)
    twins = [
        {"child_id": str(clinic.uuid()), "sex": "F", "outcome": "live", "weight_g": 2300},
        {"child_id": str(clinic.uuid()), "sex": "M", "outcome": "live", "weight_g": 2400},
    ]
    birth = clinic.birth(pregnancy, babies=twins)
    harness.apply([mother, pregnancy, birth])
    assert [harness.person(b["child_id"]).voided for b in twins] == [False, False]

    stillborn = [twins[0], twins[1] | {"outcome": "stillbirth"}]
    harness.apply([amended(birth, 2, babies=stillborn)])

    first, second = (harness.person(b["child_id"]) for b in twins)
    assert (first.voided, second.voided) == (False, True)
    assert (first.revision, second.revision) == (2, 2)


@pytest.mark.parametrize("registration_first", [True, False])
def test_a_child_of_a_delivery_registered_on_its_own_keeps_the_delivery_facts(
    harness: GateHarness, clinic: Clinic, registration_first: bool
) -> None:
    mother = clinic.mother(residence=COMMUNE)
    pregnancy = clinic.pregnancy(mother)
    birth = clinic.birth(pregnancy, on=dt.date(2026, 3, 1))
    child_id = birth.data["babies"][0]["child_id"]
    registered = clinic.child(
        on=dt.date(2026, 3, 20),
        child_id=child_id,
        sex="F",
        birth_date=dt.date(2026, 3, 1),
        residence=OTHER_COMMUNE,
        full_name="Lê Bảo Ngọc",
    )
    events = [registered, birth] if registration_first else [birth, registered]
    harness.apply([mother, pregnancy, *events])

    child = harness.person(child_id)
    assert (child.birth_id, child.mother_id, child.registered_on) == (
        birth.data["birth_id"],
        mother.data["mother_id"],
        dt.date(2026, 3, 1),
    )
    assert (child.full_name, child.registration_revision, child.source) == (
        "Lê Bảo Ngọc",
        1,
        clinic.source,
    )
    assert [r[1] for r in harness.dump()["residences"] if dict(r)["person_id"] == child_id] != []
    residences = {dict(r)["person_id"]: dict(r)["residence"] for r in harness.dump()["residences"]}
    assert residences[child_id] == OTHER_COMMUNE


def test_a_late_move_of_the_mother_before_the_birth_moves_the_childs_first_residence(
    harness: GateHarness, clinic: Clinic
) -> None:
    mother = clinic.mother(residence=COMMUNE)
    pregnancy = clinic.pregnancy(mother)
    birth = clinic.birth(pregnancy, on=dt.date(2026, 3, 1))
    child_id = birth.data["babies"][0]["child_id"]
    visit = clinic.antenatal(pregnancy, dt.date(2025, 12, 1))
    harness.apply([mother, pregnancy, visit, birth])
    harness.clear_published()

    harness.apply([clinic.moved(mother.data["mother_id"], OTHER_COMMUNE, dt.date(2025, 11, 15))])

    child_state = [s for s in published_of(harness, "person.v1") if s["person_id"] == child_id]
    assert child_state[-1]["residences"] == [{"residence": OTHER_COMMUNE}]
    [republished] = published_of(harness, "antenatal-visit.v1")
    assert republished["residence"] == OTHER_COMMUNE
    [birth_state] = published_of(harness, "birth.v1")
    assert birth_state["residence"] == OTHER_COMMUNE


def test_residence_changes_for_one_date_resolve_by_revision_then_code(
    harness: GateHarness, clinic: Clinic
) -> None:
    child = clinic.child()
    person_id = child.data["child_id"]
    day = dt.date(2025, 10, 1)
    moves = [
        clinic.moved(person_id, THIRD_COMMUNE, day),
        clinic.moved(person_id, OTHER_COMMUNE, day),
        clinic.moved(person_id, COMMUNE, day, revision=2),
    ]
    outcomes = set()
    for order in itertools.permutations(moves):
        fresh = Clinic(seed=99)
        renamed = [m.model_copy(update={"id": str(fresh.uuid())}) for m in order]
        harness.apply([child, *renamed])
        rows = {
            dict(r)["effective_date"]: dict(r)["residence"] for r in harness.dump()["residences"]
        }
        outcomes.add(rows[day.isoformat()])
    assert outcomes == {COMMUNE}


def test_of_two_deaths_the_higher_revision_wins_then_the_earlier_date(
    harness: GateHarness, clinic: Clinic
) -> None:
    child = clinic.child()
    person_id = child.data["child_id"]
    harness.apply([child])
    assert harness.statuses([clinic.died(person_id, dt.date(2025, 11, 3))]) == ["accepted"]
    assert harness.statuses([clinic.died(person_id, dt.date(2025, 11, 1))]) == ["accepted"]
    assert harness.statuses([clinic.died(person_id, dt.date(2025, 11, 2))]) == ["stale"]
    assert harness.person(person_id).died_on == dt.date(2025, 11, 1)
    assert harness.statuses([clinic.died(person_id, dt.date(2025, 11, 5), revision=2)]) == [
        "accepted"
    ]
    assert harness.person(person_id).died_on == dt.date(2025, 11, 5)


def test_published_events_carry_no_names_or_contact_details(
    harness: GateHarness, clinic: Clinic
) -> None:
    mother = clinic.mother(phone="0912 345 678", national_id="038196001234", handbook_no="TH-1")
    harness.apply([mother, clinic.pregnancy(mother)])
    text = " ".join(str(data) for _, data in harness.published())
    for private in ("Lê Thị Hoa", "0912 345 678", "038196001234", "TH-1"):
        assert private not in text


@pytest.mark.parametrize(
    ("change", "code", "field", "rule"),
    [
        (
            {
                "babies": [
                    {
                        "child_id": str(Clinic(seed=5).uuid()),
                        "sex": "F",
                        "outcome": "live",
                        "weight_g": 9000,
                    }
                ]
            },
            "implausible_value",
            "data.babies.0.weight_g",
            "birth_weight_300_6500g",
        ),
        ({"facility": "BV-NOWHERE"}, "unknown_org_unit", "data.facility", "org_unit_in_force"),
        (
            {"birth_date": "2025-07-20"},
            "implausible_value",
            "data.birth_date",
            "birth_after_16_weeks",
        ),
    ],
)
def test_a_rejection_names_its_field_and_rule(
    harness: GateHarness, clinic: Clinic, change: dict[str, Any], code: str, field: str, rule: str
) -> None:
    mother = clinic.mother()
    pregnancy = clinic.pregnancy(mother)
    birth = clinic.birth(pregnancy)
    wrong = birth.model_copy(update={"data": birth.data | change})

    [*_, result] = harness.apply([mother, pregnancy, wrong])

    assert result.status == "rejected"
    assert (result.problems[0].code, result.problems[0].field, result.problems[0].rule) == (
        code,
        field,
        rule,
    )


def test_a_reused_handbook_number_is_accepted_so_the_duplicate_can_be_reviewed(
    harness: GateHarness, clinic: Clinic
) -> None:
    first = clinic.mother(handbook_no="TH-0042")
    again = clinic.mother(handbook_no="TH-0042", on=dt.date(2025, 9, 10))
    assert harness.statuses([first, again]) == ["accepted", "accepted"]


def test_held_events_whose_reference_never_comes_expire_into_rejections(
    harness: GateHarness, clinic: Clinic
) -> None:
    mother = clinic.mother()
    visit = clinic.antenatal(clinic.pregnancy(mother), SEPT)
    harness.apply([mother, visit])

    from sqlmodel import Session

    with Session(harness.engine) as session:
        expired = harness.gate.expire_held(session, dt.datetime.now(dt.UTC) + dt.timedelta(days=8))
        session.commit()

    assert [(event.id, problem.rule) for event, problem in expired] == [
        (visit.id, "reference_arrives_within_hold_time")
    ]
    assert harness.held() == []
    [rejection] = harness.rejections()
    assert (rejection.event_id, rejection.channel) == (visit.id, "held")
    assert rejection.reason == "unknown_reference"


def test_a_held_event_whose_reference_came_in_another_transaction_is_retried(
    harness: GateHarness, clinic: Clinic
) -> None:
    from sqlmodel import Session

    from mch_records.storage import HeldEvent

    mother = clinic.mother()
    pregnancy = clinic.pregnancy(mother)
    visit = clinic.antenatal(pregnancy, SEPT)
    harness.apply([mother, visit])
    # The pregnancy committed by another writer that could not see the held visit.
    with Session(harness.engine) as session:
        held = session.get(HeldEvent, visit.id)
        assert held is not None
        session.delete(held)
        session.commit()
    harness.apply([pregnancy])
    with Session(harness.engine) as session:
        session.add(HeldEvent.model_validate(held.model_dump()))
        session.commit()

    with Session(harness.engine) as session:
        assert harness.gate.retry_held(session) == 1
        session.commit()

    assert harness.held() == []
    assert harness.record(visit.data["visit_id"]).kind == "antenatal_visit"


def test_an_unexpected_failure_rejects_only_the_failing_event_of_the_batch(
    harness: GateHarness, clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    child = clinic.child()
    good = clinic.child_visit(child.data["child_id"], SEPT)
    bad = clinic.child_visit(child.data["child_id"], dt.date(2025, 9, 2))
    store = recording.store

    def failing_store(known: Any, event: Any, data: Any, when: Any) -> Any:
        if event.id == bad.id:
            raise RuntimeError("a bug")
        return store(known, event, data, when)

    monkeypatch.setattr(recording, "store", failing_store)

    results = harness.apply([child, bad, good])

    assert [r.status for r in results] == ["accepted", "rejected", "accepted"]
    assert results[1].problems[0].code == "processing_error"
    assert harness.record(good.data["visit_id"]).person_id == child.data["child_id"]
    assert harness.statuses([bad]) == ["rejected"], "a rejected event is not claimed"
