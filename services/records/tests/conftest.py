"""Fixtures shared by the records tests (the helpers they use are in ``records_helpers``).

Each test gets a database of its own, SQLite or PostgreSQL, as a template left it: migrated, with
the demo org units. SQLite databases are copies of the template; PostgreSQL ones are copied once
per module and emptied before each test. Both are several times quicker than migrating, and the
suite needs a few dozen databases.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, text

from mch_events.broker import KafkaSettings
from mch_platform.embedded_broker import EmbeddedBroker
from mch_platform.testing import PG_ADMIN_URL, bearer
from mch_records.app import create_app
from mch_records.settings import RecordsSettings
from mch_records.storage import MODELS, OrgUnitVersion
from mch_servicekit.db import make_engine

sys.path.insert(0, str(Path(__file__).parent))  # the tests import records_helpers

from records_helpers import (
    TODAY,
    Clinic,
    GateHarness,
    RunningService,
    prepare_database,
    start_service,
)

NO_BROKER = "127.0.0.1:9"
"""Nothing listens there: the API fixture never connects."""
DATABASES = ["sqlite", "postgresql"]


def _admin(sql: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(sql))
    finally:
        admin.dispose()


def _pg_url(name: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The template of each database: migrated, with the demo org units, nothing published."""
    sqlite = tmp_path_factory.mktemp("template") / "records.db"
    prepare_database(f"sqlite:///{sqlite}").dispose()
    found = {"sqlite": str(sqlite)}
    name = f"mch_records_template_{uuid.uuid4().hex[:8]}"
    try:
        _admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # the tests needing it are skipped (the plugin fails them under CI)
        found["postgresql_unreachable"] = str(exc)
        yield found
        return
    try:
        prepare_database(_pg_url(name)).dispose()
        found["postgresql"] = name
        yield found
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _copy(templates: dict[str, str], kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        path = folder / f"records-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(templates["sqlite"], path)
        yield f"sqlite:///{path}"
        return
    if "postgresql" not in templates:
        pytest.skip(
            f"PostgreSQL not reachable at {PG_ADMIN_URL}: {templates['postgresql_unreachable']}"
        )
    name = f"mch_test_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{templates["postgresql"]}"')
    try:
        yield _pg_url(name)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_FILLED_BY_TESTS = [str(m.__tablename__) for m in MODELS if m is not OrgUnitVersion]


def _emptied(url: str) -> str:
    """The database as its template left it: everything but the org units removed."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(_FILLED_BY_TESTS)} RESTART IDENTITY"))
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def _module_postgres(
    templates: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from _copy(templates, "postgresql", tmp_path_factory.mktemp("unused"))


@pytest.fixture(params=DATABASES)
def records_db(
    request: pytest.FixtureRequest, templates: dict[str, str], tmp_path: Path
) -> Iterator[str]:
    """A migrated database with the demo org units, of the test's own: SQLite (a fresh copy of the
    template), then PostgreSQL (one copy per module, emptied for each test: quicker)."""
    if request.param == "sqlite":
        yield from _copy(templates, "sqlite", tmp_path)
    else:
        yield _emptied(request.getfixturevalue("_module_postgres"))


@pytest.fixture(scope="module", params=DATABASES)
def module_records_db(
    request: pytest.FixtureRequest,
    templates: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """A database shared by the tests of a module."""
    yield from _copy(templates, request.param, tmp_path_factory.mktemp("records"))


@pytest.fixture
def clinic() -> Clinic:
    return Clinic()


@pytest.fixture
def harness(templates: dict[str, str], tmp_path: Path) -> Iterator[GateHarness]:
    """The gate on a SQLite database of the test's own."""
    for url in _copy(templates, "sqlite", tmp_path):
        harness = GateHarness(make_engine(url))
        yield harness
        harness.engine.dispose()


@pytest.fixture
def any_harness(records_db: str) -> Iterator[GateHarness]:
    """The gate on SQLite, then on PostgreSQL."""
    harness = GateHarness(make_engine(records_db))
    yield harness
    harness.engine.dispose()


@pytest.fixture
def api(records_db: str) -> Iterator[TestClient]:
    """The service's HTTP API on SQLite, then on PostgreSQL, without its broker, subscribers and
    relay (what it publishes stays in the outbox)."""
    app = create_app(
        RecordsSettings(database_url=records_db),
        KafkaSettings(bootstrap_servers=NO_BROKER),
        today=lambda: TODAY,
    )
    # Not entered: the lifespan, which starts the broker, does not run. The token may do
    # everything everywhere; access itself is tested in test_access.py.
    yield TestClient(app, headers=bearer())
    app.state.ctx.engine.dispose()


@pytest.fixture
async def service(records_db: str, kafka_broker: EmbeddedBroker) -> AsyncIterator[RunningService]:
    """The whole service (subscriber and outbox relay too) on SQLite, then on PostgreSQL, against a
    broker of the test's own."""
    async for running_service in start_service(records_db, kafka_broker.bootstrap_servers):
        yield running_service


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_service(
    module_records_db: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningService]:
    """The same, shared by the tests of a module (they must use ids of their own), with a broker
    for each database."""
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(log_file=log) as broker:
        async for running_service in start_service(module_records_db, broker.bootstrap_servers):
            yield running_service
