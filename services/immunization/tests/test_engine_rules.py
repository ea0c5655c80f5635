"""Edge rules of evaluation and forecasting: catch-up, roll-out scope, month ends, FIC, defaulters."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from mch_immunization.domain.engine import (
    DoseEntry,
    Forecast,
    GivenDose,
    InputError,
    Person,
    forecast,
    is_fully_immunized,
    overdue_doses,
    protected_at,
)
from mch_immunization.domain.schedule import Schedule, load_schedule

D = dt.date
THANH_HOA = ("38",)


def _child(birth: dt.date, province: str = "38") -> Person:
    return Person(birth, "M", residence="16003", residence_ancestors=(province,))


def _entry(result: Forecast, vaccine: str, dose: int) -> DoseEntry:
    [entry] = [
        e for e in result.doses if (e.vaccine, e.dose) == (vaccine, dose) and e.status != "invalid"
    ]
    return entry


def _given(*doses: tuple[str, dt.date]) -> list[GivenDose]:
    return [GivenDose(vaccine, day) for vaccine, day in doses]


def test_catch_up_after_a_long_gap(child_schedule: Schedule) -> None:
    child = _child(D(2025, 1, 15))
    doses = _given(("PENTA", D(2025, 3, 15)))
    result = forecast(child_schedule, child, doses, D(2027, 1, 15))
    penta2, penta3, dpt4 = (
        _entry(result, "PENTA", 2),
        _entry(result, "PENTA", 3),
        _entry(result, "DPT4", 4),
    )
    assert (penta2.status, penta2.due, penta2.overdue) == (
        "overdue",
        D(2025, 4, 15),
        D(2025, 5, 13),
    )
    # PENTA 3 waits a month after PENTA 2, which can be given today at the earliest.
    assert (penta3.status, penta3.earliest, penta3.due) == (
        "upcoming",
        D(2027, 2, 15),
        D(2027, 2, 15),
    )
    # PENTA 3 was never validly given, so only the age rule applies to DPT4.
    assert (dpt4.status, dpt4.earliest, dpt4.due) == ("overdue", D(2026, 7, 15), D(2026, 7, 15))
    assert _entry(result, "ROTA", 1).status == "expired"
    assert _entry(result, "ROTA", 2).status == "expired"
    assert _entry(result, "HEPB0", 1).status == "expired"
    assert _entry(result, "BCG", 1).status == "expired"
    assert _entry(result, "JE", 1).status == "overdue"

    # The series continues where it stopped; DPT4 now counts six months from PENTA 3.
    doses += _given(("PENTA", D(2027, 1, 15)), ("PENTA", D(2027, 2, 15)), ("DPT4", D(2027, 3, 1)))
    result = forecast(child_schedule, child, doses, D(2027, 3, 1))
    assert [_entry(result, "PENTA", n).status for n in (1, 2, 3)] == ["complete"] * 3
    assert result.doses[-1] == DoseEntry(
        "DPT4", 4, "invalid", D(2027, 3, 1), False, "too_soon_interval", None, None, None
    )
    dpt4 = _entry(result, "DPT4", 4)
    assert (dpt4.status, dpt4.earliest) == ("upcoming", D(2027, 8, 15))


def test_a_series_cannot_continue_past_an_expired_dose(child_document: dict[str, Any]) -> None:
    for dose in child_document["doses"]:
        if (dose["series"], dose["dose"]) == ("ROTA", 2):
            del dose["max_age"]
    schedule = load_schedule(child_document)
    result = forecast(schedule, _child(D(2025, 1, 15)), [], D(2025, 8, 1))
    assert [_entry(result, "ROTA", n).status for n in (1, 2)] == ["expired", "expired"]


def test_dpt4_given_before_penta3_counts_by_age_only(child_schedule: Schedule) -> None:
    child = _child(D(2025, 1, 15))
    doses = _given(("PENTA", D(2025, 3, 15)), ("PENTA", D(2025, 4, 15)), ("DPT4", D(2026, 7, 15)))
    result = forecast(child_schedule, child, doses, D(2026, 8, 1))
    assert _entry(result, "DPT4", 4).valid is True


def test_penta3_recorded_later_makes_a_close_dpt4_invalid(child_schedule: Schedule) -> None:
    # The one way adding a valid dose can undo a complete series: DPT4 counts six months from
    # PENTA 3 only once a PENTA 3 given before it is on record.
    child = _child(D(2025, 1, 15))
    doses = _given(("PENTA", D(2025, 3, 15)), ("PENTA", D(2025, 4, 15)), ("DPT4", D(2026, 7, 15)))
    doses.append(GivenDose("PENTA", D(2026, 7, 1)))
    result = forecast(child_schedule, child, doses, D(2026, 8, 1))
    assert _entry(result, "PENTA", 3).valid is True
    assert result.doses[-1].reason == "too_soon_interval"
    assert _entry(result, "DPT4", 4).earliest == D(2027, 1, 1)


def test_named_series_dose_on_the_same_day_starts_the_interval(child_schedule: Schedule) -> None:
    child = _child(D(2025, 1, 15))
    doses = _given(("MCV1", D(2026, 7, 15)), ("MR", D(2026, 7, 15)))
    result = forecast(child_schedule, child, doses, D(2026, 7, 20))
    assert result.doses[-1].reason == "too_soon_interval"
    assert _entry(result, "MR", 1).earliest == D(2026, 8, 15)


def test_rotavirus_outside_its_rollout(child_schedule: Schedule) -> None:
    child = _child(D(2025, 1, 15), province="26")
    result = forecast(child_schedule, child, _given(("ROTA", D(2025, 3, 15))), D(2025, 4, 1))
    assert not any(e.vaccine == "ROTA" and e.status != "invalid" for e in result.doses)
    assert result.doses[-1] == DoseEntry(
        "ROTA", None, "invalid", D(2025, 3, 15), False, "not_in_schedule", None, None, None
    )
    assert all(e.vaccine != "ROTA" for e in overdue_doses(result))


def test_rotavirus_before_the_rollout_date(child_schedule: Schedule) -> None:
    # Hà Nội (01) from 2026-01-01 in the shipped roll-out data.
    ha_noi = _child(D(2025, 9, 1), province="01")
    before = forecast(child_schedule, ha_noi, [], D(2025, 12, 31))
    assert not any(e.vaccine == "ROTA" for e in before.doses)
    after = forecast(child_schedule, ha_noi, [], D(2026, 1, 10))
    rota1, rota2 = _entry(after, "ROTA", 1), _entry(after, "ROTA", 2)
    # Four months old at the roll-out: due from the day it arrives, not from two months of age.
    assert (rota1.status, rota1.earliest, rota1.due) == ("due", D(2026, 1, 1), D(2026, 1, 1))
    assert (rota2.status, rota2.earliest) == ("upcoming", D(2026, 2, 10))
    # A dose recorded before the roll-out is not in the schedule there.
    early = forecast(child_schedule, ha_noi, _given(("ROTA", D(2025, 12, 1))), D(2026, 1, 10))
    assert early.doses[-1].reason == "not_in_schedule"


def test_child_past_rotavirus_age_at_rollout_is_not_concerned(child_schedule: Schedule) -> None:
    ha_noi = _child(D(2025, 6, 1), province="01")  # six months old on 2025-12-01
    result = forecast(child_schedule, ha_noi, [], D(2026, 3, 1))
    assert not any(e.vaccine == "ROTA" for e in result.doses)


def test_dose_effective_date_bounds_a_rollout_site(child_document: dict[str, Any]) -> None:
    for dose in child_document["doses"]:
        if dose["series"] == "ROTA":
            dose["effective_from"] = "2025-06-01"
    schedule = load_schedule(child_document)
    child = _child(D(2025, 3, 1))  # Thanh Hóa's roll-out site is from 2024-12-01
    assert not any(e.vaccine == "ROTA" for e in forecast(schedule, child, [], D(2025, 5, 31)).doses)
    rota1 = _entry(forecast(schedule, child, [], D(2025, 6, 1)), "ROTA", 1)
    assert (rota1.status, rota1.earliest) == ("due", D(2025, 6, 1))


def test_scope_matches_org_unit_code_prefixes(child_schedule: Schedule) -> None:
    nested = Person(D(2025, 1, 15), "F", residence="38.404.16003")
    assert any(
        e.vaccine == "ROTA" for e in forecast(child_schedule, nested, [], D(2025, 3, 1)).doses
    )
    nowhere = Person(D(2025, 1, 15), "F")
    assert not any(
        e.vaccine == "ROTA" for e in forecast(child_schedule, nowhere, [], D(2025, 3, 1)).doses
    )


@pytest.mark.parametrize(
    ("birth", "penta1", "penta2", "je1", "td"),
    [
        (D(2024, 12, 31), D(2025, 2, 28), D(2025, 3, 31), D(2025, 12, 31), D(2031, 12, 31)),
        (D(2023, 12, 31), D(2024, 2, 29), D(2024, 3, 31), D(2024, 12, 31), D(2030, 12, 31)),
        (D(2025, 1, 31), D(2025, 3, 31), D(2025, 4, 30), D(2026, 1, 31), D(2032, 1, 31)),
        (D(2024, 2, 29), D(2024, 4, 29), D(2024, 5, 29), D(2025, 2, 28), D(2031, 2, 28)),
        (D(2024, 3, 31), D(2024, 5, 31), D(2024, 6, 30), D(2025, 3, 31), D(2031, 3, 31)),
    ],
)
def test_month_end_clamping(
    child_schedule: Schedule,
    birth: dt.date,
    penta1: dt.date,
    penta2: dt.date,
    je1: dt.date,
    td: dt.date,
) -> None:
    result = forecast(child_schedule, _child(birth), [], birth)
    assert _entry(result, "PENTA", 1).due == penta1
    assert _entry(result, "JE", 1).due == je1
    assert _entry(result, "TD", 5).due == td
    given = forecast(child_schedule, _child(birth), _given(("PENTA", penta1)), penta1)
    assert _entry(given, "PENTA", 2).due == penta2


def test_interval_from_a_month_end_dose(child_schedule: Schedule) -> None:
    # PENTA 1 on 31 Jan: one month later is 28 Feb, whatever the recommended age says.
    child = _child(D(2024, 11, 30))
    doses = _given(("PENTA", D(2025, 1, 31)), ("PENTA", D(2025, 2, 27)), ("PENTA", D(2025, 2, 28)))
    result = forecast(child_schedule, child, doses, D(2025, 3, 1))
    assert _entry(result, "PENTA", 2).date_given == D(2025, 2, 28)
    assert [e.reason for e in result.doses if e.status == "invalid"] == ["too_soon_interval"]


def test_unknown_vaccines_and_extra_doses(child_schedule: Schedule) -> None:
    child = _child(D(2025, 1, 15))
    doses = _given(
        ("BCG", D(2025, 1, 15)),
        ("bcg", D(2025, 2, 1)),
        (" HPV ", D(2025, 2, 1)),
        ("Rotavin", D(2025, 3, 15)),
    )
    result = forecast(child_schedule, child, doses, D(2025, 3, 20))
    assert _entry(result, "ROTA", 1).status == "complete"
    extras = [(e.vaccine, e.date_given, e.reason) for e in result.doses if e.status == "invalid"]
    assert extras == [
        ("BCG", D(2025, 2, 1), "extra_dose"),
        ("HPV", D(2025, 2, 1), "not_in_schedule"),
    ]


def test_an_invalid_dose_does_not_restart_the_interval(child_schedule: Schedule) -> None:
    child = _child(D(2025, 1, 15))
    # PENTA 2 too soon on 04-10; the retry on 04-15 counts from PENTA 1, not from 04-10.
    doses = _given(("PENTA", D(2025, 3, 15)), ("PENTA", D(2025, 4, 10)), ("PENTA", D(2025, 4, 15)))
    result = forecast(child_schedule, child, doses, D(2025, 4, 20))
    assert _entry(result, "PENTA", 2).date_given == D(2025, 4, 15)
    assert _entry(result, "PENTA", 3).due == D(2025, 5, 15)


def test_first_of_several_reasons(child_schedule: Schedule) -> None:
    # MR at 17 months, a week after MCV1: too young and too soon; the age comes first.
    child = _child(D(2019, 1, 15))
    doses = _given(("MCV1", D(2020, 6, 8)), ("MR", D(2020, 6, 15)))
    # JE 3 at 6 years and 5 days, seven months after JE 2: too soon and past the maximum age.
    doses += _given(("JE", D(2024, 6, 1)), ("JE", D(2024, 6, 15)), ("JE", D(2025, 1, 20)))
    result = forecast(child_schedule, child, doses, D(2025, 2, 1))
    reasons = [(e.vaccine, e.reason) for e in result.doses if e.status == "invalid"]
    assert reasons == [("MR", "too_early_age"), ("JE", "too_soon_interval")]


def test_grace_days_widen_min_age_and_interval(child_document: dict[str, Any]) -> None:
    child_document["grace_days"] = 4
    schedule = load_schedule(child_document)
    child = _child(D(2025, 1, 15))
    doses = _given(("PENTA", D(2025, 3, 11)), ("PENTA", D(2025, 4, 7)), ("PENTA", D(2025, 5, 2)))
    result = forecast(schedule, child, doses, D(2025, 5, 2))
    # 03-11 is 4 days before two months; 04-07 is 4 days before one month after 03-11; 05-02 is 5.
    assert [_entry(result, "PENTA", n).status for n in (1, 2)] == ["complete", "complete"]
    assert result.doses[-1].reason == "too_soon_interval"
    # Grace forgives doses already given; the forecast still plans on the minimum itself.
    assert _entry(result, "PENTA", 3).earliest == D(2025, 5, 7)


def _fic_history(birthday_dose: dt.date) -> list[GivenDose]:
    return _given(
        ("BCG", D(2025, 1, 15)),
        ("PENTA", D(2025, 3, 15)),
        ("PENTA", D(2025, 4, 15)),
        ("PENTA", D(2025, 5, 15)),
        ("OPV", D(2025, 3, 15)),
        ("OPV", D(2025, 4, 15)),
        ("OPV", D(2025, 5, 15)),
        ("IPV", D(2025, 6, 15)),
        ("MCV1", birthday_dose),
    )


def test_fully_immunized_child(child_schedule: Schedule) -> None:
    birth = D(2025, 1, 15)
    result = forecast(child_schedule, _child(birth), _fic_history(D(2026, 1, 14)), D(2026, 2, 1))
    assert is_fully_immunized(result, birth)


def test_dose_on_the_first_birthday_is_too_late_for_fic(child_schedule: Schedule) -> None:
    birth = D(2025, 1, 15)
    result = forecast(child_schedule, _child(birth), _fic_history(D(2026, 1, 15)), D(2026, 2, 1))
    assert _entry(result, "MCV1", 1).valid is True
    assert not is_fully_immunized(result, birth)


def test_missing_or_invalid_fic_dose(child_schedule: Schedule) -> None:
    birth = D(2025, 1, 15)
    history = _fic_history(D(2025, 10, 15))
    missing_bcg = forecast(child_schedule, _child(birth), history[1:], D(2026, 2, 1))
    assert not is_fully_immunized(missing_bcg, birth)
    early_ipv = [d if d.vaccine != "IPV" else GivenDose("IPV", D(2025, 6, 1)) for d in history]
    invalid_ipv = forecast(child_schedule, _child(birth), early_ipv, D(2026, 2, 1))
    assert not is_fully_immunized(invalid_ipv, birth)


def test_overdue_doses_are_the_defaulter_list(child_schedule: Schedule) -> None:
    result = forecast(
        child_schedule, _child(D(2025, 1, 15)), _fic_history(D(2025, 10, 15)), D(2026, 3, 1)
    )
    assert [(e.vaccine, e.dose) for e in overdue_doses(result)] == [("IPV", 2), ("JE", 1)]
    on_time = forecast(child_schedule, _child(D(2025, 1, 15)), [], D(2025, 1, 15))
    assert overdue_doses(on_time) == ()


def test_child_schedule_has_no_protection(child_schedule: Schedule) -> None:
    result = forecast(child_schedule, _child(D(2025, 1, 15)), [], D(2025, 2, 1))
    with pytest.raises(ValueError, match="no protection series"):
        protected_at(result, D(2025, 2, 1))


@pytest.mark.parametrize(
    ("doses", "as_of", "edd", "sex", "loc"),
    [
        ([GivenDose("BCG", D(2025, 1, 14))], D(2025, 2, 1), None, "M", ("doses", 0, "date")),
        ([GivenDose("BCG", D(2025, 2, 2))], D(2025, 2, 1), None, "M", ("doses", 0, "date")),
        ([], D(2025, 1, 14), None, "M", ("as_of",)),
        ([], D(2025, 2, 1), D(2025, 9, 1), "F", ("edd",)),
    ],
)
def test_refused_input_names_the_field(
    child_schedule: Schedule,
    doses: list[GivenDose],
    as_of: dt.date,
    edd: dt.date | None,
    sex: str,
    loc: tuple[str | int, ...],
) -> None:
    person = Person(D(2025, 1, 15), "F" if sex == "F" else "M")
    with pytest.raises(InputError) as refused:
        forecast(child_schedule, person, doses, as_of, edd)
    assert [problem_loc for problem_loc, _ in refused.value.problems] == [loc]
