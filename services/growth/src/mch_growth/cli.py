"""``mch growth``: the growth commands of the platform CLI (the platform mounts ``app``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mch_growth.batch import DEFAULT_CHUNK_ROWS, BatchInputError, score_csv

app = typer.Typer(no_args_is_help=True)


@app.callback()
def growth() -> None:
    """WHO growth standards: z-scores, flags and nutrition status."""


@app.command()
def score(
    input_csv: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Visits to score.")
    ],
    output_csv: Annotated[Path, typer.Argument(dir_okay=False, help="Where to write the scores.")],
    chunk_rows: Annotated[
        int, typer.Option(min=1, help="Rows read, scored and written at a time.")
    ] = DEFAULT_CHUNK_ROWS,
) -> None:
    """Score a CSV of child visits: age, WAZ, LHAZ, WHZ, BAZ, HCAZ, flags and reasons."""
    if output_csv.resolve() == input_csv.resolve():
        raise typer.BadParameter("must differ from INPUT_CSV", param_hint="OUTPUT_CSV")
    total = _count_rows(input_csv)
    # Written beside the target and renamed at the end, so a failed run leaves no half file.
    partial = output_csv.with_name(output_csv.name + ".partial")
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with (
            Progress(*columns) as progress,
            input_csv.open(newline="", encoding="utf-8-sig") as source,
            partial.open("w", newline="", encoding="utf-8") as target,
        ):
            task = progress.add_task("Scoring", total=total)
            summary = score_csv(
                source,
                target,
                chunk_rows=chunk_rows,
                on_progress=lambda done: progress.update(task, completed=done),
            )
        partial.replace(output_csv)
    except (BatchInputError, UnicodeDecodeError) as error:
        message = "not UTF-8 text" if isinstance(error, UnicodeDecodeError) else str(error)
        typer.echo(f"{input_csv}: {message}", err=True)
        raise typer.Exit(code=2) from error
    finally:
        partial.unlink(missing_ok=True)
    typer.echo(
        f"{summary.rows} rows scored into {output_csv}; "
        f"{summary.rows_with_reason} with a reason (see the reason column)"
    )


def _count_rows(path: Path) -> int:
    """Data lines in the file, for the progress bar (a quoted line break counts twice)."""
    lines = 0
    last = b"\n"
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    if last != b"\n":
        lines += 1
    return max(lines - 1, 0)
