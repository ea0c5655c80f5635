"""Maternal-care, birth and death indicators, and vitamin A, per org unit and period.

Each indicator counts on its "period by" date (see the catalog in the README) and is attributed to
the person's residence on that date (residence view) or to the facility of the contact counted
(facility view: the first visit's for the antenatal cohort, the delivery's for everything counted on
the delivery date, the visit's for vitamin A). A numerator is always a subset of its denominator's
people, counted at the same org unit on the same date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from .growth_indicators import Child, add_years
from .indicators import Count, Indicator, Sex, View
from .periods import Period

ANC_THRESHOLDS = (3, 4)
"""The visits ANC3 and ANC4 ask for (sources differ, both are reported)."""
FIRST_TRIMESTER_WEEKS = 13
"""ANC1_T1: a first visit before 13 completed weeks."""
PNC_DAYS = (7, 42)
LBW_GRAMS = 2500
NEONATAL_DAYS = 28
MATERNAL_DEATH_DAYS = 42
POST_TERM_DAYS = 14
"""A pregnancy with no delivery recorded is taken as ongoing until 14 days after its EDD."""
VITA_ROUND_MONTHS = (6, 12)
VITA_AGE_MONTHS = (6, 36)
"""Children 6 to 36 months (inclusive: from the 6-month birthday to the day before the 37-month)."""
SKILLED = frozenset({"doctor", "midwife", "nurse", "trained_other"})

_MATERNAL = (
    ("ANC1", "population"),
    ("ANC1_T1", "contacts"),
    ("ANC3", "contacts"),
    ("ANC4", "contacts"),
    ("ANC_TESTED", "contacts"),
    ("BIRTH_FACILITY", "contacts"),
    ("BIRTH_SKILLED", "contacts"),
    ("PNC7", "contacts"),
    ("PNC42", "contacts"),
)
_CHILD = (
    ("LBW", "contacts"),
    ("LIVE_BIRTHS", "none"),
    ("STILLBIRTHS", "none"),
)
CATALOG: tuple[Indicator, ...] = (
    *(Indicator(code, child=False, denominator=d) for code, d in _MATERNAL),  # type: ignore[arg-type]
    *(Indicator(code, child=True, denominator=d) for code, d in _CHILD),  # type: ignore[arg-type]
    Indicator("MATERNAL_DEATHS", child=False, denominator="none"),
    Indicator("NEONATAL_DEATHS", child=True, denominator="none"),
    Indicator("U5_DEATHS", child=True, denominator="none"),
    Indicator("VITA", child=True, denominator="population"),
)
CODES = frozenset(i.code for i in CATALOG)


@dataclass(frozen=True)
class Pregnancy:
    pregnancy_id: str
    mother_id: str
    edd: dt.date
    lmp_date: dt.date | None
    registered_on: dt.date
    residence: str
    """The mother's residence when the pregnancy was registered."""
    applied_at: dt.datetime | None = None


@dataclass(frozen=True)
class AntenatalVisit:
    visit_id: str
    pregnancy_id: str
    facility: str
    visit_date: dt.date
    residence: str
    gestational_weeks: float | None = None
    hiv: bool = False
    syphilis: bool = False
    hepb: bool = False
    """Tested (whatever the result) at this visit."""
    applied_at: dt.datetime | None = None


@dataclass(frozen=True)
class Baby:
    child_id: str
    sex: Sex
    live: bool
    weight_g: int | None = None


@dataclass(frozen=True)
class Delivery:
    birth_id: str
    pregnancy_id: str
    mother_id: str
    facility: str
    birth_date: dt.date
    residence: str
    place: str
    attendant: str
    babies: tuple[Baby, ...]
    applied_at: dt.datetime | None = None


@dataclass(frozen=True)
class PostnatalVisit:
    visit_id: str
    mother_id: str
    visit_date: dt.date
    applied_at: dt.datetime | None = None


