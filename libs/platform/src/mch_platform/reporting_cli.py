"""``mch reporting``: commands for a running reporting service (over its HTTP API)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .devauth import admin_token
from .local import service_ports

app = typer.Typer(no_args_is_help=True)

POLL_SECONDS = 0.5


class RebuildFailed(Exception):
    """The rebuild did not complete; the message says why."""


def run_rebuild(
    client: httpx.Client,
    *,
    progress: Callable[[dict[str, Any]], None],
    timeout: float = 24 * 3600,
    poll: float = POLL_SECONDS,
) -> dict[str, Any]:
    """Start a rebuild on the reporting service ``client`` is bound to and follow it, handing
    each status to ``progress``; the final status when it is done, ``RebuildFailed`` otherwise."""
    try:
        started = client.post("/v1/rebuild")
    except httpx.HTTPError as exc:
        raise RebuildFailed(f"{type(exc).__name__}: {exc}") from exc
    if started.status_code != 202:
        raise RebuildFailed(f"refused ({started.status_code}): {_detail(started)}")
    status: dict[str, Any] = started.json()
    rebuild_id = status["id"]
    deadline = time.monotonic() + timeout
    while status["state"] == "running":
        progress(status)
        if time.monotonic() > deadline:
            raise RebuildFailed(f"rebuild {rebuild_id} still running after {timeout:.0f} s")
        time.sleep(poll)
        try:
            answer = client.get("/v1/rebuild")
            answer.raise_for_status()
            status = answer.json()
        except (httpx.HTTPError, ValueError):
            continue  # busy, or restarting: ask again
        if status["id"] != rebuild_id:
            raise RebuildFailed(f"rebuild {rebuild_id} is gone: the service restarted during it")
    progress(status)
    if status["state"] != "done":
        raise RebuildFailed(status.get("reason") or f"ended {status['state']}")
    return status


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return response.text[:300]


@app.command()
def rebuild(
    base_port: Annotated[
        int, typer.Option(help="records' port; reporting is on the third after it")
    ] = 8001,
    url: Annotated[str, typer.Option(help="reporting's base URL (instead of --base-port)")] = "",
    token: Annotated[
        str,
        typer.Option(
            envvar="MCH_TOKEN",
            help="an operator's or data manager's bearer token (default: the admin one of "
            "<data dir>/tokens.json)",
        ),
    ] = "",
    data_dir: Annotated[
        Path, typer.Option(help="where mch up wrote tokens.json (when no --token)")
    ] = Path("data"),
) -> None:
    """Rebuild reporting's tables from the log: replay the topics into fresh tables and swap them
    in at once (answers stay those of the live tables until then). Exits 1 with the reason when
    the rebuild fails, e.g. because the log no longer holds the whole history."""
    base = url or f"http://127.0.0.1:{service_ports(base_port)['reporting']}"
    bearer = token or admin_token(data_dir)
    headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
    console = Console(stderr=True)
    bar = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[applied]:,} events applied"),
        TimeElapsedColumn(),
        console=console,
    )
    task = bar.add_task("starting", total=None, applied=0)

    def show(status: dict[str, Any]) -> None:
        bar.update(
            task,
            description=status.get("step") or status["state"],
            completed=status["offsets_done"],
            total=status["offsets_total"] or None,
            applied=status["events_applied"],
        )

    try:
        with bar, httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            done = run_rebuild(client, progress=show)
    except RebuildFailed as exc:
        typer.echo(f"mch reporting rebuild: failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"rebuilt: {done['events_applied']:,} events applied from {done['offsets_total']:,} "
        f"records ({done['events_per_second'] or 0:,.0f} records/s), swapped in"
    )
