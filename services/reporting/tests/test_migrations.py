"""The migrations build exactly the tables the models describe, on both databases."""

from __future__ import annotations

from alembic import command

from mch_servicekit.migrations import alembic_config, upgrade


def test_the_migrated_schema_matches_the_models(database_url: str) -> None:
    upgrade("mch_reporting", database_url)
    command.check(alembic_config("mch_reporting", database_url))  # raises on any difference
