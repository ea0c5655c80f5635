"""Targets an indicator's value is held against on the dashboard: data, read from a JSON file that
a province may edit (``TARGETS_FILE``), never code."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from . import catalog


class Target(BaseModel):
    indicator: str
    at_least: float | None = Field(default=None, ge=0, le=1, description="a value below misses")
    at_most: float | None = Field(default=None, ge=0, le=1, description="a value above misses")
    source: str = ""

    @model_validator(mode="after")
    def _one_bound(self) -> Target:
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError(f"{self.indicator}: give exactly one of at_least and at_most")
        if self.indicator not in catalog.BY_CODE:
            raise ValueError(f"unknown indicator {self.indicator!r}")
        return self

    @property
    def better(self) -> Literal["higher", "lower"]:
        return "higher" if self.at_least is not None else "lower"

    def missed(self, value: float | None) -> bool:
        """Whether ``value`` misses the target (an absent value misses nothing)."""
        if value is None:
            return False
        if self.at_least is not None:
            return value < self.at_least
        return self.at_most is not None and value > self.at_most


class Targets(BaseModel):
    targets: list[Target]

    @model_validator(mode="after")
    def _once_each(self) -> Targets:
        codes = [t.indicator for t in self.targets]
        twice = sorted({c for c in codes if codes.count(c) > 1})
        if twice:
            raise ValueError(f"more than one target for {', '.join(twice)}")
        return self


class TargetsError(ValueError):
    pass


def parse(text: str, origin: str = "targets") -> Targets:
    """The targets of a JSON document (``{"targets": [...]}``); ``TargetsError`` names what is
    wrong, and where."""
    try:
        return Targets.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        raise TargetsError(f"{origin}: {exc}") from exc
