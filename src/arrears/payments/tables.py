"""Payment orders at a provider, every distinct provider event about them, and their confirmation
by the bank's payment file."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from arrears.kit.db import Base, BigId, UTCDateTime, in_check

ORDER_STATES = ("created", "paid", "closed", "expired", "partially_refunded", "refunded")
EVENT_KINDS = ("paid", "closed", "refunded")


class PaymentOrder(Base):
    """One order created at a provider. Paid and not yet confirmed by the bank's file, it is a
    *pending* payment; confirmed, the bank's ledger payment (``bank_payment_ref``) counts instead."""

    __tablename__ = "payment_orders"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(in_check("state", ORDER_STATES), name="state"),
        CheckConstraint("paid_fen >= 0 AND refunded_fen >= 0 AND refunded_fen <= paid_fen", name="fen"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_order_id: Mapped[str] = mapped_column(String(32), unique=True)
    provider: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    #: fen
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(String(127))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    #: derived from the events by :mod:`arrears.payments.model`; "expired" is judged at read time
    state: Mapped[str] = mapped_column(String(24))
    transaction_id: Mapped[str | None] = mapped_column(String(64))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    #: the bank's payment id (ledger ``payments.payment_ref``) that confirmed it; one order per payment
    bank_payment_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


Index("ix_payment_orders_state_paid_at", PaymentOrder.state, PaymentOrder.paid_at)


class PaymentEvent(Base):
    """A distinct, verified provider event. Unique on (provider, provider transaction id): a
    duplicate delivery can never be stored, let alone counted, twice."""

    __tablename__ = "payment_events"
    __table_args__ = (
        CheckConstraint(in_check("kind", EVENT_KINDS), name="kind"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        Index("uq_payment_events_provider_txn", "provider", "provider_txn_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("payment_orders.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    provider_txn_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    #: fen
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payment_transaction_id: Mapped[str | None] = mapped_column(String(64))
    order_total: Mapped[int | None] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
