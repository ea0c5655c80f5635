from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from mch_events import topics
from mch_events.envelope import VN_TZ, CloudEvent, from_kafka, parse, subject_key
from mch_growth.domain.zscores import Measurement, Position, Sex, score_many
from mch_platform.embedded_broker import EmbeddedBroker
from mch_platform.simulate import (
    SimCommune,
    count_events,
    generate,
    publish_http,
    publish_kafka,
)

COMMUNE = SimCommune(commune="38.404.15670", station="TYT-15670", hospital="BV-404")
YEAR_START, YEAR_END = dt.date(2025, 1, 1), dt.date(2025, 12, 31)
SEED = 20250101
SMALL = 100
"""Births a commune-year where the checks do not need real volumes."""


@pytest.fixture(scope="module")
def year() -> list[CloudEvent]:
    """One commune-year, shared by the read-only checks below."""
    return list(generate([COMMUNE], YEAR_START, YEAR_END, SEED))


def of_type(events: list[CloudEvent], name: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.type == f"vn.mch.{name}.v1"]


def test_the_same_arguments_give_the_same_events() -> None:
    communes = [COMMUNE, SimCommune(commune="38.404.15673", station="TYT-15673")]
    args = (communes, dt.date(2025, 3, 1), dt.date(2025, 4, 30))
    first = list(generate(*args, seed=7, births_per_commune_year=SMALL))
    again = list(generate(*args, seed=7, births_per_commune_year=SMALL))
    other = list(generate(*args, seed=8, births_per_commune_year=SMALL))
    assert first == again
    assert len({e.id for e in first}) == len(first)
    assert {e.id for e in first}.isdisjoint(e.id for e in other)


def test_count_events_is_exact() -> None:
    args = ([COMMUNE], dt.date(2025, 6, 1), dt.date(2025, 6, 30), 3, SMALL)
    assert count_events(*args) == sum(1 for _ in generate(*args))


def test_a_short_period_sees_children_of_every_age() -> None:
    month = list(generate([COMMUNE], dt.date(2025, 6, 1), dt.date(2025, 6, 30), 2, SMALL))
    born = {c["child_id"]: c["birth_date"] for c in of_type(month, "child.registered")}
    ages = [
        (dt.date.fromisoformat(v["visit_date"]) - dt.date.fromisoformat(born[v["child_id"]])).days
        for v in of_type(month, "child.visit")
        if v["child_id"] in born
    ]
    assert min(ages) < 365
    assert max(ages) > 4 * 365


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        list(generate([COMMUNE], YEAR_END, YEAR_START, SEED))


def test_every_event_matches_its_contract(year: list[CloudEvent]) -> None:
    for event in year:
        typed = parse(event.model_dump(mode="json"))
        assert typed.envelope == event
        assert event.source == event.data.get("facility", event.source)
        assert event.source in (COMMUNE.station, COMMUNE.hospital)


def test_events_come_in_the_order_the_care_happened(year: list[CloudEvent]) -> None:
    times = [e.time for e in year if e.time is not None]
    assert len(times) == len(year)
    assert all(t.utcoffset() == VN_TZ.utcoffset(None) for t in times)
    assert times == sorted(times)
    assert times[0].date() >= YEAR_START
    assert times[-1].date() <= YEAR_END
    for event in year:
        day = event.data.get("visit_date") or event.data.get("date")
        if day is not None:
            assert event.time is not None
            assert event.time.date().isoformat() == day


