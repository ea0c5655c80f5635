"""Forecast throughput, and the cost of re-forecasting everyone after a schedule change.

Builds 100,000 children (deterministic seed) with realistic dose histories: mostly on time, some
late, some series abandoned, some doses given too early (invalid) and repeated; forecasts them all
on one as-of date; then loads a new version of the schedule in which one dose's recommended age
changes and re-forecasts everyone, counting the results that changed.

    .venv/bin/python services/immunization/bench/bench_forecast.py [--children N] [--seed S]
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import gc
import json
import random
import time
from collections.abc import Callable
from importlib import resources
from typing import TypeVar

from mch_immunization.domain.engine import DoseEntry, GivenDose, Person, forecast
from mch_immunization.domain.schedule import DoseRule, Schedule, load_schedule, shift

AS_OF = dt.date(2026, 6, 30)
T = TypeVar("T")

# Province codes with rough weights: rotavirus from 2024-12 (38 Thanh Hóa, 36, 89), 2025-06 (40),
# 2026-01 (01, 79) in the shipped roll-out data, and one province without it (26).
PROVINCES = (("38", 5), ("36", 2), ("40", 3), ("01", 4), ("79", 4), ("26", 2), ("89", 2))


def _child_schedule_document() -> dict[str, object]:
    path = resources.files("mch_immunization").joinpath("schedules", "vn-epi-child-2024.json")
    document: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return document


def _changed_schedule(document: dict[str, object]) -> Schedule:
    """A new version in which JE 1 is recommended at 13 months instead of 12."""
    changed = copy.deepcopy(document)
    changed["version"] = "1.1-bench"
    doses = changed["doses"]
    assert isinstance(doses, list)
    for dose in doses:
        if dose["series"] == "JE" and dose["dose"] == 1:
            dose["recommended_age"] = {"months": 13}
    return load_schedule(changed)


def _history(
    schedule: Schedule, rng: random.Random, birth: dt.date, codes: tuple[str, ...]
) -> list[GivenDose]:
    """Doses given so far: each child has a habit (punctual, late, dropping out) and rare mistakes."""
    habit = rng.random()
    doses: list[GivenDose] = []
    for series in schedule.series_order:
        previous: dt.date | None = None
        for i in schedule.series_rules[series]:
            rule = schedule.rules[i]
            target = _target(rule, birth, previous, codes)
            if target is None:
                break
            # Birth doses are given at the facility of birth: late by days, not months.
            given = _given_on(rng, habit, target, birth_dose=rule.recommended_age == (0, 0))
            if given is None:
                break  # drops out of this series
            if rng.random() < 0.03:
                early = target - dt.timedelta(days=rng.randint(1, 12))
                if birth <= early <= AS_OF:
                    doses.append(GivenDose(rule.series, early))
            if given > AS_OF:
                break
            doses.append(GivenDose(rule.series, given))
            previous = given
    rng.shuffle(doses)
    return doses


def _target(
    rule: DoseRule, birth: dt.date, previous: dt.date | None, codes: tuple[str, ...]
) -> dt.date | None:
    """When the dose should be given, or ``None`` when it (and the rest of its series) is not
    offered to this child."""
    offered = [since for prefix, since in rule.scope if any(c.startswith(prefix) for c in codes)]
    if rule.scope and not offered:
        return None
    if rule.recommended_age is not None:
        target = shift(birth, *rule.recommended_age)
    elif rule.recommended_offset is not None and previous is not None:
        target = shift(previous, *rule.recommended_offset)
    else:
        return None
    if previous is not None and rule.min_interval is not None:
        target = max(target, shift(previous, *rule.min_interval))
    if offered:
        target = max(target, min(offered), rule.effective_from)
    if rule.max_age is not None and target >= shift(birth, *rule.max_age):
        return None  # born before the roll-out reached the province
    return target


def _given_on(
    rng: random.Random, habit: float, target: dt.date, *, birth_dose: bool
) -> dt.date | None:
    """When a child of this habit gets a dose due on ``target``; ``None``: never."""
    if habit < 0.70:
        return target + dt.timedelta(days=rng.randint(0, 1 if birth_dose else 10))
    if habit < 0.88:
        late = rng.randint(1, 20) if birth_dose else rng.randint(15, 120)
        return target + dt.timedelta(days=late)
    if rng.random() < 0.35:
        return None
    return target + dt.timedelta(days=rng.randint(0, 60))


def build_children(
    schedule: Schedule, count: int, seed: int
) -> list[tuple[Person, list[GivenDose]]]:
    rng = random.Random(seed)
    codes, weights = zip(*PROVINCES, strict=True)
    children = []
    for _ in range(count):
        birth = AS_OF - dt.timedelta(days=rng.randrange(0, 6 * 365))
        province = rng.choices(codes, weights)[0]
        person = Person(
            birth_date=birth,
            sex=rng.choice(("F", "M")),
            residence=f"{rng.randrange(10000, 32000):05d}",
            residence_ancestors=(province,),
        )
        children.append((person, _history(schedule, rng, birth, (province,))))
    return children


def _timed(work: Callable[[], T]) -> tuple[T, float, float]:
    """``work()``, with the CPU and wall seconds it took.

    CPU time is the figure to read on a shared machine: other processes inflate wall time.
    """
    cpu, wall = time.process_time(), time.perf_counter()
    result = work()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20241201)
    args = parser.parse_args()

    document = _child_schedule_document()
    schedule, load_cpu, _ = _timed(lambda: load_schedule(document))
    children, _, build_wall = _timed(lambda: build_children(schedule, args.children, args.seed))
    n = len(children)
    dose_count = sum(len(doses) for _, doses in children)
    print(f"children: {n:,} ({dose_count:,} recorded doses, built in {build_wall:.1f} s)")
    print(f"schedule load + validation: {load_cpu * 1000:.1f} ms")

    # Inputs and kept results live for the whole run; keeping them out of the collector's scans
    # measures the engine rather than the size of the benchmark's own heap.
    gc.collect()
    gc.freeze()

    def first_pass() -> list[tuple[DoseEntry, ...]]:
        return [forecast(schedule, person, doses, AS_OF).doses for person, doses in children]

    def warm_pass() -> None:
        for person, doses in children:
            forecast(schedule, person, doses, AS_OF)

    results, cpu, wall = _timed(first_pass)
    gc.freeze()
    _, warm_cpu, warm_wall = _timed(warm_pass)
    for name, cpu_s, wall_s in (
        ("forecast all, cold caches, results kept", cpu, wall),
        ("forecast all, warm caches, results streamed", warm_cpu, warm_wall),
    ):
        print(f"{name}: {cpu_s:.2f} s CPU ({n / cpu_s:,.0f} forecasts/s), {wall_s:.2f} s wall")
    invalid = sum(1 for r in results for e in r if e.status == "invalid")
    defaulters = sum(1 for r in results if any(e.status == "overdue" for e in r))
    print(
        f"  {sum(map(len, results)):,} dose entries, {invalid:,} invalid or extra doses, "
        f"{defaulters:,} defaulters"
    )

    def after_change() -> int:
        changed = _changed_schedule(document)
        return sum(
            forecast(changed, person, doses, AS_OF).doses != old
            for (person, doses), old in zip(children, results, strict=True)
        )

    changed_count, change_cpu, change_wall = _timed(after_change)
    print(
        f"schedule change (JE 1 at 13 months instead of 12): load the new version, re-forecast "
        f"all and compare: {change_cpu:.2f} s CPU, {change_wall:.2f} s wall; "
        f"{changed_count:,} of {n:,} results changed"
    )


if __name__ == "__main__":
    main()
