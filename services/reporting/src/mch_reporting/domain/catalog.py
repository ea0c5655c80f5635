"""The indicators reporting serves, in the order answers list them."""

from __future__ import annotations

from collections.abc import Sequence

from . import growth_indicators, immunization_indicators, maternal
from .indicators import Indicator

# The order of the national catalog: maternal care, births and deaths, immunization, then growth
# and nutrition with vitamin A last.
CATALOG: tuple[Indicator, ...] = (
    *(i for i in maternal.CATALOG if i.code != "VITA"),
    *immunization_indicators.CATALOG,
    *growth_indicators.CATALOG,
    *(i for i in maternal.CATALOG if i.code == "VITA"),
)
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