@dataclass(frozen=True)
class Mother:
    mother_id: str
    residences: tuple[tuple[dt.date | None, str], ...]
    died_on: dt.date | None
    applied_at: dt.datetime | None = None

    def residence_on(self, day: dt.date) -> str:
        return Child(self.mother_id, day, day, self.residences).residence_on(day)


@dataclass(frozen=True)
class VitaminA:
    """A child visit that gave vitamin A."""

    visit_id: str
    child_id: str
    facility: str
    visit_date: dt.date
    residence: str
    birth_date: dt.date
    sex: Sex | None = None
    applied_at: dt.datetime | None = None


@dataclass
class MaternalFacts:
    """What the maternal indicators of one period read (the storage gathers it)."""

    pregnancies: Sequence[Pregnancy] = ()
    visits: Sequence[AntenatalVisit] = ()
    """Every antenatal visit of the pregnancies and deliveries given."""
    deliveries: Sequence[Delivery] = ()
    postnatal: Sequence[PostnatalVisit] = ()
    """The postnatal visits of the deliveries' mothers."""
    mothers: Sequence[Mother] = ()
    """Mothers who died in the period."""
    maternity: Sequence[Delivery | Pregnancy] = field(default_factory=list)
    """The pregnancies and deliveries of the mothers who died."""
    child_deaths: Sequence[Child] = ()
    vitamin_a: Sequence[VitaminA] = ()
    children: Sequence[Child] = ()
    """Registered children who may be 6-36 months old on a round's last day."""


def add_months(day: dt.date, months: int) -> dt.date:
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def gestational_weeks(visit: AntenatalVisit, pregnancy: Pregnancy | None) -> float | None:
    """As recorded at the visit, else from the last menstrual period, else from the EDD."""
    if visit.gestational_weeks is not None:
        return visit.gestational_weeks
    if pregnancy is None:
        return None
    if pregnancy.lmp_date is not None:
        return (visit.visit_date - pregnancy.lmp_date).days / 7
    return (280 - (pregnancy.edd - visit.visit_date).days) / 7


def _newest(*stamps: dt.datetime | None) -> dt.datetime | None:
    present = [s for s in stamps if s is not None]
    return max(present) if present else None


def maternal_counts(
    *, period: Period, facts: MaternalFacts, view: View, wanted: Iterable[str] = CODES
) -> list[Count]:
    wanted = set(wanted)
    visits: dict[str, list[AntenatalVisit]] = {}
    for v in facts.visits:
        visits.setdefault(v.pregnancy_id, []).append(v)
    for listed in visits.values():
        listed.sort(key=lambda v: (v.visit_date, v.visit_id))
    counts: list[Count] = []
    if "ANC1" in wanted:
        counts += _antenatal_cohort(period, facts.pregnancies, visits, view)
    counts += _first_visits(period, facts.pregnancies, visits, view, wanted)
    postnatal: dict[str, list[PostnatalVisit]] = {}
    for pv in facts.postnatal:
        postnatal.setdefault(pv.mother_id, []).append(pv)
    # Deliveries by their date: women who delivered once, births once per baby.
    for d in facts.deliveries:
        if not period.contains(d.birth_date):
            continue
        unit = d.residence if view == "residence" else d.facility
        before = [v for v in visits.get(d.pregnancy_id, []) if v.visit_date <= d.birth_date]
        counts += _women_delivered(d, unit, before, postnatal.get(d.mother_id, []), wanted)
        counts += _births(d, unit, wanted)
    if view == "residence":
        counts += _deaths(period, facts, wanted)
    if "VITA" in wanted:
        counts += _vitamin_a(period, facts, view)
    return counts


