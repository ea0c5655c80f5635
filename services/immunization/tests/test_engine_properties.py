"""Properties of the engine over generated children and dose histories."""

from __future__ import annotations

import calendar
import datetime as dt
import random

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mch_immunization.domain.engine import Forecast, GivenDose, Person, forecast
from mch_immunization.domain.schedule import DoseRule, Schedule, Span, load_catalog

D = dt.date
_SCHEDULE = load_catalog().get("vn-epi-child-2024")
assert _SCHEDULE is not None
SCHEDULE: Schedule = _SCHEDULE
SERIES = list(SCHEDULE.series_order)
# Series whose doses count their interval from a dose of another series (MR from MCV1, DPT4 from
# PENTA 3): recording a dose of the other series can add an interval they did not have before.
COUNTS_FROM = {
    rule.series: SCHEDULE.rules[rule.interval_from].series
    for rule in SCHEDULE.rules
    if rule.interval_from is not None and rule.interval_from != rule.previous
}


def add(start: dt.date, span: Span) -> dt.date:
    """Calendar arithmetic written independently of the engine's: months (clamped), then days."""
    year, month0 = divmod(start.year * 12 + start.month - 1 + span.months, 12)
    day = min(start.day, calendar.monthrange(year, month0 + 1)[1])
    return dt.date(year, month0 + 1, day) + dt.timedelta(days=span.days)


def _person(birth: dt.date, province: str = "38") -> Person:
    return Person(birth, "F", residence="16003", residence_ancestors=(province,))


@st.composite
def children(draw: st.DrawFn) -> tuple[Person, list[GivenDose], dt.date]:
    """A child with a plausible history: each dose near its ideal date, skipped, early or late,
    plus stray doses of any vaccine (and unknown ones)."""
    birth = draw(st.dates(D(2019, 1, 1), D(2026, 12, 31)))
    person = _person(birth, draw(st.sampled_from(["38", "26", "01"])))
    as_of = birth + dt.timedelta(days=draw(st.integers(0, 2900)))
    ideal = forecast(SCHEDULE, person, [], birth)
    doses = []
    for entry in ideal.doses:
        if entry.due is None or draw(st.integers(0, 9)) == 0:
            continue
        day = entry.due + dt.timedelta(days=draw(st.integers(-20, 150)))
        if birth <= day <= as_of:
            doses.append(GivenDose(entry.vaccine, day))
    vaccines = st.sampled_from([*SERIES, "bOPV", "HPV"])
    for _ in range(draw(st.integers(0, 3))):
        offset = draw(st.integers(0, (as_of - birth).days))
        doses.append(GivenDose(draw(vaccines), birth + dt.timedelta(days=offset)))
    return person, doses, as_of


def complete_series(result: Forecast) -> set[str]:
    concerned: dict[str, bool] = {}
    for entry in result.doses:
        if entry.status != "invalid":
            concerned[entry.vaccine] = concerned.get(entry.vaccine, True) and (
                entry.status == "complete"
            )
    return {series for series, complete in concerned.items() if complete}


@settings(max_examples=150, deadline=None)
@given(children(), st.randoms(use_true_random=False))
def test_same_input_same_output(
    child: tuple[Person, list[GivenDose], dt.date], rnd: random.Random
) -> None:
    person, doses, as_of = child
    first = forecast(SCHEDULE, person, doses, as_of)
    shuffled = list(doses)
    rnd.shuffle(shuffled)
    again = forecast(SCHEDULE, person, shuffled, as_of)
    assert again == first
    assert again.to_dict() == first.to_dict()


@settings(max_examples=200, deadline=None)
@given(children(), st.sampled_from(SERIES), st.integers(0, 2900))
def test_adding_a_dose_never_undoes_a_complete_series(
    child: tuple[Person, list[GivenDose], dt.date], series: str, offset: int
) -> None:
    person, doses, as_of = child
    day = min(person.birth_date + dt.timedelta(days=offset), as_of)
    before = complete_series(forecast(SCHEDULE, person, doses, as_of))
    after = complete_series(forecast(SCHEDULE, person, [*doses, GivenDose(series, day)], as_of))
    kept = {s for s in before if COUNTS_FROM.get(s) != series}
    assert kept <= after


_FIRST_DOSES_WITH_MIN_AGE = [
    r for r in SCHEDULE.rules if r.previous is None and r.min_age != (0, 0)
]
_DOSES_WITH_INTERVAL = [r for r in SCHEDULE.rules if r.min_interval is not None]


def _status(result: Forecast, rule: DoseRule) -> str:
    [entry] = [
        e
        for e in result.doses
        if (e.vaccine, e.dose) == (rule.series, rule.dose) and e.status != "invalid"
    ]
    return entry.status


@settings(max_examples=150, deadline=None)
@given(st.dates(D(2024, 12, 1), D(2028, 12, 31)), st.sampled_from(_FIRST_DOSES_WITH_MIN_AGE))
def test_min_age_is_inclusive(birth: dt.date, rule: DoseRule) -> None:
    person = _person(birth)
    at = add(birth, rule.min_age)
    on_time = forecast(SCHEDULE, person, [GivenDose(rule.series, at)], at)
    assert _status(on_time, rule) == "complete"
    early = at - dt.timedelta(days=1)
    too_early = forecast(SCHEDULE, person, [GivenDose(rule.series, early)], at)
    assert _status(too_early, rule) != "complete"
    assert too_early.doses[-1].reason == "too_early_age"


@settings(max_examples=200, deadline=None)
@given(st.dates(D(2024, 12, 1), D(2028, 12, 31)), st.sampled_from(_DOSES_WITH_INTERVAL), st.data())
def test_min_interval_is_inclusive(birth: dt.date, rule: DoseRule, data: st.DataObject) -> None:
    assert rule.min_interval is not None
    assert rule.interval_from is not None
    person = _person(birth)
    anchor = SCHEDULE.rules[rule.interval_from]
    # The anchor's series up to the anchor, each dose on its due date, the anchor itself later.
    history: list[GivenDose] = []
    for i in SCHEDULE.series_rules[anchor.series]:
        previous = SCHEDULE.rules[i]
        as_of = history[-1].date if history else birth
        [due] = [
            e.due
            for e in forecast(SCHEDULE, person, history, as_of).doses
            if (e.vaccine, e.dose) == (previous.series, previous.dose) and e.due is not None
        ]
        if previous is anchor:
            due += dt.timedelta(days=data.draw(st.integers(0, 420)))
            if anchor.max_age is not None:
                assume(due < add(birth, anchor.max_age))
        history.append(GivenDose(previous.series, due))
        if previous is anchor:
            break
    target = add(history[-1].date, rule.min_interval)
    day_before = target - dt.timedelta(days=1)
    assume(day_before >= add(birth, rule.min_age))
    if rule.max_age is not None:
        assume(target < add(birth, rule.max_age))

    on_time = forecast(SCHEDULE, person, [*history, GivenDose(rule.series, target)], target)
    assert _status(on_time, rule) == "complete"
    too_soon = forecast(SCHEDULE, person, [*history, GivenDose(rule.series, day_before)], target)
    assert _status(too_soon, rule) != "complete"
    assert too_soon.doses[-1].reason == "too_soon_interval"
