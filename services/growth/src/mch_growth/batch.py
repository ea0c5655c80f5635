"""Scoring a file of child visits, the way WHO Anthro's survey tool does, in bounded memory.

Input: a CSV file (comma, semicolon or tab, found from the header line) or the first sheet of an
``.xlsx`` workbook. Columns ``case_id, sex, birth_date, visit_date, weight_kg, length_height_cm``
and, when measured, ``measured, head_circumference_cm, oedema`` (names in any case, spaces
around them ignored); any other column passes through unchanged. Output (CSV, comma): the input
columns (the known ones under their names above, ``sex`` written ``M`` or ``F``), then
``age_days``, the z-scores ``waz, lhaz, whz, baz, hcaz`` (2 decimals, empty where undefined), one
``<z>_flag`` column per z-score (1 flagged, 0 not, empty without a z-score) and ``reason``
(``;``-separated codes, empty for a clean row). An input column named like an output column is
replaced by the freshly computed one.

Rows are read, scored and written in chunks, so memory stays flat whatever the file size.
A bad row never stops the run: its bad fields are treated as not given and named in ``reason``.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Final, Generic, TextIO, TypeVar, cast

import numpy as np

from mch_growth.domain.intake import (
    NUMBER_FIELDS,
    Reason,
    parse_date,
    parse_number,
    parse_oedema,
    parse_position,
    parse_sex,
)
from mch_growth.domain.reference import FloatArray
from mch_growth.domain.zscores import BoolArray, Indicator, compute_zscores, round2

REQUIRED_COLUMNS: Final = (
    "case_id",
    "sex",
    "birth_date",
    "visit_date",
    "weight_kg",
    "length_height_cm",
)
OPTIONAL_COLUMNS: Final = ("measured", "head_circumference_cm", "oedema")
"""Absent: not measured (position unknown, no head circumference, no oedema) in every row."""
INPUT_COLUMNS: Final = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
DELIMITERS: Final = (",", ";", "\t")
SCORED: Final[tuple[Indicator, ...]] = ("waz", "lhaz", "whz", "baz", "hcaz")
OUTPUT_COLUMNS: Final = ("age_days", *SCORED, *(f"{ind}_flag" for ind in SCORED), "reason")
DEFAULT_CHUNK_ROWS: Final = 50_000

T = TypeVar("T")


class BatchInputError(ValueError):
    """The file as a whole cannot be scored (no header, missing columns, not a workbook)."""


@dataclass(frozen=True, slots=True)
class BatchSummary:
    rows: int
    rows_with_reason: int


def score_csv(
    source: TextIO,
    target: TextIO,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_progress: Callable[[int], None] | None = None,
) -> BatchSummary:
    """Score every row of ``source`` into ``target``; ``on_progress`` gets the rows done so far.
    The delimiter is the one of ``DELIMITERS`` the header line holds most of; with a semicolon or
    a tab, numbers may have a decimal comma (as spreadsheets in Vietnamese write them)."""
    first = source.readline()
    if not first.strip():
        raise BatchInputError("the input is empty: expected a header row")
    delimiter = max(DELIMITERS, key=first.count)  # ties go to the comma, listed first
    header = next(csv.reader([first], delimiter=delimiter))
    rows = csv.reader(source, delimiter=delimiter)
    return _score(
        header,
        rows,
        target,
        decimal_comma=delimiter != ",",
        chunk_rows=chunk_rows,
        on_progress=on_progress,
    )


def score_xlsx(
    path: Path,
    target: TextIO,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_progress: Callable[[int], None] | None = None,
) -> BatchSummary:
    """Score the first sheet of the workbook at ``path`` like a CSV file (see ``score_csv``):
    dates may be date cells, numbers number cells."""
    from openpyxl import load_workbook  # only this path needs it

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl says "not a zip file", "no such archive member", ...
        raise BatchInputError("not a readable .xlsx workbook") from error
    try:
        cells = workbook.worksheets[0].iter_rows(values_only=True)
        header = [_cell_text(value) for value in next(cells, ())]
        while header and not header[-1].strip():
            header.pop()
        if not header:
            raise BatchInputError("the first sheet is empty: expected a header row")
        width = len(header)

        def rows() -> Iterator[list[str]]:
            for values in cells:
                row = [_cell_text(value) for value in values]
                yield row if any(row[width:]) else row[:width]

        return _score(
            header,
            rows(),
            target,
            decimal_comma=True,
            chunk_rows=chunk_rows,
            on_progress=on_progress,
        )
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    """A cell as CSV would hold it: whole numbers without ``.0`` (WHO Anthro's sex ``1``/``2``),
    date cells as ``YYYY-MM-DD``."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _score(
    header: list[str],
    reader: Iterable[list[str]],
    target: TextIO,
    *,
    decimal_comma: bool,
    chunk_rows: int,
    on_progress: Callable[[int], None] | None,
) -> BatchSummary:
    stripped = [name.strip() for name in header]
    names = [
        name.lower() if name.lower() in (*INPUT_COLUMNS, *OUTPUT_COLUMNS) else name
        for name in stripped
    ]
    twice = sorted({name for name in names if name in INPUT_COLUMNS and names.count(name) > 1})
    if twice:
        raise BatchInputError(f"the input has the column(s) more than once: {', '.join(twice)}")
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise BatchInputError(f"the input lacks the column(s): {', '.join(missing)}")
    keep = [i for i, name in enumerate(names) if name not in OUTPUT_COLUMNS]
    writer = csv.writer(target, lineterminator="\n")
    writer.writerow([names[i] for i in keep] + list(OUTPUT_COLUMNS))
    scorer = _ChunkScorer(names, keep, decimal_comma=decimal_comma)
    rows = reasons = 0
    non_blank = (row for row in reader if any(row))
    for chunk in _chunks(non_blank, chunk_rows):
        scored, with_reason = scorer.score(chunk)
        writer.writerows(scored)
        rows += len(chunk)
        reasons += with_reason
        if on_progress is not None:
            on_progress(rows)
    return BatchSummary(rows=rows, rows_with_reason=reasons)