def test_every_reference_was_sent_before(year: list[CloudEvent]) -> None:
    mothers: set[str] = set()
    pregnancies: set[str] = set()
    children: set[str] = set()
    dead: set[str] = set()
    for event in year:
        d = event.data
        kind = event.type.removeprefix("vn.mch.").removesuffix(".v1")
        if kind == "mother.registered":
            assert d["mother_id"] not in mothers
            mothers.add(d["mother_id"])
        elif kind == "pregnancy.registered":
            assert d["mother_id"] in mothers
            pregnancies.add(d["pregnancy_id"])
        elif kind == "antenatal.visit":
            assert d["pregnancy_id"] in pregnancies
        elif kind == "birth":
            assert d["pregnancy_id"] in pregnancies
            assert d["mother_id"] in mothers
            pregnancies.remove(d["pregnancy_id"])  # nothing refers to it after the delivery
            children.update(b["child_id"] for b in d["babies"] if b["outcome"] == "live")
        elif kind == "child.registered":
            assert d["child_id"] not in children
            assert d["mother_id"] in mothers
            children.add(d["child_id"])
        elif kind == "postnatal.visit":
            assert d["mother_id"] in mothers
            assert d.get("child_id") is None or d["child_id"] in children - dead
        elif kind == "child.visit":
            assert d["child_id"] in children - dead
        elif kind == "immunization":
            people = mothers if d["vaccine"] == "TT" else children - dead
            assert d["person_id"] in people
        elif kind == "death":
            assert d["person_id"] in children - dead
            dead.add(d["person_id"])
        else:
            pytest.fail(f"unexpected event type {event.type}")


def test_one_commune_year_looks_like_a_real_one(year: list[CloudEvent]) -> None:
    births = of_type(year, "birth")
    assert 300 <= len(births) <= 500
    assert sum(b["place"] == "facility" for b in births) / len(births) > 0.8
    live = [b for birth in births for b in birth["babies"] if b["outcome"] == "live"]
    weighed = [b["weight_g"] for b in live if "weight_g" in b]
    assert 0.03 <= sum(w < 2500 for w in weighed) / len(weighed) <= 0.15

    born = {
        b["child_id"]: dt.datetime.fromisoformat(x["birth_date"])
        for x in births
        for b in x["babies"]
    }
    hepb0 = [
        dt.date.fromisoformat(d["date"]) - born[d["person_id"]].date()
        for d in of_type(year, "immunization")
        if d["vaccine"] == "HEPB0" and d["person_id"] in born
    ]
    assert len(hepb0) > 0.8 * len(live)
    assert sum(delay <= dt.timedelta(days=1) for delay in hepb0) / len(hepb0) > 0.8

    # Most women who delivered late in the year (their whole pregnancy in it) had 4+ contacts.
    visits = Counter(v["pregnancy_id"] for v in of_type(year, "antenatal.visit"))
    late = [b["pregnancy_id"] for b in births if b["birth_date"] >= "2025-11-01"]
    assert 0.5 < sum(visits[p] >= 4 for p in late) / len(late) < 0.9


def test_doses_follow_the_schedule(year: list[CloudEvent]) -> None:
    birth_dates: dict[str, dt.date] = {}
    for event in year:
        if event.type == "vn.mch.birth.v1":
            day = dt.datetime.fromisoformat(event.data["birth_date"]).date()
            birth_dates.update((b["child_id"], day) for b in event.data["babies"])
        elif event.type == "vn.mch.child.registered.v1":
            birth_dates[event.data["child_id"]] = dt.date.fromisoformat(event.data["birth_date"])
    minimum_age_days = {"PENTA": 59, "OPV": 59, "IPV": 150, "MCV1": 273, "MR": 546, "DPT4": 546}
    doses = Counter[tuple[str, int]]()
    for d in of_type(year, "immunization"):
        if d["vaccine"] == "TT":
            continue
        age = (dt.date.fromisoformat(d["date"]) - birth_dates[d["person_id"]]).days
        assert age >= minimum_age_days.get(d["vaccine"], 0), d
        doses[d["vaccine"], d["dose"]] += 1
    # A few children drop out along the way (the defaulters).
    assert doses["PENTA", 3] < doses["PENTA", 1]
    assert doses["PENTA", 3] > 0.8 * doses["PENTA", 1]
    women = Counter(d["dose"] for d in of_type(year, "immunization") if d["vaccine"] == "TT")
    assert women[1] > 0
    assert women[2] > 0


