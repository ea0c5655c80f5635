"""An inconsistent schedule is refused with a message naming the dose and the problem."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mch_immunization.domain.schedule import ScheduleError, load_schedule

Document = dict[str, Any]


def _dose(document: Document, series: str, number: int) -> dict[str, Any]:
    for dose in document["doses"]:
        if dose["series"] == series and dose["dose"] == number:
            found: dict[str, Any] = dose
            return found
    raise AssertionError(f"{series} {number} not in the document")


def _duplicate_penta_2(d: Document) -> None:
    d["doses"].append(dict(_dose(d, "PENTA", 2)))


def _mr_from_unknown_series(d: Document) -> None:
    _dose(d, "MR", 1)["interval_from"] = {"series": "MCV", "dose": 1}


def _mr_from_missing_dose(d: Document) -> None:
    _dose(d, "MR", 1)["interval_from"] = {"series": "MCV1", "dose": 2}


def _rota_min_age_after_max_age(d: Document) -> None:
    _dose(d, "ROTA", 1)["min_age"] = {"months": 7}
    _dose(d, "ROTA", 1)["recommended_age"] = {"months": 7}


def _rota_mixed_units_at_max_age(d: Document) -> None:
    # 183 days is on or after 6 months from some birth dates (181-184 days): not always before.
    _dose(d, "ROTA", 1)["min_age"] = {"days": 183}
    _dose(d, "ROTA", 1)["recommended_age"] = {"days": 183}


def _overdue_before_due(d: Document) -> None:
    _dose(d, "PENTA", 1)["overdue_after"] = {"days": -3}


def _overdue_on_due(d: Document) -> None:
    _dose(d, "BCG", 1)["overdue_after"] = {"days": 0}


def _je_numbers_skip(d: Document) -> None:
    _dose(d, "JE", 3)["dose"] = 4
    _dose(d, "JE", 4)["recommended_after"]["dose"] = 2


def _dpt4_renumbered(d: Document) -> None:
    _dose(d, "DPT4", 4)["dose"] = 1
    _dose(d, "TD", 5)["dose"] = 2


def _unknown_series(d: Document) -> None:
    d["doses"].append({**_dose(d, "BCG", 1), "series": "HPV"})


def _recommended_before_min_age(d: Document) -> None:
    _dose(d, "PENTA", 1)["recommended_age"] = {"months": 1}


def _recommended_after_wrong_dose(d: Document) -> None:
    _dose(d, "JE", 3)["recommended_after"]["dose"] = 1


def _recommended_after_on_first_dose(d: Document) -> None:
    dose = _dose(d, "JE", 1)
    del dose["recommended_age"]
    dose["recommended_after"] = {"series": "MCV1", "dose": 1, "offset": {"months": 3}}


def _no_recommendation(d: Document) -> None:
    del _dose(d, "IPV", 1)["recommended_age"]


def _first_dose_interval_without_source(d: Document) -> None:
    del _dose(d, "DPT4", 4)["interval_from"]


def _source_without_interval(d: Document) -> None:
    _dose(d, "IPV", 1)["interval_from"] = {"series": "OPV", "dose": 3}


def _later_dose_counts_from_other_series(d: Document) -> None:
    _dose(d, "PENTA", 2)["interval_from"] = {"series": "OPV", "dose": 1}


def _circular_intervals(d: Document) -> None:
    dose = _dose(d, "MCV1", 1)
    dose["min_interval"] = {"months": 1}
    dose["interval_from"] = {"series": "MR", "dose": 1}


def _unknown_rollout(d: Document) -> None:
    _dose(d, "ROTA", 2)["scope"] = [{"rollout": "rota"}]


def _fic_names_missing_dose(d: Document) -> None:
    d["fic"]["doses"].append({"series": "OPV", "dose": 4})


def _continues_unknown_series(d: Document) -> None:
    d["series"][-1]["continues"] = "DTP"


def _alias_used_twice(d: Document) -> None:
    d["series"][0]["aliases"].append("bOPV")


def _typo_in_duration(d: Document) -> None:
    _dose(d, "PENTA", 2)["min_interval"] = {"month": 1}


def _missing_overdue_after(d: Document) -> None:
    del _dose(d, "OPV", 3)["overdue_after"]


def _protection_outside_pregnancy(d: Document) -> None:
    _dose(d, "TD", 5)["protects_for"] = {"years": 10}


CASES: list[tuple[Callable[[Document], None], str]] = [
    (_duplicate_penta_2, "PENTA 2: duplicate dose"),
    (_mr_from_unknown_series, "MR 1: min_interval counts from unknown series 'MCV'"),
    (_mr_from_missing_dose, "MR 1: min_interval counts from MCV1 2, which is not a dose"),
    (_rota_min_age_after_max_age, "ROTA 1: min_age (7 months) is not before max_age (6 months)"),
    (_rota_mixed_units_at_max_age, "ROTA 1: min_age (183 days) is not before max_age (6 months)"),
    (_overdue_before_due, "PENTA 1: overdue before due (overdue_after is -3 days)"),
    (_overdue_on_due, "BCG 1: overdue_after is zero"),
    (_je_numbers_skip, "series JE: dose numbers [1, 2, 4] are not consecutive from 1"),
    (_dpt4_renumbered, "series DPT4: dose numbers [1] are not consecutive from 4"),
    (_unknown_series, "HPV 1: unknown series 'HPV'"),
    (
        _recommended_before_min_age,
        "PENTA 1: recommended_age (1 month) is before min_age (2 months)",
    ),
    (
        _recommended_after_wrong_dose,
        "JE 3: recommended_after names JE 1; it must name the previous",
    ),
    (_recommended_after_on_first_dose, "JE 1: recommended_after on the first dose of a series"),
    (_no_recommendation, "IPV 1: has neither recommended_age nor recommended_after"),
    (_first_dose_interval_without_source, "DPT4 4: min_interval on the first dose of a series"),
    (_source_without_interval, "IPV 1: interval_from without min_interval"),
    (_later_dose_counts_from_other_series, "PENTA 2: min_interval counts from OPV 1; a later dose"),
    (_circular_intervals, "series MCV1, MR: intervals count from each other in a circle"),
    (_unknown_rollout, "ROTA 2: scope names unknown rollout 'rota'"),
    (_fic_names_missing_dose, "fic: OPV 4 is not a dose of the schedule"),
    (_continues_unknown_series, "series TD: continues unknown series 'DTP'"),
    (_alias_used_twice, "series OPV: name 'BOPV' already names HEPB0"),
    (_typo_in_duration, "PENTA 2: min_interval.month: Extra inputs are not permitted"),
    (_missing_overdue_after, "OPV 3: overdue_after: Field required"),
    (_protection_outside_pregnancy, "TD 5: protects_for outside the pregnancy protection series"),
]


@pytest.mark.parametrize(
    ("mutate", "message"), CASES, ids=[mutate.__name__.strip("_") for mutate, _ in CASES]
)
def test_inconsistent_schedule_is_refused(
    child_document: Document, mutate: Callable[[Document], None], message: str
) -> None:
    mutate(child_document)
    with pytest.raises(ScheduleError) as refused:
        load_schedule(child_document)
    assert any(message in problem for problem in refused.value.problems), refused.value.problems
    assert "schedule 'vn-epi-child-2024' is inconsistent" in str(refused.value)


def test_every_problem_is_reported_at_once(child_document: Document) -> None:
    _duplicate_penta_2(child_document)
    _overdue_before_due(child_document)
    with pytest.raises(ScheduleError) as refused:
        load_schedule(child_document)
    assert len(refused.value.problems) == 2


def test_pregnancy_series_must_exist(women_document: Document) -> None:
    women_document["pregnancy"]["protection_series"] = "TD"
    with pytest.raises(ScheduleError, match="pregnancy: protection_series 'TD' is not a series"):
        load_schedule(women_document)


def test_tt1_alone_may_go_without_a_recommended_time(women_document: Document) -> None:
    assert load_schedule(women_document).rules[0].recommended_age is None
    del women_document["pregnancy"]
    for dose in women_document["doses"]:
        dose.pop("protects_for", None)
    with pytest.raises(ScheduleError, match="TT 1: has neither recommended_age"):
        load_schedule(women_document)
