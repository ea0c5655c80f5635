"""Status facts from forecasts (what reporting counts) and the changes between two forecasts (what
is published): only what differs, an overdue dose ending on the day it was given."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from mch_immunization.domain.engine import GivenDose
from mch_immunization.domain.person import (
    Delivery,
    Pregnancy,
    Recorded,
    Residence,
    current_edd,
    forecast_date,
    forecast_recorded,
    residence_on,
)
from mch_immunization.domain.schedule import Schedule, ScheduleCatalog
from mch_immunization.domain.status import (
    DOSE_FACTS,
    Change,
    FactKey,
    changes,
    from_json,
    status_of,
    to_json,
)

D = dt.date
BORN = D(2025, 1, 15)
AT_BIRTH = (GivenDose("HEPB0", BORN), GivenDose("BCG", BORN))
CHILD = Recorded(
    role="child", sex="F", birth_date=BORN, residences=(Residence(None, "38004"),), doses=AT_BIRTH
)
IN_THANH_HOA = ("38", "VN")


def facts(schedule: Schedule, recorded: Recorded, as_of: dt.date) -> dict[FactKey, dt.date]:
    """The facts other than those of single doses (``test_valid_and_timely_doses`` has them)."""
    result = forecast_recorded(schedule, recorded, IN_THANH_HOA, as_of)
    found = status_of(result, recorded.birth_date, recorded.deliveries, recorded.died_on)
    return {k: v for k, v in found.items() if k.fact not in DOSE_FACTS}


def test_a_child_missing_her_two_month_doses(child_schedule: Schedule) -> None:
    assert facts(child_schedule, CHILD, D(2025, 5, 1)) == {
        FactKey("series_complete", "HEPB0"): BORN,
        FactKey("series_complete", "BCG"): BORN,
        FactKey("dose_overdue", "PENTA", 1): D(2025, 4, 12),
        FactKey("dose_overdue", "OPV", 1): D(2025, 4, 12),
        FactKey("dose_overdue", "ROTA", 1): D(2025, 4, 12),  # Thanh Hóa has rotavirus
    }


def test_outside_the_rotavirus_roll_out_rotavirus_is_never_overdue(
    child_schedule: Schedule,
) -> None:
    cao_bang = replace(CHILD, residences=(Residence(None, "04012"),))
    result = forecast_recorded(child_schedule, cao_bang, ("04", "VN"), D(2025, 5, 1))
    overdue = {k for k in status_of(result, BORN) if k.fact == "dose_overdue"}
    assert overdue == {FactKey("dose_overdue", "PENTA", 1), FactKey("dose_overdue", "OPV", 1)}


def test_nobody_is_overdue_after_their_death(child_schedule: Schedule) -> None:
    died = replace(CHILD, died_on=D(2025, 4, 20))
    assert set(facts(child_schedule, died, D(2025, 5, 1))) == {
        FactKey("series_complete", "HEPB0"),
        FactKey("series_complete", "BCG"),
    }


def fully_immunized_child(mcv1: dt.date) -> Recorded:
    doses = [*AT_BIRTH, GivenDose("IPV", D(2025, 6, 15)), GivenDose("MCV1", mcv1)]
    for month in (3, 4, 5):
        doses += [GivenDose("PENTA", D(2025, month, 15)), GivenDose("OPV", D(2025, month, 15))]
    return replace(CHILD, doses=tuple(doses))


def test_valid_and_timely_doses(child_schedule: Schedule) -> None:
    # HEPB0 the day after birth: valid (within 7 days) but not timely (within 24 h: the same day);
    # BCG at birth: valid and timely; PENTA 1 too early (6 weeks): invalid, no fact; PENTA 1
    # again at 10 weeks: valid but late (due at 2 months, overdue 28 days later), PENTA 2 timed
    # from PENTA 1: valid, never "timely".
    doses = (
        GivenDose("HEPB0", BORN + dt.timedelta(days=1)),
        GivenDose("BCG", BORN),
        GivenDose("PENTA", BORN + dt.timedelta(weeks=6)),
        GivenDose("PENTA", D(2025, 4, 25)),
        GivenDose("PENTA", D(2025, 5, 26)),
    )
    result = forecast_recorded(
        child_schedule, replace(CHILD, doses=doses), IN_THANH_HOA, D(2025, 6, 1)
    )
    found = {k: v for k, v in status_of(result, BORN).items() if k.fact in DOSE_FACTS}
    assert found == {
        FactKey("dose_valid", "HEPB0", 1): BORN + dt.timedelta(days=1),
        FactKey("dose_valid", "BCG", 1): BORN,
        FactKey("dose_timely", "BCG", 1): BORN,
        FactKey("dose_valid", "PENTA", 1): D(2025, 4, 25),
        FactKey("dose_valid", "PENTA", 2): D(2025, 5, 26),
    }
    on_time = replace(CHILD, doses=(GivenDose("HEPB0", BORN),))
    result = forecast_recorded(child_schedule, on_time, IN_THANH_HOA, D(2025, 2, 1))
    assert status_of(result, BORN)[FactKey("dose_timely", "HEPB0", 1)] == BORN


def test_fully_immunized_from_the_dose_that_completed_the_set(child_schedule: Schedule) -> None:
    status = facts(child_schedule, fully_immunized_child(D(2025, 10, 20)), D(2025, 11, 1))
    assert status[FactKey("fully_immunized")] == D(2025, 10, 20)
    assert status[FactKey("series_complete", "PENTA")] == D(2025, 5, 15)
    assert FactKey("series_complete", "IPV") not in status  # IPV 2 is still to come


def test_not_fully_immunized_when_a_dose_came_after_the_first_birthday(
    child_schedule: Schedule,
) -> None:
    status = facts(child_schedule, fully_immunized_child(BORN.replace(year=2026)), D(2026, 2, 1))
    assert FactKey("fully_immunized") not in status
    assert status[FactKey("series_complete", "MCV1")] == D(2026, 1, 15)


MOTHER = Recorded(
    role="mother",
    sex="F",
    birth_date=D(1998, 5, 10),
    residences=(Residence(None, "38004"),),
    doses=(GivenDose("TT", D(2024, 7, 1)), GivenDose("VAT", D(2024, 8, 5))),
    pregnancies=(Pregnancy("p1", D(2025, 3, 1)),),
    deliveries=(Delivery("b1", "p1", D(2025, 2, 27)),),
)


def test_protected_at_birth_is_a_fact_of_each_delivery(women_schedule: Schedule) -> None:
    status = facts(women_schedule, MOTHER, D(2025, 3, 10))
    assert status[FactKey("protected_at_birth", birth_id="b1")] == D(2025, 2, 27)
    unprotected = replace(MOTHER, doses=MOTHER.doses[:1])
    assert not any(
        k.fact == "protected_at_birth" for k in facts(women_schedule, unprotected, D(2025, 3, 10))
    )


PENTA1 = FactKey("dose_overdue", "PENTA", 1)
OPV1 = FactKey("dose_overdue", "OPV", 1)
FIC = FactKey("fully_immunized")


def test_only_what_differs_is_a_change() -> None:
    before = {PENTA1: D(2025, 4, 12), OPV1: D(2025, 4, 12)}
    assert changes(before, dict(before), None, D(2025, 5, 2)) == []
    assert changes(before, {**before, PENTA1: D(2025, 4, 20)}, None, D(2025, 5, 2)) == [
        Change(PENTA1, holds=True, since=D(2025, 4, 20))
    ]


def test_an_overdue_dose_stops_on_the_day_it_was_given(child_schedule: Schedule) -> None:
    before = status_of(forecast_recorded(child_schedule, CHILD, IN_THANH_HOA, D(2025, 5, 1)), BORN)
    given = replace(CHILD, doses=(*AT_BIRTH, GivenDose("PENTA", D(2025, 4, 28))))
    result = forecast_recorded(child_schedule, given, IN_THANH_HOA, D(2025, 5, 2))
    found = changes(before, status_of(result, BORN), result, D(2025, 5, 2))
    assert found == [
        Change(PENTA1, holds=False, since=D(2025, 4, 12), until=D(2025, 4, 28)),
        Change(FactKey("dose_valid", "PENTA", 1), holds=True, since=D(2025, 4, 28)),
    ]


def test_facts_that_stop_otherwise_end_on_the_day_given_or_carry_no_end() -> None:
    before = {OPV1: D(2025, 4, 12), FIC: D(2025, 10, 20)}
    assert changes(before, {}, None, D(2025, 11, 2)) == [
        Change(OPV1, holds=False, since=D(2025, 4, 12), until=D(2025, 11, 2)),
        Change(FIC, holds=False, since=D(2025, 10, 20)),
    ]


def test_the_stored_form_round_trips() -> None:
    status = {
        PENTA1: D(2025, 4, 12),
        FIC: D(2025, 10, 20),
        FactKey("protected_at_birth", birth_id="b1"): D(2025, 2, 27),
    }
    assert from_json(to_json(status)) == status
    assert from_json(to_json({})) == {}


@pytest.mark.parametrize(
    ("on", "edd"),
    [
        (D(2024, 9, 1), D(2025, 3, 1)),  # under way
        (D(2025, 4, 12), D(2025, 3, 1)),  # six weeks past the date, no delivery recorded yet
        (D(2025, 4, 13), None),  # past that: the outcome went unrecorded
    ],
)
def test_the_current_pregnancy(on: dt.date, edd: dt.date | None) -> None:
    assert current_edd([Pregnancy("p1", D(2025, 3, 1))], [], on) == edd


def test_a_delivered_pregnancy_is_not_current_and_the_latest_open_one_is() -> None:
    first = [Pregnancy("p1", D(2025, 3, 1))]
    delivered = [Delivery("b1", "p1", D(2025, 2, 27))]
    assert current_edd(first, delivered, D(2025, 2, 28)) is None
    second = [*first, Pregnancy("p2", D(2027, 6, 1))]
    assert current_edd(second, delivered, D(2027, 1, 1)) == D(2027, 6, 1)


def test_the_residence_on_a_date() -> None:
    moves = (Residence(D(2026, 3, 1), "38010"), Residence(None, "38004"))
    assert residence_on(moves, D(2026, 2, 28)) == "38004"
    assert residence_on(moves, D(2026, 3, 1)) == "38010"
    assert residence_on((Residence(D(2026, 3, 1), "38010"),), D(2026, 1, 1)) == "38010"


def test_a_mother_is_forecast_with_her_pregnancy(catalog: ScheduleCatalog) -> None:
    women = catalog.default_for("women", D(2024, 9, 1))
    assert women is not None
    pregnant = replace(MOTHER, doses=(), deliveries=())
    result = forecast_recorded(women, pregnant, (), D(2024, 9, 1))
    tt1 = result.doses[0]
    # Due from the pregnancy's start (edd - 280 days), overdue 13 weeks later.
    assert (tt1.vaccine, tt1.status, tt1.due) == ("TT", "overdue", D(2024, 5, 25))


def test_doses_before_the_birth_date_do_not_count_and_the_date_reaches_every_dose(
    child_schedule: Schedule,
) -> None:
    amended = replace(CHILD, birth_date=D(2025, 1, 20))
    result = forecast_recorded(child_schedule, amended, IN_THANH_HOA, D(2025, 2, 1))
    assert {e.vaccine: e.status for e in result.doses[:2]} == {"HEPB0": "expired", "BCG": "due"}
    late = replace(CHILD, doses=(GivenDose("BCG", D(2025, 2, 2)),))
    assert forecast_date(late, D(2025, 2, 1)) == D(2025, 2, 2)
