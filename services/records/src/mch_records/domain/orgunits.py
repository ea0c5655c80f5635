"""Org-unit versions in and out as CSV and JSON.

Both formats carry the same fields (``COLUMNS``); JSON is a list of objects. Reading checks the
format of each row and names the row and field of every problem; whether the rows form a valid tree
(overlaps, parents, levels) is ``mch_events.orgtree.OrgTree``'s question.

Reading is stricter than the contract: an unknown field is an error rather than ignored, because a
misspelt ``valid_to`` would otherwise leave a unit open-ended; and dates must be ``YYYY-MM-DD``,
because the contract's parser would read ``1751328000`` as a timestamp.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence

from pydantic import ValidationError

from mch_events.contracts.records import OrgUnit

COLUMNS = (
    "code",
    "name",
    "level",
    "parent",
    "valid_from",
    "valid_to",
    "kind",
    "region",
    "illustrative",
    "successor",
)
OPTIONAL_COLUMNS = frozenset({"successor"})
"""Columns a CSV written before they existed may leave out."""
_DATE_FIELDS = frozenset({"valid_from", "valid_to"})
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CSV_BOOLEANS = {"true": True, "false": False}


class OrgUnitFormatError(ValueError):
    """The input could not be read; ``problems`` names the row and field of each problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the org units:\n{listing}")


def to_csv(units: Iterable[OrgUnit]) -> str:
    """CSV with a header row; encode it as ``utf-8-sig`` for spreadsheets to show the diacritics."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for unit in units:
        writer.writerow(
            [
                unit.code,
                unit.name,
                unit.level,
                unit.parent or "",
                unit.valid_from.isoformat(),
                unit.valid_to.isoformat() if unit.valid_to else "",
                unit.kind or "",
                unit.region or "",
                "true" if unit.illustrative else "false",
                unit.successor or "",
            ]
        )
    return out.getvalue()


def from_csv(text: str) -> list[OrgUnit]:
    """Read ``to_csv``'s format: empty cells are absent values, ``illustrative`` is true/false."""
    # Spreadsheets save UTF-8 with a byte-order mark, which would otherwise stick to "code".
    rows = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header = next(rows, None)
    if header is None:
        raise OrgUnitFormatError(["the input is empty: expected a header row"])
    header = [cell.strip() for cell in header]
    header_problems = [
        f"line 1: missing column {c}"
        for c in COLUMNS
        if c not in header and c not in OPTIONAL_COLUMNS
    ]
    header_problems += [f"line 1: unknown column {c!r}" for c in header if c not in COLUMNS]
    header_problems += [
        f"line 1: column {c} appears more than once" for c in COLUMNS if header.count(c) > 1
    ]
    if header_problems:
        raise OrgUnitFormatError(header_problems)

    units: list[OrgUnit] = []
    problems: list[str] = []
    for cells in rows:
        line = rows.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            problems.append(f"line {line}: {len(cells)} cells, expected {len(header)}")
            continue
        fields: dict[str, object] = dict(zip(header, cells, strict=True))
        flag_problems: list[tuple[str, str]] = []
        flag = str(fields["illustrative"]).strip()
        if flag:
            fields["illustrative"] = _CSV_BOOLEANS.get(flag.lower())
            if fields["illustrative"] is None:
                flag_problems.append(("illustrative", f"expected true or false, got {flag!r}"))
        unit = _parse(fields, f"line {line}", problems, flag_problems)
        if unit is not None:
            units.append(unit)
    if problems:
        raise OrgUnitFormatError(problems)
    return units


def to_json(units: Iterable[OrgUnit]) -> str:
    """A JSON list of objects, fields in ``COLUMNS`` order, absent values left out."""
    payload = [unit.model_dump(mode="json", exclude_none=True) for unit in units]
    return json.dumps(payload, ensure_ascii=False, indent=2) + "\n"


def from_json(text: str | bytes) -> list[OrgUnit]:
    """Read ``to_json``'s format; ``null`` is the same as a field left out."""
    # Editors on Windows save UTF-8 with a byte-order mark, which the JSON parser refuses.
    text = (
        text.removeprefix(codecs.BOM_UTF8)
        if isinstance(text, bytes)
        else text.removeprefix("\ufeff")
    )
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OrgUnitFormatError([f"not valid JSON: {exc}"]) from exc
    return from_payload(payload)


def from_payload(payload: object) -> list[OrgUnit]:
    """``to_json``'s format, already parsed."""
    if not isinstance(payload, list):
        raise OrgUnitFormatError(["expected a JSON list of org-unit objects"])
    units: list[OrgUnit] = []
    problems: list[str] = []
    for number, item in enumerate(payload, start=1):
        if not isinstance(item, dict):
            problems.append(f"item {number}: expected an object, got {type(item).__name__}")
            continue
        unit = _parse(item, f"item {number}", problems)
        if unit is not None:
            units.append(unit)
    if problems:
        raise OrgUnitFormatError(problems)
    return units


def _parse(
    fields: Mapping[str, object],
    where: str,
    problems: list[str],
    earlier: Sequence[tuple[str, str]] = (),
) -> OrgUnit | None:
    """One row as an ``OrgUnit``, or None after adding its problems (``earlier`` ones included).

    ``earlier`` holds (field, message) pairs the caller found while decoding the row.
    """
    found = list(earlier)
    code = fields.get("code")
    if isinstance(code, str) and code.strip():
        where = f"{where} (code {code.strip()})"
    values: dict[str, object] = {}
    for name, raw in fields.items():
        value = raw.strip() if isinstance(raw, str) else raw
        if name not in COLUMNS:
            found.append((name, "unknown field"))
        elif value is None or value == "":
            continue
        elif name in _DATE_FIELDS:
            day = _parse_date(value)
            if day is None:
                found.append((name, f"expected a date YYYY-MM-DD, got {value!r}"))
            else:
                values[name] = day
        else:
            values[name] = value
    reported = {name for name, _ in found}
    unit: OrgUnit | None = None
    try:
        unit = OrgUnit.model_validate(values, strict=True)
    except ValidationError as exc:
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"])
            # A field already reported was left out of ``values``: "Field required" would repeat it.
            if name not in reported:
                found.append((name, error["msg"] + _got(error)))
    found.sort(key=lambda p: COLUMNS.index(p[0]) if p[0] in COLUMNS else len(COLUMNS))
    problems.extend(f"{where}, field {name}: {message}" for name, message in found)
    return None if found else unit


def _got(error: Mapping[str, object]) -> str:
    value = error.get("input")
    return "" if isinstance(value, dict) else f" (got {value!r})"


def _parse_date(value: object) -> dt.date | None:
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None
