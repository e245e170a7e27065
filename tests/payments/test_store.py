"""Payment orders in the store (SQLite and PostgreSQL): notifications applied once, the bank's
payment file confirms, and each payment is counted exactly once whatever the order of events."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from arrears.auth.tables import AuditRecord
from arrears.kit.clock import frozen_at
from arrears.kit.db import transaction
from arrears.kit.errors import NotFound
from arrears.payments.model import Notification, NotificationConflict, NotificationKind, Order
from arrears.payments.service import apply_notification, counted_fen, reconcile, record_order, unconfirmed_paid_orders
from arrears.payments.tables import PaymentEvent
from tests.factories import LedgerLoad, load

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
PROVIDER = "wechatpay"


def new_order(account: str = "ACC1", fen: int = 20_000) -> Order:
    return Order(f"T{uuid.uuid4().hex[:20]}", account, fen, "还款", T0, T0 + timedelta(hours=2))


def paid(order: Order, txn: str, fen: int | None = None, at: datetime = T0 + timedelta(minutes=3)) -> Notification:
    return Notification(
        order.merchant_order_id, NotificationKind.PAID, txn, order.amount_fen if fen is None else fen, at
    )


def deliver(engine: Engine, n: Notification) -> bool:
    with frozen_at(T0 + timedelta(minutes=10)), transaction(engine) as s:
        return apply_notification(s, notification=n, provider=PROVIDER, actor="provider:wechatpay").duplicate


def make(engine: Engine, order: Order) -> None:
    with transaction(engine) as s:
        record_order(s, order=order, provider=PROVIDER, actor="portal")


def counts(engine: Engine, account: str = "ACC1") -> tuple[int, int]:
    with transaction(engine) as s:
        return counted_fen(s, account_ref=account)


@pytest.fixture
def ledger(engine: Engine) -> Engine:
    load(engine, LedgerLoad(accounts=["ACC1", "ACC2"]))
    return engine


def test_a_paid_order_is_pending_once_and_duplicates_change_nothing(ledger: Engine) -> None:
    order = new_order()
    make(ledger, order)
    assert deliver(ledger, paid(order, "4200001")) is False
    assert deliver(ledger, paid(order, "4200001")) is True
    assert counts(ledger) == (0, 20_000)
    with transaction(ledger) as s:
        assert s.scalar(select(func.count()).select_from(PaymentEvent)) == 1
        actions = s.scalars(select(AuditRecord.action).where(AuditRecord.entity == "payment_order")).all()
    assert actions == ["payment.order.create", "payment.notification.paid"]


def test_conflicting_or_unknown_notifications_write_nothing(ledger: Engine) -> None:
    order = new_order()
    make(ledger, order)
    deliver(ledger, paid(order, "4200002"))
    with pytest.raises(NotificationConflict, match="4200002"):
        deliver(ledger, paid(order, "4200002", at=T0 + timedelta(minutes=4)))
    with pytest.raises(NotFound, match="no payment order"):
        deliver(ledger, paid(new_order(), "4200003"))
    other = new_order()
    make(ledger, other)
    with pytest.raises(NotificationConflict, match="another order"):
        deliver(ledger, paid(other, "4200002"))  # same provider transaction id, other order
    with transaction(ledger) as s:
        assert s.scalar(select(func.count()).select_from(PaymentEvent)) == 1
    assert counts(ledger) == (0, 20_000)


def test_the_bank_file_confirms_and_unconfirmed_payments_are_reported(ledger: Engine) -> None:
    good, wrong_amount, never = new_order(), new_order(), new_order()
    for order, txn in ((good, "4200010"), (wrong_amount, "4200011"), (never, "4200012")):
        make(ledger, order)
        deliver(ledger, paid(order, txn))
    load(ledger, LedgerLoad(payments=[("4200010", "ACC1", date(2026, 12, 8), 20_000),
                                       ("4200011", "ACC1", date(2026, 12, 8), 19_999)]))  # fmt: skip
    with frozen_at(T0 + timedelta(days=1)), transaction(ledger) as s:
        result = reconcile(s, actor="batch")
    assert result.confirmed == [(good.merchant_order_id, "4200010")]
    assert [(m[0], m[1]) for m in result.mismatched] == [(wrong_amount.merchant_order_id, "4200011")]
    assert "19999 fen" in result.mismatched[0][2]
    with transaction(ledger) as s:
        assert reconcile(s, actor="batch").confirmed == []  # confirming twice is impossible
        early = unconfirmed_paid_orders(s, as_of=T0 + timedelta(days=2), days=3)
        late = unconfirmed_paid_orders(s, as_of=T0 + timedelta(days=4), days=3)
    assert early == []
    assert {u.merchant_order_id for u in late} == {wrong_amount.merchant_order_id, never.merchant_order_id}
    assert all(u.paid_fen == 20_000 and u.account_ref == "ACC1" for u in late)


STEPS = st.lists(st.sampled_from(["notify", "notify", "bank_file", "reconcile", "close"]), min_size=1, max_size=8)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(steps=STEPS)
def test_each_payment_is_counted_exactly_once_whatever_the_order_of_notices_and_bank_file(
    ledger: Engine, steps
) -> None:  # type: ignore[no-untyped-def]
    """The customer paid at the provider; our notices (duplicated, late, after a close) and the bank's
    file (before or after them) and reconciliation runs come in any order. At every step the payment
    counts at most once; once both the notice and the file are in and reconciliation has run, exactly once."""
    account = f"P{uuid.uuid4().hex[:12]}"  # an account of its own: examples never see each other
    load(ledger, LedgerLoad(accounts=[account]))
    order = new_order(account, 7_700)
    txn = f"42{uuid.uuid4().hex[:16]}"
    make(ledger, order)
    notified = filed = False
    for step in steps:
        if step == "notify":
            deliver(ledger, paid(order, txn))
            notified = True
        elif step == "close":
            deliver(
                ledger,
                Notification(
                    order.merchant_order_id, NotificationKind.CLOSED, f"close:{order.merchant_order_id}", 0, T0
                ),
            )
        elif step == "bank_file" and not filed:
            load(ledger, LedgerLoad(payments=[(txn, account, date(2026, 12, 8), 7_700)]))
            filed = True
        elif step == "reconcile":
            with transaction(ledger) as s:
                reconcile(s, actor="batch")
        assert sum(counts(ledger, account)) == (7_700 if notified or filed else 0)
    with transaction(ledger) as s:
        reconcile(s, actor="batch")
    assert sum(counts(ledger, account)) == (7_700 if notified or filed else 0)
    with transaction(ledger) as s:
        reported = {u.merchant_order_id for u in unconfirmed_paid_orders(s, as_of=T0 + timedelta(days=30), days=3)}
    assert (order.merchant_order_id in reported) == (notified and not filed)
