"""Synthetic facility events: the care a few communes would record over a period.

``generate`` plays out, for each commune, the pregnancies, deliveries, postnatal checks, vaccinations
and child checks of its residents at real rates (~400 births a commune a year), and yields what the
commune health station and the delivery hospital would send, in the order the care happened. The
data is clean: no duplicates, no late or contradictory events, every value inside the contracts.

People are followed from five years before ``start`` so a short period still has children of every
age under five. Whoever was registered before ``start`` is enrolled at their first contact in the
period (mother, pregnancy or child registration just before that contact), so every event refers
only to records sent before it.

Deterministic: the same arguments give the same events, ids and times included.
"""

from __future__ import annotations

import asyncio
import bisect
import calendar
import datetime as dt
import heapq
import itertools
import math
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import Any, Final, Generic, TypeVar

import httpx
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from mch_events import topics
from mch_events.contracts.common import FacilityContract
from mch_events.contracts.facility import (
    AntenatalVisit,
    Birth,
    ChildRegistered,
    ChildVisit,
    Death,
    Immunization,
    MotherRegistered,
    PostnatalVisit,
    PregnancyRegistered,
)
from mch_events.contracts.results import EventResult
from mch_events.envelope import VN_TZ, CloudEvent, new_event, subject_key, to_kafka
from mch_growth.domain.reference import TableName, load_table
from mch_growth.domain.zscores import value_at

_T = TypeVar("_T")
Progress = Callable[[int], None]
"""Called with the number of events just handed over (``rich``'s ``advance`` fits)."""

_KAFKA_IN_FLIGHT: Final = 5_000
"""Messages queued in the producer before waiting for their acknowledgements."""
_HTTP_TIMEOUT_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class SimCommune:
    """A commune whose residents the simulation follows."""

    commune: str
    """The commune's org-unit code: the residence of everyone simulated in it."""
    station: str
    """Its commune health station: antenatal and child checks, vaccination sessions."""
    hospital: str | None = None
    """The hospital where most of its facility deliveries happen; none: all at the station."""


@dataclass(frozen=True, slots=True)
class PublishSummary:
    """What the records service answered for the events posted to it."""

    sent: int
    statuses: Mapping[str, int]
    """How many events got each status (``accepted``, ``duplicate``, ``stale``, ``held``,
    ``rejected``)."""


def generate(
    communes: Sequence[SimCommune],
    start: dt.date,
    end: dt.date,
    seed: int,
    births_per_commune_year: int = 400,
) -> Iterator[CloudEvent]:
    """The facility events of ``communes`` whose care happened from ``start`` to ``end`` (both
    included), in the order it happened; each event's ``time`` is that moment in Vietnam's time."""
    streams = [_commune_plan(c, start, end, seed, births_per_commune_year) for c in communes]
    for planned in heapq.merge(*streams, key=attrgetter("when")):
        yield planned.event()


def count_events(
    communes: Sequence[SimCommune],
    start: dt.date,
    end: dt.date,
    seed: int,
    births_per_commune_year: int = 400,
) -> int:
    """Exactly how many events ``generate`` yields for the same arguments (planned, not validated
    or serialised), for a progress bar's total."""
    return sum(len(_commune_plan(c, start, end, seed, births_per_commune_year)) for c in communes)


