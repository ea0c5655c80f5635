"""The org-unit contract grew ``successor`` compatibly: versions published before it still read
(with no successor), and the schema before it is compatible with the schema now."""

from __future__ import annotations

import copy

from mch_events.contracts.records import OrgUnit
from mch_events.registry import EVENT_TYPES
from mch_events.schemas import incompatibilities, schema_of

NAME = "vn.mch.records.orgunit.v1"


def test_the_schema_before_successors_is_compatible_with_the_schema_now() -> None:
    now = schema_of(EVENT_TYPES[NAME])
    before = copy.deepcopy(now)
    del before["properties"]["successor"]
    assert "successor" not in before.get("required", [])
    assert incompatibilities(before, now) == []
    assert incompatibilities(now, before) != []  # and the checker sees the difference


def test_versions_of_both_forms_are_read() -> None:
    old = {
        "code": "40401",
        "name": "Tế Nông",
        "level": "commune",
        "parent": "404",
        "valid_from": "2020-01-01",
        "valid_to": "2025-07-01",
    }
    assert OrgUnit.model_validate(old).successor is None
    assert OrgUnit.model_validate(old | {"successor": "38004"}).successor == "38004"
