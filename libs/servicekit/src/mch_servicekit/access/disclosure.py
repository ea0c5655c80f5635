"""Small-cell suppression: which aggregate cells a reader may see.

A count of 1 to ``minimum - 1`` people in a commune's month can point at a named mother or child
(``3 of 4 children in hamlet X missed measles``). Readers who may read the area's named records
anyway (health workers and data managers of the area) see every number; everyone else (managers)
sees such a cell suppressed: no numerator, no denominator, no value.

The rule is the usual one of statistical disclosure control, applied to both parts of a ratio:
a cell is suppressed when ``0 < numerator < minimum`` or ``0 < denominator < minimum``. Zero is
shown (that nobody was counted discloses no one), and so is any count of ``minimum`` or more.
Suppression applies to the finished cells: numbers are summed up the org-unit tree first, so a
district of two communes with 3 children each shows 6 although both communes are suppressed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from mch_events.orgtree import OrgTree

from .policy import Action, decide

if TYPE_CHECKING:
    from .tokens import Principal

DEFAULT_MINIMUM = 5


def is_small(count: int | None, minimum: int) -> bool:
    """A count that could single people out: more than none, fewer than ``minimum``."""
    return count is not None and 0 < count < minimum


def suppresses(numerator: int | None, denominator: int | None, minimum: int) -> bool:
    """Whether a cell with these counts is hidden from a reader without named access."""
    return is_small(numerator, minimum) or is_small(denominator, minimum)


def sees_small_counts(
    principal: Principal, orgunit: str, *, tree: OrgTree | None, on: Iterable[dt.date]
) -> bool:
    """Whether the reader may see small cells of ``orgunit``: only a reader with named access to
    it, on one of the days ``on`` (a period's first and last day), learns nothing new from them."""
    return any(
        decide(principal, Action.READ_NAMED, orgunit=orgunit, tree=tree, on=day).allowed
        for day in on
    )
