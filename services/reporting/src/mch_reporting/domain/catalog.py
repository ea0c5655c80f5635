"""The indicators reporting serves, in the order answers list them."""

from __future__ import annotations

from collections.abc import Sequence

from . import growth_indicators
from .indicators import Indicator

CATALOG: tuple[Indicator, ...] = (*growth_indicators.CATALOG,)
BY_CODE = {i.code: i for i in CATALOG}


def select(codes: Sequence[str]) -> tuple[Indicator, ...]:
    """The indicators named (all of them for none), in catalog order; raises ``KeyError`` naming
    the unknown codes."""
    if not codes:
        return CATALOG
    unknown = sorted(set(codes) - BY_CODE.keys())
    if unknown:
        raise KeyError(f"unknown indicator(s) {', '.join(unknown)}; known: {', '.join(BY_CODE)}")
    wanted = set(codes)
    return tuple(i for i in CATALOG if i.code in wanted)