def _chunks(rows: Iterator[list[str]], size: int) -> Iterator[list[list[str]]]:
    while chunk := list(islice(rows, size)):
        yield chunk


class _Invalid:
    pass


_INVALID: Final = _Invalid()


class _Memo(Generic[T]):
    """Parses each distinct text once: a column repeats a few hundred values over many rows."""

    _LIMIT: Final = 100_000

    def __init__(self, parse: Callable[[str], T]) -> None:
        self._parse = parse
        self._seen: dict[str, T | _Invalid] = {}

    def column(self, texts: list[str]) -> tuple[list[T | None], list[int]]:
        """The parsed values (``None`` where invalid) and the positions of the invalid ones."""
        if len(self._seen) > self._LIMIT:
            self._seen.clear()
        seen = self._seen
        distinct = set(texts)
        for text in distinct.difference(seen):
            seen[text] = self._parse_or_invalid(text)
        parsed: list[T | _Invalid | None] = list(map(seen.__getitem__, texts))
        bad = {text for text in distinct if seen[text] is _INVALID}
        if not bad:
            return cast(list[T | None], parsed), []
        invalid = [i for i, text in enumerate(texts) if text in bad]
        for i in invalid:
            parsed[i] = None
        return cast(list[T | None], parsed), invalid

    def _parse_or_invalid(self, text: str) -> T | _Invalid:
        try:
            return self._parse(text)
        except ValueError:
            return _INVALID


class _Reasons:
    """The reason codes of each row of a chunk, in the order they were found."""

    def __init__(self, n: int) -> None:
        self._by_row: list[list[str] | None] = [None] * n

    def add(self, rows: Iterable[int], reason: Reason) -> None:
        for i in rows:
            found = self._by_row[i]
            if found is None:
                self._by_row[i] = [reason.value]
            elif reason.value not in found:
                found.append(reason.value)

    def texts(self) -> list[str]:
        return ["" if r is None else ";".join(r) for r in self._by_row]

    def rows_with_reason(self) -> int:
        return len(self._by_row) - self._by_row.count(None)


class _CentsText(dict[int, str]):
    """Z-scores shown with 2 decimals, keyed by hundredths: a few thousand distinct texts cover
    millions of rows, and a dictionary lookup is several times cheaper than formatting."""

    NONE: Final = -(2**62)

    def __init__(self) -> None:
        super().__init__({self.NONE: ""})

    def __missing__(self, cents: int) -> str:
        text = self[cents] = f"{cents / 100:.2f}"
        return text


