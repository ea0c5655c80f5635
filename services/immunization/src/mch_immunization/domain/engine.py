"""Dose evaluation and forecasting against a compiled schedule.

Pure and deterministic: the result depends only on the arguments, and not on the order in which
the doses are listed.

Evaluation walks each series' recorded doses by date and fills the schedule's doses in order; a
recorded dose fills the next open dose only if it is valid, so an invalid dose never restarts the clock
and a series never restarts. Forecasting then dates every open dose from the valid ones, projecting an
open dose that is not yet given onto the later of its due date and the as-of date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, NamedTuple

from mch_events.contracts.common import SexCode
from mch_immunization.domain.schedule import DoseRule, Schedule, Span, shift

Status = Literal["complete", "due", "overdue", "upcoming", "expired", "invalid"]
Reason = Literal[
    "too_early_age", "too_soon_interval", "after_max_age", "extra_dose", "not_in_schedule"
]

_ALWAYS = dt.date.min
_NEVER = dt.date.max


# Inputs and outputs are NamedTuples rather than frozen dataclasses: bulk re-forecasting builds
# millions of them, and a frozen dataclass's __init__ costs several times more.
class Person(NamedTuple):
    birth_date: dt.date
    sex: SexCode
    residence: str = ""
    """Org-unit code of the residence; a dose's scope matches it by code prefix."""
    residence_ancestors: tuple[str, ...] = ()
    """Codes of the org units that contain the residence (province, ...), matched the same way."""


class GivenDose(NamedTuple):
    vaccine: str
    date: dt.date


class DoseEntry(NamedTuple):
    """One line of a forecast: a dose of the schedule, or a recorded dose that does not count."""

    vaccine: str
    dose: int | None
    status: Status
    date_given: dt.date | None
    valid: bool | None
    reason: Reason | None
    earliest: dt.date | None
    due: dt.date | None
    overdue: dt.date | None


@dataclass(frozen=True, slots=True)
class Forecast:
    schedule_version: str
    doses: tuple[DoseEntry, ...]
    schedule: Schedule = field(compare=False, repr=False)

    def to_dict(self) -> dict[str, object]:
        """The output document: ``{schedule_version, doses: [...]}`` with ISO dates."""
        return {
            "schedule_version": self.schedule_version,
            "doses": [
                {
                    key: value.isoformat() if isinstance(value, dt.date) else value
                    for key, value in entry._asdict().items()
                }
                for entry in self.doses
            ],
        }


class InputError(ValueError):
    """Input the engine refuses; ``problems`` pairs each field's location with what is wrong."""

    def __init__(self, problems: Sequence[tuple[tuple[str | int, ...], str]]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in problems))


def _check_input(
    schedule: Schedule,
    person: Person,
    doses: Sequence[GivenDose],
    as_of: dt.date,
    edd: dt.date | None,
) -> None:
    birth = person.birth_date
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if as_of < birth:
        problems.append((("as_of",), f"as_of {as_of} is before the birth date {birth}"))
    for n, dose in enumerate(doses):
        if dose.date < birth:
            problems.append(
                (("doses", n, "date"), f"{dose.vaccine} on {dose.date} is before birth ({birth})")
            )
        elif dose.date > as_of:
            problems.append(
                (("doses", n, "date"), f"{dose.vaccine} on {dose.date} is after as_of ({as_of})")
            )
    if edd is not None and schedule.pregnancy_length is None:
        problems.append((("edd",), f"schedule {schedule.label} has no pregnancy rules"))
    if schedule.population == "women" and person.sex != "F":
        problems.append((("person", "sex"), f"schedule {schedule.label} is for women"))
    if problems:
        raise InputError(problems)


class _AgeDates(NamedTuple):
    """The dates of one dose that depend only on the birth date."""

    min_date: dt.date
    min_with_grace: dt.date
    recommended: dt.date | None
    max_date: dt.date | None


