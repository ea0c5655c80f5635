"""Exports of indicator answers: a CSV for spreadsheets and a DHIS2 ``dataValueSets`` document.

Both take the rows the API answers (built by the same function), so whatever the API leaves out
or hides, the exports leave out or hide too: a row without a numerator (a suppressed cell) is an
empty cell in the CSV and no data value in DHIS2.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from . import catalog
from .indicators import View
from .periods import Period

CSV_COLUMNS = (
    "orgunit",
    "orgunit_name",
    "period",
    "view",
    "indicator",
    "sex",
    "numerator",
    "denominator",
    "value",
    "as_of",
)
NUMERATOR, DENOMINATOR = "_NUM", "_DEN"
"""Suffixes of the DHIS2 data element codes: ``PENTA3_NUM`` and ``PENTA3_DEN``."""


class Row(Protocol):
    """One value as the API answers it."""

    @property
    def indicator(self) -> str: ...
    @property
    def sex(self) -> Literal["M", "F"] | None: ...
    @property
    def numerator(self) -> int | None: ...
    @property
    def denominator(self) -> int | None: ...
    @property
    def value(self) -> float | None: ...
    @property
    def as_of(self) -> dt.datetime | None: ...


@dataclass(frozen=True)
class Table:
    """The answer for one org unit."""

    orgunit: str
    name: str
    rows: Sequence[Row]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def to_csv(tables: Sequence[Table], period: Period, view: View) -> bytes:
    """One line per org unit × indicator × sex (the total with an empty sex), UTF-8 with a byte
    order mark: without it a spreadsheet opening the file guesses another encoding and breaks
    the Vietnamese names."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for table in tables:
        for row in table.rows:
            hidden = row.numerator is None
            writer.writerow(
                [
                    table.orgunit,
                    table.name,
                    period.code,
                    view,
                    row.indicator,
                    _cell(row.sex),
                    _cell(row.numerator),
                    _cell(row.denominator),
                    "" if hidden else _cell(row.value),
                    _cell(row.as_of),
                ]
            )
    return out.getvalue().encode("utf-8-sig")


class NoDhis2Period(ValueError):
    """The period has no DHIS2 period type."""


def dhis2_period(period: Period) -> str:
    """The DHIS2 period code of ``period`` (``202611``, ``2026Q4``, ``2026``, ``2026S1``);
    raises ``NoDhis2Period`` for the statutory 9-month period."""
    code = period.dhis2
    if code is None:
        year = period.start.year
        raise NoDhis2Period(
            f"DHIS2 has no period type for {period.code} ({period.start} to {period.end}): "
            f"export its quarters ({year}Q1, {year}Q2, {year}Q3) or its months instead"
        )
    return code


_DATA_ELEMENTS = frozenset(
    f"{code}{suffix}" for code in catalog.BY_CODE for suffix in (NUMERATOR, DENOMINATOR)
)


class Dhis2Mapping(BaseModel):
    """Identifiers of a DHIS2 instance for the platform's codes (a JSON file, ``DHIS2_MAPPING``).

    Each part is optional: a part left out keeps the codes (imported with that part's id scheme
    ``CODE``); a part given maps every code the export would send, and a code it does not map is
    left out of the export (and named in its ``X-DHIS2-Unmapped`` header)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    data_set: str | None = Field(default=None, alias="dataSet")
    """Written as the document's ``dataSet``."""
    data_elements: dict[str, str] | None = Field(default=None, alias="dataElements")
    """``PENTA3_NUM`` → identifier."""
    org_units: dict[str, str] | None = Field(default=None, alias="orgUnits")
    """Org-unit code → identifier."""
    category_option_combos: dict[Literal["total", "M", "F"], str | None] | None = Field(
        default=None, alias="categoryOptionCombos"
    )
    """For the indicators disaggregated by sex: ``M`` and ``F`` send the rows by sex with these
    combinations; ``total`` sends the total row with its combination (``null``: leaves the total
    out, for a DHIS2 that sums the sexes). Without this part only totals are sent, with the
    default combination."""

    @field_validator("data_elements")
    @classmethod
    def _known_data_elements(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        unknown = sorted(set(value or {}) - _DATA_ELEMENTS)
        if unknown:
            raise ValueError(
                f"unknown data element(s) {', '.join(unknown)}: an indicator code with "
                f"{NUMERATOR} or {DENOMINATOR}"
            )
        return value


class Dhis2MappingError(ValueError):
    pass


def parse_mapping(text: str, origin: str = "DHIS2 mapping") -> Dhis2Mapping:
    """The mapping of a JSON document; ``Dhis2MappingError`` names what is wrong, and where."""
    try:
        return Dhis2Mapping.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        raise Dhis2MappingError(f"{origin}: {exc}") from exc


@dataclass
class Dhis2Export:
    document: dict[str, Any]
    """The ``dataValueSets`` document."""
    unmapped: list[str] = field(default_factory=list)
    """Codes the mapping does not name, whose values were left out."""


def _mapped(part: dict[str, str] | None, code: str, unmapped: set[str], kind: str) -> str | None:
    if part is None:
        return code
    found = part.get(code)
    if found is None:
        unmapped.add(f"{kind}:{code}")
    return found


def _combo(mapping: Dhis2Mapping, row: Row) -> tuple[bool, str | None]:
    """Whether the row is sent, and its category option combination (None: the default)."""
    combos = mapping.category_option_combos
    indicator = catalog.BY_CODE.get(row.indicator)
    if row.sex is None:
        if combos is None or indicator is None or not indicator.child or "total" not in combos:
            return True, None
        chosen = combos["total"]
        return chosen is not None, chosen
    if combos is None:
        return False, None
    chosen = combos.get(row.sex)
    return chosen is not None, chosen


def to_dhis2(tables: Sequence[Table], period: Period, mapping: Dhis2Mapping) -> Dhis2Export:
    """A ``dataValueSets`` document of the rows: for each indicator the data elements
    ``CODE_NUM`` (numerator) and ``CODE_DEN`` (denominator, where there is one), values as
    strings, the org unit's code and the DHIS2 period code. Raises ``NoDhis2Period``."""
    code = dhis2_period(period)
    unmapped: set[str] = set()
    values: list[dict[str, str]] = []
    for table in tables:
        orgunit = _mapped(mapping.org_units, table.orgunit, unmapped, "orgUnit")
        if orgunit is None:
            continue
        for row in table.rows:
            if row.numerator is None:
                continue
            sent, combo = _combo(mapping, row)
            if not sent:
                continue
            for suffix, count in ((NUMERATOR, row.numerator), (DENOMINATOR, row.denominator)):
                if count is None:
                    continue
                element = _mapped(
                    mapping.data_elements, f"{row.indicator}{suffix}", unmapped, "dataElement"
                )
                if element is None:
                    continue
                value = {
                    "dataElement": element,
                    "period": code,
                    "orgUnit": orgunit,
                    "value": str(count),
                }
                if combo is not None:
                    value["categoryOptionCombo"] = combo
                values.append(value)
    document: dict[str, Any] = {}
    if mapping.data_set is not None:
        document["dataSet"] = mapping.data_set
    document["dataValues"] = values
    return Dhis2Export(document=document, unmapped=sorted(unmapped))