def _antenatal_cohort(
    period: Period,
    pregnancies: Sequence[Pregnancy],
    visits: Mapping[str, list[AntenatalVisit]],
    view: View,
) -> list[Count]:
    """Pregnancies registered in the period, registered from the earlier of the registration and
    the first visit; of them, those with a visit."""
    counts: list[Count] = []
    for p in pregnancies:
        own = visits.get(p.pregnancy_id, [])
        first = own[0] if own else None
        registered = min(p.registered_on, first.visit_date) if first else p.registered_on
        if not period.contains(registered):
            continue
        if view == "residence":
            stamp = _newest(p.applied_at, first.applied_at if first else None)
            counts.append(
                Count("ANC1", p.residence, registered, first is not None, True, applied_at=stamp)
            )
        elif first is not None:
            counts.append(
                Count("ANC1", first.facility, registered, True, True, applied_at=first.applied_at)
            )
    return counts


def _first_visits(
    period: Period,
    pregnancies: Sequence[Pregnancy],
    visits: Mapping[str, list[AntenatalVisit]],
    view: View,
    wanted: AbstractSet[str],
) -> list[Count]:
    """Pregnancies by their first visit's date."""
    by_id = {p.pregnancy_id: p for p in pregnancies}
    counts: list[Count] = []
    for pregnancy_id, own in visits.items():
        first = own[0]
        if not period.contains(first.visit_date):
            continue
        unit = first.residence if view == "residence" else first.facility
        weeks = gestational_weeks(first, by_id.get(pregnancy_id))
        early = weeks is not None and weeks < FIRST_TRIMESTER_WEEKS
        tested = all(any(getattr(v, t) for v in own) for t in ("hiv", "syphilis", "hepb"))
        stamp = _newest(*(v.applied_at for v in own))
        for code, hit in (("ANC1_T1", early), ("ANC_TESTED", tested)):
            if code in wanted:
                counts.append(Count(code, unit, first.visit_date, hit, True, applied_at=stamp))
    return counts


def _women_delivered(
    d: Delivery,
    unit: str,
    before: list[AntenatalVisit],
    postnatal: list[PostnatalVisit],
    wanted: AbstractSet[str],
) -> list[Count]:
    """The mother's antenatal visits before the delivery and her checks after it."""
    on = d.birth_date
    checks = [(pv.visit_date - on).days for pv in postnatal if pv.visit_date >= on]
    stamp = _newest(
        d.applied_at,
        *(v.applied_at for v in before),
        *(pv.applied_at for pv in postnatal),
    )
    women = {
        "ANC3": len(before) >= ANC_THRESHOLDS[0],
        "ANC4": len(before) >= ANC_THRESHOLDS[1],
        "PNC7": any(days <= PNC_DAYS[0] for days in checks),
        "PNC42": any(days <= PNC_DAYS[1] for days in checks),
    }
    return [
        Count(code, unit, on, hit, True, applied_at=stamp)
        for code, hit in women.items()
        if code in wanted
    ]


def _births(d: Delivery, unit: str, wanted: AbstractSet[str]) -> list[Count]:
    """Each baby of the delivery: where and by whom it was born, alive or not, its weight."""
    counts: list[Count] = []
    for baby in d.babies:
        births = {
            "BIRTH_FACILITY": (d.place == "facility", True),
            "BIRTH_SKILLED": (d.attendant in SKILLED, True),
            "LIVE_BIRTHS": (baby.live, False),
            "STILLBIRTHS": (not baby.live, False),
            "LBW": (
                baby.live and baby.weight_g is not None and baby.weight_g < LBW_GRAMS,
                baby.live and baby.weight_g is not None,
            ),
        }
        for code, (numerator, denominator) in births.items():
            if code in wanted and (numerator or denominator):
                sex = baby.sex if code in ("LIVE_BIRTHS", "STILLBIRTHS", "LBW") else None
                counts.append(
                    Count(
                        code,
                        unit,
                        d.birth_date,
                        numerator,
                        denominator,
                        sex=sex,
                        applied_at=d.applied_at,
                    )
                )
    return counts


