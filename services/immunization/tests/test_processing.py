"""What the service does with ``mch.records.v1``, through the real batch transaction on SQLite with
a fixed 'today': people and their records kept, forecasts stored, only the changes published —
when records arrive, when a day passes, when a schedule or the org-unit tree changes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import delete
from sqlmodel import Session, col, select

from mch_events.consume import BatchSummary, apply_events
from mch_events.contracts import records as r
from mch_events.contracts.immunization import ImmunizationStatusChanged
from mch_events.envelope import CloudEvent, new_event
from mch_events.outbox import outbox_table
from mch_immunization import resync
from mch_immunization.catalog import ScheduleBook
from mch_immunization.domain.status import DOSE_FACTS
from mch_immunization.forecasting import Forecaster
from mch_immunization.handlers import Reforecasting
from mch_immunization.orgunits import tree_cache
from mch_immunization.processing import RecordsConsumer
from mch_immunization.storage import ImmunizationOverdue, ImmunizationPerson
from mch_servicekit.db import make_engine
from mch_servicekit.migrations import upgrade

Outbox = outbox_table("immunization")
D = dt.date
TODAY = D(2026, 11, 27)
BORN = D(2026, 8, 1)  # PENTA 1, OPV 1 and ROTA 1 overdue since 2026-10-29


class Service:
    """The service's parts on a database of the test's own, with a clock the test moves."""

    def __init__(self, url: str, schedules_dir: Path | None = None) -> None:
        upgrade("mch_immunization", url)
        self.engine = make_engine(url)
        self.today = TODAY
        self.schedules = ScheduleBook(self.engine, schedules_dir)
        orgunits = tree_cache()
        self.forecaster = Forecaster(self.schedules, orgunits, today=lambda: self.today)
        self.job = Reforecasting(
            self.engine, self.forecaster, self.schedules, interval=3600, wake_relay=lambda: None
        )
        self.consumer = RecordsConsumer(orgunits, changed=self.job.wake)

    def send(self, *models: BaseModel) -> list[str]:
        """Consume one batch, then run the job it wakes."""
        events: list[tuple[CloudEvent, dict[str, str]]] = [
            (new_event(m, source="mch-records"), {}) for m in models
        ]
        results = apply_events(
            self.engine, "mch-immunization", events, self.consumer, service="immunization"
        )
        asyncio.run(self.consumer.after_batch(BatchSummary(len(events), results)))
        self.job.run()
        return [result.status for result in results]

    def published(self) -> list[tuple[str, str, str | None, int | None, bool]]:
        """What was staged since the last call: (person, status, vaccine, dose, holds), leaving
        out the facts of single doses (``dose_published`` has them)."""
        return [(e.person_id.hex[:4], e.status, e.vaccine, e.dose, e.holds) for e in self.events()]

    def dose_published(self) -> list[tuple[str, str, str | None, int | None, bool, dt.date]]:
        """The facts of single doses staged since the last call, with their date."""
        return [
            (e.person_id.hex[:4], e.status, e.vaccine, e.dose, e.holds, e.since)
            for e in self.events(doses=True)
            if e.status in DOSE_FACTS
        ]

    def events(self, *, doses: bool = False) -> list[ImmunizationStatusChanged]:
        """Everything staged since the last call (the facts of single doses only if ``doses``)."""
        with Session(self.engine) as session:
            rows = session.exec(select(Outbox).order_by(col(Outbox.id))).all()
            session.execute(delete(Outbox))
            session.commit()
        events = [ImmunizationStatusChanged.model_validate_json(row.payload) for row in rows]
        return [e for e in events if doses or e.status not in DOSE_FACTS]

    def person(self, person_id: uuid.UUID) -> ImmunizationPerson:
        with Session(self.engine) as session:
            row = session.get(ImmunizationPerson, str(person_id))
            assert row is not None
            return row

    def forecast(self, person_id: uuid.UUID) -> dict[tuple[str, int | None], dict[str, Any]]:
        document = json.loads(self.person(person_id).forecast or "null")
        return {(d["vaccine"], d["dose"]): d for d in document["doses"] if d["valid"] is not False}

    def overdue(self, person_id: uuid.UUID) -> list[tuple[str, int, dt.date, dt.date | None]]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(ImmunizationOverdue)
                .where(col(ImmunizationOverdue.person_id) == str(person_id))
                .order_by(col(ImmunizationOverdue.vaccine), col(ImmunizationOverdue.dose))
            ).all()
        return [(o.vaccine, o.dose, o.since, o.until) for o in rows]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service(f"sqlite:///{tmp_path}/immunization.db")
    yield svc
    svc.engine.dispose()


def person_id(tag: str) -> uuid.UUID:
    """An id whose first four hex digits are ``tag``, so published tuples read easily."""
    return uuid.UUID(tag.ljust(8, "0") + uuid.uuid4().hex[8:])


def child(
    pid: uuid.UUID, born: dt.date = BORN, residence: str = "38004", revision: int = 1, **kw: Any
) -> r.PersonState:
    return r.PersonState(
        person_id=pid,
        role="child",
        sex="F",
        birth_date=born,
        registered_on=born,
        residences=[r.ResidencePeriod(residence=residence)],
        revision=revision,
        **kw,
    )


def dose(
    pid: uuid.UUID,
    vaccine: str,
    day: dt.date,
    born: dt.date = BORN,
    dose_id: uuid.UUID | None = None,
    **kw: Any,
) -> r.ImmunizationRecorded:
    return r.ImmunizationRecorded(
        immunization_id=dose_id or uuid.uuid4(),
        person_id=pid,
        facility="TYT-38004",
        date=day,
        vaccine=vaccine,
        sex="F",
        birth_date=born,
        residence="38004",
        **kw,
    )


def at_birth(pid: uuid.UUID, born: dt.date = BORN) -> list[r.ImmunizationRecorded]:
    return [dose(pid, "HEPB0", born, born), dose(pid, "BCG", born, born)]


def test_a_dose_that_arrives_before_its_person_waits_for_them(service: Service) -> None:
    a = person_id("aaaa")
    assert service.send(*at_birth(a)) == ["accepted", "accepted"]
    assert service.published() == []  # nobody to forecast yet
    service.send(child(a))
    assert service.forecast(a)[("BCG", 1)]["date_given"] == "2026-08-01"
    assert service.published() == [
        ("aaaa", "dose_overdue", "OPV", 1, True),
        ("aaaa", "dose_overdue", "PENTA", 1, True),
        ("aaaa", "dose_overdue", "ROTA", 1, True),
        ("aaaa", "series_complete", "BCG", None, True),
        ("aaaa", "series_complete", "HEPB0", None, True),
    ]
    row = service.person(a)
    assert (row.forecast_on, row.residence, row.schedule_version) == (
        TODAY,
        "38004",
        "vn-epi-child-2024@1.0",
    )
    assert service.overdue(a) == [
        ("OPV", 1, D(2026, 10, 29), None),
        ("PENTA", 1, D(2026, 10, 29), None),
        ("ROTA", 1, D(2026, 10, 29), None),
    ]


def test_an_overdue_dose_ends_when_given_and_is_not_announced_again(service: Service) -> None:
    a = person_id("aaaa")
    service.send(child(a), *at_birth(a))
    service.published()
    given = dose(a, "PENTA", D(2026, 11, 20))
    service.send(given)
    [event] = service.events()
    assert (event.status, event.vaccine, event.holds) == ("dose_overdue", "PENTA", False)
    assert (event.since, event.until, event.as_of) == (D(2026, 10, 29), D(2026, 11, 20), TODAY)
    assert (event.residence, event.sex, event.birth_date, event.population) == (
        "38004",
        "F",
        BORN,
        "child",
    )
    assert service.overdue(a)[1] == ("PENTA", 1, D(2026, 10, 29), D(2026, 11, 20))
    # The dose given is announced too, as a valid (and, two months late, not timely) dose.
    service.send(dose(a, "OPV", D(2026, 11, 20)))
    assert service.dose_published() == [("aaaa", "dose_valid", "OPV", 1, True, D(2026, 11, 20))]
    # The same records again (a replay, a re-sent state): nothing changed, nothing published.
    service.send(child(a), given)
    service.job.run()
    assert service.published() == []


def test_a_voided_dose_counts_nowhere(service: Service) -> None:
    a = person_id("aaaa")
    bcg = uuid.uuid4()
    service.send(child(a), dose(a, "HEPB0", BORN), dose(a, "BCG", BORN, dose_id=bcg))
    service.published()
    service.send(dose(a, "BCG", BORN, dose_id=bcg, revision=2, voided=True))
    assert service.forecast(a)[("BCG", 1)]["date_given"] is None
    assert service.published() == [
        ("aaaa", "dose_overdue", "BCG", 1, True),
        ("aaaa", "series_complete", "BCG", None, False),
    ]
    # An older revision arriving late changes nothing.
    assert service.send(dose(a, "BCG", BORN, dose_id=bcg, revision=1)) == ["stale"]
    assert service.published() == []


def test_the_day_a_dose_becomes_overdue_it_is_announced_once(service: Service) -> None:
    b = person_id("bbbb")
    born = D(2026, 8, 31)  # PENTA 1 overdue from tomorrow
    service.send(child(b, born=born), *at_birth(b, born))
    assert not any(e.status == "dose_overdue" for e in service.events())
    assert service.job.run() == 0  # everyone's forecast is of today
    service.today = TODAY + dt.timedelta(days=1)
    assert service.job.run() == 1
    assert service.published() == [
        ("bbbb", "dose_overdue", "OPV", 1, True),
        ("bbbb", "dose_overdue", "PENTA", 1, True),
        ("bbbb", "dose_overdue", "ROTA", 1, True),
    ]
    assert service.job.run() == 0
    assert service.published() == []


def test_a_voided_person_loses_every_fact(service: Service) -> None:
    a = person_id("aaaa")
    service.send(child(a), *at_birth(a))
    service.published()
    service.send(child(a, revision=2, voided=True))
    assert [(s, v, holds) for _, s, v, _, holds in service.published()] == [
        ("dose_overdue", "OPV", False),
        ("dose_overdue", "PENTA", False),
        ("dose_overdue", "ROTA", False),
        ("series_complete", "BCG", False),
        ("series_complete", "HEPB0", False),
    ]
    assert service.overdue(a) == []
    assert service.person(a).forecast is None
    service.today += dt.timedelta(days=1)
    assert service.job.run() == 0  # nothing to forecast for someone who counts nowhere


def test_a_child_who_died_is_overdue_no_more_from_the_day_of_death(service: Service) -> None:
    a = person_id("aaaa")
    service.send(child(a), *at_birth(a))
    service.published()
    service.send(child(a, revision=2, died_on=D(2026, 11, 20)))
    events = service.events()
    assert {(e.vaccine, e.holds, e.until) for e in events} == {
        (vaccine, False, D(2026, 11, 20)) for vaccine in ("OPV", "PENTA", "ROTA")
    }
    assert all(until == D(2026, 11, 20) for *_, until in service.overdue(a))


def test_a_duplicate_s_records_count_for_the_surviving_person(service: Service) -> None:
    survivor, duplicate = person_id("5555"), person_id("dddd")
    service.send(
        child(survivor),
        dose(survivor, "HEPB0", BORN),
        child(duplicate),
        dose(duplicate, "BCG", BORN),
    )
    service.published()
    service.send(r.PersonsMerged(duplicate_id=duplicate, surviving_id=survivor, merged_on=TODAY))
    assert service.forecast(survivor)[("BCG", 1)]["date_given"] == "2026-08-01"
    published = service.published()
    assert ("5555", "series_complete", "BCG", None, True) in published
    assert ("5555", "dose_overdue", "BCG", 1, False) in published
    assert all(not holds for pid, *_, holds in published if pid == "dddd")
    assert service.overdue(duplicate) == []
    # A dose recorded under the duplicate's id later still counts for the survivor.
    service.send(dose(duplicate, "OPV", TODAY))
    assert service.published() == [("5555", "dose_overdue", "OPV", 1, False)]


MOTHER = person_id("eeee")


def mother(pid: uuid.UUID) -> r.PersonState:
    return r.PersonState(
        person_id=pid,
        role="mother",
        sex="F",
        birth_date=D(1998, 5, 10),
        registered_on=D(2026, 3, 1),
        residences=[r.ResidencePeriod(residence="38004")],
    )


def test_a_mother_protected_at_her_delivery_until_a_dose_is_voided(service: Service) -> None:
    pregnancy, birth, tt2 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    service.send(
        mother(MOTHER),
        dose(MOTHER, "TT", D(2026, 4, 1), born=D(1998, 5, 10)),
        dose(MOTHER, "TT", D(2026, 5, 10), born=D(1998, 5, 10), dose_id=tt2),
        r.PregnancyState(
            pregnancy_id=pregnancy,
            mother_id=MOTHER,
            edd=D(2026, 10, 20),
            registered_on=D(2026, 3, 1),
            residence="38004",
        ),
        r.BirthRecorded(
            birth_id=birth,
            pregnancy_id=pregnancy,
            mother_id=MOTHER,
            facility="TYT-38004",
            birth_date=D(2026, 10, 18),
            residence="38004",
            place="facility",
            attendant="midwife",
            mode="vaginal",
            babies=[],
        ),
    )
    [event] = service.events()
    assert (event.status, event.birth_id, event.since, event.holds) == (
        "protected_at_birth",
        birth,
        D(2026, 10, 18),
        True,
    )
    assert (event.population, event.schedule_version) == ("women", "vn-tetanus-women@1.0")
    service.send(
        dose(
            MOTHER, "TT", D(2026, 5, 10), born=D(1998, 5, 10), dose_id=tt2, revision=2, voided=True
        )
    )
    assert service.published() == [
        ("eeee", "dose_overdue", "TT", 2, True),
        ("eeee", "protected_at_birth", None, None, False),
    ]


def new_version(document: dict[str, Any], penta1_overdue_days: int) -> dict[str, Any]:
    document["version"] = "1.1"
    for item in document["doses"]:
        if (item["series"], item["dose"]) == ("PENTA", 1):
            item["overdue_after"] = {"days": penta1_overdue_days}
    return document


def test_a_schedule_change_reforecasts_whom_it_concerns_and_publishes_only_changes(
    service: Service, child_document: dict[str, Any]
) -> None:
    late, on_time, woman = person_id("1a7e"), person_id("0071"), person_id("eeee")
    service.send(
        child(late),
        *at_birth(late),
        child(on_time),
        *at_birth(on_time),
        *(dose(on_time, v, D(2026, 10, 1)) for v in ("PENTA", "OPV", "ROTA")),
        mother(woman),
    )
    service.published()

    schedule, created = service.schedules.upload(new_version(child_document, 60))
    assert (schedule.label, created) == ("vn-epi-child-2024@1.1", True)
    assert service.job.run() == 2  # the children; the mother's schedule did not change
    [event] = service.events()
    assert (event.person_id, event.status, event.vaccine, event.holds) == (
        late,
        "dose_overdue",
        "PENTA",
        False,
    )
    assert (event.until, event.schedule_version) == (TODAY, "vn-epi-child-2024@1.1")
    assert service.person(on_time).schedule_version == "vn-epi-child-2024@1.1"
    # Uploading the same again changes nothing; a restarted service keeps the upload.
    assert service.schedules.upload(new_version(child_document, 60))[1] is False
    restarted = ScheduleBook(service.engine)
    with Session(service.engine) as session:
        assert restarted.refresh(session)
    in_force = restarted.catalog.default_for("child", TODAY)
    assert in_force is not None
    assert in_force.spec == schedule.spec


def test_an_operator_schedule_directory_overrides_the_shipped_schedule(
    tmp_path: Path, child_document: dict[str, Any]
) -> None:
    directory = tmp_path / "schedules"
    directory.mkdir()
    (directory / "child.json").write_text(json.dumps(new_version(child_document, 60)))
    svc = Service(f"sqlite:///{tmp_path}/immunization.db", schedules_dir=directory)
    a = person_id("aaaa")
    svc.send(child(a), *at_birth(a))
    assert svc.person(a).schedule_version == "vn-epi-child-2024@1.1"
    assert ("dose_overdue", "PENTA", 1) not in {(e.status, e.vaccine, e.dose) for e in svc.events()}
    svc.engine.dispose()


def orgunit(code: str, level: str, parent: str | None) -> r.OrgUnit:
    return r.OrgUnit(
        code=code,
        name=code,
        level=level,
        parent=parent,
        valid_from=D(2020, 1, 1),
    )


def test_the_org_unit_tree_brings_a_commune_into_its_province_s_roll_out(service: Service) -> None:
    a = person_id("aaaa")
    # A commune code that does not start with its province's: only the tree tells it is in 38.
    service.send(child(a, residence="TN001"), *at_birth(a))
    assert ("aaaa", "dose_overdue", "ROTA", 1, True) not in service.published()
    service.send(
        orgunit("VN", "national", None),
        orgunit("38", "province", "VN"),
        orgunit("TN001", "commune", "38"),
    )
    # Everyone was forecast again with the tree.
    assert service.published() == [("aaaa", "dose_overdue", "ROTA", 1, True)]


def test_someone_whose_forecast_fails_does_not_hold_the_others_up(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, bad = person_id("9000"), person_id("bad0")
    service.send(child(good), child(bad))
    service.published()
    original = Forecaster._forecast

    def failing(self: Forecaster, session: Session, row: ImmunizationPerson, *args: Any) -> None:
        if row.person_id == str(bad):
            raise RuntimeError("broken record")
        original(self, session, row, *args)

    monkeypatch.setattr(Forecaster, "_forecast", failing)
    service.today += dt.timedelta(days=1)
    assert service.job.run() == 2
    assert service.person(good).forecast_on == service.today
    assert service.person(bad).forecast_on == TODAY  # keeps the forecast it had
    assert service.job.run() == 1  # and is tried again on the next run


def test_the_job_forecasts_everyone_over_several_full_chunks(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    people = [uuid.uuid4() for _ in range(450)]  # two full chunks of 200, then 50
    events: list[tuple[CloudEvent, dict[str, str]]] = [
        (new_event(child(pid), source="mch-records"), {}) for pid in people
    ]
    results = apply_events(
        service.engine, "mch-immunization", events, service.consumer, service="immunization"
    )
    assert {result.status for result in results} == {"accepted"}
    with caplog.at_level(logging.WARNING):
        asyncio.run(service.job.tick())  # what the service runs every second
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    with Session(service.engine) as session:
        forecast = session.exec(
            select(ImmunizationPerson.person_id).where(col(ImmunizationPerson.forecast_on) == TODAY)
        ).all()
    assert set(forecast) == {str(pid) for pid in people}
    assert service.job.run() == 0  # nobody is left due


def last_per_fact(
    events: list[ImmunizationStatusChanged],
) -> dict[tuple[Any, ...], ImmunizationStatusChanged]:
    return {(e.person_id, e.status, e.vaccine, e.dose, e.birth_id): e for e in events}


def test_a_resync_republishes_the_facts_that_hold_and_the_overdue_periods_that_ended(
    service: Service,
) -> None:
    a, b = person_id("aaaa"), person_id("bbbb")
    service.send(child(a), *at_birth(a), child(b), *at_birth(b))
    service.send(dose(a, "PENTA", D(2026, 11, 20)))
    expected = last_per_fact(service.events(doses=True))
    assert ("aaaa", "dose_overdue", "PENTA", 1, False) in [
        (e.person_id.hex[:4], e.status, e.vaccine, e.dose, e.holds) for e in expected.values()
    ]

    steps: list[int] = []
    resync.republish(service.engine, steps.append, chunk=1)
    per_person = [sum(e.person_id == p for e in expected.values()) for p in (a, b)]
    assert steps == per_person, "one person per chunk: the facts that hold, the period that ended"
    with Session(service.engine) as session:
        ids = list(session.exec(select(Outbox.event_id).order_by(col(Outbox.id))))
    again = service.events(doses=True)
    assert len(again) == len(expected)
    assert last_per_fact(again) == expected

    resync.republish(service.engine, steps.append)
    with Session(service.engine) as session:
        assert list(session.exec(select(Outbox.event_id).order_by(col(Outbox.id)))) == ids