def test_growth_gives_realistic_malnutrition_rates(year: list[CloudEvent]) -> None:
    people: dict[str, tuple[Sex, dt.date]] = {}
    latest: dict[str, Mapping[str, Any]] = {}
    for event in year:
        d = event.data
        if event.type == "vn.mch.child.registered.v1":
            people[d["child_id"]] = (
                Sex[{"M": "MALE", "F": "FEMALE"}[d["sex"]]],
                dt.date.fromisoformat(d["birth_date"]),
            )
        elif event.type == "vn.mch.birth.v1":
            day = dt.datetime.fromisoformat(d["birth_date"]).date()
            for b in d["babies"]:
                people[b["child_id"]] = (Sex.MALE if b["sex"] == "M" else Sex.FEMALE, day)
        elif event.type == "vn.mch.child.visit.v1" and "length_height_cm" in d:
            latest[d["child_id"]] = d
    measurements = [
        Measurement(
            sex=people[child][0],
            age_days=(dt.date.fromisoformat(v["visit_date"]) - people[child][1]).days,
            weight_kg=v.get("weight_kg"),
            length_height_cm=v["length_height_cm"],
            position=Position.LYING if v["measured"] == "lying" else Position.STANDING,
        )
        for child, v in latest.items()
    ]
    scores = score_many(measurements)
    haz = [h for s in scores if (h := s.valid("lhaz")) is not None]
    waz = [w for s in scores if (w := s.valid("waz")) is not None]
    assert len(haz) > 1000
    assert not any(s.flagged for s in scores)
    assert 0.15 <= sum(h < -2 for h in haz) / len(haz) <= 0.25
    assert 0.06 <= sum(w < -2 for w in waz) / len(waz) <= 0.14


def test_vitamin_a_is_given_in_the_june_and_december_rounds(year: list[CloudEvent]) -> None:
    given = [v for v in of_type(year, "child.visit") if v.get("vitamin_a")]
    assert given
    assert {v["visit_date"][5:] for v in given} <= {"06-01", "06-02", "12-01", "12-02"}


def test_publish_http_counts_the_statuses_of_the_answers() -> None:
    events = list(generate([COMMUNE], dt.date(2025, 6, 1), dt.date(2025, 6, 10), 5, SMALL))
    batches: list[int] = []

    def records(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/events"
        body = json.loads(request.content)
        batches.append(len(body))
        results = []
        for i, obj in enumerate(body):
            parse(obj)
            status = "accepted" if i % 10 else "duplicate"
            results.append({"id": obj["id"], "status": status, "problems": []})
        return httpx.Response(200, json={"results": results})

    advanced: list[int] = []
    with httpx.Client(transport=httpx.MockTransport(records)) as client:
        summary = publish_http(
            events, "http://records/", batch_size=100, progress=advanced.append, client=client
        )
    assert summary.sent == len(events) == sum(batches) == sum(advanced)
    assert all(size <= 100 for size in batches)
    duplicates = sum(-(-size // 10) for size in batches)
    assert summary.statuses == {"accepted": len(events) - duplicates, "duplicate": duplicates}


def test_publish_http_stops_on_a_refused_batch() -> None:
    events = list(generate([COMMUNE], dt.date(2025, 6, 1), dt.date(2025, 6, 2), 5, SMALL))
    requests: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(413)

    with (
        httpx.Client(transport=httpx.MockTransport(refuse)) as client,
        pytest.raises(httpx.HTTPStatusError),
    ):
        publish_http(events, "http://records", batch_size=5, client=client)
    assert len(events) > 5
    assert len(requests) == 1


@pytest.mark.integration
async def test_publish_kafka_sends_binary_mode_keyed_by_person(
    kafka_broker: EmbeddedBroker,
) -> None:
    from aiokafka import AIOKafkaConsumer

    events = list(generate([COMMUNE], dt.date(2025, 6, 1), dt.date(2025, 6, 3), 5, SMALL))
    advanced: list[int] = []
    sent = await publish_kafka(events, kafka_broker.bootstrap_servers, progress=advanced.append)
    assert sent == len(events) == sum(advanced)

    consumer = AIOKafkaConsumer(
        topics.FACILITY_EVENTS,
        bootstrap_servers=kafka_broker.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: list[tuple[bytes | None, CloudEvent]] = []
    try:
        while len(received) < len(events):
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, "the broker returned nothing"
            for messages in batch.values():
                for m in messages:
                    headers = {k: v.decode() for k, v in m.headers}
                    received.append((m.key, from_kafka(m.value, headers)))
    finally:
        await consumer.stop()
    assert len(received) == len(events)
    by_id = {e.id: e for e in events}
    for key, event in received:
        assert event == by_id[event.id]
        assert key == subject_key(event)