def _deaths(period: Period, facts: MaternalFacts, wanted: AbstractSet[str]) -> list[Count]:
    """Deaths count where the person lived on the day; they have no facility."""
    counts: list[Count] = []
    if "MATERNAL_DEATHS" in wanted:
        for m in facts.mothers:
            if m.died_on is None or not period.contains(m.died_on):
                continue
            if _maternal(m, facts.maternity):
                counts.append(
                    Count(
                        "MATERNAL_DEATHS",
                        m.residence_on(m.died_on),
                        m.died_on,
                        True,
                        False,
                        applied_at=m.applied_at,
                    )
                )
    for c in facts.child_deaths:
        if c.died_on is None or not period.contains(c.died_on):
            continue
        codes = []
        if c.died_on < c.birth_date + dt.timedelta(days=NEONATAL_DAYS):
            codes.append("NEONATAL_DEATHS")
        if c.died_on < add_years(c.birth_date, 5):
            codes.append("U5_DEATHS")
        for code in codes:
            if code in wanted:
                counts.append(
                    Count(
                        code,
                        c.residence_on(c.died_on),
                        c.died_on,
                        True,
                        False,
                        sex=c.sex,
                        applied_at=c.applied_at,
                    )
                )
    return counts


def _maternal(mother: Mother, maternity: Sequence[Delivery | Pregnancy]) -> bool:
    """Died while pregnant or within 42 days of a delivery (P: the national text defines maternal
    death by cause, which the handbook does not record)."""
    died = mother.died_on
    assert died is not None
    delivered: dict[str, dt.date] = {}
    for item in maternity:
        if isinstance(item, Delivery) and item.mother_id == mother.mother_id:
            delivered[item.pregnancy_id] = min(
                item.birth_date, delivered.get(item.pregnancy_id, item.birth_date)
            )
            if item.birth_date <= died <= item.birth_date + dt.timedelta(days=MATERNAL_DEATH_DAYS):
                return True
    for item in maternity:
        if isinstance(item, Pregnancy) and item.mother_id == mother.mother_id:
            start = item.lmp_date or item.registered_on
            end = delivered.get(item.pregnancy_id, item.edd + dt.timedelta(days=POST_TERM_DAYS))
            if start <= died <= end:
                return True
    return False


def round_ends(period: Period) -> list[dt.date]:
    """The last days of the vitamin A round months within the period."""
    return [m.end for m in period.months() if m.start.month in VITA_ROUND_MONTHS]


def vita_age(birth_date: dt.date, on: dt.date) -> bool:
    low, high = VITA_AGE_MONTHS
    return add_months(birth_date, low) <= on < add_months(birth_date, high + 1)


def _vitamin_a(period: Period, facts: MaternalFacts, view: View) -> list[Count]:
    """Each round month in the period: children 6-36 months given vitamin A in it (once each),
    over the registered children 6-36 months on its last day; a child given it is in the
    denominator where it was given it."""
    counts: list[Count] = []
    for end in round_ends(period):
        start = end.replace(day=1)
        given: dict[str, VitaminA] = {}
        for v in facts.vitamin_a:
            if start <= v.visit_date <= end and vita_age(v.birth_date, v.visit_date):
                current = given.get(v.child_id)
                if current is None or (v.visit_date, v.visit_id) < (
                    current.visit_date,
                    current.visit_id,
                ):
                    given[v.child_id] = v
        for v in given.values():
            unit = v.residence if view == "residence" else v.facility
            counts.append(
                Count("VITA", unit, v.visit_date, True, True, sex=v.sex, applied_at=v.applied_at)
            )
        if view != "residence":
            continue
        for c in facts.children:
            if (
                c.child_id not in given
                and c.registered_alive_on(end)
                and vita_age(c.birth_date, end)
            ):
                counts.append(
                    Count(
                        "VITA",
                        c.residence_on(end),
                        end,
                        False,
                        True,
                        sex=c.sex,
                        applied_at=c.applied_at,
                    )
                )
    return counts
