"""Payment orders in the store: record an order, apply verified provider notifications once,
and reconcile paid orders with the bank's payment file.

Counting rule (each payment exactly once): a paid order is a **pending** payment of its account
(``paid_fen - refunded_fen``) until a row of the bank's payment file confirms it; from then on the
bank's ledger payment counts and the order no longer does. The file's row confirms an order when
its ``payment_id`` is the provider's transaction id of the order's payment, on the same account,
for the same amount; one ledger payment confirms at most one order. A paid order that no file has
confirmed after N days is reported by :func:`unconfirmed_paid_orders`.

Services flush, never commit; every write leaves an audit record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from arrears.auth.service import record
from arrears.kit.clock import utc_now
from arrears.kit.errors import NotFound
from arrears.payments import repository as repo
from arrears.payments.model import (
    InvalidOrder,
    Notification,
    NotificationConflict,
    NotificationKind,
    Order,
    OrderState,
    OrderStatus,
    QueryResult,
    apply,
)
from arrears.payments.tables import PaymentEvent, PaymentOrder


def _notification(event: PaymentEvent, merchant_order_id: str) -> Notification:
    return Notification(
        merchant_order_id=merchant_order_id,
        kind=NotificationKind(event.kind),
        transaction_id=event.provider_txn_id,
        amount_fen=event.amount,
        occurred_at=event.occurred_at,
        currency=event.currency,
        payment_transaction_id=event.payment_transaction_id,
        order_total_fen=event.order_total,
    )


def to_order(row: PaymentOrder, account_ref: str) -> Order:
    return Order(
        merchant_order_id=row.merchant_order_id,
        account_ref=account_ref,
        amount_fen=row.amount,
        description=row.description,
        created_at=row.created_at,
        expires_at=row.expires_at,
        currency=row.currency,
    )


def status_of(session: Session, row: PaymentOrder) -> OrderStatus:
    order = to_order(row, repo.account_ref(session, row.account_id))
    events = frozenset(_notification(e, row.merchant_order_id) for e in repo.events_of(session, row.id))
    return OrderStatus(order, events)


def record_order(session: Session, *, order: Order, provider: str, actor: str) -> PaymentOrder:
    """Store a new order (before it is created at the provider). Its id must be new."""
    account = repo.account_id(session, order.account_ref)
    if account is None:
        raise NotFound(f"no account {order.account_ref!r}")
    if repo.order_by_merchant_id(session, order.merchant_order_id) is not None:
        raise InvalidOrder(f"payment order {order.merchant_order_id} exists already")
    row = repo.add_order(
        session,
        PaymentOrder(
            merchant_order_id=order.merchant_order_id, provider=provider, account_id=account, amount=order.amount_fen,
            currency=order.currency, description=order.description, created_at=order.created_at,
            expires_at=order.expires_at, created_by=actor, state="created", paid_fen=0, refunded_fen=0,
        ),
    )  # fmt: skip
    record(session, actor=actor, action="payment.order.create", entity="payment_order", entity_id=row.merchant_order_id,
           detail={"account": order.account_ref, "amount_fen": order.amount_fen, "provider": provider})  # fmt: skip
    return row


@dataclass(frozen=True)
class Applied:
    order: PaymentOrder
    status: OrderStatus
    duplicate: bool
    #: this notification is the first that shows the order paid (it happens once per order)
    newly_paid: bool = False


def apply_notification(session: Session, *, notification: Notification, provider: str, actor: str) -> Applied:
    """Apply one verified notification. A transaction id already stored changes nothing
    (``duplicate``); the same id with other content raises :class:`NotificationConflict`."""
    row = repo.order_by_merchant_id(session, notification.merchant_order_id, for_update=True)
    if row is None:
        raise NotFound(f"no payment order {notification.merchant_order_id!r}")
    if row.provider != provider:
        raise NotificationConflict(f"payment order {row.merchant_order_id} is at {row.provider}, not {provider}")
    before = status_of(session, row)
    after = apply(before, notification)  # raises on a mismatch or a conflict
    if after == before:
        return Applied(row, after, duplicate=True)
    stored = repo.insert_event(
        session,
        PaymentEvent(
            order_id=row.id, provider=provider, provider_txn_id=notification.transaction_id,
            kind=notification.kind.value, amount=notification.amount_fen, currency=notification.currency,
            occurred_at=notification.occurred_at, payment_transaction_id=notification.payment_transaction_id,
            order_total=notification.order_total_fen, received_at=utc_now(),
        ),
    )  # fmt: skip
    if not stored:  # the id is stored under another order of this provider
        raise NotificationConflict(
            f"provider transaction {notification.transaction_id} is already recorded for another order"
        )
    row.state = after.state(utc_now()).value
    row.paid_fen, row.refunded_fen, row.paid_at = after.paid_fen, after.refunded_fen, after.paid_at
    payments = after.payments
    row.transaction_id = min(payments) if payments else None
    session.flush()
    record(session, actor=actor, action=f"payment.notification.{notification.kind.value}", entity="payment_order",
           entity_id=row.merchant_order_id,
           detail={"transaction_id": notification.transaction_id, "amount_fen": notification.amount_fen,
                   "state": row.state})  # fmt: skip
    return Applied(row, after, duplicate=False, newly_paid=not before.payments and bool(after.payments))


def notification_from_query(result: QueryResult) -> Notification | None:
    """The payment a provider's answer to a query shows, as the notification that would have told it
    (the same content, so applying both counts it once); None while the order is not paid."""
    if not result.paid or result.transaction_id is None or result.paid_at is None:
        return None
    return Notification(merchant_order_id=result.merchant_order_id, kind=NotificationKind.PAID,
                        transaction_id=result.transaction_id, amount_fen=result.amount_fen, occurred_at=result.paid_at)


#: How an order reads to people: waiting, not paid, pending the bank's file, confirmed, unconfirmed, refunded.
ORDER_VIEWS = ("waiting", "not_paid", "pending_confirmation", "confirmed", "unconfirmed", "refunded")


def order_view(row: PaymentOrder, *, now: datetime, confirm_within_days: int) -> str:
    """One of :data:`ORDER_VIEWS` for an order (``unconfirmed``: paid, and no bank payment file has
    confirmed it ``confirm_within_days`` days later — what :func:`unconfirmed_paid_orders` reports)."""
    if row.state == OrderState.REFUNDED.value:
        return "refunded"
    if row.paid_fen > 0:
        if row.bank_payment_ref is not None:
            return "confirmed"
        if row.paid_at is not None and row.paid_at < now - timedelta(days=confirm_within_days):
            return "unconfirmed"
        return "pending_confirmation"
    if row.state == OrderState.CREATED.value and now < row.expires_at:
        return "waiting"
    return "not_paid"


@dataclass(frozen=True)
class Reconciliation:
    confirmed: list[tuple[str, str]]  # (merchant order id, bank payment ref)
    mismatched: list[tuple[str, str, str]]  # (merchant order id, bank payment ref, why)


def reconcile(session: Session, *, actor: str) -> Reconciliation:
    """Confirm paid orders whose payment the bank's payment file now holds (see the module docstring)."""
    open_orders = [o for o in repo.paid_unconfirmed(session) if o.transaction_id]
    ledger = repo.ledger_payments(session, (o.transaction_id for o in open_orders if o.transaction_id))
    confirmed: list[tuple[str, str]] = []
    mismatched: list[tuple[str, str, str]] = []
    for order in open_orders:
        payment = ledger.get(order.transaction_id or "")
        if payment is None:
            continue
        if payment.account_id != order.account_id:
            mismatched.append(
                (order.merchant_order_id, payment.payment_ref, "the bank's payment is on another account")
            )
            continue
        if payment.amount != order.paid_fen:
            mismatched.append(
                (order.merchant_order_id, payment.payment_ref,
                 f"the bank's payment is {payment.amount} fen, the order was paid {order.paid_fen} fen")
            )  # fmt: skip
            continue
        order.bank_payment_ref, order.confirmed_at = payment.payment_ref, utc_now()
        session.flush()
        record(session, actor=actor, action="payment.order.confirm", entity="payment_order",
               entity_id=order.merchant_order_id, detail={"bank_payment_ref": payment.payment_ref})  # fmt: skip
        confirmed.append((order.merchant_order_id, payment.payment_ref))
    return Reconciliation(confirmed, mismatched)


