"""One spelling per value: sex is M or F and the measuring position lying or standing on every
input and output; the aliases senders use are read as them, anything else is refused, and the
published schemas still name only the one spelling."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from pydantic import TypeAdapter, ValidationError

from mch_events.contracts import facility as f
from mch_events.contracts import records as r
from mch_events.contracts.common import Position, Sex, position_code, sex_code
from mch_events.registry import EVENT_TYPES
from mch_events.schemas import schema_of

SEX = TypeAdapter(Sex)
POSITION = TypeAdapter(Position)


@pytest.mark.parametrize(
    ("given", "read"),
    [
        ("M", "M"),
        ("F", "F"),
        ("m", "M"),
        ("f", "F"),
        ("male", "M"),
        ("female", "F"),
        ("Male", "M"),
        ("FEMALE", "F"),
        (" female ", "F"),
    ],
)
def test_sex_reads_its_aliases(given: str, read: str) -> None:
    assert SEX.validate_python(given) == read
    assert SEX.validate_json(f'"{given}"') == read
    assert sex_code(given) == read


@pytest.mark.parametrize("given", ["X", "", "1", "2", "woman", "fem", 1, 2, None, True])
def test_other_spellings_of_sex_are_refused(given: object) -> None:
    with pytest.raises(ValidationError):
        SEX.validate_python(given)
    with pytest.raises(ValueError, match="sex must be M or F"):
        sex_code(given)


@pytest.mark.parametrize(
    ("given", "read"),
    [
        ("lying", "lying"),
        ("standing", "standing"),
        ("L", "lying"),
        ("h", "standing"),
        ("Standing", "standing"),
    ],
)
def test_position_reads_its_aliases(given: str, read: str) -> None:
    assert POSITION.validate_python(given) == read
    assert position_code(given) == read


@pytest.mark.parametrize("given", ["sitting", "", "S", 1])
def test_other_positions_are_refused(given: object) -> None:
    with pytest.raises(ValidationError):
        POSITION.validate_python(given)
    with pytest.raises(ValueError, match="measured must be lying or standing"):
        position_code(given)


def test_a_facility_event_is_normalised_on_reading() -> None:
    child = f.ChildRegistered.model_validate_json(
        f'{{"child_id": "{uuid.uuid4()}", "sex": "female", "birth_date": "2026-01-15",'
        ' "residence": "38004"}'
    )
    assert child.sex == "F"
    assert child.model_dump(mode="json")["sex"] == "F"
    visit = f.ChildVisit(
        visit_id=uuid.uuid4(),
        child_id=child.child_id,
        facility="TYT-38004",
        visit_date=dt.date(2026, 11, 20),
        measured="L",  # an alias, read as "lying"
    )
    assert visit.measured == "lying"


def test_what_services_publish_is_normalised_too() -> None:
    person = r.PersonState.model_validate(
        {
            "person_id": str(uuid.uuid4()),
            "role": "child",
            "sex": "Male",
            "birth_date": "2026-01-15",
            "registered_on": "2026-01-15",
            "residences": [{"residence": "38004"}],
        }
    )
    assert person.model_dump(mode="json")["sex"] == "M"


def _sex_schemas(schema: object) -> list[object]:
    found = []
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "sex":
                found.append(value)
            found += _sex_schemas(value)
    elif isinstance(schema, list):
        for value in schema:
            found += _sex_schemas(value)
    return found


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_every_schema_names_sex_m_or_f(name: str) -> None:
    for sex in _sex_schemas(schema_of(EVENT_TYPES[name])):
        assert isinstance(sex, dict)
        assert (sex["enum"], sex["type"]) == (["M", "F"], "string")
