"""Payment order model: any order of notifications, duplicates and late ones included, gives one state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.payments.model import (
    InvalidOrder,
    Notification,
    NotificationConflict,
    NotificationKind,
    NotificationMismatch,
    Order,
    OrderState,
    apply,
    replay,
)

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
ORDER = Order(
    merchant_order_id="ORD20261207001",
    account_ref="ACC001",
    amount_fen=12_345,
    description="还款 ACC001",
    created_at=T0,
    expires_at=T0 + timedelta(hours=2),
)


def paid(txn: str, at: int = 5) -> Notification:
    return Notification(
        ORDER.merchant_order_id, NotificationKind.PAID, txn, ORDER.amount_fen, T0 + timedelta(minutes=at)
    )


def refund(rid: str, fen: int, pay_txn: str = "TX1") -> Notification:
    return Notification(
        ORDER.merchant_order_id,
        NotificationKind.REFUNDED,
        rid,
        fen,
        T0 + timedelta(hours=1),
        payment_transaction_id=pay_txn,
    )


CLOSE = Notification(
    ORDER.merchant_order_id, NotificationKind.CLOSED, "close:ORD20261207001", 0, T0 + timedelta(minutes=30)
)


def reference(unique: list[Notification], now: datetime) -> tuple[OrderState, int, int]:
    """A plain walk of the textbook state machine over events in their natural order:
    payments first, then refunds, then closes (which a paid order ignores)."""
    state, paid_ids, refunded = OrderState.CREATED, set(), 0
    natural = sorted(
        unique, key=lambda n: [NotificationKind.PAID, NotificationKind.REFUNDED, NotificationKind.CLOSED].index(n.kind)
    )
    for n in natural:
        if n.kind is NotificationKind.PAID:
            paid_ids.add(n.transaction_id)
            state = OrderState.PAID
        elif n.kind is NotificationKind.REFUNDED:
            paid_ids.add(n.payment_transaction_id)
            refunded += n.amount_fen
            total = len(paid_ids) * ORDER.amount_fen
            state = OrderState.REFUNDED if refunded >= total else OrderState.PARTIALLY_REFUNDED
        elif state is OrderState.CREATED:
            state = OrderState.CLOSED
    if state is OrderState.CREATED and now >= ORDER.expires_at:
        state = OrderState.EXPIRED
    return state, len(paid_ids) * ORDER.amount_fen, refunded


@st.composite
def histories(draw):  # type: ignore[no-untyped-def]
    unique: list[Notification] = []
    if draw(st.booleans()):
        unique.append(paid("TX1", draw(st.integers(0, 600))))  # may come after expiry: a late notice
    n_refunds = draw(st.integers(0, 3))
    budget = ORDER.amount_fen
    for i in range(n_refunds):
        if budget == 0:
            break
        fen = draw(st.integers(1, budget))
        budget -= fen
        unique.append(refund(f"RF{i}", fen))
    if draw(st.booleans()):
        unique.append(CLOSE)
    # Deliveries: every event at least once, some several times, in any order.
    deliveries = [n for n in unique for _ in range(draw(st.integers(1, 3)))]
    deliveries = draw(st.permutations(deliveries))
    now = T0 + timedelta(minutes=draw(st.integers(0, 600)))
    return unique, deliveries, now


@settings(max_examples=300, deadline=None)
@given(histories())
def test_any_interleaving_gives_the_reference_state_and_counts_each_payment_once(history) -> None:  # type: ignore[no-untyped-def]
    unique, deliveries, now = history
    status = replay(ORDER, deliveries)
    assert (status.state(now), status.paid_fen, status.refunded_fen) == reference(unique, now)
    assert status == replay(ORDER, unique)  # duplicates change nothing
    assert status == replay(ORDER, reversed(deliveries))


def test_paid_after_close_or_expiry_is_still_paid_and_close_after_pay_changes_nothing() -> None:
    late = T0 + timedelta(days=1)
    assert replay(ORDER, [CLOSE, paid("TX1", 500)]).state(late) is OrderState.PAID
    assert replay(ORDER, [paid("TX1"), CLOSE]).state(late) is OrderState.PAID
    assert replay(ORDER, [CLOSE]).state(late) is OrderState.CLOSED
    assert replay(ORDER, []).state(late) is OrderState.EXPIRED
    assert replay(ORDER, []).state(T0) is OrderState.CREATED


def test_refund_before_its_payment_notice_counts_the_payment_once() -> None:
    early = replay(ORDER, [refund("RF1", 345)])
    assert (early.state(T0), early.paid_fen, early.paid_at) == (
        OrderState.PARTIALLY_REFUNDED,
        12_345,
        T0 + timedelta(hours=1),
    )
    status = replay(ORDER, [refund("RF1", 345), paid("TX1"), refund("RF1", 345), paid("TX1")])
    assert status.paid_at == T0 + timedelta(minutes=5)
    assert status.payments == {"TX1": ORDER.amount_fen}
    assert status.state(T0) is OrderState.PARTIALLY_REFUNDED
    assert replay(ORDER, [paid("TX1"), refund("RF1", 12_000), refund("RF2", 345)]).state(T0) is OrderState.REFUNDED


def test_same_transaction_id_with_other_content_is_a_conflict_either_way_round() -> None:
    a, b = paid("TX1", at=5), paid("TX1", at=6)
    for first, second in ((a, b), (b, a)):
        with pytest.raises(NotificationConflict, match="TX1"):
            replay(ORDER, [first, second])


def test_notifications_that_do_not_fit_the_order_are_refused() -> None:
    wrong_amount = Notification(ORDER.merchant_order_id, NotificationKind.PAID, "TX9", 1, T0)
    with pytest.raises(NotificationMismatch, match="paid 1 fen"):
        apply(replay(ORDER, []), wrong_amount)
    other_order = Notification("ORD-OTHER-1", NotificationKind.PAID, "TX9", ORDER.amount_fen, T0)
    with pytest.raises(NotificationMismatch, match="ORD-OTHER-1"):
        apply(replay(ORDER, []), other_order)
    with pytest.raises(NotificationConflict, match="more than"):
        replay(ORDER, [paid("TX1"), refund("RF1", 12_000), refund("RF2", 346)])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount_fen": 1.5}, "integer number of fen"),
        ({"amount_fen": 0}, "positive"),
        ({"currency": "USD"}, "currency"),
        ({"created_at": datetime(2026, 12, 7, 9, 0)}, "timezone-aware"),
        ({"expires_at": T0}, "after created_at"),
        ({"merchant_order_id": "a b"}, "merchant_order_id"),
    ],
)
def test_bad_orders_are_refused_with_the_field_named(changes: dict, message: str) -> None:
    fields = {**ORDER.__dict__, **changes}
    with pytest.raises(InvalidOrder, match=message):
        Order(**fields)
