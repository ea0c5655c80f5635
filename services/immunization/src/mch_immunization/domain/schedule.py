"""Immunization schedules as data.

A schedule file (JSON) is parsed into a :class:`ScheduleSpec`, checked for consistency and compiled
into a :class:`Schedule`: the immutable, pre-resolved form the engine evaluates against, so that a
forecast never re-reads, re-parses or re-validates the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer

# Re-exported: the schedules, routes and forecasting speak of the population the events carry.
from mch_events.contracts.immunization import Population as Population

_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS_IN_MONTH[month - 1]


# The same few (birth date, age) pairs recur across millions of children, so the cache is what makes
# bulk re-forecasting cheap; the function is pure, so caching cannot change a result.
@lru_cache(maxsize=1 << 18)
def shift(start: date, months: int = 0, days: int = 0) -> date:
    """``start`` moved by whole calendar months, then by exact days.

    A month step lands on the same day of the month, clamped to the month's last day
    (31 Dec + 2 months = 28 or 29 Feb); years are 12 months and weeks 7 days.
    """
    if months:
        year, month0 = divmod(start.year * 12 + start.month - 1 + months, 12)
        month = month0 + 1
        start = date(year, month, min(start.day, _days_in_month(year, month)))
    return start + timedelta(days=days) if days else start


class Span(NamedTuple):
    """A duration reduced to what calendar arithmetic needs: whole months, then days."""

    months: int
    days: int

    def after(self, start: date) -> date:
        return shift(start, self.months, self.days)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Duration(_Model):
    """A length of time as a schedule writes it: ``{"months": 2}``, ``{"days": 28}``, ``{"years": 1}``."""

    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0

    @property
    def span(self) -> Span:
        return Span(self.years * 12 + self.months, self.weeks * 7 + self.days)

    @property
    def negative(self) -> bool:
        return min(self.years, self.months, self.weeks, self.days) < 0

    # Written back the way an operator writes it, so GET /v1/schedules/{id} reads like the file.
    @model_serializer
    def _compact(self) -> dict[str, int]:
        parts = {
            unit: value
            for unit, value in (
                ("years", self.years),
                ("months", self.months),
                ("weeks", self.weeks),
                ("days", self.days),
            )
            if value
        }
        return parts or {"days": 0}

    def __str__(self) -> str:
        return " ".join(
            f"{value} {unit[:-1] if abs(value) == 1 else unit}"
            for unit, value in self._compact().items()
        )


class DoseRef(_Model):
    series: str
    dose: int

    def __str__(self) -> str:
        return f"{self.series} {self.dose}"


class RecommendedAfter(DoseRef):
    """Recommended timing as an offset from the previous dose of the same series (JE2 = JE1 + 14 days)."""

    offset: Duration


class RolloutRef(_Model):
    """A scope item that stands for every site of a named programme roll-out."""

    rollout: str


class SeriesSpec(_Model):
    code: str = Field(min_length=1)
    name: str
    aliases: tuple[str, ...] = ()
    continues: str | None = None
    """Series whose dose numbering this one continues (DPT4 is dose 4 after PENTA 1-3)."""


class DoseSpec(_Model):
    series: str
    dose: int
    recommended_age: Duration | None = None
    recommended_after: RecommendedAfter | None = None
    min_age: Duration = Duration()
    min_interval: Duration | None = None
    interval_from: DoseRef | None = None
    """Dose the minimum interval counts from; defaults to the previous dose of the same series."""
    overdue_after: Duration
    max_age: Duration | None = None
    scope: tuple[str | RolloutRef, ...] = ()
    """Org-unit code prefixes (or roll-outs) where the dose is given; empty means everywhere."""
    effective_from: date | None = None
    protects_for: Duration | Literal["lifelong"] | None = None
    marks: str = ""
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.series} {self.dose}"


class FicSpec(_Model):
    """The fully-immunized-child antigen set: every dose valid and given before ``before_age``."""

    before_age: Duration
    doses: tuple[DoseRef, ...]
    marks: str = ""


class RolloutSite(_Model):
    org_unit: str = Field(min_length=1)
    name: str = ""
    effective_from: date
    confirmed: bool = False


class Rollout(_Model):
    description: str = ""
    note: str = ""
    sites: tuple[RolloutSite, ...]


class PregnancySpec(_Model):
    length: Duration
    """Time from the start of a pregnancy to its expected delivery date."""
    protection_series: str
    protection_onset: Duration = Duration()
    """Time after a dose before its protection counts."""
    marks: str = ""


class Equivalence(_Model):
    """Vaccines of other schedules that count as doses of ``series`` while ``enabled``."""

    vaccines: tuple[str, ...]
    series: str
    enabled: bool = False
    note: str = ""


class ScheduleSpec(_Model):
    """One schedule file, as written."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    version: str = Field(min_length=1)
    title: str
    population: Population
    effective_from: date
    grace_days: int = Field(default=0, ge=0)
    source: str
    notes: tuple[str, ...] = ()
    series: tuple[SeriesSpec, ...]
    doses: tuple[DoseSpec, ...]
    fic: FicSpec | None = None
    pregnancy: PregnancySpec | None = None
    equivalents: tuple[Equivalence, ...] = ()
    rollouts: dict[str, Rollout] = Field(default_factory=dict)