async def publish_kafka(
    events: Iterable[CloudEvent],
    bootstrap_servers: str,
    *,
    topic: str = topics.FACILITY_EVENTS,
    progress: Progress | None = None,
) -> int:
    """Publish in CloudEvents binary mode, keyed by the person each event is about; returns the
    number of events the broker acknowledged."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        # The embedded broker does not implement the idempotent producer; every consumer dedupes
        # by event id, so a retried send is harmless.
        enable_idempotence=False,
        acks="all",
        linger_ms=5,
    )
    await producer.start()
    sent = 0
    pending: list[asyncio.Future[Any]] = []

    async def settle() -> None:
        nonlocal sent
        await asyncio.gather(*pending)
        sent += len(pending)
        if progress is not None:
            progress(len(pending))
        pending.clear()

    try:
        for event in events:
            body, headers = to_kafka(event)
            # ``send`` only queues the message; awaiting its delivery one by one would cap the
            # rate at one round trip per event.
            pending.append(
                await producer.send(
                    topic,
                    body,
                    key=subject_key(event),
                    headers=[(name, value.encode()) for name, value in headers.items()],
                )
            )
            if len(pending) >= _KAFKA_IN_FLIGHT:
                await settle()
        await producer.flush()
        await settle()
    finally:
        await producer.stop()
    return sent


def publish_http(
    events: Iterable[CloudEvent],
    records_url: str,
    *,
    batch_size: int = 500,
    progress: Progress | None = None,
    client: httpx.Client | None = None,
) -> PublishSummary:
    """POST the events as JSON arrays of structured CloudEvents to ``{records_url}/v1/events`` and
    count the per-event statuses of the answers. ``client`` carries the caller's transport,
    authentication or timeouts; by default a plain client is used."""
    url = f"{records_url.rstrip('/')}/v1/events"
    statuses: Counter[str] = Counter()
    sent = 0
    http = client if client is not None else httpx.Client(timeout=_HTTP_TIMEOUT_S)
    try:
        iterator = iter(events)
        while batch := list(itertools.islice(iterator, batch_size)):
            response = http.post(
                url, json=[e.model_dump(mode="json", exclude_none=True) for e in batch]
            )
            response.raise_for_status()
            answer = _BatchAnswer.model_validate(response.json())
            statuses.update(result.status for result in answer.results)
            sent += len(batch)
            if progress is not None:
                progress(len(batch))
    finally:
        if client is None:
            http.close()
    return PublishSummary(sent=sent, statuses=dict(statuses))


class _BatchAnswer(BaseModel):
    results: list[EventResult]


# -- Planning -------------------------------------------------------------------------------------
#
# Each pregnancy is planned whole (mother, antenatal care, delivery, and each baby to age six) as a
# list of ``_Planned`` events, with its own random stream so one family never shifts another.
# Events are validated and wrapped only when yielded: ``count_events`` and the years before
# ``start`` cost no pydantic work.

_HISTORY: Final = dt.timedelta(days=5 * 366 + 42 * 7)
"""How far before ``start`` pregnancies begin: every child under five at ``start`` is simulated."""
_EARLIEST_CONTACT_WEEKS: Final = 6.0
"""No contact before this gestational age, so later last periods cannot reach the period."""
_UNDER_FIVE_DAYS: Final = 1826
_UNDER_TWO_DAYS: Final = 731
"""From this age on, height is measured standing (WHO 2006 standards)."""


@dataclass(frozen=True, slots=True)
class _Planned:
    when: dt.datetime
    model: type[FacilityContract]
    data: Mapping[str, object]
    source: str
    event_id: uuid.UUID
    needs: tuple[str, ...] = ()
    """The records (``mother``, ``pregnancy``, ``child0``...) that must exist before this event."""
    creates: tuple[str, ...] = ()

    def event(self) -> CloudEvent:
        return new_event(
            self.model.model_validate(self.data),
            source=self.source,
            time=self.when,
            event_id=str(self.event_id),
        )


def _commune_plan(
    commune: SimCommune, start: dt.date, end: dt.date, seed: int, births_per_year: int
) -> list[_Planned]:
    """Every event of the commune in the period, in time order."""
    if start > end:
        raise ValueError(f"the period is empty: {start} is after {end}")
    if births_per_year < 0:
        raise ValueError("births_per_commune_year cannot be negative")
    # A string seed goes through SHA-512, so the stream is the same in every process.
    rng = random.Random(f"{seed}/{commune.commune}")
    sessions = _Sessions.draw(rng)
    daily = births_per_year / 365.25
    events: list[_Planned] = []
    last_lmp = end - dt.timedelta(weeks=_EARLIEST_CONTACT_WEEKS)
    day, number = start - _HISTORY, 0
    while day <= last_lmp:
        for _ in range(_poisson(rng, daily)):
            number += 1
            family_rng = random.Random(rng.getrandbits(64))
            family = _Family(family_rng, commune, sessions, number, (start, end))
            family.plan(lmp=day)
            events.extend(family.in_period())
        day += dt.timedelta(days=1)
    events.sort(key=attrgetter("when"))
    return events


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: exact and quick for the small daily means used here.
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


@dataclass(frozen=True, slots=True)
class _Sessions:
    """The station's monthly vaccination days (one or two pairs of days, the same every month)."""

    days: tuple[int, ...]

    @staticmethod
    def draw(rng: random.Random) -> _Sessions:
        first = rng.randint(3, 12)
        if rng.random() < 0.4:
            return _Sessions((first, first + 1, first + 14, first + 15))
        return _Sessions((first, first + 1))

    def on_or_after(self, day: dt.date) -> dt.date:
        for d in self.days:
            if d >= day.day:
                return day.replace(day=d)
        return _add_months(day.replace(day=1), 1).replace(day=self.days[0])


