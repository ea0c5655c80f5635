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
    numerator: int
    denominator: int | None
    """None where the view has no denominator (a facility serves no registered population) or the
    indicator is a count."""
    sex: Sex | None = None
    """None for the total; a row per sex beside it for child indicators."""
    as_of: dt.datetime | None = None
    rules: dict[str, list[str]] = field(default_factory=dict)

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


def rolls_into(tree: OrgTree, code: str, on: dt.date, orgunit: str) -> bool:
    return tree.exists(code, on) and orgunit in tree.path(code, on)


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


def aggregate(
    counts: Iterable[Count],
    *,
    orgunits: Sequence[str],
    tree: OrgTree,
    catalog: Sequence[Indicator],
    view: View,
) -> dict[str, list[IndicatorValue]]:
    """The values of ``catalog`` for each of ``orgunits`` (one pass over the counts)."""
    wanted = set(orgunits)
    known = {i.code for i in catalog}
    sums: dict[tuple[str, str, Sex | None], _Sum] = {}
    paths: dict[tuple[str, dt.date], tuple[str, ...]] = {}
    for c in counts:
        if c.indicator not in known:
            continue
        key = (c.unit, c.on)
        path = paths.get(key)
        if path is None:
            path = tree.path(c.unit, c.on) if tree.exists(c.unit, c.on) else ()
            paths[key] = path
        for code in wanted.intersection(path):
            sums.setdefault((code, c.indicator, None), _Sum()).add(c)
            if c.sex is not None:
                sums.setdefault((code, c.indicator, c.sex), _Sum()).add(c)
    result: dict[str, list[IndicatorValue]] = {}
    for code in orgunits:
        rows: list[IndicatorValue] = []
        for indicator in catalog:
            has_denominator = indicator.denominator == "contacts" or (
                indicator.denominator == "population" and view == "residence"
            )
            for sex in (None, "M", "F") if indicator.child else (None,):
                s = sums.get((code, indicator.code, sex), _Sum())
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


def _rules(rules: set[str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for rule in sorted(rules):
        name, _, version = rule.partition("=")
        grouped.setdefault(name, []).append(version)
    return grouped
