"""The payment-provider adapter interface: what the rest of arrears may ask of any provider."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from arrears.payments.model import Notification, Order, PaymentError, QueryResult, Refund


class NotificationRejected(PaymentError):
    """A notification that must not be believed: bad or missing signature, unknown key, a timestamp
    outside the allowed window (a replay), or a resource that does not decrypt. Answer it with 401."""

    status = 401


class NotificationIgnored(PaymentError):
    """A genuine notification of an event arrears does not act on (e.g. a refund that failed at the
    provider). Acknowledge it so the provider stops retrying; nothing changes."""

    status = 200


class ProviderError(PaymentError):
    """The provider refused a request, answered with an error, or its answer failed verification."""

    status = 502

    def __init__(self, message: str, *, code: str | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status


@dataclass(frozen=True)
class CreatedOrder:
    """Where the customer goes to pay: a QR code's content (Native) or a page to redirect to."""

    merchant_order_id: str
    qr_code: str | None = None
    redirect_url: str | None = None


@runtime_checkable
class PaymentProvider(Protocol):
    """A payment provider. Amounts are integer fen; times are timezone-aware.

    Every call either returns a verified answer or raises a :class:`PaymentError` whose message
    says what went wrong; a provider's answer is never trusted unverified.
    """

    #: the provider's name in the store (``payment_orders.provider``), e.g. ``"wechatpay"``
    name: str

    def create_order(self, order: Order) -> CreatedOrder:
        """Create the order at the provider; the same order created twice gives the same answer."""
        ...

    def parse_and_verify_notification(self, headers: Mapping[str, str], body: bytes) -> Notification:
        """Verify and decode an asynchronous notification, or raise :class:`NotificationRejected`
        (do not believe it) or :class:`NotificationIgnored` (acknowledge, act on nothing)."""
        ...

    def query_order(self, merchant_order_id: str) -> QueryResult:
        """Ask the provider for the order's current state (the fallback when notices are late)."""
        ...

    def close_order(self, merchant_order_id: str) -> None:
        """Close an unpaid order so it can no longer be paid."""
        ...

    def refund(
        self,
        *,
        merchant_order_id: str,
        merchant_refund_id: str,
        amount_fen: int,
        total_fen: int,
        reason: str | None = None,
    ) -> Refund:
        """Refund part or all of a paid order; idempotent on ``merchant_refund_id``."""
        ...
