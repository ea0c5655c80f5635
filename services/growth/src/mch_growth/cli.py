"""``mch growth``: the growth commands of the platform CLI (the platform mounts ``app``)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from typer._click.core import Context  # typer carries its own click
from typer._click.exceptions import UsageError
from typer.core import TyperCommand

from mch_growth.batch import (
    DEFAULT_CHUNK_ROWS,
    BatchInputError,
    BatchSummary,
    score_csv,
    score_xlsx,
)

app = typer.Typer(no_args_is_help=True)

_SCORE_HELP = """
Score a file of child visits as WHO Anthro's survey tool does: age, WAZ,
LHAZ, WHZ, BAZ, HCAZ, flags and reasons.

INPUT: a CSV file (comma, semicolon or tab; UTF-8) or an .xlsx workbook
(its first sheet). OUTPUT: a CSV file; its folder is created.
Column names may be in any case. Other columns pass through.

Input columns:
  case_id                 any text
  sex                     M or F, male or female (any case), or WHO Anthro's
                          1 (male) or 2 (female); written M or F
  birth_date, visit_date  YYYY-MM-DD (or date cells); either may be empty
  weight_kg               kilograms
  length_height_cm        centimetres
  measured                optional: L or lying, H or standing, or empty
  head_circumference_cm   optional: centimetres
  oedema                  optional: y/n, yes/no, 1/0, true/false
With a semicolon or a tab, numbers may have a decimal comma (9,5).

Output columns: the input columns, then
  age_days                the age in days
  waz lhaz whz baz hcaz   z-scores, 2 decimals, empty where undefined
  waz_flag lhaz_flag whz_flag baz_flag hcaz_flag
                          1 flagged (implausible), 0 not, empty without z
  reason                  the codes below, joined by ";"; empty if clean

Reason codes (the bad field is treated as not given, the row still scored):
  missing_sex invalid_sex invalid_date visit_before_birth invalid_measured
  non_numeric_weight non_positive_weight non_numeric_length
  non_positive_length non_numeric_head non_positive_head invalid_oedema
  wrong_field_count implausible_position

Example (survey.csv):
  case_id;sex;birth_date;visit_date;weight_kg;length_height_cm;measured
  c1;1;2023-01-01;2024-02-05;9,0;75,0;H
  mch growth score survey.csv scored/survey.csv

A user error (missing or unreadable file, missing column, bad option) is
one line on stderr and exit code 2.
"""


class _OneLineErrors(TyperCommand):
    """Usage errors (a missing argument, a bad option value) as one line, like the others."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except UsageError as error:
            _fail(error.format_message())
            raise  # unreachable: _fail exits


@app.callback()
def growth() -> None:
    """WHO growth standards: z-scores, flags and nutrition status."""


@app.command(cls=_OneLineErrors, help=_SCORE_HELP)
def score(
    input_file: Annotated[
        Path, typer.Argument(metavar="INPUT", help="Visits to score: .csv or .xlsx.")
    ],
    output_csv: Annotated[
        Path, typer.Argument(metavar="OUTPUT", help="Where to write the scores (CSV).")
    ],
    chunk_rows: Annotated[
        int, typer.Option(help="Rows read, scored and written at a time (at least 1).")
    ] = DEFAULT_CHUNK_ROWS,
) -> None:
    _check_paths(input_file, output_csv, chunk_rows)
    xlsx = input_file.suffix.lower() in (".xlsx", ".xlsm")
    total = None if xlsx else _count_rows(input_file)
    try:
        output_csv.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        _fail(f"{output_csv.parent}: cannot create the folder ({error.strerror})")
    # Written beside the target and renamed at the end, so a failed run leaves no half file.
    partial = output_csv.with_name(output_csv.name + ".partial")
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    # Shown from the first chunk on: a file refused at its header gets its one line, no bar.
    progress = Progress(*columns)
    task = progress.add_task("Scoring", total=total)

    def on_progress(done: int) -> None:
        if not progress.live.is_started:
            progress.start()
        progress.update(task, completed=done)

    def stop_progress() -> None:
        if progress.live.is_started:
            progress.stop()

    try:
        with partial.open("w", newline="", encoding="utf-8") as target:
            options: dict[str, Any] = {"chunk_rows": chunk_rows, "on_progress": on_progress}
            summary: BatchSummary
            if xlsx:
                summary = score_xlsx(input_file, target, **options)
            else:
                with input_file.open(newline="", encoding="utf-8-sig") as source:
                    summary = score_csv(source, target, **options)
        partial.replace(output_csv)
    except (BatchInputError, UnicodeDecodeError, csv.Error, OSError) as error:
        stop_progress()
        partial.unlink(missing_ok=True)
        _fail(_explain(error, input_file, output_csv, partial))
    stop_progress()
    typer.echo(
        f"{summary.rows} rows scored into {output_csv}; "
        f"{summary.rows_with_reason} with a reason (see the reason column)"
    )


def _check_paths(input_file: Path, output_csv: Path, chunk_rows: int) -> None:
    if chunk_rows < 1:
        _fail(f"--chunk-rows must be at least 1, not {chunk_rows}")
    if not input_file.exists():
        _fail(f"{input_file}: no such file")
    if input_file.is_dir():
        _fail(f"{input_file}: a folder, not a file")
    if output_csv.is_dir():
        _fail(f"{output_csv}: a folder; give the output file's name")
    if output_csv.resolve() == input_file.resolve():
        _fail(f"{output_csv}: the output must differ from the input")
    if input_file.suffix.lower() in (".xls", ".ods"):
        _fail(f"{input_file}: save it as .xlsx or .csv to score it")


def _explain(error: Exception, source: Path, output: Path, partial: Path) -> str:
    if isinstance(error, UnicodeDecodeError):
        return f"{source}: not UTF-8 text (save it as CSV UTF-8, or as .xlsx)"
    if isinstance(error, csv.Error):
        return f"{source}: not a readable CSV file ({error})"
    if isinstance(error, OSError):
        where = output if error.filename in (str(partial), str(output)) else source
        return f"{where}: {error.strerror or error}"
    return f"{source}: {error}"


def _fail(message: str) -> None:
    typer.echo(f"mch growth score: {message}", err=True)
    raise typer.Exit(code=2)


def _count_rows(path: Path) -> int | None:
    """Data lines in the file, for the progress bar (a quoted line break counts twice)."""
    lines = 0
    last = b"\n"
    try:
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                lines += block.count(b"\n")
                last = block[-1:]
    except OSError:
        return None  # reading it for real says why
    if last != b"\n":
        lines += 1
    return max(lines - 1, 0)