class ScheduleError(ValueError):
    """A schedule (or a set of them) that cannot be used; each problem names the dose at fault."""

    def __init__(self, where: str, problems: Sequence[str]) -> None:
        self.where = where
        self.problems = tuple(problems)
        super().__init__(f"{where} is inconsistent:\n- " + "\n- ".join(self.problems))


@dataclass(frozen=True, slots=True)
class DoseRule:
    """One dose of a compiled schedule, with every reference resolved to a rule index."""

    index: int
    series: str
    dose: int
    min_age: Span
    recommended_age: Span | None
    recommended_offset: Span | None
    """Offset from the previous dose of the same series, when timing is not an age."""
    min_interval: Span | None
    previous: int | None
    """The previous dose of the same series."""
    interval_from: int | None
    """The dose ``min_interval`` counts from: ``previous``, or a dose of another series."""
    overdue_after: Span
    max_age: Span | None
    scope: tuple[tuple[str, date], ...]
    """(org-unit code prefix, in force from); empty means everywhere."""
    effective_from: date
    protects_for: Span | None
    protects_lifelong: bool

    @property
    def label(self) -> str:
        return f"{self.series} {self.dose}"


@dataclass(frozen=True, eq=False)
class Schedule:
    """A validated schedule, compiled for evaluation."""

    spec: ScheduleSpec
    rules: tuple[DoseRule, ...]
    series_order: tuple[str, ...]
    """Series in evaluation order: one comes after every series its intervals count from."""
    series_rules: Mapping[str, tuple[int, ...]]
    """Rule indexes of each series, by dose number."""
    vaccines: Mapping[str, str]
    """Upper-cased vaccine names (codes, aliases, enabled equivalents) to series code."""
    by_ref: Mapping[tuple[str, int], int]
    fic: tuple[int, ...]
    fic_before_age: Span | None
    pregnancy_length: Span | None
    protection_series: str | None
    protection_onset: Span

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def label(self) -> str:
        """``id@version``: what a result records as the schedule version it used."""
        return f"{self.spec.id}@{self.spec.version}"

    @property
    def population(self) -> Population:
        return self.spec.population

    @property
    def grace_days(self) -> int:
        return self.spec.grace_days

    @property
    def effective_from(self) -> date:
        return self.spec.effective_from


# Two years of start dates cover every month length, both kinds of February and every clamping case,
# which is what decides whether one mixed duration ("1 month" vs "30 days") is shorter than another.
_SAMPLE_STARTS = tuple(date(2023, 1, 1) + timedelta(days=n) for n in range(731))


