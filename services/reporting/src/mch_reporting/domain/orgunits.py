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


def _during(tree: OrgTree, code: str, period: Period) -> OrgUnit | None:
    """The version of ``code`` in force during the period: the latest one that overlaps it."""
    overlapping = [
        v
        for v in tree.versions()
        if v.code == code
        and v.valid_from <= period.end
        and (v.valid_to is None or v.valid_to > period.start)
    ]
    return max(overlapping, key=lambda v: v.valid_from, default=None)


def unit(tree: OrgTree, code: str, period: Period) -> Unit | None:
    found = _during(tree, code, period)
    if found is None:
        return None
    return Unit(found.code, found.name, found.level, found.parent)


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
    found: dict[str, Unit] = {}
    for version in tree.versions():
        if version.code in found:
            continue
        name, code = fold(version.name), version.code.lower()
        if not all(w in name or code.startswith(w) for w in words):
            continue
        during = unit(tree, version.code, period)
        if during is not None:
            found[version.code] = during
    ranked = sorted(found.values(), key=lambda u: (LEVELS.index(u.level), fold(u.name), u.code))
    return ranked[:limit]


def codes_below(tree: OrgTree, code: str, period: Period) -> list[str]:
    """The areas and facilities directly under ``code`` at any time during the period."""
    return sorted(
        {
            v.code
            for v in tree.versions()
            if v.parent == code
            and v.valid_from <= period.end
            and (v.valid_to is None or v.valid_to > period.start)
        }
    )
