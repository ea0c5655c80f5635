"""Alembic, driven from code: each service keeps its environment in ``mch_<service>/migrations``
and calls ``run_env`` from its ``env.py`` with the tables it owns."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, Table
from sqlmodel import SQLModel

from .db import make_engine


def metadata_for(models: Sequence[type[SQLModel]]) -> MetaData:
    """A MetaData holding only one service's tables (all services share SQLModel's registry)."""
    metadata = MetaData()
    for model in models:
        table = model.__table__  # type: ignore[attr-defined]
        assert isinstance(table, Table)
        table.to_metadata(metadata)
    return metadata


def alembic_config(package: str, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files(package) / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(package: str, url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(package, url), revision)


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's ``migrations/env.py``."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
