"""Which of an answer's cells its reader sees (small-cell suppression).

The cell rule and who is exempt are the platform's access policy
(``mch_servicekit.access.disclosure``); this module applies them to the finished rows of an answer,
after every sum up the org-unit tree: summing suppressed cells would either lose people or, worse,
let a reader add back what was hidden.

Besides the cells under the minimum (primary suppression), a row by sex is hidden when its sibling
is and the total is shown: otherwise ``total - girls`` gives the boys back (complementary
suppression). Differences across org units (a district minus its other communes) and across
periods (a quarter minus two months) are not hidden: the minimum protects single cells, which is
what the dashboard and exports show.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mch_events.orgtree import OrgTree
from mch_servicekit.access import Principal, sees_small_counts, suppresses

from .indicators import IndicatorValue
from .periods import Period


@dataclass(frozen=True)
class Disclosure:
    """What one reader of one answer may see."""

    minimum: int
    """Cells with fewer people than this (but some) are suppressed."""
    sees_small_counts: Callable[[str], bool]
    """Whether the reader sees small cells of an org unit (named access to it)."""


def hidden(value: IndicatorValue) -> IndicatorValue:
    """The row without its numbers."""
    return IndicatorValue(
        indicator=value.indicator,
        numerator=None,
        denominator=None,
        sex=value.sex,
        as_of=value.as_of,
        rules=value.rules,
        suppressed=True,
    )


def suppress(rows: Sequence[IndicatorValue], minimum: int) -> list[IndicatorValue]:
    """One org unit's rows of one period as a reader without named access sees them."""
    small = [suppresses(r.numerator, r.denominator, minimum) for r in rows]
    by_key = {(r.indicator, r.sex): i for i, r in enumerate(rows)}
    for i, row in enumerate(rows):
        if row.sex is None or small[i]:
            continue
        total = by_key.get((row.indicator, None))
        other = by_key.get((row.indicator, "F" if row.sex == "M" else "M"))
        if other is not None and small[other] and total is not None and not small[total]:
            small[i] = True
    return [hidden(r) if s else r for r, s in zip(rows, small, strict=True)]


def disclose(
    values: dict[str, list[IndicatorValue]], disclosure: Disclosure
) -> dict[str, list[IndicatorValue]]:
    """Each org unit's rows as the reader may see them."""
    return {
        unit: rows if disclosure.sees_small_counts(unit) else suppress(rows, disclosure.minimum)
        for unit, rows in values.items()
    }


def for_reader(reader: Principal, tree: OrgTree, period: Period, *, minimum: int) -> Disclosure:
    """What ``reader`` may see of answers about ``period``: small cells of the org units it has
    named access to on the period's first or last day, and of no others."""
    days = (period.start, period.end)
    return Disclosure(
        minimum, lambda orgunit: sees_small_counts(reader, orgunit, tree=tree, on=days)
    )