class _ChunkScorer:
    def __init__(self, names: list[str], keep: list[int], *, decimal_comma: bool) -> None:
        self._width = len(names)
        self._at: dict[str, int] = {
            name: names.index(name) for name in INPUT_COLUMNS if name in names
        }
        self._keep = keep if len(keep) < len(names) else None
        self._sex = _Memo(parse_sex)
        self._date = _Memo(_day_number)
        self._position = _Memo(parse_position)
        self._number = _Memo(_decimal_comma_number if decimal_comma else parse_number)
        self._oedema = _Memo(parse_oedema)
        self._cents = _CentsText()

    def _shown(self, z: FloatArray) -> list[str]:
        cents = np.rint(round2(z) * 100.0)
        keys = np.where(np.isfinite(cents), cents, _CentsText.NONE).astype(np.int64)
        return list(map(self._cents.__getitem__, keys.tolist()))

    def score(self, rows: list[list[str]]) -> tuple[list[list[str]], int]:
        n = len(rows)
        reasons = _Reasons(n)
        ragged = [i for i, row in enumerate(rows) if len(row) != self._width]
        reasons.add(ragged, Reason.WRONG_FIELD_COUNT)
        for i in ragged:
            rows[i] = (rows[i] + [""] * self._width)[: self._width]

        def column(name: str) -> list[str]:
            if name not in self._at:
                return [""] * n
            return list(map(itemgetter(self._at[name]), rows))

        texts = column("sex")
        sexes, invalid = self._sex.column(texts)
        reasons.add(invalid, Reason.INVALID_SEX)
        reasons.add((i for i, text in enumerate(texts) if not text.strip()), Reason.MISSING_SEX)
        sex = np.array([0 if s is None else s for s in sexes], dtype=np.int64)
        sex_texts = [text if s is None else s.code for s, text in zip(sexes, texts, strict=True)]

        ordinals = []
        for name in ("birth_date", "visit_date"):
            days, invalid = self._date.column(column(name))
            reasons.add(invalid, Reason.INVALID_DATE)
            ordinals.append(np.array(days, dtype=np.float64))
        age = ordinals[1] - ordinals[0]
        before_birth = age < 0
        reasons.add(np.flatnonzero(before_birth).tolist(), Reason.VISIT_BEFORE_BIRTH)
        age[before_birth] = np.nan

        positions, invalid = self._position.column(column("measured"))
        reasons.add(invalid, Reason.INVALID_MEASURED)
        position = np.array([0 if p is None else p for p in positions], dtype=np.int64)

        numbers: dict[str, FloatArray] = {}
        for name in ("weight_kg", "length_height_cm", "head_circumference_cm"):
            non_numeric, non_positive = NUMBER_FIELDS[name]
            parsed, invalid = self._number.column(column(name))
            reasons.add(invalid, non_numeric)
            values = np.array(parsed, dtype=np.float64)
            reasons.add(np.flatnonzero(values <= 0).tolist(), non_positive)
            numbers[name] = values

        flags, invalid = self._oedema.column(column("oedema"))
        reasons.add(invalid, Reason.INVALID_OEDEMA)
        oedema = np.array([bool(f) for f in flags], dtype=bool)

        result = compute_zscores(
            sex,
            age,
            weight_kg=numbers["weight_kg"],
            length_height_cm=numbers["length_height_cm"],
            position=position,
            head_cm=numbers["head_circumference_cm"],
            oedema=oedema,
        )
        reasons.add(
            np.flatnonzero(result.position_implausible).tolist(), Reason.IMPLAUSIBLE_POSITION
        )

        known = ~np.isnan(age)
        ages: list[str] = np.where(known, np.where(known, age, 0).astype(np.int64), "").tolist()
        shown = [self._shown(result.z[ind]) for ind in SCORED]
        flagged = [_flags(result.z[ind], result.flagged[ind]) for ind in SCORED]
        out = rows if self._keep is None else [[row[k] for k in self._keep] for row in rows]
        at_sex = self._at["sex"] if self._keep is None else self._keep.index(self._at["sex"])
        # Extending the rows in place: building a million new lists costs several times more.
        for row, sex_text, tail in zip(
            out,
            sex_texts,
            zip(ages, *shown, *flagged, reasons.texts(), strict=True),
            strict=True,
        ):
            row[at_sex] = sex_text
            row.extend(tail)
        return out, reasons.rows_with_reason()


def _decimal_comma_number(text: str) -> float | None:
    return parse_number(text.replace(",", "."))


def _day_number(text: str) -> int | None:
    day = parse_date(text)
    return None if day is None else day.toordinal()


def _flags(z: FloatArray, flagged: BoolArray) -> list[str]:
    texts: list[str] = np.where(np.isnan(z), "", np.where(flagged, "1", "0")).tolist()
    return texts