def _always_shorter(a: Span, b: Span) -> bool:
    """Whether ``a`` ends strictly before ``b`` from every start date."""
    if a.months <= b.months and a.days <= b.days:
        return a != b
    if a.months >= b.months and a.days >= b.days:
        return False
    return all(a.after(start) < b.after(start) for start in _SAMPLE_STARTS)


def _ever_shorter(a: Span, b: Span) -> bool:
    """Whether ``a`` ends strictly before ``b`` from at least one start date."""
    if a.months <= b.months and a.days <= b.days:
        return a != b
    if a.months >= b.months and a.days >= b.days:
        return False
    return any(a.after(start) < b.after(start) for start in _SAMPLE_STARTS)


def _series_problems(spec: ScheduleSpec) -> tuple[list[str], dict[str, SeriesSpec], dict[str, str]]:
    problems: list[str] = []
    codes: dict[str, SeriesSpec] = {}
    names: dict[str, str] = {}
    for series in spec.series:
        if series.code in codes:
            problems.append(f"series {series.code}: listed twice")
            continue
        codes[series.code] = series
        for name in (series.code, *series.aliases):
            key = name.strip().upper()
            if not key:
                problems.append(f"series {series.code}: empty alias")
            elif key in names:
                problems.append(f"series {series.code}: name {name!r} already names {names[key]}")
            else:
                names[key] = series.code
    for series in codes.values():
        seen = {series.code}
        current = series
        while current.continues is not None:
            if current.continues not in codes:
                problems.append(
                    f"series {current.code}: continues unknown series {current.continues!r}"
                )
                break
            if current.continues in seen:
                problems.append(f"series {series.code}: dose numbering continues in a circle")
                break
            seen.add(current.continues)
            current = codes[current.continues]
    return problems, codes, names


def _first_numbers(
    codes: Mapping[str, SeriesSpec], numbers: Mapping[str, list[int]]
) -> dict[str, int]:
    """The number each series' first dose must have (1, or one past the series it continues)."""
    first: dict[str, int] = {}

    def resolve(code: str, depth: int) -> int:
        if code not in first:
            continued = codes[code].continues
            if continued is None or continued not in codes or depth > len(codes):
                first[code] = 1
            else:
                base = resolve(continued, depth + 1)
                first[code] = base + len(numbers.get(continued, []))
        return first[code]

    for code in codes:
        resolve(code, 0)
    return first


def _dose_problems(
    spec: ScheduleSpec,
    dose: DoseSpec,
    codes: Mapping[str, SeriesSpec],
    doses: Mapping[tuple[str, int], DoseSpec],
    first_number: Mapping[str, int],
) -> list[str]:
    first = dose.dose == first_number[dose.series]
    previous = None if first else DoseRef(series=dose.series, dose=dose.dose - 1)
    protection = spec.pregnancy.protection_series if spec.pregnancy else None
    return [
        *_duration_problems(dose),
        *_recommendation_problems(dose, previous, protection),
        *_interval_problems(dose, previous, codes, doses),
        *_age_problems(dose),
        *_scope_problems(spec, dose, protection),
    ]


def _duration_problems(dose: DoseSpec) -> list[str]:
    label = dose.label
    problems: list[str] = []
    durations = {
        "recommended_age": dose.recommended_age,
        "recommended_after.offset": dose.recommended_after.offset
        if dose.recommended_after
        else None,
        "min_age": dose.min_age,
        "min_interval": dose.min_interval,
        "max_age": dose.max_age,
        "protects_for": dose.protects_for if isinstance(dose.protects_for, Duration) else None,
    }
    for name, duration in durations.items():
        if duration is not None and duration.negative:
            problems.append(f"{label}: {name} is negative ({duration})")
    if dose.overdue_after.negative:
        problems.append(f"{label}: overdue before due (overdue_after is {dose.overdue_after})")
    elif dose.overdue_after.span == Span(0, 0):
        problems.append(f"{label}: overdue_after is zero, so the dose would never be due")
    return problems


