"""The org-unit tree over time: which unit is in force on a date and what it rolls up into.

The tree is built from ``OrgUnit`` versions. A code may have several versions that do not overlap
(``valid_from`` inclusive, ``valid_to`` exclusive), so one code can hang under a district until
30/06/2025 and under the province from 01/07/2025. Every question is asked for a date, and the answer
is the tree in force on that date: a 2024 event rolls up through its district, a 2026 event cannot,
because the district no longer exists.

A tree is immutable once built, which is what makes caching the roll-up paths safe.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import pairwise

from .contracts.records import OrgUnit

_PARENT_LEVELS: Mapping[str, frozenset[str]] = {
    "national": frozenset(),
    "province": frozenset({"national"}),
    "district": frozenset({"province"}),
    # Communes hang under districts before the 2025 reform and under the province after it.
    "commune": frozenset({"district", "province"}),
    "facility": frozenset({"national", "province", "district", "commune"}),
}

_Span = tuple[dt.date, dt.date | None, tuple[str, ...]]
"""A roll-up path and the interval ``[start, end)`` over which it holds."""
_Finder = Callable[[str, dt.date], OrgUnit | None]


class OrgTreeError(ValueError):
    """The versions do not form a valid tree; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the org-unit tree:\n{listing}")


class OrgUnitNotInForce(LookupError):
    """The code does not exist on that date (never existed, not yet, or no longer)."""

    def __init__(self, code: str, on: dt.date) -> None:
        self.code = code
        self.on = on
        super().__init__(f"org unit {code} is not in force on {on.isoformat()}")


