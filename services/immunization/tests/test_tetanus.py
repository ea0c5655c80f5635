"""Tetanus doses for women across two pregnancies, and protection at delivery (TT_PAB)."""

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
    protected_at,
)
from mch_immunization.domain.schedule import Schedule, load_schedule

D = dt.date
WOMAN = Person(D(1998, 5, 10), "F", residence="16003", residence_ancestors=("38",))
FIRST_EDD = D(2025, 3, 1)  # pregnancy from 2024-05-25 (280 days)
SECOND_EDD = D(2028, 6, 1)  # pregnancy from 2027-08-26
TT1, TT2 = GivenDose("TT", D(2024, 7, 1)), GivenDose("TT", D(2024, 8, 5))


def _tt(result: Forecast, dose: int) -> DoseEntry:
    [entry] = [e for e in result.doses if e.dose == dose and e.status != "invalid"]
    return entry


def test_first_pregnancy_without_doses(women_schedule: Schedule) -> None:
    result = forecast(women_schedule, WOMAN, [], D(2024, 7, 1), edd=FIRST_EDD)
    tt1, tt2, tt3 = _tt(result, 1), _tt(result, 2), _tt(result, 3)
    # Due from the start of the pregnancy; overdue 13 weeks later.
    assert (tt1.status, tt1.due, tt1.overdue) == ("due", D(2024, 5, 25), D(2024, 8, 24))
    # Not protected at delivery without TT2, so TT2 is due as soon as its interval allows.
    assert (tt2.status, tt2.earliest, tt2.due) == ("upcoming", D(2024, 8, 1), D(2024, 8, 1))
    # TT2 would protect at delivery, so TT3 keeps its ordinary six months.
    assert (tt3.status, tt3.due) == ("upcoming", D(2025, 2, 1))
    assert not protected_at(result, FIRST_EDD)
    assert result.schedule_version == "vn-tetanus-women@1.0"


def test_doses_too_close_together_do_not_count(women_schedule: Schedule) -> None:
    too_soon = GivenDose("TT", D(2024, 7, 20))
    result = forecast(women_schedule, WOMAN, [TT1, too_soon], D(2024, 7, 25), edd=FIRST_EDD)
    assert result.doses[-1] == DoseEntry(
        "TT", 2, "invalid", D(2024, 7, 20), False, "too_soon_interval", None, None, None
    )
    assert (_tt(result, 2).status, _tt(result, 2).due) == ("upcoming", D(2024, 8, 1))
    assert not protected_at(result, FIRST_EDD)


def test_protected_at_first_delivery(women_schedule: Schedule) -> None:
    result = forecast(women_schedule, WOMAN, [TT1, TT2], FIRST_EDD, edd=FIRST_EDD)
    assert protected_at(result, FIRST_EDD)
    assert not protected_at(result, D(2024, 8, 4))  # before TT2
    assert protected_at(result, D(2027, 8, 4))
    assert not protected_at(result, D(2027, 8, 5))  # three years after TT2
    tt3 = _tt(result, 3)
    assert (tt3.status, tt3.due, tt3.overdue) == ("due", D(2025, 2, 5), D(2025, 3, 5))


def test_second_pregnancy_after_protection_lapsed(women_schedule: Schedule) -> None:
    result = forecast(women_schedule, WOMAN, [TT1, TT2], D(2027, 10, 1), edd=SECOND_EDD)
    assert not protected_at(result, SECOND_EDD)
    tt3 = _tt(result, 3)
    # Six months after TT2 passed long ago; due again from the start of this pregnancy.
    assert (tt3.status, tt3.earliest, tt3.due, tt3.overdue) == (
        "overdue",
        D(2025, 2, 5),
        D(2027, 8, 26),
        D(2027, 9, 23),
    )
    tt4 = _tt(result, 4)
    assert (tt4.status, tt4.due) == ("upcoming", D(2028, 10, 1))

    tt3_given = [TT1, TT2, GivenDose("Td", D(2027, 10, 1))]
    result = forecast(women_schedule, WOMAN, tt3_given, D(2027, 10, 1), edd=SECOND_EDD)
    assert _tt(result, 3).status == "complete"
    assert protected_at(result, SECOND_EDD)
    assert protected_at(result, FIRST_EDD)  # history answers for the first delivery too
    assert (_tt(result, 4).status, _tt(result, 4).due) == ("upcoming", D(2028, 10, 1))


