"""Whatever order facility events arrive in, however often and however batched, the stored state
is the state of one pass in the order the care happened. Hypothesis explores the orders of a small
history holding every kind of correction; the volume test does the same at scale."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from records_helpers import (
    COMMUNE,
    OTHER_COMMUNE,
    THIRD_COMMUNE,
    Clinic,
    GateHarness,
    amended,
    prepare_database,
)

from mch_events.envelope import CloudEvent
from mch_servicekit.db import make_engine


def history() -> list[CloudEvent]:
    """One family and a few strangers, with amendments, voids, moves and a late registration."""
    c = Clinic(seed=2024)
    mother = c.mother(residence=COMMUNE)
    pregnancy = c.pregnancy(mother)
    first_visit = c.antenatal(pregnancy, dt.date(2025, 8, 10), gestational_weeks=10)
    second_visit = c.antenatal(pregnancy, dt.date(2025, 11, 10), bp_systolic=150, bp_diastolic=95)
    twins = [
        {"child_id": str(c.uuid()), "sex": "F", "outcome": "live", "weight_g": 2300},
        {"child_id": str(c.uuid()), "sex": "M", "outcome": "live", "weight_g": 2450},
    ]
    birth = c.birth(pregnancy, on=dt.date(2026, 3, 1), babies=twins)
    girl, boy = (b["child_id"] for b in twins)
    girl_check = c.child_visit(girl, dt.date(2026, 4, 1))
    boy_dose = c.dose(boy, dt.date(2026, 3, 2), vaccine="HEPB0")
    girl_dose = c.dose(girl, dt.date(2026, 3, 2), vaccine="BCG")
    stranger = c.mother(full_name="Phạm Thị Lan", on=dt.date(2025, 9, 1))
    strangers_pregnancy = c.pregnancy(stranger, on=dt.date(2025, 9, 2))
    older_child = c.child()
    return [
        mother,
        pregnancy,
        first_visit,
        amended(mother, 2, residence=OTHER_COMMUNE),
        amended(first_visit, 2, weight_kg=58.0, days_later=1),
        stranger,
        second_visit,
        c.void(second_visit.data["visit_id"], dt.date(2025, 11, 12)),
        amended(pregnancy, 2, gravida=3),
        c.moved(mother.data["mother_id"], THIRD_COMMUNE, dt.date(2026, 1, 5)),
        strangers_pregnancy,
        c.void(stranger.data["mother_id"], dt.date(2025, 9, 20)),
        birth,
        boy_dose,
        girl_dose,
        c.postnatal(birth, dt.date(2026, 3, 5), child_id=girl, findings=["neonatal_jaundice"]),
        amended(birth, 2, babies=[twins[0], twins[1] | {"outcome": "stillbirth"}]),
        c.child(
            on=dt.date(2026, 3, 20),
            child_id=girl,
            sex="F",
            birth_date=dt.date(2026, 3, 1),
            residence=COMMUNE,
            full_name="Trần Ngọc Anh",
        ),
        girl_check,
        amended(girl_check, 2, weight_kg=4.4),
        c.void(girl_dose.data["immunization_id"], dt.date(2026, 3, 4)),
        c.moved(girl, OTHER_COMMUNE, dt.date(2026, 5, 1)),
        older_child,
        c.died(older_child.data["child_id"], dt.date(2025, 12, 1)),
    ]


HISTORY = history()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database with the org units, copied for each run: quicker than creating one."""
    path = tmp_path_factory.mktemp("convergence") / "template.db"
    prepare_database(f"sqlite:///{path}", migrate=False).dispose()
    return path


@pytest.fixture(scope="module")
def in_order(template: Path) -> dict[str, list[Any]]:
    return state_after(template, HISTORY)


def state_after(template: Path, events: list[CloudEvent], batch: int = 500) -> dict[str, list[Any]]:
    """The state after applying ``events`` to a database of their own."""
    copy = template.with_name(f"{uuid.uuid4().hex}.db")
    shutil.copyfile(template, copy)
    engine = make_engine(f"sqlite:///{copy}")
    harness = GateHarness(engine)
    results = harness.apply(events, batch=batch)
    assert not [r for r in results if r.status == "rejected"], results
    assert harness.held() == []
    state = harness.dump()
    engine.dispose()
    copy.unlink()
    return state


def test_the_history_in_order_is_all_accepted_and_complete(
    harness: GateHarness, in_order: dict[str, list[Any]]
) -> None:
    assert set(harness.statuses(HISTORY)) == {"accepted"}
    assert {name: len(rows) for name, rows in in_order.items()} == {
        "persons": 5,
        "residences": 7,
        "records": 9,
        "voids": 3,
    }


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    order=st.permutations(HISTORY),
    copies=st.lists(st.sampled_from(HISTORY), max_size=15),
    batch=st.integers(min_value=1, max_value=30),
)
def test_any_order_with_copies_and_any_batching_ends_in_the_same_state(
    template: Path,
    in_order: dict[str, list[Any]],
    order: list[CloudEvent],
    copies: list[CloudEvent],
    batch: int,
) -> None:
    shuffled = list(order)
    for i, copy in enumerate(copies):
        shuffled.insert((i * 7) % (len(shuffled) + 1), copy)
    assert state_after(template, shuffled, batch=batch) == in_order