# Precomputed per (schedule, birth date): a cohort shares a few thousand birth dates, so most
# forecasts do no age arithmetic at all.
@lru_cache(maxsize=1 << 15)
def _age_dates(schedule: Schedule, birth: dt.date) -> tuple[_AgeDates, ...]:
    grace = schedule.grace_days
    return tuple(
        _AgeDates(
            min_date=shift(birth, rule.min_age.months, rule.min_age.days),
            min_with_grace=shift(birth, rule.min_age.months, rule.min_age.days - grace),
            recommended=None
            if rule.recommended_age is None
            else shift(birth, rule.recommended_age.months, rule.recommended_age.days),
            max_date=None
            if rule.max_age is None
            else shift(birth, rule.max_age.months, rule.max_age.days),
        )
        for rule in schedule.rules
    )


# Cached per single org-unit code: people share a few thousand residences.
@lru_cache(maxsize=1 << 16)
def _offered_from(schedule: Schedule, code: str) -> tuple[dt.date, ...]:
    """First day each dose is in the schedule for someone living in ``code`` (``_NEVER``: not)."""
    available = []
    for rule in schedule.rules:
        if not rule.scope:
            available.append(rule.effective_from)
            continue
        start = min(
            (since for prefix, since in rule.scope if code and code.startswith(prefix)),
            default=_NEVER,
        )
        available.append(start if start == _NEVER else max(start, rule.effective_from))
    return tuple(available)


def _availability(schedule: Schedule, codes: tuple[str, ...]) -> tuple[dt.date, ...]:
    """Availability for someone living in all of ``codes`` (a residence and what contains it)."""
    nowhere = _offered_from(schedule, "")
    # Usually at most one code (the province) is in any scope, so there is nothing to combine.
    offered = [o for o in (_offered_from(schedule, code) for code in codes) if o != nowhere]
    if not offered:
        return nowhere
    if len(offered) == 1:
        return offered[0]
    return tuple(map(min, *offered))


def _dates(
    rule: DoseRule,
    ages: _AgeDates,
    anchor: dt.date | None,
    previous: dt.date | None,
    available: dt.date,
) -> tuple[dt.date, dt.date | None, dt.date | None]:
    """Earliest, due and overdue dates of an open dose, given when its interval anchor and its
    previous dose were (or are projected to be) given."""
    earliest = ages.min_date
    interval = rule.min_interval
    if interval is not None and anchor is not None:
        earliest = max(earliest, shift(anchor, interval.months, interval.days))
    if available > earliest:
        earliest = available
    recommended = ages.recommended
    if recommended is None:
        offset = rule.recommended_offset
        if offset is None or previous is None:
            return earliest, None, None
        recommended = shift(previous, offset.months, offset.days)
    due = recommended if recommended > earliest else earliest
    return earliest, due, shift(due, rule.overdue_after.months, rule.overdue_after.days)


def _reason(
    rule: DoseRule, ages: _AgeDates, anchor: dt.date | None, given: dt.date, grace: int
) -> Reason | None:
    if given < ages.min_with_grace:
        return "too_early_age"
    interval = rule.min_interval
    if (
        interval is not None
        and anchor is not None
        and given < shift(anchor, interval.months, interval.days - grace)
    ):
        return "too_soon_interval"
    if ages.max_date is not None and given >= ages.max_date:
        return "after_max_age"
    return None


def _covers(rule: DoseRule, given: dt.date, on: dt.date, onset: Span) -> bool:
    """Whether a valid dose given on ``given`` protects on ``on``."""
    if shift(given, onset.months, onset.days) > on:
        return False
    if rule.protects_lifelong:
        return True
    length = rule.protects_for
    return length is not None and on < shift(given, length.months, length.days)


def _not_counted(vaccine: str, given: dt.date, reason: Reason) -> DoseEntry:
    return DoseEntry(vaccine, None, "invalid", given, False, reason, None, None, None)


