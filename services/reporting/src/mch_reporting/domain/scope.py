"""Which org units a question may be asked for: the reasons for a 404, and the units below one."""

from __future__ import annotations

from mch_events.contracts.records import OrgUnit
from mch_events.orgtree import OrgTree

from .indicators import View
from .periods import Period


def _overlaps(unit: OrgUnit, period: Period) -> bool:
    return unit.valid_from <= period.end and (unit.valid_to is None or unit.valid_to > period.start)


def refusal(tree: OrgTree, code: str, period: Period, view: View) -> str | None:
    """Why ``code`` cannot be answered for ``period`` in ``view``, or None when it can."""
    versions = [v for v in tree.versions() if v.code == code]
    if not versions:
        return f"unknown org unit {code!r}"
    during = [v for v in versions if _overlaps(v, period)]
    if not during:
        spans = ", ".join(
            f"{v.valid_from} to {v.valid_to or 'now'}"
            for v in sorted(versions, key=lambda v: v.valid_from)
        )
        return (
            f"org unit {code!r} is not in force during {period.code} "
            f"({period.start} to {period.end}); it was in force {spans}"
        )
    if view == "residence" and any(v.level == "facility" for v in during):
        return (
            f"{code!r} is a facility, not a residence: the residence view counts people where "
            "they live; ask view=facility for the care this facility gave"
        )
    return None


def units_below(tree: OrgTree, code: str, period: Period, view: View) -> list[str]:
    """The units directly under ``code`` at any time during ``period`` (a province asked for a
    year across 01/07/2025 lists its districts and its new communes), by code; facilities only in
    the facility view."""
    found = {
        v.code
        for v in tree.versions()
        if v.parent == code
        and _overlaps(v, period)
        and (view == "facility" or v.level != "facility")
    }
    return sorted(found)
