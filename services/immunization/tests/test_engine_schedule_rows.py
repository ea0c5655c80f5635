"""Every row of the reference schedule, for a child born 15 January 2025 in Thanh Hóa (38).

Dates are written out by hand from the reference (calendar months, exact days), not computed with
the engine's own arithmetic.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from mch_immunization.domain.engine import DoseEntry, GivenDose, Person, Reason, forecast
from mch_immunization.domain.schedule import Schedule

D = dt.date
BIRTH = D(2025, 1, 15)
CHILD = Person(BIRTH, "F", residence="16003", residence_ancestors=("38",))


@dataclass(frozen=True)
class Row:
    vaccine: str
    dose: int
    earliest: dt.date
    due: dt.date
    overdue: dt.date
    early_reason: Reason | None
    """Why a dose one day before ``earliest`` is invalid (None: ``earliest`` is the birth date)."""
    max_date: dt.date | None

    @property
    def id(self) -> str:
        return f"{self.vaccine}{self.dose}"


ROWS = [
    Row("HEPB0", 1, D(2025, 1, 15), D(2025, 1, 15), D(2025, 1, 16), None, D(2025, 1, 22)),
    Row("BCG", 1, D(2025, 1, 15), D(2025, 1, 15), D(2025, 2, 14), None, D(2026, 1, 15)),
    Row("PENTA", 1, D(2025, 3, 15), D(2025, 3, 15), D(2025, 4, 12), "too_early_age", None),
    Row("PENTA", 2, D(2025, 4, 15), D(2025, 4, 15), D(2025, 5, 13), "too_soon_interval", None),
    Row("PENTA", 3, D(2025, 5, 15), D(2025, 5, 15), D(2025, 6, 12), "too_soon_interval", None),
    Row("OPV", 1, D(2025, 3, 15), D(2025, 3, 15), D(2025, 4, 12), "too_early_age", None),
    Row("OPV", 2, D(2025, 4, 15), D(2025, 4, 15), D(2025, 5, 13), "too_soon_interval", None),
    Row("OPV", 3, D(2025, 5, 15), D(2025, 5, 15), D(2025, 6, 12), "too_soon_interval", None),
    Row("IPV", 1, D(2025, 6, 15), D(2025, 6, 15), D(2025, 7, 13), "too_early_age", None),
    Row("IPV", 2, D(2025, 7, 15), D(2025, 10, 15), D(2025, 11, 12), "too_soon_interval", None),
    Row("MCV1", 1, D(2025, 10, 15), D(2025, 10, 15), D(2025, 11, 12), "too_early_age", None),
    Row("MR", 1, D(2026, 7, 15), D(2026, 7, 15), D(2026, 8, 12), "too_early_age", None),
    Row("DPT4", 4, D(2026, 7, 15), D(2026, 7, 15), D(2026, 8, 12), "too_early_age", None),
    Row("JE", 1, D(2026, 1, 15), D(2026, 1, 15), D(2026, 2, 12), "too_early_age", D(2031, 1, 15)),
    Row(
        "JE", 2, D(2026, 1, 22), D(2026, 1, 29), D(2026, 2, 26), "too_soon_interval", D(2031, 1, 15)
    ),
    Row(
        "JE", 3, D(2027, 1, 29), D(2027, 1, 29), D(2027, 2, 26), "too_soon_interval", D(2031, 1, 15)
    ),
    Row("ROTA", 1, D(2025, 3, 15), D(2025, 3, 15), D(2025, 4, 12), "too_early_age", D(2025, 7, 15)),
    Row(
        "ROTA",
        2,
        D(2025, 4, 15),
        D(2025, 4, 15),
        D(2025, 5, 13),
        "too_soon_interval",
        D(2025, 7, 15),
    ),
    Row("TD", 5, D(2032, 1, 15), D(2032, 1, 15), D(2032, 2, 12), "too_early_age", None),
]
ROW_IDS = [row.id for row in ROWS]
# Doses of other series that a row's interval counts from.
ANCHORS = {("MR", 1): [("MCV1", 1)], ("DPT4", 4): [("PENTA", 3)]}


def _before(row: Row) -> list[GivenDose]:
    """The doses that come before ``row`` in its series (and its anchors), given on time."""
    wanted = {(row.vaccine, n) for n in range(1, row.dose)} | set(
        ANCHORS.get((row.vaccine, row.dose), [])
    )
    if row.vaccine == "DPT4":
        wanted |= {("PENTA", 1), ("PENTA", 2)}
    return [GivenDose(r.vaccine, r.due) for r in ROWS if (r.vaccine, r.dose) in wanted]


def _entry(schedule: Schedule, row: Row, doses: list[GivenDose], as_of: dt.date) -> DoseEntry:
    result = forecast(schedule, CHILD, doses, as_of)
    [entry] = [
        e
        for e in result.doses
        if (e.vaccine, e.dose) == (row.vaccine, row.dose) and e.status != "invalid"
    ]
    return entry


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_forecast_dates_and_statuses(child_schedule: Schedule, row: Row) -> None:
    history = _before(row)
    on_due = _entry(child_schedule, row, history, row.due)
    assert (on_due.status, on_due.earliest, on_due.due, on_due.overdue) == (
        "due",
        row.earliest,
        row.due,
        row.overdue,
    )
    assert (on_due.date_given, on_due.valid, on_due.reason) == (None, None, None)
    assert _entry(child_schedule, row, history, row.overdue - dt.timedelta(days=1)).status == "due"
    assert _entry(child_schedule, row, history, row.overdue).status == "overdue"
    if row.due > BIRTH:
        assert (
            _entry(child_schedule, row, history, row.due - dt.timedelta(days=1)).status
            == "upcoming"
        )


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_given_on_time_is_valid(child_schedule: Schedule, row: Row) -> None:
    doses = [*_before(row), GivenDose(row.vaccine, row.due)]
    entry = _entry(child_schedule, row, doses, row.due)
    assert (entry.status, entry.date_given, entry.valid, entry.reason) == (
        "complete",
        row.due,
        True,
        None,
    )


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_given_at_earliest_is_valid(child_schedule: Schedule, row: Row) -> None:
    doses = [*_before(row), GivenDose(row.vaccine, row.earliest)]
    assert _entry(child_schedule, row, doses, row.due).status == "complete"


@pytest.mark.parametrize("row", [r for r in ROWS if r.early_reason], ids=lambda r: r.id)
def test_given_one_day_early_is_invalid_and_the_dose_stays_due(
    child_schedule: Schedule, row: Row
) -> None:
    early = row.earliest - dt.timedelta(days=1)
    result = forecast(
        child_schedule, CHILD, [*_before(row), GivenDose(row.vaccine, early)], row.due
    )
    invalid = [e for e in result.doses if e.status == "invalid"]
    assert invalid == [
        DoseEntry(
            row.vaccine, row.dose, "invalid", early, False, row.early_reason, None, None, None
        )
    ]
    # The invalid dose does not restart the clock: the dose is due on the same dates as before.
    entry = _entry(child_schedule, row, [*_before(row), GivenDose(row.vaccine, early)], row.due)
    assert (entry.status, entry.earliest, entry.due) == ("due", row.earliest, row.due)


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_given_late_is_valid_before_max_age(child_schedule: Schedule, row: Row) -> None:
    late = row.overdue + dt.timedelta(days=3)
    assert row.max_date is None or late < row.max_date
    entry = _entry(child_schedule, row, [*_before(row), GivenDose(row.vaccine, late)], late)
    assert (entry.status, entry.valid) == ("complete", True)


@pytest.mark.parametrize("row", [r for r in ROWS if r.max_date], ids=lambda r: r.id)
def test_after_max_age_is_invalid_and_the_dose_expires(child_schedule: Schedule, row: Row) -> None:
    assert row.max_date is not None
    day_before = row.max_date - dt.timedelta(days=1)
    last_valid = _entry(
        child_schedule, row, [*_before(row), GivenDose(row.vaccine, day_before)], day_before
    )
    assert last_valid.valid is True

    doses = [*_before(row), GivenDose(row.vaccine, row.max_date)]
    result = forecast(child_schedule, CHILD, doses, row.max_date)
    assert (
        DoseEntry(
            row.vaccine, row.dose, "invalid", row.max_date, False, "after_max_age", None, None, None
        )
        in result.doses
    )
    assert _entry(child_schedule, row, doses, row.max_date).status == "expired"
    assert _entry(child_schedule, row, _before(row), day_before).status == "overdue"
    assert _entry(child_schedule, row, _before(row), row.max_date).status == "expired"


@pytest.mark.parametrize("row", [r for r in ROWS if not r.max_date], ids=lambda r: r.id)
def test_missed_dose_without_max_age_stays_overdue(child_schedule: Schedule, row: Row) -> None:
    years_later = row.overdue.replace(year=row.overdue.year + 5)
    entry = _entry(child_schedule, row, _before(row), years_later)
    assert (entry.status, entry.due, entry.overdue) == ("overdue", row.due, row.overdue)


def test_complete_on_time_history_leaves_only_td(child_schedule: Schedule) -> None:
    doses = [GivenDose(row.vaccine, row.due) for row in ROWS if row.vaccine != "TD"]
    result = forecast(child_schedule, CHILD, doses, D(2027, 6, 1))
    assert [(e.vaccine, e.status) for e in result.doses if e.status != "complete"] == [
        ("TD", "upcoming")
    ]
    assert len(result.doses) == len(ROWS)
    assert result.schedule_version == "vn-epi-child-2024@1.0"