def _recommendation_problems(
    dose: DoseSpec, previous: DoseRef | None, protection: str | None
) -> list[str]:
    label = dose.label
    problems: list[str] = []
    if dose.recommended_age is not None and dose.recommended_after is not None:
        problems.append(f"{label}: has both recommended_age and recommended_after")
    elif (
        dose.recommended_age is None
        and dose.recommended_after is None
        and dose.series != protection  # women's TT1 is timed by the pregnancy instead
    ):
        problems.append(f"{label}: has neither recommended_age nor recommended_after")
    if dose.recommended_after is not None:
        named = DoseRef(series=dose.recommended_after.series, dose=dose.recommended_after.dose)
        if previous is None:
            problems.append(
                f"{label}: recommended_after on the first dose of a series (use recommended_age)"
            )
        elif named != previous:
            problems.append(
                f"{label}: recommended_after names {named}; it must name the previous dose "
                f"of the series ({previous})"
            )
    return problems


def _interval_problems(
    dose: DoseSpec,
    previous: DoseRef | None,
    codes: Mapping[str, SeriesSpec],
    doses: Mapping[tuple[str, int], DoseSpec],
) -> list[str]:
    label = dose.label
    if dose.min_interval is None:
        if dose.interval_from is not None:
            return [f"{label}: interval_from without min_interval"]
        return []
    source = dose.interval_from
    if source is None:
        if previous is None:
            return [
                f"{label}: min_interval on the first dose of a series needs interval_from "
                f"(the dose of another series it counts from)"
            ]
    elif source.series not in codes:
        return [f"{label}: min_interval counts from unknown series {source.series!r}"]
    elif (source.series, source.dose) not in doses:
        return [f"{label}: min_interval counts from {source}, which is not a dose"]
    elif source.series == dose.series and source != previous:
        return [
            f"{label}: min_interval counts from {source}; within a series it counts from "
            f"the previous dose ({previous or 'none: this is the first dose'})"
        ]
    elif previous is not None and source.series != dose.series:
        return [
            f"{label}: min_interval counts from {source}; a later dose counts from the "
            f"previous dose of its own series ({previous})"
        ]
    return []


def _age_problems(dose: DoseSpec) -> list[str]:
    label = dose.label
    problems: list[str] = []
    min_age = dose.min_age.span
    if dose.max_age is not None:
        max_age = dose.max_age.span
        if not _always_shorter(min_age, max_age):
            problems.append(
                f"{label}: min_age ({dose.min_age}) is not before max_age ({dose.max_age})"
            )
        if dose.recommended_age is not None and not _always_shorter(
            dose.recommended_age.span, max_age
        ):
            problems.append(
                f"{label}: recommended_age ({dose.recommended_age}) is not before "
                f"max_age ({dose.max_age})"
            )
    if dose.recommended_age is not None and _ever_shorter(dose.recommended_age.span, min_age):
        problems.append(
            f"{label}: recommended_age ({dose.recommended_age}) is before min_age ({dose.min_age})"
        )
    return problems


def _scope_problems(spec: ScheduleSpec, dose: DoseSpec, protection: str | None) -> list[str]:
    label = dose.label
    problems: list[str] = []
    for item in dose.scope:
        if isinstance(item, RolloutRef):
            if item.rollout not in spec.rollouts:
                problems.append(f"{label}: scope names unknown rollout {item.rollout!r}")
        elif not item.strip():
            problems.append(f"{label}: scope has an empty org-unit code")
    if dose.protects_for is not None and dose.series != protection:
        problems.append(f"{label}: protects_for outside the pregnancy protection series")
    return problems


def _interval_order(
    spec: ScheduleSpec, codes: Mapping[str, SeriesSpec]
) -> tuple[tuple[str, ...], list[str]]:
    """Series ordered so that each comes after the series its intervals count from."""
    needs: dict[str, set[str]] = {code: set() for code in codes}
    for dose in spec.doses:
        source = dose.interval_from
        if (
            dose.series in needs
            and source is not None
            and source.series in codes
            and source.series != dose.series
        ):
            needs[dose.series].add(source.series)
    order: list[str] = []
    placed: set[str] = set()
    while len(order) < len(needs):
        ready = [code for code in needs if code not in placed and needs[code] <= placed]
        if not ready:
            stuck = ", ".join(code for code in needs if code not in placed)
            return tuple(order), [f"series {stuck}: intervals count from each other in a circle"]
        order.append(ready[0])
        placed.add(ready[0])
    return tuple(order), []


