"""Types shared by several contracts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

OrgUnitCode = Annotated[
    str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
]
"""An org-unit or facility code (national admin codes where known, e.g. ``38`` for Thanh Hóa)."""

Sex = Literal["M", "F"]
Position = Literal["lying", "standing"]
TestResult = Literal["positive", "negative"]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")]


class FacilityContract(BaseModel):
    """What facility systems send: unknown fields are refused so a misspelt field is reported, not lost."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class InternalContract(BaseModel):
    """What the services publish to each other: readers ignore fields added by newer writers."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Revisioned(InternalContract):
    """A record that can be amended (higher ``revision`` wins) or voided (counts nowhere)."""

    revision: int = 1
    voided: bool = False
