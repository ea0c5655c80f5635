"""Finding org units for the dashboard: by name or code with diacritics optional ("Te Nong" finds
"Tế Nông"), on the tree in force during a period."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from mch_events.contracts.records import OrgUnit
from mch_events.orgtree import OrgTree

from .periods import Period

LEVELS = ("national", "province", "district", "commune", "facility")


def fold(text: str) -> str:
    """Lower case without diacritics: đ is a letter of its own in Unicode, not d with a mark."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    level: str
    parent: str | None


def _overlaps(version: OrgUnit, period: Period) -> bool:
    return version.valid_from <= period.end and (
        version.valid_to is None or version.valid_to > period.start
    )


def _latest(versions: list[OrgUnit], period: Period) -> OrgUnit | None:
    """Of one unit's versions, the latest in force during the period."""
    overlapping = [v for v in versions if _overlaps(v, period)]
    return max(overlapping, key=lambda v: v.valid_from, default=None)


def _during(tree: OrgTree, code: str, period: Period) -> OrgUnit | None:
    return _latest([v for v in tree.versions() if v.code == code], period)


def _unit(version: OrgUnit) -> Unit:
    return Unit(version.code, version.name, version.level, version.parent)


def unit(tree: OrgTree, code: str, period: Period) -> Unit | None:
    found = _during(tree, code, period)
    return None if found is None else _unit(found)


def ancestors(tree: OrgTree, code: str, period: Period) -> list[Unit]:
    """From the root down to the unit's parent, through the versions in force during the period
    (a commune of 2024 is under its district; one of 2026 directly under its province)."""
    chain: list[Unit] = []
    seen = {code}
    current = unit(tree, code, period)
    while current is not None and current.parent is not None and current.parent not in seen:
        seen.add(current.parent)
        current = unit(tree, current.parent, period)
        if current is not None:
            chain.append(current)
    return list(reversed(chain))


def search(tree: OrgTree, query: str, period: Period, limit: int = 20) -> list[Unit]:
    """Units in force during the period whose code starts with, or whose name contains, every
    word of ``query`` (diacritics and case ignored); areas before facilities, then by name."""
    words = fold(query).split()
    if not words:
        return []
    versions: dict[str, list[OrgUnit]] = {}
    for version in tree.versions():
        versions.setdefault(version.code, []).append(version)
    found: list[Unit] = []
    for code, listed in versions.items():
        during = _latest(listed, period)
        if during is None:
            continue
        names = {fold(v.name) for v in listed}
        if all(code.lower().startswith(w) or any(w in n for n in names) for w in words):
            found.append(_unit(during))
    ranked = sorted(found, key=lambda u: (LEVELS.index(u.level), fold(u.name), u.code))
    return ranked[:limit]


def codes_below(tree: OrgTree, code: str, period: Period) -> list[str]:
    """The areas and facilities directly under ``code`` at any time during the period."""
    return sorted({v.code for v in tree.versions() if v.parent == code and _overlaps(v, period)})
