"""``PersonErased`` is a new event type on ``mch.records.v1`` (``vn.mch.records.person-erased.v1``),
not a change to an existing one: its committed schema is checked like every other's, it names no
one, and it reads events from newer writers that add fields. (Consumers of the topic that hold
nothing to erase acknowledge it: services/reporting/tests/test_disclosure.py.)"""

from __future__ import annotations

import datetime as dt
import uuid

from mch_events import topics
from mch_events.contracts.records import PersonErased
from mch_events.envelope import new_event, parse, parse_data
from mch_events.registry import EVENT_TYPES, event_type_for
from mch_events.schemas import schema_of

NAME = "vn.mch.records.person-erased.v1"


def test_it_is_a_versioned_type_of_the_records_topic_keyed_by_the_person() -> None:
    spec = event_type_for(PersonErased)
    assert spec.name == NAME
    assert spec.topic == topics.RECORDS
    assert EVENT_TYPES[NAME] is spec


def test_it_carries_the_pseudonymous_id_and_the_day_and_nothing_that_names() -> None:
    properties = set(schema_of(EVENT_TYPES[NAME])["properties"])
    assert properties == {"person_id", "erased_on"}


def test_a_newer_writer_may_add_fields() -> None:
    person = uuid.uuid4()
    event = new_event(PersonErased(person_id=person, erased_on=dt.date(2026, 12, 7)), source="t")
    wire = event.model_dump(mode="json")
    wire["data"] = {**wire["data"], "requested_by": "dpo", "scope": "all"}
    read = parse(wire)
    assert read.data == PersonErased(person_id=person, erased_on=dt.date(2026, 12, 7))
    assert parse_data(event) == read.data
