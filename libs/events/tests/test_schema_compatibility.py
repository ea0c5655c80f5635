"""The committed JSON Schemas are the public contract: the code must still match them, and a change
to them must be compatible (new optional fields and values only) — otherwise it is a new version."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from mch_events.registry import EVENT_TYPES
from mch_events.schemas import CONTRACT_DIR, asyncapi_of, incompatibilities, schema_of

COMMITTED = CONTRACT_DIR / "jsonschema"


def committed(name: str) -> dict[str, Any]:
    path = COMMITTED / f"{name}.json"
    assert path.exists(), f"{path} is missing: run `mch schemas export` and commit it"
    document: dict[str, Any] = json.loads(path.read_text())
    return document


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_the_code_is_compatible_with_the_committed_schema(name: str) -> None:
    problems = incompatibilities(committed(name), schema_of(EVENT_TYPES[name]))
    assert not problems, (
        f"{name} changed incompatibly: {problems}. Publish a new version (.v2) instead."
    )


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_the_committed_schema_is_up_to_date(name: str) -> None:
    assert committed(name) == schema_of(EVENT_TYPES[name]), (
        f"{name}: the schema changed compatibly; run `mch schemas export` and commit the result"
    )


def test_every_committed_schema_still_has_its_type() -> None:
    names = {p.stem for p in COMMITTED.glob("*.json")}
    assert names == set(EVENT_TYPES), "an event type was removed or renamed"


def test_asyncapi_documents_are_committed_and_current() -> None:
    for path in (CONTRACT_DIR / "asyncapi").glob("*.json"):
        assert json.loads(path.read_text()) == asyncapi_of(path.stem)
    assert {p.stem for p in (CONTRACT_DIR / "asyncapi").glob("*.json")} == {
        "records",
        "immunization",
        "growth",
        "reporting",
    }


# The checker itself: it must catch each kind of breaking change and let compatible ones pass.
BASE = schema_of(EVENT_TYPES["vn.mch.child.visit.v1"])


def changed(edit: Any) -> dict[str, Any]:
    schema = copy.deepcopy(BASE)
    edit(schema)
    return schema


def test_adding_an_optional_field_is_compatible() -> None:
    new = changed(lambda s: s["properties"].update({"temperature_c": {"type": "number"}}))
    assert incompatibilities(BASE, new) == []


def test_renaming_a_field_is_caught() -> None:
    new = changed(lambda s: s["properties"].update({"weight": s["properties"].pop("weight_kg")}))
    assert incompatibilities(BASE, new) == ["weight_kg: removed or renamed"]


def test_making_a_field_required_is_caught() -> None:
    new = changed(lambda s: s["required"].append("weight_kg"))
    assert incompatibilities(BASE, new) == ["weight_kg: became required"]


def test_changing_a_type_is_caught() -> None:
    new = changed(lambda s: s["properties"].update({"weight_kg": {"type": "string"}}))
    assert any("weight_kg: type" in p for p in incompatibilities(BASE, new))


def test_removing_an_enum_value_is_caught() -> None:
    old = schema_of(EVENT_TYPES["vn.mch.birth.v1"])
    new = copy.deepcopy(old)
    new["properties"]["place"]["enum"].remove("en_route")
    assert incompatibilities(old, new) == ["place: values removed: ['en_route']"]


def test_nested_changes_are_caught() -> None:
    old = schema_of(EVENT_TYPES["vn.mch.birth.v1"])
    new = copy.deepcopy(old)
    baby = new["$defs"]["Baby"]
    baby["properties"]["weight"] = baby["properties"].pop("weight_g")
    assert incompatibilities(old, new) == ["babies[].weight_g: removed or renamed"]


def test_the_contract_folder_is_where_export_writes(tmp_path: Path) -> None:
    from mch_events.schemas import export

    written = export(tmp_path)
    assert len(written) == len(EVENT_TYPES) + 4
    for path in written:
        relative = path.relative_to(tmp_path)
        assert (CONTRACT_DIR / relative).read_text() == path.read_text()


def test_reason_codes_only_grow() -> None:
    """Facility systems switch on the reason codes of results and dead letters: a code once
    published keeps its value; new ones may be added."""
    from mch_events.contracts.results import ReasonCode

    published = {
        "malformed_json",
        "invalid_envelope",
        "unknown_type",
        "schema_violation",
        "payload_too_large",
        "unknown_org_unit",
        "unknown_reference",
        "implausible_value",
        "conflict",
        "processing_error",
        "not_authorized",
    }
    assert published <= {code.value for code in ReasonCode}
