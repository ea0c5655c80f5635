"""What every indicator is computed from: counts of people or contacts, each attributed to one org
unit on one date, summed up the org-unit tree in force on that date; the ratio comes last.

An indicator's rules (``growth_indicators``, ``maternal``) turn the facts into ``Count`` rows; this
module only sums them, so exports and dashboards can use the same rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from mch_events.orgtree import OrgTree

View = Literal["residence", "facility"]
Sex = Literal["M", "F"]


@dataclass(frozen=True)
class Indicator:
    code: str
    child: bool
    """Disaggregated by sex."""
    denominator: Literal["population", "contacts", "none"]
    """``population``: registered people (residence view only); ``contacts``: care given, so both
    views have one; ``none``: a count."""


@dataclass(frozen=True)
class Count:
    """One person or contact in an indicator's numerator and/or denominator."""

    indicator: str
    unit: str
    """The org unit it is attributed to: a residence commune, or a facility."""
    on: dt.date
    """The date whose org-unit tree it rolls up through."""
    numerator: bool
    denominator: bool
    sex: Sex | None = None
    applied_at: dt.datetime | None = None
    """When the newest event behind it was applied."""
    rules: frozenset[str] = frozenset()
    """The versions of the rules that produced it (``name=version``)."""


@dataclass(frozen=True)
class IndicatorValue:
    indicator: str
    numerator: int | None
    """None only on a suppressed cell (``disclosure``)."""
    denominator: int | None
    """None where the view has no denominator (a facility serves no registered population) or the
    indicator is a count, and on a suppressed cell."""
    sex: Sex | None = None
    """None for the total; a row per sex beside it for child indicators."""
    as_of: dt.datetime | None = None
    rules: dict[str, list[str]] = field(default_factory=dict)
    suppressed: bool = False
    """Too few people to show this reader (``disclosure``): no numbers at all."""

    @property
    def value(self) -> float | None:
        if self.numerator is None or not self.denominator:
            return None
        return self.numerator / self.denominator


def path_on(tree: OrgTree, code: str, on: dt.date) -> tuple[str, ...]:
    """What a count attributed to ``code`` on ``on`` rolls up into: through ``code`` while it is
    in force; after it ended, through the successor it names (a residence or facility still
    recorded with a merged commune's code counts for the commune it went into); nothing when no
    unit stands for it."""
    current = tree.in_force_for(code, on)
    return () if current is None else tree.path(current, on)


@dataclass
class _Sum:
    numerator: int = 0
    denominator: int = 0
    as_of: dt.datetime | None = None
    rules: set[str] = field(default_factory=set)

    def add(self, c: Count) -> None:
        self.numerator += c.numerator
        self.denominator += c.denominator
        if c.applied_at is not None and (self.as_of is None or c.applied_at > self.as_of):
            self.as_of = c.applied_at
        self.rules |= c.rules

    def merge(self, other: _Sum) -> None:
        self.numerator += other.numerator
        self.denominator += other.denominator
        if other.as_of is not None and (self.as_of is None or other.as_of > self.as_of):
            self.as_of = other.as_of
        self.rules |= other.rules


_EMPTY = _Sum()


@dataclass(frozen=True)
class RolledUp:
    """Counts summed into every org unit they roll up into: any unit's values are then looked up,
    not computed (what an answer cache keeps)."""

    sums: dict[tuple[str, str, Sex | None], _Sum]
    """(org unit, indicator, sex or None for the total) → the sum."""


def roll_up(counts: Iterable[Count], *, tree: OrgTree, catalog: Sequence[Indicator]) -> RolledUp:
    """Sum ``counts`` of ``catalog``'s indicators into each org unit on their path (one pass)."""
    known = {i.code for i in catalog}
    # Counts sharing an indicator, a path up the tree and a sex are summed once, then rolled up:
    # there are few paths (one per unit while the tree stays), and many dates.
    paths: dict[tuple[str, dt.date], tuple[str, ...]] = {}
    by_path: dict[tuple[str, tuple[str, ...], Sex | None], _Sum] = {}
    for c in counts:
        if c.indicator not in known:
            continue
        path = paths.get((c.unit, c.on))
        if path is None:
            path = paths[(c.unit, c.on)] = path_on(tree, c.unit, c.on)
        by_path.setdefault((c.indicator, path, c.sex), _Sum()).add(c)
    sums: dict[tuple[str, str, Sex | None], _Sum] = {}
    for (name, path, sex), group in by_path.items():
        for code in path:
            sums.setdefault((code, name, None), _Sum()).merge(group)
            if sex is not None:
                sums.setdefault((code, name, sex), _Sum()).merge(group)
    return RolledUp(sums)


def values_of(
    rolled: RolledUp, *, orgunits: Sequence[str], catalog: Sequence[Indicator], view: View
) -> dict[str, list[IndicatorValue]]:
    """The values of ``catalog`` for each of ``orgunits``: a row per indicator (and per sex beside
    the total for child indicators), zero where nothing was counted."""
    result: dict[str, list[IndicatorValue]] = {}
    for code in orgunits:
        rows: list[IndicatorValue] = []
        for indicator in catalog:
            has_denominator = indicator.denominator == "contacts" or (
                indicator.denominator == "population" and view == "residence"
            )
            for sex in (None, "M", "F") if indicator.child else (None,):
                s = rolled.sums.get((code, indicator.code, sex), _EMPTY)
                rows.append(
                    IndicatorValue(
                        indicator=indicator.code,
                        numerator=s.numerator,
                        denominator=s.denominator if has_denominator else None,
                        sex=sex,
                        as_of=s.as_of,
                        rules=_rules(s.rules),
                    )
                )
        result[code] = rows
    return result


def aggregate(
    counts: Iterable[Count],
    *,
    orgunits: Sequence[str],
    tree: OrgTree,
    catalog: Sequence[Indicator],
    view: View,
) -> dict[str, list[IndicatorValue]]:
    """The values of ``catalog`` for each of ``orgunits``."""
    rolled = roll_up(counts, tree=tree, catalog=catalog)
    return values_of(rolled, orgunits=orgunits, catalog=catalog, view=view)


def _rules(rules: set[str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for rule in sorted(rules):
        name, _, version = rule.partition("=")
        grouped.setdefault(name, []).append(version)
    return grouped
