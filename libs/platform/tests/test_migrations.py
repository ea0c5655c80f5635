"""Migrations of the four services: into one shared database or each into its own, again without
changing anything, and from a database migrated when every service used ``alembic_version``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from typer.testing import CliRunner

from mch_platform.cli import app
from mch_platform.services import SERVICES
from mch_servicekit.db import make_engine
from mch_servicekit.migrations import alembic_config, upgrade

Snapshot = dict[str, Any]


def snapshot(engine: Engine) -> Snapshot:
    """Every table with its columns, indexes, keys and, for version tables, rows."""
    found: Snapshot = {}
    with engine.connect() as conn:
        schema = inspect(conn)
        for table in sorted(schema.get_table_names()):
            found[table] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"]) for c in schema.get_columns(table)
                ],
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"])) for i in schema.get_indexes(table)
                ),
                "primary_key": schema.get_pk_constraint(table),
            }
            if table.startswith("alembic_version"):
                found[table]["rows"] = conn.execute(text(f"SELECT * FROM {table}")).all()
        if conn.dialect.name == "postgresql":
            found["sequences"] = sorted(schema.get_sequence_names())
    return found


def head(service: str) -> str:
    revision = ScriptDirectory.from_config(
        alembic_config(f"mch_{service}", "sqlite://")
    ).get_current_head()
    assert revision is not None
    return revision


def migrate_all(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert result.output.count("database at the latest schema") == 4


def test_all_four_share_one_postgresql_database(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate_all(pg_url, monkeypatch)
    engine = make_engine(pg_url)
    first = snapshot(engine)
    for name in SERVICES:
        assert first[f"alembic_version_{name}"]["rows"] == [(head(name),)]
        assert {f"{name}_outbox", f"{name}_processed_event"} <= first.keys()
        command.check(alembic_config(f"mch_{name}", pg_url))  # its tables are what its models say
    assert "alembic_version" not in first
    migrate_all(pg_url, monkeypatch)
    assert snapshot(engine) == first
    engine.dispose()


@pytest.mark.parametrize("service", list(SERVICES))
def test_each_service_in_a_database_of_its_own(service: str, database_url: str) -> None:
    upgrade(f"mch_{service}", database_url)
    engine = make_engine(database_url)
    first = snapshot(engine)
    assert first[f"alembic_version_{service}"]["rows"] == [(head(service),)]
    command.check(alembic_config(f"mch_{service}", database_url))
    upgrade(f"mch_{service}", database_url)
    assert snapshot(engine) == first
    engine.dispose()


def as_before(engine: Engine, service: str) -> None:
    """Turn a database of ``service`` into what the version before per-service names left:
    ``alembic_version``, ``outbox`` and ``processed_event`` (with PostgreSQL's names for their
    keys and sequence)."""
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        renames = [
            (f"alembic_version_{service}", "alembic_version", "pkc"),
            (f"{service}_outbox", "outbox", "pkey"),
            (f"{service}_processed_event", "processed_event", "pkey"),
        ]
        for new, old, key in renames:
            conn.execute(text(f"ALTER TABLE {new} RENAME TO {old}"))
            if postgres:
                conn.execute(
                    text(f"ALTER TABLE {old} RENAME CONSTRAINT {new}_{key} TO {old}_{key}")
                )
        if postgres:
            conn.execute(text(f"ALTER SEQUENCE {service}_outbox_id_seq RENAME TO outbox_id_seq"))
        conn.execute(
            text(
                "INSERT INTO outbox (topic, event_id, event_type, headers, payload, created_at) "
                "VALUES ('mch.records.v1', 'e-1', 't', '{}', :p, CURRENT_TIMESTAMP)"
            ),
            {"p": b"{}"},
        )
        conn.execute(
            text(
                "INSERT INTO processed_event (consumer, event_id, processed_at) "
                f"VALUES ('mch-{service}', 'e-0', CURRENT_TIMESTAMP)"
            )
        )


_BEFORE = {"records": "0002", "immunization": "0002", "growth": "0002", "reporting": "0001"}
"""The last revision of each service from before per-service names."""


@pytest.mark.parametrize("service", list(SERVICES))
def test_a_database_of_the_version_before_upgrades(
    service: str, database_url: str, pg_databases: Callable[[], str], tmp_path: Path
) -> None:
    upgrade(f"mch_{service}", database_url, _BEFORE[service])
    engine = make_engine(database_url)
    as_before(engine, service)
    upgrade(f"mch_{service}", database_url)
    after = snapshot(engine)
    assert {"alembic_version", "outbox", "processed_event"}.isdisjoint(after)
    assert after[f"alembic_version_{service}"]["rows"] == [(head(service),)]
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT event_id FROM {service}_outbox")).all() == [("e-1",)]
        assert conn.execute(text(f"SELECT event_id FROM {service}_processed_event")).all() == [
            ("e-0",)
        ]
        if engine.dialect.name == "postgresql":  # the id sequence goes on where it was
            conn.execute(
                text(
                    f"INSERT INTO {service}_outbox (topic, event_id, event_type, headers, payload,"
                    " created_at) VALUES ('t', 'e-2', 't', '{}', '\\x00', CURRENT_TIMESTAMP)"
                )
            )
            assert conn.execute(text(f"SELECT max(id) FROM {service}_outbox")).scalar() == 2
    command.check(alembic_config(f"mch_{service}", database_url))
    engine.dispose()
    fresh_url = (
        pg_databases()
        if database_url.startswith("postgresql")
        else f"sqlite:///{tmp_path}/fresh.db"
    )
    upgrade(f"mch_{service}", fresh_url)
    fresh = make_engine(fresh_url)
    assert snapshot(fresh) == after  # the same schema as a database created now
    fresh.dispose()


def test_another_services_old_database_is_not_taken_over(database_url: str) -> None:
    upgrade("mch_growth", database_url, _BEFORE["growth"])
    engine = make_engine(database_url)
    as_before(engine, "growth")
    upgrade("mch_reporting", database_url)  # the growth database is now shared with reporting
    upgrade("mch_growth", database_url)
    tables = snapshot(engine)
    assert tables["alembic_version_growth"]["rows"] == [(head("growth"),)]
    assert tables["alembic_version_reporting"]["rows"] == [(head("reporting"),)]
    assert "alembic_version" not in tables
    engine.dispose()


def test_the_four_migration_jobs_may_run_at_the_same_time(pg_url: str) -> None:
    """As Compose and the chart start them: one process per service, one shared database."""
    env = {**os.environ, "DATABASE_URL": pg_url}
    jobs = [
        subprocess.Popen(
            [sys.executable, "-m", "mch_platform", "migrate", name],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in SERVICES
    ]
    try:
        for job in jobs:
            output, _ = job.communicate(timeout=300)
            assert job.returncode == 0, output
    finally:
        for job in jobs:
            if job.poll() is None:
                job.kill()
                job.wait()
    engine = make_engine(pg_url)
    tables = snapshot(engine)
    engine.dispose()
    for name in SERVICES:
        assert tables[f"alembic_version_{name}"]["rows"] == [(head(name),)]


def test_a_shared_database_the_version_before_left_half_migrated_recovers(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, ``mch migrate`` on one database migrated records, then stopped: the others read
    records' revision from the one ``alembic_version``."""
    upgrade("mch_records", pg_url, _BEFORE["records"])
    engine = make_engine(pg_url)
    as_before(engine, "records")
    migrate_all(pg_url, monkeypatch)
    tables = snapshot(engine)
    engine.dispose()
    assert "alembic_version" not in tables
    for name in SERVICES:
        assert tables[f"alembic_version_{name}"]["rows"] == [(head(name),)]
        command.check(alembic_config(f"mch_{name}", pg_url))
