"""The outbox: every message the product will send (SMS, e-mail, letter) is first a row here,
written in the same transaction as the event that caused it, then delivered by a worker.

``idempotency_key`` is unique, so an event that is processed twice (a monitoring run repeated for
the same business date) enqueues its message once. ``payload`` holds what the template needs; for
a confirmation SMS that includes the one-time code, which exists nowhere else in the store (the
agreement keeps only its hash) and is never shown by the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from arrears.kit.clock import utc_now
from arrears.kit.db import Base, BigId, UTCDateTime, in_check

OUTBOX_CHANNELS = ("sms", "email", "letter")
#: ``sending``: claimed by a worker until ``next_attempt_at`` (the lease); see docs/channels.md.
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "dead")
#: What one attempt came to: delivered, a transient failure (retried), blocked by the compliance gate
#: (rescheduled), or dead (permanent failure, retries exhausted, opted out, never allowed).
DELIVERY_STATUSES = ("sent", "failed", "blocked", "dead")


class OutboxMessage(Base):
    """One message to deliver. ``status``: pending → sending (claimed; ``next_attempt_at`` is then the
    end of the worker's lease) → sent, or failed (retried at ``next_attempt_at``) → dead after the
    worker's last attempt. ``attempts`` counts claims."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint(in_check("channel", OUTBOX_CHANNELS), name="channel"),
        CheckConstraint(in_check("status", OUTBOX_STATUSES), name="status"),
        CheckConstraint("attempts >= 0", name="attempts"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    contact_point_id: Mapped[int | None] = mapped_column(ForeignKey("contact_points.id"))
    #: template code, e.g. ``plan.confirmation_code``, ``plan.reminder``
    template: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(8))
    payload: Mapped[Any] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


Index("ix_outbox_messages_status_next", OutboxMessage.status, OutboxMessage.next_attempt_at)
#: the cardholder's contact record: messages sent to the customer's contact points, newest first (migration 0021)
Index("ix_outbox_messages_contact_point_sent", OutboxMessage.contact_point_id, OutboxMessage.sent_at)


class MessageDelivery(Base):
    """One attempt to deliver an outbox message and what came of it (append-only)."""

    __tablename__ = "message_deliveries"
    __table_args__ = (CheckConstraint(in_check("status", DELIVERY_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox_messages.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    #: the provider's id for the message (SMS gateway id, SMTP Message-ID, print-file line)
    provider_ref: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
