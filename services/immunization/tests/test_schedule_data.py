"""The shipped schedule files, calendar arithmetic, and how operators add or override schedules."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from mch_immunization.domain.schedule import (
    Schedule,
    ScheduleCatalog,
    ScheduleError,
    load_catalog,
    load_schedule,
    shift,
)

D = dt.date


@pytest.mark.parametrize(
    ("start", "months", "days", "expected"),
    [
        (D(2023, 12, 31), 2, 0, D(2024, 2, 29)),  # leap February
        (D(2024, 12, 31), 2, 0, D(2025, 2, 28)),
        (D(2024, 1, 31), 1, 0, D(2024, 2, 29)),
        (D(2024, 1, 31), 3, 0, D(2024, 4, 30)),
        (D(2024, 2, 29), 12, 0, D(2025, 2, 28)),  # "1 year" from 29 February
        (D(2024, 2, 29), 48, 0, D(2028, 2, 29)),
        (D(2024, 3, 15), 0, 28, D(2024, 4, 12)),
        (D(2024, 11, 30), 2, 1, D(2025, 1, 31)),  # months first, then days
        (D(2025, 3, 1), 0, -280, D(2024, 5, 25)),
        (D(2025, 3, 31), -1, 0, D(2025, 2, 28)),
    ],
)
def test_calendar_arithmetic(start: dt.date, months: int, days: int, expected: dt.date) -> None:
    assert shift(start, months, days) == expected


def test_shipped_schedules(catalog: ScheduleCatalog) -> None:
    assert {(s.id, s.version, s.population) for s in catalog.schedules.values()} == {
        ("vn-epi-child-2024", "1.0", "child"),
        ("vn-tetanus-women", "1.0", "women"),
    }
    for schedule in catalog.schedules.values():
        assert schedule.effective_from == D(2024, 8, 1)
        assert schedule.grace_days == 0
        assert all(dose.marks for dose in schedule.spec.doses)


def test_child_schedule_has_every_reference_row(child_schedule: Schedule) -> None:
    assert [(r.series, r.dose) for r in child_schedule.rules] == [
        ("HEPB0", 1),
        ("BCG", 1),
        ("PENTA", 1),
        ("PENTA", 2),
        ("PENTA", 3),
        ("OPV", 1),
        ("OPV", 2),
        ("OPV", 3),
        ("IPV", 1),
        ("IPV", 2),
        ("MCV1", 1),
        ("MR", 1),
        ("DPT4", 4),
        ("JE", 1),
        ("JE", 2),
        ("JE", 3),
        ("ROTA", 1),
        ("ROTA", 2),
        ("TD", 5),
    ]
    by_ref = child_schedule.by_ref
    assert child_schedule.rules[by_ref[("MR", 1)]].interval_from == by_ref[("MCV1", 1)]
    assert child_schedule.rules[by_ref[("DPT4", 4)]].interval_from == by_ref[("PENTA", 3)]
    assert [child_schedule.rules[i].label for i in child_schedule.fic] == [
        "BCG 1",
        "PENTA 1",
        "PENTA 2",
        "PENTA 3",
        "OPV 1",
        "OPV 2",
        "OPV 3",
        "IPV 1",
        "MCV1 1",
    ]


def test_rotavirus_rollout_is_marked_illustrative(child_schedule: Schedule) -> None:
    rollout = child_schedule.spec.rollouts["rotavirus"]
    assert "illustrative" in rollout.note.lower()
    sites = {site.org_unit: site for site in rollout.sites}
    assert sites["38"].name == "Thanh Hóa"
    assert not any(site.confirmed for site in rollout.sites)
    rota = child_schedule.rules[child_schedule.by_ref[("ROTA", 1)]]
    assert ("38", sites["38"].effective_from) in rota.scope
    assert all(not rule.scope for rule in child_schedule.rules if rule.series != "ROTA")


def test_vaccine_names_resolve_through_aliases(
    child_schedule: Schedule, women_schedule: Schedule
) -> None:
    assert child_schedule.vaccines["BOPV"] == "OPV"
    assert child_schedule.vaccines["DPT-VGB-HIB"] == "PENTA"
    assert women_schedule.vaccines["TD"] == "TT"
    assert "PENTA" not in women_schedule.vaccines  # childhood DTP counts only when enabled


def test_women_schedule_protection(women_schedule: Schedule) -> None:
    assert women_schedule.protection_series == "TT"
    rules = women_schedule.rules
    assert [r.protects_for for r in rules] == [None, (36, 0), (60, 0), (120, 0), None]
    assert [r.protects_lifelong for r in rules] == [False, False, False, False, True]


def test_schedule_round_trips_through_its_serialised_form(child_schedule: Schedule) -> None:
    dumped = child_schedule.spec.model_dump(mode="json")
    assert dumped["doses"][2]["min_age"] == {"months": 2}
    assert dumped["doses"][0]["min_age"] == {"days": 0}
    reloaded = load_schedule(dumped)
    assert reloaded.rules == child_schedule.rules


def _write(directory: Path, name: str, document: dict[str, Any]) -> None:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(json.dumps(document), encoding="utf-8")


def test_operator_directory_overrides_and_adds(
    tmp_path: Path, child_document: dict[str, Any]
) -> None:
    overridden = {**child_document, "version": "1.1"}
    regional = {**child_document, "id": "vn-epi-child-2026", "effective_from": "2026-01-01"}
    _write(tmp_path, "override.json", overridden)
    _write(tmp_path, "new.json", regional)
    catalog = load_catalog(tmp_path)
    assert {s.id: s.version for s in catalog.schedules.values()} == {
        "vn-epi-child-2024": "1.1",
        "vn-epi-child-2026": "1.0",
        "vn-tetanus-women": "1.0",
    }
    child_2024 = catalog.default_for("child", D(2025, 12, 31))
    child_2026 = catalog.default_for("child", D(2026, 1, 1))
    assert child_2024 is not None
    assert child_2026 is not None
    assert child_2024.label == "vn-epi-child-2024@1.1"
    assert child_2026.id == "vn-epi-child-2026"
    # History from before the first schedule is evaluated with the earliest one.
    earliest = catalog.default_for("child", D(2020, 1, 1))
    assert earliest is not None
    assert earliest.id == "vn-epi-child-2024"


def test_operator_directory_with_two_files_for_one_id_is_refused(
    tmp_path: Path, child_document: dict[str, Any]
) -> None:
    _write(tmp_path, "a.json", child_document)
    _write(tmp_path, "b.json", {**child_document, "version": "9"})
    with pytest.raises(ScheduleError, match=r"a\.json and b\.json both define vn-epi-child-2024"):
        load_catalog(tmp_path)


def test_two_schedules_in_force_from_the_same_day_are_ambiguous(
    tmp_path: Path, child_document: dict[str, Any]
) -> None:
    _write(tmp_path, "twin.json", {**child_document, "id": "vn-epi-child-twin"})
    with pytest.raises(ScheduleError, match="also the child schedule in force from 2024-08-01"):
        load_catalog(tmp_path)


def test_unreadable_operator_file_is_named(tmp_path: Path) -> None:
    tmp_path.joinpath("broken.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ScheduleError, match=r"broken\.json"):
        load_catalog(tmp_path)
