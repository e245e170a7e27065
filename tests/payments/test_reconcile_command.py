"""``arrears payments reconcile``: the bank's payment file confirms paid orders; mismatches and paid
orders left unconfirmed are reported and fail the run (exit 2), so a scheduler can alert."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from arrears.auth.tables import AuditRecord
from arrears.cli import app
from arrears.config import get_settings
from arrears.kit.clock import frozen_at
from arrears.kit.db import transaction
from tests.factories import LedgerLoad, load
from tests.payments.test_store import T0, deliver, make, new_order, paid


@pytest.fixture
def store(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    load(engine, LedgerLoad(accounts=["ACC1"]))
    monkeypatch.setenv("ARREARS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    yield engine
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = CliRunner().invoke(app, ["payments", "reconcile", "--json", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.output)


def test_confirmed_mismatched_and_overdue_orders_are_reported(store: Engine) -> None:
    good, wrong_amount, never = new_order(), new_order(), new_order()
    for order, txn in ((good, "4300010"), (wrong_amount, "4300011"), (never, "4300012")):
        make(store, order)
        deliver(store, paid(order, txn))
    load(store, LedgerLoad(payments=[("4300010", "ACC1", date(2026, 12, 8), 20_000),
                                      ("4300011", "ACC1", date(2026, 12, 8), 19_999)]))  # fmt: skip
    with frozen_at(T0 + timedelta(days=1)):
        code, first = run("--days", "3")
    assert code == 2  # a mismatch is reported at once
    assert first["confirmed"] == [{"order": good.merchant_order_id, "bank_payment_ref": "4300010"}]
    assert [m["order"] for m in first["mismatched"]] == [wrong_amount.merchant_order_id]
    assert first["unconfirmed"] == []  # nothing is overdue one day after payment
    with frozen_at(T0 + timedelta(days=4)):
        code, later = run("--days", "3")
    assert code == 2 and later["confirmed"] == []  # confirmed once only
    assert {u["order"] for u in later["unconfirmed"]} == {wrong_amount.merchant_order_id, never.merchant_order_id}
    assert all(u["paid_fen"] == 20_000 and u["account"] == "ACC1" for u in later["unconfirmed"])
    with transaction(store) as s:
        confirms = s.scalars(select(AuditRecord.entity_id).where(AuditRecord.action == "payment.order.confirm")).all()
    assert confirms == [good.merchant_order_id]


def test_a_clean_run_exits_zero(store: Engine) -> None:
    order = new_order()
    make(store, order)
    deliver(store, paid(order, "4300020"))
    load(store, LedgerLoad(payments=[("4300020", "ACC1", date(2026, 12, 8), 20_000)]))
    with frozen_at(T0 + timedelta(days=10)):
        code, out = run()
    assert code == 0 and len(out["confirmed"]) == 1 and out["unconfirmed"] == [] and out["mismatched"] == []