def _check(spec: ScheduleSpec) -> tuple[list[str], tuple[str, ...]]:
    problems, codes, names = _series_problems(spec)
    doses, numbers = _index_doses(spec, codes, problems)
    first_number = _first_numbers(codes, numbers)
    problems.extend(_numbering_problems(codes, numbers, first_number))
    for dose in doses.values():
        problems.extend(_dose_problems(spec, dose, codes, doses, first_number))
    problems.extend(_fic_problems(spec, doses))
    problems.extend(_pregnancy_problems(spec, codes))
    problems.extend(_equivalence_problems(spec, codes, names))
    problems.extend(_rollout_problems(spec))
    order, circle = _interval_order(spec, codes)
    return problems + circle, order


def _index_doses(
    spec: ScheduleSpec, codes: Mapping[str, SeriesSpec], problems: list[str]
) -> tuple[dict[tuple[str, int], DoseSpec], dict[str, list[int]]]:
    """The doses by (series, number) and the numbers of each series; appends to ``problems``
    the doses left out."""
    doses: dict[tuple[str, int], DoseSpec] = {}
    numbers: dict[str, list[int]] = {}
    for dose in spec.doses:
        if dose.series not in codes:
            problems.append(f"{dose.label}: unknown series {dose.series!r} (not in 'series')")
        elif (dose.series, dose.dose) in doses:
            problems.append(f"{dose.label}: duplicate dose")
        else:
            doses[(dose.series, dose.dose)] = dose
            numbers.setdefault(dose.series, []).append(dose.dose)
    return doses, numbers


def _numbering_problems(
    codes: Mapping[str, SeriesSpec],
    numbers: Mapping[str, list[int]],
    first_number: Mapping[str, int],
) -> list[str]:
    problems: list[str] = []
    for code in codes:
        given = sorted(numbers.get(code, []))
        if not given:
            problems.append(f"series {code}: has no doses")
            continue
        expected = list(range(first_number[code], first_number[code] + len(given)))
        if given != expected:
            problems.append(
                f"series {code}: dose numbers {given} are not consecutive from "
                f"{first_number[code]} (expected {expected})"
            )
    return problems


def _fic_problems(spec: ScheduleSpec, doses: Mapping[tuple[str, int], DoseSpec]) -> list[str]:
    if spec.fic is None:
        return []
    problems: list[str] = []
    listed: set[DoseRef] = set()
    for ref in spec.fic.doses:
        if (ref.series, ref.dose) not in doses:
            problems.append(f"fic: {ref} is not a dose of the schedule")
        if ref in listed:
            problems.append(f"fic: {ref} listed twice")
        listed.add(ref)
    if spec.fic.before_age.negative:
        problems.append(f"fic: before_age is negative ({spec.fic.before_age})")
    return problems


def _pregnancy_problems(spec: ScheduleSpec, codes: Mapping[str, SeriesSpec]) -> list[str]:
    if spec.pregnancy is None:
        return []
    problems: list[str] = []
    series = spec.pregnancy.protection_series
    if series not in codes:
        problems.append(f"pregnancy: protection_series {series!r} is not a series")
    elif not any(d.protects_for is not None for d in spec.doses if d.series == series):
        problems.append(f"pregnancy: no dose of {series} has protects_for")
    for name, duration in (
        ("length", spec.pregnancy.length),
        ("protection_onset", spec.pregnancy.protection_onset),
    ):
        if duration.negative:
            problems.append(f"pregnancy: {name} is negative ({duration})")
    return problems