def _add_months(day: dt.date, months: int) -> dt.date:
    """Calendar months, clamped to the month's last day (as the EPI schedule counts them)."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    last = 28 if day.day <= 28 else calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def _at(day: dt.date, rng: random.Random, opens: float = 7.5, closes: float = 16.5) -> dt.datetime:
    minutes = int(rng.uniform(opens, closes) * 60)
    return dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60), tzinfo=VN_TZ)


def _weekday(day: dt.date) -> dt.date:
    """Stations see routine visits Monday to Saturday."""
    return day + dt.timedelta(days=1) if day.weekday() == calendar.SUNDAY else day


@dataclass(frozen=True, slots=True)
class _Weighted(Generic[_T]):
    """A weighted choice, its cumulative weights computed once (choices are drawn per person)."""

    values: tuple[_T, ...]
    cumulative: tuple[float, ...]

    @staticmethod
    def of(*weighted: tuple[_T, float]) -> _Weighted[_T]:
        values = tuple(value for value, _ in weighted)
        return _Weighted(values, tuple(itertools.accumulate(w for _, w in weighted)))

    def pick(self, rng: random.Random) -> _T:
        return self.values[bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])]


def _normal(rng: random.Random, mean: float, sd: float, low: float, high: float) -> float:
    return min(max(rng.gauss(mean, sd), low), high)


def _interpolate(points: Sequence[tuple[float, float]], x: float) -> float:
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def _lms(table: TableName, sex: str, age_days: int) -> tuple[float, float, float]:
    """WHO's L, M and S for the sex and age (held at the table's ends)."""
    t = load_table(table)
    g, col = (0 if sex == "M" else 1), min(max(age_days, t.first), t.last) - t.first
    return float(t.L[g, col]), float(t.M[g, col]), float(t.S[g, col])


# -- Who people are -------------------------------------------------------------------------------

# Shares of the commonest family names in Vietnam (the rest spread over the tail of the list).
_FAMILY_NAMES: Final = _Weighted.of(
    ("Nguyễn", 38.0), ("Trần", 11.0), ("Lê", 9.5), ("Phạm", 7.0), ("Hoàng", 5.1), ("Phan", 4.5),
    ("Vũ", 3.9), ("Đặng", 2.1), ("Bùi", 2.0), ("Đỗ", 1.4), ("Hồ", 1.3), ("Ngô", 1.3),
    ("Dương", 1.0), ("Lý", 0.5), ("Trịnh", 0.8), ("Lương", 0.6), ("Mai", 0.6), ("Đinh", 0.6),
    ("Cao", 0.5), ("Lò", 0.3), ("Hà", 0.6), ("Quách", 0.3),
)  # fmt: skip
_WOMEN_MIDDLE: Final = _Weighted.of(
    ("Thị", 62.0), ("Ngọc", 6.0), ("Thu", 5.0), ("Thanh", 5.0), ("Minh", 3.0), ("Hồng", 4.0),
    ("Phương", 3.0), ("Kim", 3.0), ("Mai", 2.0), ("Bích", 2.0), ("Khánh", 2.0), ("Diệu", 1.0),
    ("Hải", 1.0), ("Quỳnh", 1.0),
)  # fmt: skip
_WOMEN_GIVEN: Final = (
    "Hương", "Lan", "Linh", "Trang", "Hoa", "Mai", "Ngọc", "Thảo", "Hà", "Huyền", "Nhung",
    "Phương", "Thủy", "Yến", "Anh", "Dung", "Giang", "Hằng", "Hạnh", "Hiền", "Loan", "Ly", "Nga",
    "Oanh", "Quỳnh", "Tâm", "Thu", "Trinh", "Vân", "Xuân", "Nhi", "Vy", "My", "Chi", "Thư",
    "Hậu", "Lụa", "Nguyệt", "Duyên", "Liên",
)  # fmt: skip
_GIRLS: Final = (
    "Ngọc Anh", "Bảo Ngọc", "Khánh Linh", "Minh Thư", "Gia Hân", "Hà My", "Thảo Nhi",
    "Phương Anh", "Ngọc Diệp", "An Nhiên", "Bảo Anh", "Tuệ Lâm", "Khánh Vy", "Minh Châu",
    "Thị Hồng Nhung", "Thị Thu Hà", "Yến Nhi", "Diệp Chi", "Thùy Dương", "Hoài An",
)  # fmt: skip
_BOYS: Final = (
    "Minh Khang", "Gia Huy", "Bảo Nam", "Đức Anh", "Minh Quân", "Quang Minh", "Hoàng Long",
    "Tuấn Kiệt", "Văn Hùng", "Văn Đức", "Hữu Phúc", "Anh Khoa", "Thành Đạt", "Gia Bảo",
    "Đăng Khoa", "Văn Nam", "Minh Trí", "Quốc Việt", "Trung Kiên", "Hải Đăng",
)  # fmt: skip
# Thanh Hóa, the demo province: mostly Kinh, with Mường and Thái communities in the hills.
_ETHNICITIES: Final = _Weighted.of(("Kinh", 84.0), ("Mường", 9.0), ("Thái", 6.0), ("H'Mông", 1.0))
# Pregnancies so far (this one included), by the mother's age.
_GRAVIDA_UNDER_22: Final = _Weighted.of((1, 75.0), (2, 22.0), (3, 3.0))
_GRAVIDA_22_29: Final = _Weighted.of((1, 40.0), (2, 42.0), (3, 14.0), (4, 3.0), (5, 1.0))
_GRAVIDA_30_ON: Final = _Weighted.of((1, 16.0), (2, 42.0), (3, 28.0), (4, 10.0), (5, 4.0))
_MOBILE_PREFIXES: Final = (
    "032", "033", "034", "035", "036", "037", "038", "039", "086", "096", "097", "098",
    "091", "094", "088", "083", "084", "085", "081", "082", "090", "093", "089", "070",
    "079", "077", "076", "078", "056", "058", "059",
)  # fmt: skip

# -- Antenatal care -------------------------------------------------------------------------------

# Most women have at least four contacts; a few have none and are first seen in labour.
_ANC_COUNTS: Final = _Weighted.of(
    (0, 3.0), (1, 4.0), (2, 6.0), (3, 12.0), (4, 25.0), (5, 20.0), (6, 14.0), (7, 9.0), (8, 7.0)
)
_URINE_PROTEIN: Final = _Weighted.of(("negative", 92.0), ("trace", 6.0), ("1+", 2.0))
_PREECLAMPSIA_PROTEIN: Final = _Weighted.of(
    ("negative", 3.0), ("trace", 2.0), ("1+", 2.0), ("2+", 1.0)
)
_ANC_DANGER_SIGNS: Final = (
    "vaginal_bleeding", "severe_abdominal_pain", "fever", "reduced_fetal_movement",
    "leaking_fluid", "severe_vomiting",
)  # fmt: skip
_HYPERTENSIVE_SIGNS: Final = ("severe_headache", "blurred_vision", "swelling_face_hands")

# -- Postnatal care -------------------------------------------------------------------------------

# (finding, its chance at a check); the newborn's only in the first ten days.
_MOTHER_FINDINGS: Final = (
    ("fever", 0.02), ("heavy_bleeding", 0.01), ("breast_engorgement", 0.05), ("low_mood", 0.03),
)  # fmt: skip
_BABY_FINDINGS: Final = (
    ("neonatal_jaundice", 0.08), ("poor_feeding", 0.03), ("cord_infection", 0.01),
    ("fast_breathing", 0.01), ("hypothermia", 0.005),
)  # fmt: skip

# -- Delivery -------------------------------------------------------------------------------------

# Mean birth weight (kg) by completed gestational week, singletons; Vietnamese newborns are a
# little lighter than the WHO median.
_BIRTH_WEIGHT_KG: Final = ((26.0, 0.85), (28.0, 1.15), (30.0, 1.45), (32.0, 1.8), (34.0, 2.25),
                           (36.0, 2.7), (37.0, 2.92), (38.0, 3.05), (39.0, 3.14), (40.0, 3.22),
                           (41.0, 3.28), (42.0, 3.32))  # fmt: skip
_PLACES: Final = _Weighted.of(("facility", 94.0), ("home", 4.5), ("en_route", 1.5))
_STATION_ATTENDANTS: Final = _Weighted.of(("midwife", 55.0), ("doctor", 30.0), ("nurse", 15.0))
_HOME_ATTENDANTS: Final = _Weighted.of(
    ("trained_other", 35.0), ("midwife", 15.0), ("untrained", 50.0)
)
_EN_ROUTE_ATTENDANTS: Final = _Weighted.of(
    ("untrained", 60.0), ("nurse", 20.0), ("trained_other", 20.0)
)
_NEONATAL_CAUSES: Final = ("prematurity", "birth_asphyxia", "neonatal_sepsis", "congenital_anomaly")
_CHILD_CAUSES: Final = ("pneumonia", "diarrhoea", "drowning", "injury", "congenital_anomaly")

# -- Child health ---------------------------------------------------------------------------------

# Routine EPI doses after the birth doses: (age in months, the doses given at that session, each as
# (vaccine, the series whose last dose it follows, minimum months after that dose)). Rotavirus is
# left out: whether it is given depends on the province's roll-out.
_ROUTINE: Final = (
    (2, (("PENTA", "PENTA", 1), ("OPV", "OPV", 1))),
    (3, (("PENTA", "PENTA", 1), ("OPV", "OPV", 1))),
    (4, (("PENTA", "PENTA", 1), ("OPV", "OPV", 1))),
    (5, (("IPV", "IPV", 1),)),
    (9, (("MCV1", "MCV1", 1), ("IPV", "IPV", 1))),
    (12, (("JE", "JE", 0),)),
    (18, (("MR", "MCV1", 1), ("DPT4", "PENTA", 6))),
    (24, (("JE", "JE", 12),)),
)
# Periodic checks (Quyết định 2246/QĐ-BYT: age windows in months), then yearly ones.
_CHECK_WINDOWS: Final = ((2, 3), (4, 6), (7, 9), (10, 12), (13, 18), (19, 23))
_YEARLY_CHECKS: Final = (24, 36, 48)
# Each child's growth drifts from its birth size towards a z-score of its own by age two; these
# targets give under-five stunting near 20 % and underweight near 10 %, as in Vietnam.
_TARGET_HAZ: Final = (-1.35, 1.05)
_TARGET_WAZ: Final = (-0.9, 0.95)
_Z_RANGE: Final = (-4.8, 4.5)
"""Generated z-scores stay inside WHO's plausibility limits."""


