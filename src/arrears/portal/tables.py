"""Personal links, identity attempts and verified visits of the cardholder's pages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from arrears.kit.db import Base, BigId, UTCDateTime, in_check

LINK_CHANNELS = ("sms", "email", "none")
ATTEMPT_OUTCOMES = ("verified", "wrong", "unknown_link", "refused")
CODE_PURPOSES = ("identity", "plan")


class PortalLink(Base):
    """One personal link: for one account, until it expires or is revoked (a new link revokes the old)."""

    __tablename__ = "portal_links"
    __table_args__ = (CheckConstraint(in_check("channel", LINK_CHANNELS), name="channel"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    #: random, never shown: the token's mac is computed over it with the portal key
    nonce: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(8))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_messages.id"))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revoke_reason: Mapped[str | None] = mapped_column(String(200))
    first_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    #: the first thing the cardholder did through the link (paid, chose a plan, promised, booked …)
    acted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PortalAttempt(Base):
    """Every identity answer: the throttle counts them per link and per client address."""

    __tablename__ = "portal_attempts"
    __table_args__ = (CheckConstraint(in_check("outcome", ATTEMPT_OUTCOMES), name="outcome"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    link_id: Mapped[int | None] = mapped_column(ForeignKey("portal_links.id"))
    remote: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(16))


Index("ix_portal_attempts_remote_at", PortalAttempt.remote, PortalAttempt.at)


class PortalSession(Base):
    """A verified visit: the cookie's token is shown once, only its sha256 is kept."""

    __tablename__ = "portal_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("portal_links.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PortalCode(Base):
    """A one-time code sent to the mobile number on file: to prove identity, or to confirm a plan the
    cardholder chose (``subject_id`` = the agreement). Only its digest is kept; it is used once."""

    __tablename__ = "portal_codes"
    __table_args__ = (CheckConstraint(in_check("purpose", CODE_PURPOSES), name="purpose"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("portal_links.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int | None] = mapped_column(BigId)
    code_hash: Mapped[str] = mapped_column(String(64))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_messages.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