class OrgTree:
    """An effective-dated org-unit tree; building it validates every version.

    Navigation methods raise ``OrgUnitNotInForce`` for a code that is not in force on the date asked,
    so a caller never mistakes an unknown unit for one without children or ancestors; ``get`` and
    ``exists`` are the questions that do not raise.
    """

    def __init__(self, versions: Iterable[OrgUnit]) -> None:
        self._versions = tuple(versions)
        by_code: dict[str, list[OrgUnit]] = {}
        for version in self._versions:
            by_code.setdefault(version.code, []).append(version)
        self._index: dict[str, tuple[list[dt.date], list[OrgUnit]]] = {}
        for code, listed in by_code.items():
            listed.sort(key=lambda v: v.valid_from)
            self._index[code] = ([v.valid_from for v in listed], listed)

        problems = _check_versions(self._index)
        problems += _check_links(self._versions, self._index)
        problems += _check_cycles(self._versions, self._find)
        if problems:
            raise OrgTreeError(problems)

        children: dict[str, list[OrgUnit]] = {}
        for version in self._versions:
            if version.parent is not None:
                children.setdefault(version.parent, []).append(version)
        for listed in children.values():
            listed.sort(key=lambda v: (v.code, v.valid_from))
        self._children = children
        self._paths: dict[str, list[_Span]] = {}

    def versions(self) -> tuple[OrgUnit, ...]:
        """Every version, in the order given (for export)."""
        return self._versions

    def get(self, code: str, on: dt.date) -> OrgUnit | None:
        """The version of ``code`` in force on ``on``, or None."""
        return self._find(code, on)

    def exists(self, code: str, on: dt.date) -> bool:
        return self._find(code, on) is not None

    def last_in_force(self, code: str, on: dt.date) -> dt.date | None:
        """``on`` if ``code`` is in force then, else the last day before it that it was; None if
        it never was by then."""
        entry = self._index.get(code)
        if entry is None:
            return None
        starts, listed = entry
        i = bisect_right(starts, on) - 1
        if i < 0:
            return None
        unit = listed[i]
        if unit.valid_to is None or on < unit.valid_to:
            return on
        return unit.valid_to - dt.timedelta(days=1)

    def in_force_for(self, code: str, on: dt.date) -> str | None:
        """The unit that stands for ``code`` on ``on``: ``code`` while it is in force; after it
        ended, the successor its last version names (and that one's successor, and so on), so
        what still refers to an old unit counts where the old unit went. None when nothing
        stands for it (never in force by then, or ended without a successor)."""
        seen: set[str] = set()
        current = code
        while current not in seen:
            if self._find(current, on) is not None:
                return current
            seen.add(current)
            last = self.last_in_force(current, on)
            if last is None:
                return None
            version = self._find(current, last)
            if version is None or version.successor is None:
                return None
            current = version.successor
        return None

    def is_facility(self, code: str, on: dt.date) -> bool:
        unit = self._find(code, on)
        return unit is not None and unit.level == "facility"

    def facility_orgunit(self, code: str, on: dt.date) -> str:
        """The org unit a facility's services count for on that date: the unit it is attached to."""
        unit = self._require(code, on)
        if unit.level != "facility" or unit.parent is None:
            raise ValueError(f"{code} is a {unit.level}, not a facility")
        return unit.parent

    def children(self, code: str, on: dt.date) -> list[OrgUnit]:
        """The units directly under ``code`` on that date, by code."""
        self._require(code, on)
        return [c for c in self._children.get(code, ()) if _in_force(c, on)]

    def subtree(self, code: str, on: dt.date) -> list[OrgUnit]:
        """Every unit below ``code`` on that date (not ``code`` itself), depth first."""
        found: list[OrgUnit] = []
        pending = list(reversed(self.children(code, on)))
        while pending:
            unit = pending.pop()
            found.append(unit)
            pending.extend(reversed(self.children(unit.code, on)))
        return found

    def ancestors(self, code: str, on: dt.date) -> list[OrgUnit]:
        """The units above ``code`` on that date, nearest first, up to the national root."""
        return [self._require(c, on) for c in self.path(code, on)[1:]]

    def path(self, code: str, on: dt.date) -> tuple[str, ...]:
        """``code`` and the codes of its ancestors on that date: what its numbers roll up into."""
        return self._span(code, on)[2]

    def _span(self, code: str, on: dt.date) -> _Span:
        # Cached by interval rather than by date: a code has a handful of spans, while keying by
        # date would grow with every day that events arrive for.
        for span in self._paths.get(code, ()):
            start, end, _ = span
            if start <= on and (end is None or on < end):
                return span
        unit = self._require(code, on)
        span = (unit.valid_from, unit.valid_to, (unit.code,))
        if unit.parent is not None:
            p_start, p_end, p_codes = self._span(unit.parent, on)
            span = (max(span[0], p_start), _earlier(span[1], p_end), span[2] + p_codes)
        self._paths.setdefault(code, []).append(span)
        return span

    def _find(self, code: str, on: dt.date) -> OrgUnit | None:
        entry = self._index.get(code)
        if entry is None:
            return None
        starts, listed = entry
        i = bisect_right(starts, on) - 1
        if i < 0:
            return None
        unit = listed[i]
        return unit if unit.valid_to is None or on < unit.valid_to else None

    def _require(self, code: str, on: dt.date) -> OrgUnit:
        unit = self._find(code, on)
        if unit is None:
            raise OrgUnitNotInForce(code, on)
        return unit


def _in_force(unit: OrgUnit, on: dt.date) -> bool:
    return unit.valid_from <= on and (unit.valid_to is None or on < unit.valid_to)


def _earlier(a: dt.date | None, b: dt.date | None) -> dt.date | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _when(start: dt.date, end: dt.date | None) -> str:
    return f"from {start.isoformat()}" + ("" if end is None else f" to {end.isoformat()}")


def _label(unit: OrgUnit) -> str:
    return f"{unit.code} ({_when(unit.valid_from, unit.valid_to)})"


def _check_versions(index: Mapping[str, tuple[list[dt.date], list[OrgUnit]]]) -> list[str]:
    problems: list[str] = []
    for _, listed in index.values():
        for unit in listed:
            if unit.valid_to is not None and unit.valid_to <= unit.valid_from:
                problems.append(f"{_label(unit)}: ends on or before the day it starts")
        for a, b in pairwise(listed):
            if a.valid_to is None or a.valid_to > b.valid_from:
                problems.append(f"{a.code}: versions {_label(a)} and {_label(b)} overlap")
    return problems


