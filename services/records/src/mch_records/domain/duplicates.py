"""Likely duplicate people: the same woman registered at her commune station and again at the
hospital, or a child registered twice. Flagged for a person to review, never merged automatically.

Rules (a pair is listed with every rule it meets):

- ``same_handbook_no``, ``same_national_id``, ``same_niis_id``: an identifier is meant to belong to
  one person only, so two people holding it are most likely one;
- ``same_name_birth_date_mother``: two children with the same name and birth date and the same
  mother (twins have different names);
- ``same_name_birth_date``: two mothers with the same name and birth date.

Names are compared by ``name_key``: Unicode-normalised, case-folded, spacing collapsed, so
"Nguyễn Thị  Hoa" and "nguyễn thị hoa" match while "Nguyễn Thị Hòa" does not (a different name).
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

Rule = Literal[
    "same_handbook_no",
    "same_national_id",
    "same_niis_id",
    "same_name_birth_date_mother",
    "same_name_birth_date",
]
IDENTIFIER_RULES: dict[str, Rule] = {
    "handbook_no": "same_handbook_no",
    "national_id": "same_national_id",
    "niis_id": "same_niis_id",
}


def name_key(full_name: str | None) -> str | None:
    if full_name is None:
        return None
    return " ".join(unicodedata.normalize("NFC", full_name).casefold().split()) or None


def pair(a: str, b: str) -> tuple[str, str]:
    """A pair of person ids in one canonical order."""
    return (a, b) if a <= b else (b, a)


@dataclass(frozen=True)
class Group:
    """People who share what a rule compares."""

    rule: Rule
    person_ids: Sequence[str]


@dataclass
class Candidate:
    person_a: str
    person_b: str
    rules: list[Rule] = field(default_factory=list)


def candidates(groups: Iterable[Group], dismissed: set[tuple[str, str]]) -> list[Candidate]:
    """Every pair within a group, once, with all the rules it meets; pairs a reviewer dismissed
    are left out."""
    found: dict[tuple[str, str], Candidate] = {}
    for group in groups:
        for a, b in itertools.combinations(sorted(set(group.person_ids)), 2):
            key = pair(a, b)
            if key in dismissed:
                continue
            candidate = found.setdefault(key, Candidate(*key))
            if group.rule not in candidate.rules:
                candidate.rules.append(group.rule)
    return sorted(found.values(), key=lambda c: (c.person_a, c.person_b))
