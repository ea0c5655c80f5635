"""The ``mch`` command."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated

import typer

from .reporting_cli import app as reporting_app
from .services import SERVICES, ServiceSpec

app = typer.Typer(
    help="mch-platform: the electronic Mother and Child Health Handbook backbone.",
    no_args_is_help=True,
    add_completion=False,
)
schemas_app = typer.Typer(
    help="Event contract schemas (JSON Schema, AsyncAPI).", no_args_is_help=True
)
app.add_typer(schemas_app, name="schemas")
app.add_typer(
    reporting_app, name="reporting", help="Reporting tools (rebuilding its tables from the log)."
)

ServiceName = Annotated[str, typer.Argument(help="records, immunization, growth or reporting")]


def _spec(name: str) -> ServiceSpec:
    if name not in SERVICES:
        raise typer.BadParameter(f"unknown service {name!r}; one of {', '.join(SERVICES)}")
    return SERVICES[name]


@app.command()
def serve(service: ServiceName) -> None:
    """Run one service (HTTP API + Kafka consumers) configured by environment variables only."""
    import uvicorn

    from mch_servicekit.settings import ServiceSettings

    spec = _spec(service)
    settings = ServiceSettings(service=service)
    uvicorn.run(
        spec.app_factory(),
        factory=True,
        host=settings.host,
        port=settings.resolved_port(),
        log_level=settings.log_level.lower(),
        access_log=False,
    )


@app.command()
def migrate(
    service: Annotated[str, typer.Argument(help="a service name, or 'all'")] = "all",
) -> None:
    """Apply database migrations (a one-shot job in deployments; ``mch up`` runs it itself)."""
    from mch_servicekit.migrations import upgrade
    from mch_servicekit.settings import ServiceSettings

    names = list(SERVICES) if service == "all" else [service]
    for name in names:
        url = ServiceSettings(service=name).resolved_database_url()
        upgrade(_spec(name).package, url)
        typer.echo(f"{name}: database at the latest schema")


@app.command()
def up(
    data_dir: Annotated[Path, typer.Option(help="where the SQLite databases live")] = Path("data"),
    fresh: Annotated[bool, typer.Option(help="delete the data folder first")] = False,
    demo_communes: Annotated[
        int, typer.Option(help="communes of synthetic demo events to load (0: none)")
    ] = 2,
    demo_months: Annotated[int, typer.Option(help="months of demo events, ending today")] = 3,
    base_port: Annotated[
        int, typer.Option(help="records' port; immunization, growth and reporting take the next 3")
    ] = 8001,
    broker_port: Annotated[
        int,
        typer.Option(help="the embedded broker's port (0: 9092 when free, else any free port)"),
    ] = 0,
) -> None:
    """Run the whole platform on this machine: embedded broker (unless KAFKA_BOOTSTRAP_SERVERS is
    set), SQLite under the data folder, the four services, demo org units and demo events.
    A service that exits is restarted (with backoff); when the embedded broker dies, the services
    stop, the broker restarts empty, the services start again and republish their state into it.
    Ctrl-C, SIGTERM or SIGHUP stop everything it started (a second one kills at once)."""
    from .local import PlatformError, run_platform

    try:
        run_platform(
            data_dir=data_dir,
            fresh=fresh,
            demo_communes=demo_communes,
            demo_months=demo_months,
            base_port=base_port,
            broker_port=broker_port or None,
        )
    except PlatformError as exc:
        typer.echo(f"mch up: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def resync(
    service: Annotated[
        str, typer.Argument(help="records, immunization or growth; 'all' (default): the three")
    ] = "all",
    base_port: Annotated[
        int, typer.Option(help="records' port; immunization, growth and reporting on the next 3")
    ] = 8001,
    url: Annotated[
        str, typer.Option(help="the service's base URL (instead of --base-port; one service)")
    ] = "",
    wait: Annotated[bool, typer.Option(help="until republished and published")] = True,
    token: Annotated[
        str,
        typer.Option(
            envvar="MCH_TOKEN",
            help="an operator's bearer token (default: the admin one of <data dir>/tokens.json)",
        ),
    ] = "",
    data_dir: Annotated[
        Path, typer.Option(help="where mch up wrote tokens.json (when no --token)")
    ] = Path("data"),
) -> None:
    """Republish a service's state (after the broker lost its log): each service stages what it
    published before in its outbox again; consumers skip what they applied already."""
    from .devauth import admin_token
    from .local import RESYNC_SERVICES, run_resync, service_ports

    names = list(RESYNC_SERVICES) if service == "all" else [_spec(service).name]
    if url and len(names) != 1:
        raise typer.BadParameter("--url names one service")
    ports = service_ports(base_port)
    urls = {name: url or f"http://127.0.0.1:{ports[name]}" for name in names}
    bearer = token or admin_token(data_dir)
    headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
    if not run_resync(urls, headers=headers, wait=wait, echo=typer.echo):
        raise typer.Exit(1)


@app.command()
def simulate(
    communes: Annotated[int, typer.Option(help="how many demo communes")] = 2,
    start: Annotated[str, typer.Option("--from", help="first day, YYYY-MM-DD")] = "",
    end: Annotated[str, typer.Option("--to", help="last day, YYYY-MM-DD (default today)")] = "",
    seed: Annotated[int, typer.Option(help="same seed, same events")] = 1,
    http: Annotated[
        str, typer.Option(help="POST to this records URL instead of publishing on Kafka")
    ] = "",
    bootstrap_servers: Annotated[
        str, typer.Option(envvar="KAFKA_BOOTSTRAP_SERVERS", help="Kafka to publish to")
    ] = "127.0.0.1:9092",
    token: Annotated[
        str,
        typer.Option(
            envvar="MCH_TOKEN",
            help="bearer token for --http (e.g. the admin one of data/tokens.json)",
        ),
    ] = "",
) -> None:
    """Publish realistic synthetic facility events for N demo communes over a date range."""
    from .local import simulate_events

    last = dt.date.fromisoformat(end) if end else dt.date.today()
    first = dt.date.fromisoformat(start) if start else last - dt.timedelta(days=90)
    if first > last:
        raise typer.BadParameter("--from is after --to")
    simulate_events(
        communes=communes,
        start=first,
        end=last,
        seed=seed,
        http=http or None,
        bootstrap_servers=bootstrap_servers,
        token=token or None,
    )


@schemas_app.command("export")
def schemas_export(
    out: Annotated[Path | None, typer.Option(help="folder (default: libs/events/contract)")] = None,
) -> None:
    """Write the JSON Schema of every event type and one AsyncAPI document per service."""
    from mch_events.schemas import CONTRACT_DIR, export

    folder = out or CONTRACT_DIR
    written = export(folder)
    typer.echo(f"wrote {len(written)} files to {folder}")


def _mount_service_commands() -> None:
    try:
        from mch_growth.cli import app as growth_app
    except ImportError:  # pragma: no cover - the growth package is part of every install
        return
    app.add_typer(growth_app, name="growth", help="Growth tools (batch z-score scoring).")


_mount_service_commands()


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