def forecast(
    schedule: Schedule,
    person: Person,
    doses: Sequence[GivenDose],
    as_of: dt.date,
    edd: dt.date | None = None,
) -> Forecast:
    """Evaluate the recorded doses and forecast every open dose of ``schedule`` on ``as_of``.

    ``edd`` is the expected delivery date of a current pregnancy (women's schedules only). Raises
    :class:`InputError` for a dose before birth or after ``as_of``, and for input the schedule does
    not take.
    """
    birth = person.birth_date
    given, extras, out_of_range = _by_series(schedule, doses, birth, as_of)
    if out_of_range or edd is not None or schedule.population == "women":
        _check_input(schedule, person, doses, as_of, edd)

    codes = tuple(code for code in (person.residence, *person.residence_ancestors) if code)
    pregnancy_start = None
    if edd is not None and schedule.pregnancy_length is not None:
        length = schedule.pregnancy_length
        pregnancy_start = shift(edd, -length.months, -length.days)
    run = _Run(
        schedule=schedule,
        as_of=as_of,
        edd=edd,
        pregnancy_start=pregnancy_start,
        available=_availability(schedule, codes),
        age_dates=_age_dates(schedule, birth),
        valid=[None] * len(schedule.rules),
        slots=[None] * len(schedule.rules),
        extras=extras,
    )
    _forecast_open(run, _evaluate(run, given))

    extras.sort(key=lambda e: (e.date_given or _ALWAYS, e.vaccine, e.dose or 0, e.reason or ""))
    entries = tuple(entry for entry in run.slots if entry is not None) + tuple(extras)
    return Forecast(schedule.label, entries, schedule)


@dataclass(slots=True)
class _Run:
    """One forecast's inputs and what it has found so far, shared by the steps of each series."""

    schedule: Schedule
    as_of: dt.date
    edd: dt.date | None
    pregnancy_start: dt.date | None
    available: tuple[dt.date, ...]
    age_dates: tuple[_AgeDates, ...]
    valid: list[dt.date | None]
    """The date each dose of the schedule was validly given."""
    slots: list[DoseEntry | None]
    extras: list[DoseEntry]
    """Recorded doses that fill no dose of the schedule."""


def _by_series(
    schedule: Schedule, doses: Sequence[GivenDose], birth: dt.date, as_of: dt.date
) -> tuple[dict[str, list[dt.date]], list[DoseEntry], bool]:
    """The recorded dates of each series, the doses of no series, and whether any date (or
    ``as_of``) is out of range."""
    vaccines = schedule.vaccines
    extras: list[DoseEntry] = []
    given: dict[str, list[dt.date]] = {}
    out_of_range = as_of < birth
    for vaccine, day in doses:
        out_of_range = out_of_range or day < birth or day > as_of
        # Most records carry the series code itself; normalising is the fallback.
        series = vaccines.get(vaccine) or vaccines.get(vaccine.strip().upper())
        if series is None:
            extras.append(_not_counted(vaccine.strip(), day, "not_in_schedule"))
        elif series in given:
            given[series].append(day)
        else:
            given[series] = [day]
    return given, extras, out_of_range


def _evaluate(run: _Run, given: dict[str, list[dt.date]]) -> list[int]:
    """Fill each series' doses in order with its valid recorded doses; returns how many of each
    series (in ``series_order``) were filled."""
    schedule = run.schedule
    rules, grace = schedule.rules, schedule.grace_days
    valid, slots, extras, available = run.valid, run.slots, run.extras, run.available
    age_dates = run.age_dates
    counts: list[int] = []
    for series in schedule.series_order:
        indexes = schedule.series_rules[series]
        filled = 0
        dates = given.get(series)
        for day in sorted(dates) if dates else ():
            if filled == len(indexes):
                extras.append(_not_counted(series, day, "extra_dose"))
                continue
            i = indexes[filled]
            rule = rules[i]
            if day < available[i]:
                extras.append(_not_counted(series, day, "not_in_schedule"))
                continue
            anchor = valid[rule.previous] if rule.previous is not None else None
            if rule.interval_from is not None and rule.interval_from != rule.previous:
                anchor = valid[rule.interval_from]
                # Only a dose of the named series given before this one starts its interval.
                if anchor is not None and anchor > day:
                    anchor = None
            reason = _reason(rule, age_dates[i], anchor, day, grace)
            if reason is not None:
                extras.append(
                    DoseEntry(series, rule.dose, "invalid", day, False, reason, None, None, None)
                )
                continue
            valid[i] = day
            slots[i] = DoseEntry(series, rule.dose, "complete", day, True, None, None, None, None)
            filled += 1
        counts.append(filled)
    return counts