def _equivalence_problems(
    spec: ScheduleSpec, codes: Mapping[str, SeriesSpec], names: Mapping[str, str]
) -> list[str]:
    problems: list[str] = []
    for equivalence in spec.equivalents:
        if equivalence.series not in codes:
            problems.append(f"equivalents: unknown series {equivalence.series!r}")
        for vaccine in equivalence.vaccines:
            key = vaccine.strip().upper()
            if key in names:
                problems.append(f"equivalents: {vaccine!r} already names {names[key]}")
    return problems


def _rollout_problems(spec: ScheduleSpec) -> list[str]:
    problems: list[str] = []
    for name, rollout in spec.rollouts.items():
        if not rollout.sites:
            problems.append(f"rollout {name}: has no sites")
        units = [site.org_unit for site in rollout.sites]
        for unit in sorted({u for u in units if units.count(u) > 1}):
            problems.append(f"rollout {name}: org unit {unit} listed twice")
    return problems


def _span(duration: Duration | None) -> Span | None:
    return None if duration is None else duration.span


def _compile(spec: ScheduleSpec, series_order: tuple[str, ...]) -> Schedule:
    index = {(dose.series, dose.dose): n for n, dose in enumerate(spec.doses)}
    rules: list[DoseRule] = []
    for n, dose in enumerate(spec.doses):
        previous = index.get((dose.series, dose.dose - 1))
        if dose.min_interval is None:
            interval_from = None
        elif dose.interval_from is not None:
            interval_from = index[(dose.interval_from.series, dose.interval_from.dose)]
        else:
            interval_from = previous
        scope: list[tuple[str, date]] = []
        for item in dose.scope:
            if isinstance(item, RolloutRef):
                scope.extend(
                    (site.org_unit.strip(), site.effective_from)
                    for site in spec.rollouts[item.rollout].sites
                )
            else:
                scope.append((item.strip(), date.min))
        rules.append(
            DoseRule(
                index=n,
                series=dose.series,
                dose=dose.dose,
                min_age=dose.min_age.span,
                recommended_age=_span(dose.recommended_age),
                recommended_offset=_span(
                    dose.recommended_after.offset if dose.recommended_after else None
                ),
                min_interval=_span(dose.min_interval),
                previous=previous,
                interval_from=interval_from,
                overdue_after=dose.overdue_after.span,
                max_age=_span(dose.max_age),
                scope=tuple(scope),
                effective_from=dose.effective_from or date.min,
                protects_for=_span(dose.protects_for)
                if isinstance(dose.protects_for, Duration)
                else None,
                protects_lifelong=dose.protects_for == "lifelong",
            )
        )

    vaccines = {
        name.strip().upper(): series.code
        for series in spec.series
        for name in (series.code, *series.aliases)
    }
    for equivalence in spec.equivalents:
        if equivalence.enabled:
            vaccines.update(
                {name.strip().upper(): equivalence.series for name in equivalence.vaccines}
            )

    series_rules = {
        code: tuple(
            sorted(
                (rule.index for rule in rules if rule.series == code), key=lambda i: rules[i].dose
            )
        )
        for code in series_order
    }
    pregnancy = spec.pregnancy
    return Schedule(
        spec=spec,
        rules=tuple(rules),
        series_order=series_order,
        series_rules=series_rules,
        vaccines=vaccines,
        by_ref=index,
        fic=tuple(index[(ref.series, ref.dose)] for ref in spec.fic.doses) if spec.fic else (),
        fic_before_age=spec.fic.before_age.span if spec.fic else None,
        pregnancy_length=pregnancy.length.span if pregnancy else None,
        protection_series=pregnancy.protection_series if pregnancy else None,
        protection_onset=pregnancy.protection_onset.span if pregnancy else Span(0, 0),
    )


