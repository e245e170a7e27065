"""The records Regulation F needs beyond the contact history (``us-reg-f``, docs/compliance.md):

- ``cease_requests``: the consumer's written request to cease communication, or refusal to pay
  (12 CFR 1006.6(c)), with the date it was received; append-only.
- ``contact_point_flags``: what the collector knows of a contact point at the consumer's place of
  employment — the employer prohibits such communications (1006.6(b)(3)), or the e-mail address was
  provided by the employer (1006.22(f)(3)).
- ``account_limitations``: the first date on which the debt is time-barred (1006.26(b)), as the bank
  set it for the account (the state's statute of limitations applied to the account's dates).
- ``validation_notices``: one per account — when the initial communication took place, the date the
  validation notice is due by (1006.34(a)(1)), and its delivery record (1006.42): method, when sent,
  delivered or returned.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from arrears.kit.clock import utc_now
from arrears.kit.db import Base, BigId, UTCDateTime, in_check

#: ``cease``: the consumer wants communication to cease; ``refusal_to_pay``: the consumer refuses to pay.
CEASE_KINDS: tuple[str, ...] = ("cease", "refusal_to_pay")
#: How the written notice came (each is "in writing").
CEASE_CHANNELS: tuple[str, ...] = ("letter", "email", "fax")
#: How a validation notice is sent (12 CFR 1006.34(a)(1)(i)(B): in writing or electronically).
NOTICE_METHODS: tuple[str, ...] = ("letter", "email")
#: A validation notice's delivery record: due (not sent yet), sent, delivered, returned undelivered.
NOTICE_DELIVERY: tuple[str, ...] = ("due", "sent", "delivered", "returned")


class CeaseRequest(Base):
    """A written cease-communication request or refusal to pay, received on ``received_on``."""

    __tablename__ = "cease_requests"
    __table_args__ = (
        CheckConstraint(in_check("kind", CEASE_KINDS), name="kind"),
        CheckConstraint(in_check("channel", CEASE_CHANNELS), name="channel"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    #: the date the written notice was received (the bank's calendar)
    received_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class ContactPointFlags(Base):
    """What the collector knows of a contact point at the consumer's place of employment."""

    __tablename__ = "contact_point_flags"

    contact_point_id: Mapped[int] = mapped_column(ForeignKey("contact_points.id"), primary_key=True,
                                                  autoincrement=False)
    #: the consumer's employer prohibits such communications at this contact point
    employer_forbids: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the e-mail address was provided by the consumer's employer
    employer_provided: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class AccountLimitation(Base):
    """The first date on which the account's debt is time-barred, and on what basis."""

    __tablename__ = "account_limitations"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True, autoincrement=False)
    limitation_date: Mapped[date] = mapped_column(Date)
    #: e.g. "NY CPLR 214-i, 3 years from the last payment"
    basis: Mapped[str] = mapped_column(String(200))
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class ValidationNotice(Base):
    """The account's validation notice: due ``due_on`` (five days after the initial communication),
    and its delivery record."""

    __tablename__ = "validation_notices"
    __table_args__ = (
        CheckConstraint(in_check("delivery", NOTICE_DELIVERY), name="delivery"),
        CheckConstraint(f"method IS NULL OR {in_check('method', NOTICE_METHODS)}", name="method"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    first_communication_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: the last customer-local date on which the notice may be sent
    due_on: Mapped[date] = mapped_column(Date, index=True)
    delivery: Mapped[str] = mapped_column(String(16), default="due")
    method: Mapped[str | None] = mapped_column(String(16))
    locale: Mapped[str | None] = mapped_column(String(8))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: when it was confirmed delivered, or came back undelivered
    delivery_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outbox_message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_messages.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
