"""Fixtures shared by the immunization tests: the shipped schedules, as documents and compiled."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

import pytest

from mch_immunization.domain.schedule import Schedule, ScheduleCatalog, load_catalog


def _document(name: str) -> dict[str, Any]:
    text = resources.files("mch_immunization").joinpath("schedules", name).read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


_CHILD = _document("vn-epi-child-2024.json")
_WOMEN = _document("vn-tetanus-women.json")
_CATALOG = load_catalog()


@pytest.fixture
def child_document() -> dict[str, Any]:
    """A fresh copy of the shipped child schedule document, free to mutate."""
    return copy.deepcopy(_CHILD)


@pytest.fixture
def women_document() -> dict[str, Any]:
    return copy.deepcopy(_WOMEN)


@pytest.fixture
def catalog() -> ScheduleCatalog:
    return _CATALOG


@pytest.fixture
def child_schedule() -> Schedule:
    schedule = _CATALOG.get("vn-epi-child-2024")
    assert schedule is not None
    return schedule


@pytest.fixture
def women_schedule() -> Schedule:
    schedule = _CATALOG.get("vn-tetanus-women")
    assert schedule is not None
    return schedule
