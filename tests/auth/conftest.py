from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine


@pytest.fixture
def drop_triggers(engine: Engine) -> Iterator[Callable[[Connection], None]]:
    """Bypass the append-only triggers as someone with the schema owner's rights could.

    PostgreSQL keeps one schema for the whole test run, so the trigger is switched back on after
    the test; each SQLite test has its own copy of the store.
    """

    def bypass(conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_records DISABLE TRIGGER audit_records_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_records_no_update"))
            conn.execute(text("DROP TRIGGER audit_records_no_delete"))

    yield bypass
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_records ENABLE TRIGGER audit_records_append_only"))