def test_pregnancy_brings_forward_only_the_doses_needed_at_delivery(
    women_document: dict[str, Any],
) -> None:
    # A variant whose recommended gaps are longer than the minimum intervals.
    women_document["doses"][1]["recommended_after"]["offset"] = {"months": 2}
    women_document["doses"][2]["recommended_after"]["offset"] = {"months": 12}
    schedule = load_schedule(women_document)
    pregnant = forecast(schedule, WOMAN, [TT1], D(2024, 7, 10), edd=FIRST_EDD)
    # TT2 is needed for delivery: due at its minimum interval. TT3 is not: its own gap applies.
    assert _tt(pregnant, 2).due == D(2024, 8, 1)
    assert _tt(pregnant, 3).due == D(2025, 8, 1)
    not_pregnant = forecast(schedule, WOMAN, [TT1], D(2024, 7, 10))
    assert _tt(not_pregnant, 2).due == D(2024, 9, 1)


def test_tt5_protects_for_life(women_schedule: Schedule) -> None:
    doses = [
        GivenDose("TT", day)
        for day in (D(2018, 1, 1), D(2018, 2, 1), D(2018, 8, 1), D(2019, 8, 1), D(2020, 8, 1))
    ]
    result = forecast(women_schedule, WOMAN, doses, D(2048, 1, 1))
    assert [e.status for e in result.doses] == ["complete"] * 5
    assert protected_at(result, D(2048, 1, 1))
    assert not protected_at(result, D(2018, 1, 15))  # TT1 alone protects for nothing


def test_outside_pregnancy_doses_follow_their_intervals(women_schedule: Schedule) -> None:
    never = forecast(women_schedule, WOMAN, [], D(2024, 1, 1))
    assert (_tt(never, 1).status, _tt(never, 1).due) == ("upcoming", None)
    after_tt1 = forecast(women_schedule, WOMAN, [TT1], D(2024, 8, 10))
    assert (_tt(after_tt1, 2).status, _tt(after_tt1, 2).due) == ("due", D(2024, 8, 1))


def test_childhood_dtp_counts_only_when_enabled(women_document: dict[str, Any]) -> None:
    infancy = [
        GivenDose("PENTA", D(1998, 7, 10)),
        GivenDose("PENTA", D(1998, 8, 10)),
        GivenDose("PENTA", D(1998, 9, 10)),
        GivenDose("DPT4", D(1999, 11, 10)),
    ]
    off = load_schedule(women_document)
    result = forecast(off, WOMAN, infancy, D(2024, 7, 1))
    assert [e.reason for e in result.doses if e.status == "invalid"] == ["not_in_schedule"] * 4

    women_document["equivalents"][0]["enabled"] = True
    on = load_schedule(women_document)
    result = forecast(on, WOMAN, infancy, D(2024, 7, 1))
    assert [_tt(result, n).date_given for n in (1, 2, 3)] == [
        D(1998, 7, 10),
        D(1998, 8, 10),
        D(1999, 11, 10),
    ]
    assert [(e.date_given, e.reason) for e in result.doses if e.status == "invalid"] == [
        (D(1998, 9, 10), "too_soon_interval")
    ]


def test_women_schedule_refuses_men_and_has_no_fic(women_schedule: Schedule) -> None:
    with pytest.raises(InputError) as refused:
        forecast(women_schedule, Person(D(1990, 1, 1), "M"), [], D(2024, 1, 1))
    assert refused.value.problems[0][0] == ("person", "sex")
    result = forecast(women_schedule, WOMAN, [], D(2024, 1, 1))
    with pytest.raises(ValueError, match="no fully-immunized set"):
        is_fully_immunized(result, WOMAN.birth_date)
