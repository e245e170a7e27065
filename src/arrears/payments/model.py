"""Payment orders as pure rules: the order, what a provider tells us about it, and the order's state.

No database, no I/O. Money is integer fen (分); times are timezone-aware.

The state machine
=================

An order is ``created``; it ends ``paid``, ``closed`` (we or the provider closed it unpaid) or
``expired`` (its expiry passed unpaid). A paid order can be ``partially_refunded`` or ``refunded``.

Providers deliver notifications *at least once* and in *no particular order*: a refund notice can
arrive before the payment notice it refers to, a payment notice can arrive after the order was
closed or expired, and any notice can come twice. So :class:`OrderStatus` does not walk a path of
states; it keeps the **set** of distinct provider events, keyed by the provider's transaction id
(the payment's ``transaction_id``, a refund's ``refund_id``), and the state is a function of that
set and of the time:

- a payment notice, or a refund notice (which names the payment it refunds), means the money was
  taken: the order is paid, whatever closed or expired said — money received is never ignored;
- refunds add up per distinct refund id; all of the payment refunded → ``refunded``, some →
  ``partially_refunded``;
- otherwise a close notice → ``closed``; otherwise past ``expires_at`` → ``expired``; else ``created``.

Because a set union is commutative, associative and idempotent, :func:`apply` gives the same
status for any order of the same notifications, duplicates included, and each paid transaction is
counted once. The same transaction id arriving with *different* content is not a duplicate but a
conflict, and raises :class:`NotificationConflict` whichever of the two came first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from arrears.kit.errors import ArrearsError

CURRENCY = "CNY"


class PaymentError(ArrearsError):
    """Base of the payment package's errors."""

    status = 400


class InvalidOrder(PaymentError):
    status = 422


class NotificationMismatch(PaymentError):
    """A notification does not fit the order it names (other order, other amount, other currency)."""

    status = 422


class NotificationConflict(PaymentError):
    """The same provider transaction id came twice with different content."""

    status = 409


class OrderState(StrEnum):
    CREATED = "created"
    PAID = "paid"
    CLOSED = "closed"
    EXPIRED = "expired"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class NotificationKind(StrEnum):
    PAID = "paid"
    CLOSED = "closed"
    REFUNDED = "refunded"


def _aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidOrder(f"{name} must be a timezone-aware datetime, got {value!r}")


def _fen(name: str, value: object, *, positive: bool = True) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidOrder(f"{name} must be an integer number of fen, got {value!r}")
    if value < (1 if positive else 0):
        raise InvalidOrder(f"{name} must be {'positive' if positive else 'zero or more'} fen, got {value}")


@dataclass(frozen=True)
class Order:
    """A payment order as we create it at the provider."""

    merchant_order_id: str
    account_ref: str
    amount_fen: int
    description: str
    created_at: datetime
    expires_at: datetime
    currency: str = CURRENCY

    def __post_init__(self) -> None:
        if not self.merchant_order_id or not (6 <= len(self.merchant_order_id) <= 32):
            raise InvalidOrder(f"merchant_order_id must be 6 to 32 characters, got {self.merchant_order_id!r}")
        if not all(c.isascii() and (c.isalnum() or c in "_-|*") for c in self.merchant_order_id):
            raise InvalidOrder(
                f"merchant_order_id may hold only letters, digits and _-|*, got {self.merchant_order_id!r}"
            )
        if not self.account_ref:
            raise InvalidOrder("account_ref must not be empty")
        _fen("amount_fen", self.amount_fen)
        if self.currency != CURRENCY:
            raise InvalidOrder(f"currency must be {CURRENCY}, got {self.currency!r}")
        if not self.description or len(self.description) > 127:
            raise InvalidOrder("description must be 1 to 127 characters")
        _aware("created_at", self.created_at)
        _aware("expires_at", self.expires_at)
        if self.expires_at <= self.created_at:
            raise InvalidOrder("expires_at must be after created_at")


@dataclass(frozen=True)
class Notification:
    """One verified event from the provider about one order.

    ``transaction_id`` is the provider's id of the event: the payment's transaction id for
    ``paid``, the refund id for ``refunded`` (with ``payment_transaction_id`` naming the payment it
    refunds), and an id of our choosing for ``closed`` (``"close:<order id>"``: one close per order).
    ``amount_fen`` is the order's total for ``paid``, the refunded amount for ``refunded``.
    """

    merchant_order_id: str
    kind: NotificationKind
    transaction_id: str
    amount_fen: int
    occurred_at: datetime
    currency: str = CURRENCY
    payment_transaction_id: str | None = None
    order_total_fen: int | None = None

    def __post_init__(self) -> None:
        if not self.transaction_id:
            raise InvalidOrder("transaction_id must not be empty")
        _fen("amount_fen", self.amount_fen, positive=self.kind is not NotificationKind.CLOSED)
        _aware("occurred_at", self.occurred_at)
        if self.kind is NotificationKind.REFUNDED and not self.payment_transaction_id:
            raise InvalidOrder("a refund notification must name the payment transaction it refunds")