@dataclass(frozen=True)
class Unconfirmed:
    merchant_order_id: str
    account_ref: str
    transaction_id: str | None
    paid_fen: int
    paid_at: datetime


def unconfirmed_paid_orders(session: Session, *, as_of: datetime, days: int) -> list[Unconfirmed]:
    """Paid orders that no bank payment file has confirmed ``days`` days after payment."""
    if days < 0:
        raise InvalidOrder(f"days must be zero or more, got {days}")
    rows = repo.paid_unconfirmed(session, paid_before=as_of - timedelta(days=days))
    return [
        Unconfirmed(
            o.merchant_order_id, repo.account_ref(session, o.account_id), o.transaction_id, o.paid_fen, o.paid_at
        )  # fmt: skip
        for o in rows
        if o.paid_at is not None
    ]


def counted_fen(session: Session, *, account_ref: str) -> tuple[int, int]:
    """(the bank's ledger payments, pending provider payments) of an account: each payment in one only."""
    account = repo.account_id(session, account_ref)
    if account is None:
        raise NotFound(f"no account {account_ref!r}")
    return repo.ledger_fen(session, account), repo.pending_fen(session, account)


@dataclass(frozen=True)
class OrderLine:
    """One payment order as the agent's case page lists it."""

    merchant_order_id: str
    amount_fen: int
    view: str  # one of ORDER_VIEWS
    created_at: datetime
    paid_at: datetime | None
    bank_payment_ref: str | None


def orders_of_account(session: Session, *, account_id: int, now: datetime, confirm_within_days: int) -> list[OrderLine]:
    """An account's payment orders, newest first, each with how it reads (:func:`order_view`)."""
    return [
        OrderLine(o.merchant_order_id, o.amount, order_view(o, now=now, confirm_within_days=confirm_within_days),
                  o.created_at, o.paid_at, o.bank_payment_ref)
        for o in repo.orders_of_account(session, account_id)
    ]