def _forecast_open(run: _Run, counts: list[int]) -> None:
    """Date each series' open doses (after the ``counts`` filled), each projected from the one
    before. Every series was evaluated before any is dated; that is the same as taking them one
    at a time because an interval counts only from a series earlier in ``series_order``."""
    schedule, valid, as_of, edd = run.schedule, run.valid, run.as_of, run.edd
    slots, age_dates, available_from = run.slots, run.age_dates, run.available
    rules = schedule.rules
    for series, filled in zip(schedule.series_order, counts, strict=True):
        indexes = schedule.series_rules[series]
        if filled == len(indexes):
            continue
        protecting = series == schedule.protection_series and run.pregnancy_start is not None
        covered = protecting and _covered(run, indexes[:filled])
        projected = valid[indexes[filled - 1]] if filled else None
        previous_expired = False
        for i in indexes[filled:]:
            rule = rules[i]
            ages = age_dates[i]
            max_date = ages.max_date
            available = available_from[i]
            if available > as_of or (max_date is not None and available >= max_date):
                # Not (yet) in this person's schedule, or only from an age at which it can no
                # longer be given (born before the roll-out): neither it nor the rest of the series
                # concerns the person.
                break
            previous = projected if rule.previous is not None else None
            if rule.interval_from is None:
                anchor = None
            elif rule.interval_from == rule.previous:
                anchor = previous
            else:
                anchor = valid[rule.interval_from]
            earliest, due, overdue = _dates(rule, ages, anchor, previous, available)
            if protecting and not covered and run.pregnancy_start is not None:
                due = max(earliest, run.pregnancy_start)
                overdue = shift(due, rule.overdue_after.months, rule.overdue_after.days)
            status = _open_status(previous_expired, max_date, earliest, due, overdue, as_of)
            slots[i] = DoseEntry(
                series, rule.dose, status, None, None, None, earliest, due, overdue
            )
            projected = max(due if due is not None else earliest, as_of)
            previous_expired = status == "expired"
            if protecting and edd is not None:
                covered = covered or _covers(rule, projected, edd, schedule.protection_onset)


def _covered(run: _Run, given: tuple[int, ...]) -> bool:
    """Whether the valid doses ``given`` protect at the expected delivery."""
    edd = run.edd
    if edd is None:
        return False
    rules, onset = run.schedule.rules, run.schedule.protection_onset
    return any(
        _covers(rules[j], when, edd, onset) for j in given if (when := run.valid[j]) is not None
    )


def _open_status(
    previous_expired: bool,
    max_date: dt.date | None,
    earliest: dt.date,
    due: dt.date | None,
    overdue: dt.date | None,
    as_of: dt.date,
) -> Status:
    if previous_expired or (max_date is not None and max(earliest, as_of) >= max_date):
        return "expired"
    if overdue is not None and as_of >= overdue:
        return "overdue"
    if due is not None and as_of >= due:
        return "due"
    return "upcoming"


def is_fully_immunized(result: Forecast, birth_date: dt.date) -> bool:
    """FIC: every dose of the schedule's fully-immunized set that concerns the person is valid and
    was given before the set's age limit (the first birthday)."""
    schedule = result.schedule
    limit = schedule.fic_before_age
    if limit is None:
        raise ValueError(f"schedule {schedule.label} defines no fully-immunized set")
    deadline = shift(birth_date, limit.months, limit.days)
    entries = {(e.vaccine, e.dose): e for e in result.doses if e.status != "invalid"}
    for i in schedule.fic:
        rule = schedule.rules[i]
        entry = entries.get((rule.series, rule.dose))
        if entry is None:
            continue
        if entry.date_given is None or entry.status != "complete" or entry.date_given >= deadline:
            return False
    return True


def overdue_doses(result: Forecast) -> tuple[DoseEntry, ...]:
    """The overdue doses: a child with any is a defaulter."""
    return tuple(entry for entry in result.doses if entry.status == "overdue")


def protected_at(result: Forecast, on: dt.date) -> bool:
    """Whether the valid doses of the protection series (tetanus) protect on ``on``, e.g. the expected
    or actual delivery date (TT_PAB)."""
    schedule = result.schedule
    series = schedule.protection_series
    if series is None:
        raise ValueError(f"schedule {schedule.label} has no protection series")
    for entry in result.doses:
        if entry.vaccine == series and entry.valid and entry.date_given is not None:
            rule = schedule.rules[schedule.by_ref[(series, entry.dose or 0)]]
            if _covers(rule, entry.date_given, on, schedule.protection_onset):
                return True
    return False
