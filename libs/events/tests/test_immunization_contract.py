"""The immunization status contract grew the facts of single doses (``dose_valid``,
``dose_timely``) compatibly: what was valid before still is, and the schema before them is
compatible with the schema now."""

from __future__ import annotations

import copy
import datetime as dt
import uuid

from mch_events.contracts.immunization import ImmunizationStatusChanged
from mch_events.registry import EVENT_TYPES
from mch_events.schemas import incompatibilities, schema_of

NAME = "vn.mch.immunization.status-changed.v1"
BEFORE_DOSE_FACTS = {"dose_overdue", "series_complete", "fully_immunized", "protected_at_birth"}


def event(status: str, **kw: object) -> dict[str, object]:
    return {
        "person_id": str(uuid.uuid4()),
        "status": status,
        "holds": True,
        "since": "2026-11-20",
        "population": "child",
        "sex": "F",
        "birth_date": "2026-01-15",
        "residence": "38004",
        "as_of": "2026-12-01",
        "schedule_version": "vn-epi-child-2024@1.0",
        **kw,
    }


def test_the_schema_before_the_dose_facts_is_compatible_with_the_schema_now() -> None:
    now = schema_of(EVENT_TYPES[NAME])
    before = copy.deepcopy(now)
    status = before["properties"]["status"]
    status["enum"] = [v for v in status["enum"] if v in BEFORE_DOSE_FACTS]
    assert set(status["enum"]) == BEFORE_DOSE_FACTS
    assert incompatibilities(before, now) == []
    assert incompatibilities(now, before) != []  # and the checker sees the difference


def test_events_of_both_forms_are_read() -> None:
    old = ImmunizationStatusChanged.model_validate(event("dose_overdue", vaccine="PENTA", dose=1))
    assert old.status == "dose_overdue"
    for status in ("dose_valid", "dose_timely"):
        new = ImmunizationStatusChanged.model_validate(event(status, vaccine="HEPB0", dose=1))
        assert (new.status, new.vaccine, new.dose, new.since) == (
            status,
            "HEPB0",
            1,
            dt.date(2026, 11, 20),
        )