@dataclass(frozen=True, slots=True)
class _Baby:
    key: str
    child_id: uuid.UUID
    sex: str
    live: bool
    weight_kg: float
    length_cm: float
    head_cm: float
    weighed: bool
    measured: bool
    """Length and head circumference were measured (they are always known to the simulation: the
    child grows from them)."""

    def record(self) -> dict[str, object]:
        """The baby as the delivery record has it."""
        data: dict[str, object] = {
            "child_id": self.child_id,
            "sex": self.sex,
            "outcome": "live" if self.live else "stillbirth",
        }
        if self.weighed:
            data["weight_g"] = round(self.weight_kg * 100) * 10
        if self.measured:
            data["length_cm"] = round(self.length_cm, 1)
            data["head_cm"] = round(self.head_cm, 1)
        return data


class _Family:
    """One pregnancy: the mother, her antenatal care, the delivery and each baby to age six."""

    def __init__(
        self,
        rng: random.Random,
        home: SimCommune,
        sessions: _Sessions,
        number: int,
        period: tuple[dt.date, dt.date],
    ) -> None:
        self.rng = rng
        self.home = home
        """Where the family lives and is cared for."""
        self.sessions = sessions
        self.number = number
        self.start, self.end = period
        self.events: list[_Planned] = []
        """The events in the period and those creating records (which may be replayed in it)."""
        self.registrations: dict[str, _Planned] = {}
        """How each record is first sent; replayed at the first contact in the period when the
        record was made before it."""
        self.mother_id = self.id()
        self.delivered_at: str | None = None
        """The facility of a facility delivery."""

    def covers(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    def plan(self, lmp: dt.date) -> None:
        rng = self.rng
        age_days = int(_normal(rng, 27.5, 5.2, 18.05, 41.5) * 365.25)
        gravida = self._gravida(age_days / 365.25)
        twins = rng.random() < 0.01
        weeks = self._birth_weeks(twins)
        born = dt.datetime.combine(
            lmp + dt.timedelta(days=round(weeks * 7)),
            dt.time(rng.randrange(24), rng.randrange(60)),
            tzinfo=VN_TZ,
        )
        contacts = self._antenatal_dates(lmp, born.date())
        first_contact = _at(contacts[0], rng) if contacts else born
        facility = self._antenatal_facility() if contacts else self.home.station
        self._register_mother(lmp, age_days, first_contact, facility)
        pregnancy_id = self.id()
        pregnancy = {
            "pregnancy_id": pregnancy_id,
            "mother_id": self.mother_id,
            "edd": lmp + dt.timedelta(days=280),
            "lmp_date": lmp if rng.random() < 0.9 else None,
            "gravida": gravida,
            "para": max(gravida - 1 - (rng.random() < 0.12), 0),
        }
        self.add(
            first_contact,
            PregnancyRegistered,
            pregnancy,
            facility,
            needs=("mother",),
            creates=("pregnancy",),
        )
        self._antenatal(lmp, contacts, first_contact, facility, pregnancy_id, gravida, twins)
        babies = self._birth(lmp, born, weeks, pregnancy_id, twins)
        children = [_Child(self, baby, born, weeks) for baby in babies if baby.live]
        self._postnatal(born, children)
        for child in children:
            child.plan()

    def in_period(self) -> list[_Planned]:
        """The events in the period, preceded where needed by the registrations of the records
        they refer to that were made before it."""
        sent: set[str] = set()
        out: list[_Planned] = []

        def ensure(key: str, when: dt.datetime) -> None:
            if key in sent:
                return
            registration = self.registrations[key]
            for needed in registration.needs:
                ensure(needed, when)
            out.append(replace(registration, when=when))
            sent.add(key)

        self.events.sort(key=attrgetter("when"))
        for planned in self.events:
            if not self.covers(planned.when.date()):
                continue
            for key in planned.needs:
                ensure(key, planned.when)
            out.append(planned)
            sent.update(planned.creates)
        return out

    def id(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def add(
        self,
        when: dt.datetime,
        model: type[FacilityContract],
        data: Mapping[str, object],
        source: str,
        *,
        needs: tuple[str, ...] = (),
        creates: tuple[str, ...] = (),
    ) -> None:
        if not creates and not self.covers(when.date()):
            return
        planned = _Planned(when, model, data, source, self.id(), needs, creates)
        self.events.append(planned)
        for key in creates:
            self.registrations.setdefault(key, planned)

    def immunize(
        self,
        when: dt.datetime,
        vaccine: str,
        dose: int,
        facility: str,
        person: str,
        person_id: uuid.UUID,
    ) -> None:
        if not self.covers(when.date()):
            return  # before drawing an id: most doses of the years before the period are skipped
        data = {
            "immunization_id": self.id(),
            "person_id": person_id,
            "facility": facility,
            "date": when.date(),
            "vaccine": vaccine,
            "dose": dose,
        }
        self.add(when, Immunization, data, facility, needs=(person,))

    # -- the mother -----------------------------------------------------------------------------

    def _gravida(self, age: float) -> int:
        by_age = _GRAVIDA_UNDER_22 if age < 22 else _GRAVIDA_22_29 if age < 30 else _GRAVIDA_30_ON
        return by_age.pick(self.rng)

    def _register_mother(
        self, lmp: dt.date, age_days: int, when: dt.datetime, facility: str
    ) -> None:
        rng = self.rng
        name = (_FAMILY_NAMES.pick(rng), _WOMEN_MIDDLE.pick(rng), rng.choice(_WOMEN_GIVEN))
        data: dict[str, object] = {
            "mother_id": self.mother_id,
            "full_name": " ".join(name),
            "birth_date": lmp - dt.timedelta(days=age_days),
            "residence": self.home.commune,
        }
        if rng.random() < 0.6:
            data["handbook_no"] = f"{self.home.commune}-{when.year}-{self.number:06d}"
        if rng.random() < 0.75:
            data["phone"] = rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(10**7):07d}"
        if rng.random() < 0.8:
            data["ethnicity"] = _ETHNICITIES.pick(rng)
        self.add(when, MotherRegistered, data, facility, creates=("mother",))

    # -- antenatal care -------------------------------------------------------------------------

    def _antenatal_facility(self) -> str:
        hospital = self.home.hospital
        return hospital if hospital is not None and self.rng.random() < 0.2 else self.home.station

    def _antenatal_dates(self, lmp: dt.date, birth: dt.date) -> list[dt.date]:
        rng = self.rng
        count = _ANC_COUNTS.pick(rng)
        if count == 0:
            return []
        draw = rng.random()
        if draw < 0.74:
            first = rng.uniform(_EARLIEST_CONTACT_WEEKS, 12.9)
        elif draw < 0.94:
            first = rng.uniform(13.0, 26.9)
        else:
            first = rng.uniform(27.0, 36.0)
        weeks = [first]
        step = (max(first + 2.0, 38.5) - first) / max(count - 1, 1)
        for i in range(1, count):
            weeks.append(max(first + step * i + rng.uniform(-0.3, 0.3) * step, weeks[-1] + 1.0))
        dates = [_weekday(lmp + dt.timedelta(days=round(w * 7))) for w in weeks]
        # A baby born early cuts the planned visits short.
        return [d for d in dates if d < birth]

    def _antenatal(
        self,
        lmp: dt.date,
        dates: list[dt.date],
        first_contact: dt.datetime,
        first_facility: str,
        pregnancy_id: uuid.UUID,
        gravida: int,
        twins: bool,
    ) -> None:
        rng = self.rng
        weight0 = _normal(rng, 49.5, 6.5, 38.0, 95.0)
        systolic0, diastolic0 = rng.gauss(108.0, 9.0), rng.gauss(68.0, 7.0)
        hypertensive = rng.random() < 0.06
        rise = rng.uniform(25.0, 45.0)
        tetanus = self._tetanus_doses(gravida)
        last_dose: dt.date | None = None
        for i, day in enumerate(dates):
            when = first_contact if i == 0 else _at(day, rng)
            facility = first_facility if i == 0 else self._antenatal_facility()
            # Tetanus doses go with antenatal visits, at least a month apart.
            if tetanus and (last_dose is None or day >= _add_months(last_dose, 1)):
                dose = tetanus.pop(0)
                if rng.random() < 0.92:
                    shot = when + dt.timedelta(minutes=20)
                    self.immunize(shot, "TT", dose, facility, "mother", self.mother_id)
                    last_dose = day
            if not self.covers(day):
                continue
            weeks = (day - lmp).days / 7
            gain = 0.08 * weeks if weeks <= 13 else 1.0 + 0.42 * (weeks - 13)
            pressure = max(weeks - 20.0, 0.0) / 20.0 * rise if hypertensive else 0.0
            systolic = round(min(max(systolic0 + pressure + rng.gauss(0, 5), 80), 200))
            diastolic = round(min(max(diastolic0 + 0.6 * pressure + rng.gauss(0, 4), 45), 130))
            diastolic = min(diastolic, systolic - 20)  # a pulse pressure under 20 mmHg is not real
            visit: dict[str, object] = {
                "visit_id": self.id(),
                "pregnancy_id": pregnancy_id,
                "facility": facility,
                "visit_date": day,
                "gestational_weeks": round(weeks, 1),
                "weight_kg": round(weight0 + gain + rng.gauss(0, 0.4), 1),
                "bp_systolic": systolic,
                "bp_diastolic": diastolic,
                "iron_folic": rng.random() < 0.86,
                "oedema": weeks >= 28 and rng.random() < (0.35 if hypertensive else 0.05),
                "danger_signs": self._danger_signs(hypertensive and systolic >= 150),
            }
            if weeks >= 16:  # the fundus is palpable above the pubis from about 16 weeks
                excess = 3.0 if twins and weeks >= 24 else 0.0
                visit["fundal_height_cm"] = float(round(weeks + excess + rng.gauss(0, 1.5)))
            if weeks >= 12:  # audible by Doppler from about 12 weeks
                visit["fetal_heart_rate"] = round(_normal(rng, 142, 8, 110, 170))
            if i == 0:
                visit["tests"] = self._first_tests()
            elif hypertensive and weeks >= 20:
                visit["tests"] = {"urine_protein": _PREECLAMPSIA_PROTEIN.pick(rng)}
            self.add(when, AntenatalVisit, visit, facility, needs=("pregnancy",))

    def _tetanus_doses(self, gravida: int) -> list[int]:
        """The doses due in this pregnancy; those of earlier pregnancies predate the records."""
        if gravida == 1:
            return [1, 2]
        if gravida >= 4 and self.rng.random() < 0.5:
            return []  # five doses already: protected for all her child-bearing years
        return [min(gravida + 1, 5)]

    def _first_tests(self) -> dict[str, object]:
        rng = self.rng
        tests: dict[str, object] = {}
        if rng.random() < 0.88:
            tests["hiv"] = "positive" if rng.random() < 0.0005 else "negative"
        if rng.random() < 0.8:
            tests["syphilis"] = "positive" if rng.random() < 0.002 else "negative"
        if rng.random() < 0.85:
            # Hepatitis B is endemic: several per cent of pregnant women carry HBsAg.
            tests["hepb"] = "positive" if rng.random() < 0.07 else "negative"
        if rng.random() < 0.8:
            tests["hemoglobin_g_dl"] = round(_normal(rng, 11.7, 1.2, 6.0, 16.0), 1)
        if rng.random() < 0.7:
            tests["urine_protein"] = _URINE_PROTEIN.pick(rng)
        return tests

    def _danger_signs(self, severe_hypertension: bool) -> list[str]:
        rng = self.rng
        signs: list[str] = []
        if rng.random() < 0.02:
            signs.append(rng.choice(_ANC_DANGER_SIGNS))
        if severe_hypertension and rng.random() < 0.3:
            signs.append(rng.choice(_HYPERTENSIVE_SIGNS))
        return signs

    # -- delivery -------------------------------------------------------------------------------

    def _birth_weeks(self, twins: bool) -> float:
        rng = self.rng
        if twins:
            return _normal(rng, 36.0, 1.8, 30.0, 39.5)
        draw = rng.random()
        if draw < 0.015:
            return rng.uniform(28.0, 33.9)
        if draw < 0.075:
            return rng.uniform(34.0, 36.9)
        if draw < 0.98:
            return _normal(rng, 39.3, 1.0, 37.0, 41.9)
        return rng.uniform(42.0, 42.6)

    def _birth(
        self,
        lmp: dt.date,
        born: dt.datetime,
        weeks: float,
        pregnancy_id: uuid.UUID,
        twins: bool,
    ) -> list[_Baby]:
        rng = self.rng
        station, hospital = self.home.station, self.home.hospital
        place = _PLACES.pick(rng)
        facility = station
        if place == "facility" and hospital is not None:
            # Stations refer twins and early labour to the hospital.
            to_hospital = 0.95 if twins or weeks < 35 else 0.7
            facility = hospital if rng.random() < to_hospital else station
        mode = "vaginal"
        if place != "facility":
            attendant = (_HOME_ATTENDANTS if place == "home" else _EN_ROUTE_ATTENDANTS).pick(rng)
        elif facility == hospital:
            draw = rng.random()
            if draw < (0.7 if twins else 0.38):
                mode = "caesarean"
            elif draw > 0.97:
                mode = "assisted"
            attendant = "doctor" if mode != "vaginal" or rng.random() < 0.4 else "midwife"
        else:
            attendant = _STATION_ATTENDANTS.pick(rng)
        self.delivered_at = facility if place == "facility" else None
        weighed = place == "facility" or rng.random() < 0.4
        babies = [
            self._baby(f"child{i}", weeks, twins, weighed, place == "facility")
            for i in range(2 if twins else 1)
        ]
        birth = {
            "birth_id": self.id(),
            "pregnancy_id": pregnancy_id,
            "mother_id": self.mother_id,
            "facility": facility,
            "birth_date": born,
            "place": place,
            "attendant": attendant,
            "mode": mode,
            "gestational_weeks": round((born.date() - lmp).days / 7, 1),
            "babies": [b.record() for b in babies],
        }
        live = tuple(b.key for b in babies if b.live)
        self.add(born, Birth, birth, facility, needs=("pregnancy",), creates=live)
        return babies

    def _baby(self, key: str, weeks: float, twins: bool, weighed: bool, measured: bool) -> _Baby:
        rng = self.rng
        sex = "M" if rng.random() < 0.53 else "F"  # ~112 boys per 100 girls at birth
        live = rng.random() >= (0.02 if weeks < 34 else 0.004)
        mean = _interpolate(_BIRTH_WEIGHT_KG, weeks) - (0.35 if twins else 0.0)
        mean += 0.05 if sex == "M" else -0.05
        kg = _normal(rng, mean, 0.38 * mean / 3.1, 0.5, 5.5)
        length = 49.0 + (kg - 3.1) * 4.5 + rng.gauss(0, 1.2)
        head = 33.5 + (kg - 3.1) * 2.2 + rng.gauss(0, 0.8)
        return _Baby(key, self.id(), sex, live, kg, length, head, weighed, measured)

    # -- postnatal care -------------------------------------------------------------------------

    def _postnatal(self, born: dt.datetime, children: list[_Child]) -> None:
        rng = self.rng
        draw = rng.random()
        if draw < 0.75:
            days = [rng.randint(1, 7)]
        elif draw < 0.87:
            days = [rng.randint(8, 42)]
        else:
            return
        if days[0] <= 35 and rng.random() < 0.35:
            days.append(rng.randint(days[0] + 7, 42))
        # A hospital sees mother and baby before discharge; the station visits them at home.
        hospital = self.delivered_at if self.delivered_at == self.home.hospital else None
        for after in days:
            day = born.date() + dt.timedelta(days=after)
            when = _at(day, rng)
            facility = hospital if hospital is not None and after <= 3 else self.home.station
            for_mother = [f for f, p in _MOTHER_FINDINGS if rng.random() < p]
            # One record per living baby (the mother's check repeated), else the mother's alone.
            alive = [c.baby for c in children if c.death is None or c.death > day]
            seen: list[_Baby | None] = [*alive] or [None]
            for baby in seen:
                data: dict[str, object] = {
                    "visit_id": self.id(),
                    "mother_id": self.mother_id,
                    "facility": facility,
                    "visit_date": day,
                    "findings": for_mother,
                }
                needs: tuple[str, ...] = ("mother",)
                if baby is not None:
                    data["child_id"] = baby.child_id
                    needs = ("mother", baby.key)
                    newborn = after <= 10
                    data["findings"] = for_mother + [
                        f for f, p in _BABY_FINDINGS if newborn and rng.random() < p
                    ]
                self.add(when, PostnatalVisit, data, facility, needs=needs)


class _Child:
    """A live-born baby's vaccinations, checks and, for a few, death, up to age six."""

    def __init__(self, family: _Family, baby: _Baby, born: dt.datetime, weeks: float) -> None:
        self.family = family
        self.rng = family.rng
        self.baby = baby
        self.born = born
        self.birth = born.date()
        self.station = family.home.station
        self.death = self._death_day(weeks)
        self.until = min(self.death or dt.date.max, family.end + dt.timedelta(days=1))
        """Nothing is planned on or after this day but the death itself."""
        self.height, self.weight, self.head = self._courses()

    def plan(self) -> None:
        rng, baby, family = self.rng, self.baby, self.family
        names = _BOYS if baby.sex == "M" else _GIRLS
        family.registrations[baby.key] = _Planned(
            self.born,
            ChildRegistered,
            {
                "child_id": baby.child_id,
                "sex": baby.sex,
                "birth_date": self.birth,
                "residence": family.home.commune,
                "mother_id": family.mother_id,
                # Children take their father's family name.
                "full_name": f"{_FAMILY_NAMES.pick(rng)} {rng.choice(names)}",
            },
            self.station,
            family.id(),
            needs=("mother",),
            creates=(baby.key,),
        )
        self._birth_doses()
        self._routine_doses()
        self._visits()
        if self.death is not None:
            age = (self.death - self.birth).days
            cause = rng.choice(_NEONATAL_CAUSES if age < 28 else _CHILD_CAUSES)
            family.add(
                # A death on the day of birth comes after the birth.
                _at(self.death, rng, 0.0, 24.0) if age else self.born + dt.timedelta(hours=6),
                Death,
                {"person_id": baby.child_id, "date": self.death, "cause": cause},
                family.delivered_at if age == 0 and family.delivered_at else self.station,
                needs=(baby.key,),
            )

    def _death_day(self, weeks: float) -> dt.date | None:
        """Neonatal, infant and under-five mortality near Vietnam's (~10, ~14, ~20 per 1,000)."""
        rng = self.rng
        draw = rng.random()
        neonatal = 0.009 * (5 if weeks < 34 else 1)
        if draw < neonatal:
            age = int(28 * rng.random() ** 2)  # most neonatal deaths are in the first days
        elif draw < neonatal + 0.0045:
            age = rng.randint(28, 364)
        elif draw < neonatal + 0.008:
            age = rng.randint(365, _UNDER_FIVE_DAYS)
        else:
            return None
        return self.birth + dt.timedelta(days=age)

    def _give(self, when: dt.datetime, vaccine: str, dose: int, facility: str) -> bool:
        if when.date() >= self.until:
            return False
        self.family.immunize(when, vaccine, dose, facility, self.baby.key, self.baby.child_id)
        return True

    def _session(self, due: dt.date) -> dt.datetime:
        return _at(self.family.sessions.on_or_after(due), self.rng, 7.0, 11.0)

    def _birth_doses(self) -> None:
        rng, delivered_at = self.rng, self.family.delivered_at
        # HepB birth dose: within 24 h of most facility births, often late or missed after a
        # home birth (it expires after 7 days).
        timely = 0.88 if delivered_at else 0.3
        late = 0.07 if delivered_at else 0.4
        draw = rng.random()
        if draw < timely:
            when = self.born + dt.timedelta(hours=rng.uniform(0.5, 20.0))
            self._give(when, "HEPB0", 1, delivered_at or self.station)
        elif draw < timely + late:
            day = self.birth + dt.timedelta(days=rng.randint(2, 7))
            self._give(_at(day, rng), "HEPB0", 1, self.station)
        # BCG: before discharge at most hospitals, otherwise at a station session in the first
        # month; a few come months later, a few never.
        draw = rng.random()
        if delivered_at is not None and delivered_at == self.family.home.hospital and draw < 0.65:
            when = self.born + dt.timedelta(hours=rng.uniform(2.0, 72.0))
            self._give(when, "BCG", 1, delivered_at)
        elif draw < 0.97:
            after = rng.randint(0, 10) if draw < 0.9 else rng.randint(31, 120)
            self._give(self._session(self.birth + dt.timedelta(days=after)), "BCG", 1, self.station)

    def _routine_doses(self) -> None:
        rng = self.rng
        # Most families come at the first session once a dose is due; some come weeks or months
        # late, and a tenth stop coming at some point (the defaulters).
        draw = rng.random()
        punctual = draw < 0.6
        stops_after = rng.randrange(1, len(_ROUTINE)) if draw >= 0.9 else len(_ROUTINE)
        last: dict[str, dt.date] = {}
        given: Counter[str] = Counter()
        for months, doses in _ROUTINE[:stops_after]:
            if rng.random() < 0.02:
                continue
            due = _add_months(self.birth, months)
            for _, series, interval in doses:
                if series in last:
                    due = max(due, _add_months(last[series], interval))
            delay = rng.randint(0, 7) if punctual else round(rng.expovariate(1 / 35))
            when = self._session(due + dt.timedelta(days=delay))
            for vaccine, _, _ in doses:
                given[vaccine] += 1
                dose = 4 if vaccine == "DPT4" else given[vaccine]  # the booster continues PENTA
                if not self._give(when, vaccine, dose, self.station):
                    return
                last[vaccine] = when.date()
            if doses[0][0] == "JE" and given["JE"] == 1:
                # JE2 follows JE1 by one to two weeks, at the JE campaign days.
                second = _at(_weekday(when.date() + dt.timedelta(days=rng.randint(7, 14))), rng)
                given["JE"] += 1
                if not self._give(second, "JE", 2, self.station):
                    return
                last["JE"] = second.date()

    def _visits(self) -> None:
        rng, birth = self.rng, self.birth
        visits: dict[dt.date, str] = {}
        for low, high in _CHECK_WINDOWS:
            if rng.random() < 0.7:
                first, after = _add_months(birth, low), _add_months(birth, high + 1)
                day = first + dt.timedelta(days=rng.randrange((after - first).days))
                visits[self.family.sessions.on_or_after(day)] = "check"
        for months in _YEARLY_CHECKS:
            if rng.random() < 0.5:
                day = _add_months(birth, months) + dt.timedelta(days=rng.randrange(60))
                visits[_weekday(day)] = "check"
        # Micronutrient days, 1-2 June and 1-2 December: vitamin A for 6-36 months, deworming from
        # two years; in June every child under five is also weighed for the nutrition survey.
        for year in range(birth.year, birth.year + 6):
            for month in (6, 12):
                day = dt.date(year, month, 1 + (rng.random() < 0.4))
                age = (day - birth).days
                if (30 if month == 6 else 183) <= age < _UNDER_FIVE_DAYS and rng.random() < 0.85:
                    visits[day] = "june" if month == 6 else "december"
        for day in sorted(visits):
            alive = day < self.until and (day - birth).days < _UNDER_FIVE_DAYS
            if alive and self.family.covers(day):
                self._visit(day, visits[day])

    def _visit(self, day: dt.date, kind: str) -> None:
        rng, baby = self.rng, self.baby
        age = (day - self.birth).days
        data: dict[str, object] = {
            "visit_id": self.family.id(),
            "child_id": baby.child_id,
            "facility": self.station,
            "visit_date": day,
        }
        if kind != "december" or rng.random() < 0.5:
            data["weight_kg"] = self._measure(self.weight, age, 0.2)
            data["oedema"] = False if rng.random() < 0.7 else None
        if kind != "december" and rng.random() < (0.85 if kind == "check" else 0.7):
            data["length_height_cm"] = self._measure(self.height, age, 0.08)
            data["measured"] = "lying" if age < _UNDER_TWO_DAYS else "standing"
        if kind == "check" and age < _UNDER_TWO_DAYS:
            data["head_cm"] = self._measure(self.head, age, 0.1)
        if kind == "check" and age >= 183 and rng.random() < 0.2:
            # Arm circumference follows weight, with the WHO arm table's own spread.
            data["muac_cm"] = self._measure(
                replace(self.weight, table="who2006_acfa"), age, 0.4, 0.8
            )
        if kind != "check":
            data["vitamin_a"] = 183 <= age <= 1096 or None
            data["deworming"] = age >= _UNDER_TWO_DAYS or None
        when = _at(day, rng, 7.0, 11.0)
        self.family.add(when, ChildVisit, data, self.station, needs=(baby.key,))

    # -- growth ---------------------------------------------------------------------------------

    def _courses(self) -> tuple[_Course, _Course, _Course]:
        """Length/height, weight and head circumference, each from its z-score at birth to the
        child's own z-score at two years (stunting and underweight set in during infancy)."""
        rng, baby = self.rng, self.baby
        spread = rng.gauss(0.0, 1.0)
        haz = _TARGET_HAZ[0] + _TARGET_HAZ[1] * spread
        waz = _TARGET_WAZ[0] + _TARGET_WAZ[1] * (0.6 * spread + 0.8 * rng.gauss(0.0, 1.0))
        hcz = 0.5 * spread + 0.85 * rng.gauss(0.0, 1.0)

        def course(table: TableName, at_birth: float, at_two: float) -> _Course:
            lam, mu, sigma = _lms(table, baby.sex, 0)
            z = ((at_birth / mu) ** lam - 1.0) / (lam * sigma)
            return _Course(table, _clamp_z(z), _clamp_z(at_two))

        return (
            course("who2006_lhfa", baby.length_cm, haz),
            course("who2006_wfa", baby.weight_kg, waz),
            course("who2006_hcfa", baby.head_cm, hcz),
        )

    def _measure(self, course: _Course, age: int, noise: float, scale: float = 1.0) -> float:
        z = course.at_birth + (course.at_two - course.at_birth) * min(age / _UNDER_TWO_DAYS, 1.0)
        z = _clamp_z(scale * z + self.rng.gauss(0.0, noise))
        return round(value_at(_lms(course.table, self.baby.sex, age), z), 1)


@dataclass(frozen=True, slots=True)
class _Course:
    table: TableName
    at_birth: float
    at_two: float


def _clamp_z(z: float) -> float:
    low, high = _Z_RANGE
    return min(max(z, low), high)