def _parse_problems(data: Mapping[str, Any], error: ValidationError) -> list[str]:
    """Pydantic's errors, with the dose they concern named the way the rest of the checks name it."""
    raw_doses = data.get("doses")
    problems = []
    for item in error.errors():
        loc = item["loc"]
        where = ".".join(str(part) for part in loc) or "schedule"
        if (
            len(loc) >= 2
            and loc[0] == "doses"
            and isinstance(loc[1], int)
            and isinstance(raw_doses, list)
            and loc[1] < len(raw_doses)
            and isinstance(raw_doses[loc[1]], Mapping)
        ):
            raw = raw_doses[loc[1]]
            rest = ".".join(str(part) for part in loc[2:]) or "dose"
            where = f"{raw.get('series', '?')} {raw.get('dose', '?')}: {rest}"
        problems.append(f"{where}: {item['msg']}")
    return problems


def load_schedule(data: Mapping[str, Any], source: str | None = None) -> Schedule:
    """Validate a schedule document and compile it; raises :class:`ScheduleError`."""
    where = f"schedule {source or data.get('id', '?')!r}"
    try:
        spec = ScheduleSpec.model_validate(data)
    except ValidationError as error:
        raise ScheduleError(where, _parse_problems(data, error)) from None
    problems, order = _check(spec)
    if problems:
        raise ScheduleError(where, problems)
    return _compile(spec, order)


def read_schedule(path: Path) -> Schedule:
    """Read and load one schedule file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ScheduleError(f"schedule file {str(path)!r}", [str(error)]) from None
    if not isinstance(data, Mapping):
        raise ScheduleError(f"schedule file {str(path)!r}", ["the file is not a JSON object"])
    return load_schedule(data, source=str(path))


@dataclass(frozen=True)
class ScheduleCatalog:
    """The schedules a service offers, by id."""

    schedules: Mapping[str, Schedule]

    @classmethod
    def of(cls, schedules: Iterable[Schedule]) -> ScheduleCatalog:
        by_id: dict[str, Schedule] = {}
        problems: list[str] = []
        for schedule in schedules:
            if schedule.id in by_id:
                problems.append(f"{schedule.id}: two schedules with this id")
            by_id[schedule.id] = schedule
        starts: dict[tuple[str, date], str] = {}
        for schedule in sorted(by_id.values(), key=lambda s: s.id):
            key = (schedule.population, schedule.effective_from)
            if key in starts:
                problems.append(
                    f"{schedule.id}: {starts[key]} is also the {schedule.population} schedule in "
                    f"force from {schedule.effective_from}; give one a different effective_from"
                )
            starts[key] = schedule.id
        if problems:
            raise ScheduleError("schedule catalog", problems)
        return cls(dict(sorted(by_id.items())))

    def get(self, schedule_id: str) -> Schedule | None:
        return self.schedules.get(schedule_id)

    def default_for(self, population: Population, on: date) -> Schedule | None:
        """The schedule for ``population`` in force on ``on`` (the latest ``effective_from`` on or
        before it), or the earliest one when ``on`` predates them all, so that history recorded
        before the first shipped schedule can still be evaluated."""
        candidates = sorted(
            (s for s in self.schedules.values() if s.population == population),
            key=lambda s: s.effective_from,
        )
        in_force = [s for s in candidates if s.effective_from <= on]
        if in_force:
            return in_force[-1]
        return candidates[0] if candidates else None


def load_catalog(*override_dirs: Path) -> ScheduleCatalog:
    """The shipped schedules, then every ``*.json`` in each directory given, in order.

    A file whose id is already loaded replaces that schedule; any other file adds one.
    """
    schedules: dict[str, Schedule] = {}
    shipped = resources.files("mch_immunization").joinpath("schedules")
    for entry in sorted(shipped.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            schedule = load_schedule(json.loads(entry.read_text(encoding="utf-8")), entry.name)
            schedules[schedule.id] = schedule
    for directory in override_dirs:
        seen: dict[str, Path] = {}
        for path in sorted(directory.glob("*.json")):
            schedule = read_schedule(path)
            if schedule.id in seen:
                raise ScheduleError(
                    f"schedule directory {str(directory)!r}",
                    [f"{seen[schedule.id].name} and {path.name} both define {schedule.id}"],
                )
            seen[schedule.id] = path
            schedules[schedule.id] = schedule
    return ScheduleCatalog.of(schedules.values())
