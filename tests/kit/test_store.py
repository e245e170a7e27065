from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from arrears.accounts.tables import Account, Customer
from arrears.kit.db import transaction
from arrears.kit.migrate import upgrade
from arrears.kit.models import metadata


def _customer() -> Customer:
    return Customer(
        customer_ref="C1", name="张三", national_id="11010519491231002X", birth_date=date(1949, 12, 31)
    )


def test_migrations_build_every_table_and_are_idempotent(engine):
    upgrade(engine)  # a second upgrade is a no-op
    assert set(inspect(engine).get_table_names()) >= {t.name for t in metadata.sorted_tables}


def test_timestamps_come_back_aware_utc(engine):
    moment = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    with transaction(engine) as s:
        c = _customer()
        c.created_at = moment
        s.add(c)
    with transaction(engine) as s:
        got = s.scalars(select(Customer.created_at)).one()
    assert got == moment and got.tzinfo is not None and got.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused(engine):
    with pytest.raises(Exception, match="naive datetime"):
        with transaction(engine) as s:
            c = _customer()
            c.created_at = datetime(2026, 3, 1, 9, 30)
            s.add(c)


def test_foreign_keys_are_enforced(engine):
    with pytest.raises(IntegrityError):
        with transaction(engine) as s:
            s.add(
                Account(account_ref="A1", customer_id=999, product="std", credit_limit=0,
                        statement_day=5, due_day=25, opened_on=date(2024, 1, 1))
            )


def test_a_failed_unit_of_work_leaves_nothing(engine):
    with pytest.raises(RuntimeError):
        with transaction(engine) as s:
            s.add(_customer())
            s.flush()
            raise RuntimeError("boom")
    with transaction(engine) as s:
        assert s.scalars(select(Customer)).all() == []


def test_migrations_match_the_models(engine):
    """The schema the migrations build is the one the ORM models describe, on every backend."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []
