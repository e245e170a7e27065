"""The compliance log: one row per gate decision worth keeping (every block, every override).

Append-only: rows are added, never updated or deleted. ``blocks`` and ``overrides`` hold the gate's own
words (:meth:`arrears.contact.policy.Decision.to_log_record`), so a decision can be read years later
without the pack that made it.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, String, Time
from sqlalchemy.orm import Mapped, mapped_column

from arrears.kit.clock import utc_now
from arrears.kit.db import Base, BigId, UTCDateTime

#: Who asked the gate: the API (a check or an override), the outbox worker, the daily contact plan,
#: or an agent recording an outbound interaction.
DECISION_SOURCES: tuple[str, ...] = ("api", "worker", "plan", "interaction")


class ContactDecision(Base):
    """One gate decision: the contact proposed, the pack that judged it, what blocked it and any override."""

    __tablename__ = "contact_decisions"
    __table_args__ = (
        CheckConstraint(f"source IN ({', '.join(repr(s) for s in DECISION_SOURCES)})", name="source"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: the instant of the proposed contact (UTC)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    channel: Mapped[str] = mapped_column(String(16))
    party: Mapped[str] = mapped_column(String(24))
    purpose: Mapped[str] = mapped_column(String(24))
    pack: Mapped[str] = mapped_column(String(32))
    pack_version: Mapped[str] = mapped_column(String(32))
    #: the layers of the pack, [{pack, version}] (null: logged before layers existed)
    layers: Mapped[Any] = mapped_column(JSON, nullable=True)
    allowed: Mapped[bool] = mapped_column(Boolean)
    #: [{rule_id, kind, source, message, message_zh, next_allowed_at, overridden}]
    blocks: Mapped[Any] = mapped_column(JSON)
    next_allowed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: [{rule_id, reason, approver, approver_id, approver_role, applied, refused_because}]
    overrides: Mapped[Any] = mapped_column(JSON)
    #: ``user:<id>`` for people, ``worker`` / ``planner`` for jobs
    actor: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    #: when the decision was logged
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


Index("ix_contact_decisions_allowed_id", ContactDecision.allowed, ContactDecision.id)


class OverrideUse(Base):
    """The one use of an approved override: the decision it consumed is the primary key, so a second
    use — even one made at the same moment in another process — fails on the store's unique key."""

    __tablename__ = "override_uses"

    decision_id: Mapped[int] = mapped_column(ForeignKey("contact_decisions.id"), primary_key=True,
                                             autoincrement=False)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: ``user:<id>`` of the agent who made the contact
    used_by: Mapped[str] = mapped_column(String(64))
    #: the gate decision logged for the contact the override let through
    use_decision_id: Mapped[int | None] = mapped_column(ForeignKey("contact_decisions.id"))


class ContactPreference(Base):
    """The customer's own wishes for contact (set on their page or by an agent): preferred hours and
    days, a preferred channel, and channels they asked us to stop. The gate honours them."""

    __tablename__ = "contact_preferences"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), unique=True)
    #: preferred local hours (None = any hour the rules allow)
    window_start: Mapped[time | None] = mapped_column(Time)
    window_end: Mapped[time | None] = mapped_column(Time)
    #: preferred weekdays, Monday first, "1" = yes (None = any day)
    days: Mapped[str | None] = mapped_column(String(7))
    preferred_channel: Mapped[str | None] = mapped_column(String(16))
    #: comma-separated channels the customer asked us to stop ("" = none)
    stopped_channels: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_by: Mapped[str] = mapped_column(String(64))
