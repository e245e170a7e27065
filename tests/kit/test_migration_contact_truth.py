"""Migration 0020 corrects stored history: interactions whose outcome means nobody answered but whose
party is not ``nobody`` get ``nobody``; nothing else changes. Rows written at 0019, then upgraded,
on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, text

from arrears.cases.tables import Interaction
from arrears.kit.db import make_engine
from arrears.kit.migrate import upgrade
from tests.cases.support import new_case
from tests.conftest import PG_BASE_URL, pg_schema_url

AT = datetime(2026, 3, 2, 2, 30, tzinfo=UTC)
#: (channel, party, outcome) as stored before 0020, and the party each must have after it
ROWS = [
    ("call", "debtor", "no_answer", "nobody"),
    ("call", "debtor", "busy", "nobody"),
    ("call", "emergency_contact", "no_answer", "nobody"),
    ("call", "other", "busy", "nobody"),
    ("call", "nobody", "no_answer", "nobody"),
    ("call", "debtor", "right_party_contact", "debtor"),
    ("call", "debtor", "promise_to_pay", "debtor"),
    ("call", "debtor", "left_message", "debtor"),
    ("sms", "debtor", "left_message", "debtor"),
    ("sms", "other", "wrong_number", "other"),
    ("call", "emergency_contact", "third_party", "emergency_contact"),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def old_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A store migrated to 0019 only."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
        upgrade(engine, "0019")
        yield engine
        engine.dispose()
        return
    schema = f"arrears_test_mig0020_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    admin = make_engine(PG_BASE_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(pg_schema_url(schema))
    upgrade(engine, "0019")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def test_unanswered_calls_stored_with_a_party_get_nobody_and_nothing_else_changes(
        old_store: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    case_id = new_case(old_store, "ACC-OLD")
    with old_store.begin() as conn:
        for channel, party, outcome, _ in ROWS:
            conn.execute(insert(Interaction).values(case_id=case_id, channel=channel, direction="outbound",
                                                    party=party, started_at=AT, outcome=outcome, notes="old",
                                                    created_at=AT))
        before = [tuple(r) for r in conn.execute(
            select(Interaction.id, Interaction.channel, Interaction.outcome, Interaction.started_at,
                   Interaction.notes).order_by(Interaction.id))]
    upgrade(old_store)
    assert "0020 contact truth: 4 interaction(s)" in capsys.readouterr().out
    with old_store.connect() as conn:
        after = [tuple(r) for r in conn.execute(
            select(Interaction.id, Interaction.channel, Interaction.outcome, Interaction.started_at,
                   Interaction.notes).order_by(Interaction.id))]
        parties = list(conn.execute(select(Interaction.party).order_by(Interaction.id)).scalars())
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert parties == [want for *_, want in ROWS]
    assert after == before and revision >= "0020"  # 0020 applied (and any later revision)
    upgrade(old_store)  # again: nothing left to change
    assert "0020" not in capsys.readouterr().out
