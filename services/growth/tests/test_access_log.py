"""The growth service's access log keeps every entry as written: the database refuses to change or
delete one, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mch_servicekit.access import Principal, Role
from mch_servicekit.access.audit import log_access, read_log
from mch_servicekit.db import make_engine
from mch_servicekit.migrations import upgrade


def test_the_access_log_is_append_only(database_url: str) -> None:
    upgrade("mch_growth", database_url)
    engine = make_engine(database_url)
    try:
        nurse = Principal("nurse", frozenset({Role.HEALTH_WORKER}), ("38004",))
        log_access(engine, "growth", nurse, "read_growth", ["c-1"], outcome="refused")
        (entry,) = read_log(engine, "growth", person_id="c-1", user=None, limit=10)
        assert (entry.user, entry.purpose, entry.outcome) == ("nurse", "care", "refused")
        for statement in (
            "UPDATE growth_access_log SET outcome = 'allowed'",
            "DELETE FROM growth_access_log",
        ):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))
        assert len(read_log(engine, "growth", person_id=None, user="nurse", limit=10)) == 1
    finally:
        engine.dispose()
