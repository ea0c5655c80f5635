"""Types shared by several contracts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Final, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints

OrgUnitCode = Annotated[
    str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
]
"""An org-unit or facility code (national admin codes where known, e.g. ``38`` for Thanh Hóa)."""

SexCode = Literal["M", "F"]
"""Sex as every service writes it, on every output: ``M`` or ``F``."""

SEX_ALIASES: Final[Mapping[str, SexCode]] = {"m": "M", "f": "F", "male": "M", "female": "F"}
"""What is read as ``M`` or ``F`` on input, after trimming blanks and in any case."""

PositionCode = Literal["lying", "standing"]
"""How a child's length or height was measured, as every service writes it."""

POSITION_ALIASES: Final[Mapping[str, PositionCode]] = {
    "lying": "lying",
    "standing": "standing",
    "l": "lying",
    "h": "standing",
}
"""What is read as ``lying`` or ``standing`` on input, in any case: also WHO Anthro's ``L``
(recumbent length) and ``H`` (standing height)."""


def _alias_reader(aliases: Mapping[str, str]) -> BeforeValidator:
    def read(value: object) -> object:
        # Anything else is left for the Literal to refuse with its usual message.
        if isinstance(value, str):
            return aliases.get(value.strip().lower(), value)
        return value

    return BeforeValidator(read)


def sex_code(value: object) -> SexCode:
    """``M`` or ``F`` for any spelling in ``SEX_ALIASES``; ``ValueError`` otherwise."""
    if isinstance(value, str) and (code := SEX_ALIASES.get(value.strip().lower())) is not None:
        return code
    raise ValueError(f"sex must be M or F (or male, female), not {value!r}")


def position_code(value: object) -> PositionCode:
    """``lying`` or ``standing`` for any spelling in ``POSITION_ALIASES``; ``ValueError``
    otherwise."""
    if isinstance(value, str) and (code := POSITION_ALIASES.get(value.strip().lower())):
        return code
    raise ValueError(f"measured must be lying or standing (or L, H), not {value!r}")


Sex = Annotated[SexCode, _alias_reader(SEX_ALIASES)]
"""The field type of sex on every input: validates to ``M`` or ``F``, reads the aliases. Its JSON
Schema stays ``enum: [M, F]``: what is written, and what a sender should write."""
Position = Annotated[PositionCode, _alias_reader(POSITION_ALIASES)]
"""The field type of the measuring position on every input; reads the aliases like ``Sex``."""
Role = Literal["mother", "child"]
"""What a person is to the handbook: every service tells mothers and children apart by this."""
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