def _check_links(
    versions: Sequence[OrgUnit], index: Mapping[str, tuple[list[dt.date], list[OrgUnit]]]
) -> list[str]:
    problems: list[str] = []
    for unit in versions:
        if unit.parent is None:
            if unit.level != "national":
                problems.append(f"{_label(unit)}: a {unit.level} needs a parent")
            continue
        allowed = _PARENT_LEVELS[unit.level]
        parents = _linked(unit, unit.parent, "parent", index, problems)
        for parent in parents:
            if parent.level not in allowed:
                problems.append(
                    f"{_label(unit)}: a {unit.level} cannot be under {parent.level} {_label(parent)}"
                )
        if unit.successor is not None:
            problems += _successor_problems(unit, index)
        if unit.region is not None:
            for region in _linked(unit, unit.region, "region", index, problems):
                if region.level != "facility":
                    problems.append(
                        f"{_label(unit)}: region {_label(region)} is a {region.level}, "
                        "not a facility"
                    )
    return problems


def _successor_problems(
    unit: OrgUnit, index: Mapping[str, tuple[list[dt.date], list[OrgUnit]]]
) -> list[str]:
    if unit.valid_to is None:
        return [f"{_label(unit)}: names successor {unit.successor} but does not end"]
    entry = index.get(unit.code)
    if entry is not None and any(v.valid_from >= unit.valid_to for v in entry[1]):
        return [f"{_label(unit)}: names successor {unit.successor} but its code goes on"]
    found = index.get(unit.successor or "")
    if found is None:
        return [f"{_label(unit)}: successor {unit.successor} does not exist"]
    successor = next((v for v in found[1] if _in_force(v, unit.valid_to)), None)
    if successor is None:
        return [
            f"{_label(unit)}: successor {unit.successor} is not in force on "
            f"{unit.valid_to.isoformat()}, the day it takes over"
        ]
    if (successor.level == "facility") != (unit.level == "facility"):
        return [f"{_label(unit)}: successor {_label(successor)} is a {successor.level}"]
    return []


def _linked(
    unit: OrgUnit,
    target: str,
    role: str,
    index: Mapping[str, tuple[list[dt.date], list[OrgUnit]]],
    problems: list[str],
) -> list[OrgUnit]:
    """The versions of ``target`` overlapping ``unit``'s dates; records any days not covered."""
    entry = index.get(target)
    if entry is None:
        problems.append(f"{_label(unit)}: {role} {target} does not exist")
        return []
    overlapping = [
        v
        for v in entry[1]
        if (unit.valid_to is None or v.valid_from < unit.valid_to)
        and (v.valid_to is None or v.valid_to > unit.valid_from)
    ]
    cursor: dt.date | None = unit.valid_from
    for v in overlapping:
        if cursor is None:
            break
        if v.valid_from > cursor:
            problems.append(
                f"{_label(unit)}: {role} {target} is not in force {_when(cursor, v.valid_from)}"
            )
        cursor = None if v.valid_to is None else max(cursor, v.valid_to)
    if cursor is not None and (unit.valid_to is None or cursor < unit.valid_to):
        problems.append(
            f"{_label(unit)}: {role} {target} is not in force {_when(cursor, unit.valid_to)}"
        )
    return overlapping


def _check_cycles(versions: Sequence[OrgUnit], find: _Finder) -> list[str]:
    # The units in force only change on some version's valid_from, and a cycle is in force from
    # the latest valid_from among its members: walking up from every version on its first day
    # therefore meets every cycle that is ever in force.
    problems: list[str] = []
    reported: set[frozenset[str]] = set()
    for unit in versions:
        on = unit.valid_from
        chain = [unit.code]
        position = {unit.code: 0}
        current: OrgUnit | None = unit
        while current is not None and current.parent is not None:
            current = find(current.parent, on)
            if current is None:
                break
            if current.code in position:
                cycle = [*chain[position[current.code] :], current.code]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    problems.append(f"cycle on {on.isoformat()}: {' -> '.join(cycle)}")
                break
            position[current.code] = len(chain)
            chain.append(current.code)
    return problems