@dataclass(frozen=True)
class QueryResult:
    """What the provider says about an order when asked."""

    merchant_order_id: str
    trade_state: str  # the provider's own word (e.g. SUCCESS, NOTPAY, CLOSED, REFUND)
    amount_fen: int
    transaction_id: str | None = None
    paid_at: datetime | None = None

    @property
    def paid(self) -> bool:
        return self.transaction_id is not None and self.trade_state in {"SUCCESS", "REFUND"}


@dataclass(frozen=True)
class Refund:
    """A refund we asked for and what the provider answered."""

    merchant_order_id: str
    merchant_refund_id: str
    amount_fen: int
    total_fen: int
    status: str  # SUCCESS, PROCESSING, CLOSED, ABNORMAL (the provider's word)
    provider_refund_id: str | None = None
    transaction_id: str | None = None
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        _fen("amount_fen", self.amount_fen)
        _fen("total_fen", self.total_fen)
        if self.amount_fen > self.total_fen:
            raise InvalidOrder(f"refund of {self.amount_fen} fen exceeds the order's {self.total_fen} fen")


@dataclass(frozen=True)
class OrderStatus:
    """An order and the distinct provider events seen for it (see the module's docstring)."""

    order: Order
    events: frozenset[Notification] = field(default_factory=frozenset)

    def _by_kind(self, kind: NotificationKind) -> list[Notification]:
        return [e for e in self.events if e.kind is kind]

    @property
    def payments(self) -> dict[str, int]:
        """Paid transaction id → fen, each transaction once (a refund also proves its payment)."""
        paid = {e.transaction_id: e.amount_fen for e in self._by_kind(NotificationKind.PAID)}
        for e in self._by_kind(NotificationKind.REFUNDED):
            assert e.payment_transaction_id is not None
            paid.setdefault(e.payment_transaction_id, self.order.amount_fen)
        return paid

    @property
    def paid_fen(self) -> int:
        return sum(self.payments.values())

    @property
    def refunded_fen(self) -> int:
        return sum(e.amount_fen for e in self._by_kind(NotificationKind.REFUNDED))

    @property
    def paid_at(self) -> datetime | None:
        """When the money was taken: the payment notice's time, or — while only a refund notice has
        come (which proves the payment) — the earliest refund's."""
        times = [e.occurred_at for e in self._by_kind(NotificationKind.PAID)]
        times = times or [e.occurred_at for e in self._by_kind(NotificationKind.REFUNDED)]
        return min(times) if times else None

    def state(self, now: datetime) -> OrderState:
        _aware("now", now)
        if self.payments:
            if self.refunded_fen >= self.paid_fen:
                return OrderState.REFUNDED
            if self.refunded_fen > 0:
                return OrderState.PARTIALLY_REFUNDED
            return OrderState.PAID
        if self._by_kind(NotificationKind.CLOSED):
            return OrderState.CLOSED
        if now >= self.order.expires_at:
            return OrderState.EXPIRED
        return OrderState.CREATED


def _check_fits(order: Order, n: Notification) -> None:
    if n.merchant_order_id != order.merchant_order_id:
        raise NotificationMismatch(
            f"notification {n.transaction_id} is for order {n.merchant_order_id!r}, not {order.merchant_order_id!r}"
        )
    if n.currency != order.currency:
        raise NotificationMismatch(
            f"notification {n.transaction_id}: currency {n.currency!r}, order is {order.currency}"
        )
    if n.kind is NotificationKind.PAID and n.amount_fen != order.amount_fen:
        raise NotificationMismatch(
            f"notification {n.transaction_id}: paid {n.amount_fen} fen, order {order.merchant_order_id} is {order.amount_fen} fen"
        )
    if n.order_total_fen is not None and n.order_total_fen != order.amount_fen:
        raise NotificationMismatch(
            f"notification {n.transaction_id}: order total {n.order_total_fen} fen, order is {order.amount_fen} fen"
        )


def apply(status: OrderStatus, notification: Notification) -> OrderStatus:
    """The status after one more notification. Idempotent on the provider's transaction id.

    Raises :class:`NotificationMismatch` when the notification does not fit the order, and
    :class:`NotificationConflict` when its transaction id was seen with different content or the
    refunds would exceed what was paid.
    """
    order = status.order
    _check_fits(order, notification)
    for seen in status.events:
        if seen.transaction_id == notification.transaction_id:
            if seen == notification:
                return status
            raise NotificationConflict(
                f"provider transaction {notification.transaction_id} of order {order.merchant_order_id} "
                "arrived again with different content"
            )
    new = replace(status, events=status.events | {notification})
    refunded, ceiling = new.refunded_fen, len(new.payments) * order.amount_fen
    if refunded > ceiling:
        raise NotificationConflict(
            f"refunds of order {order.merchant_order_id} add up to {refunded} fen, more than the {ceiling} fen paid"
        )
    return new


def replay(order: Order, notifications: Iterable[Notification]) -> OrderStatus:
    """Fold :func:`apply` over notifications, from a fresh status."""
    status = OrderStatus(order)
    for n in notifications:
        status = apply(status, n)
    return status
