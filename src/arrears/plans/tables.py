"""Repayment plans in the store: agreements (versioned, frozen once confirmed), their instalments,
and the re-ageing of accounts by completed plans.

Immutability is enforced twice: the services never change a confirmed agreement's terms, and the
database refuses it (triggers of migration 0006, on SQLite and PostgreSQL): once ``confirmed_at`` is
set, an UPDATE that changes any column of :data:`FROZEN_COLUMNS` fails, and an instalment's
schedule columns (:data:`FROZEN_INSTALMENT_COLUMNS`) can never be updated. A change to a confirmed
agreement is a new version (``supersedes_id`` → the old one), and the old one becomes
``superseded`` when the new one is confirmed.

Monitoring history lives in the instalment rows (status, paid, paid_on, missed_on, reminded_on),
the agreement's status and end fields, the case's tasks and transitions, the outbox and the audit
log (one record per event); there is no separate event table.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from arrears.kit.clock import utc_now
from arrears.kit.db import Base, BigId, UTCDateTime, in_check
from arrears.plans.model import INSTALMENT_STATUSES, KINDS

#: pending_approval → awaiting_confirmation → active → completed | broken | superseded;
#: cancelled from any state before active (and an active one is ended only by monitoring or a revision).
AGREEMENT_STATUSES = (
    "pending_approval", "awaiting_confirmation", "active", "completed", "broken", "superseded", "cancelled",
)
#: States in which an agreement is still being made (not yet binding).
DRAFT_STATUSES = ("pending_approval", "awaiting_confirmation")
CONFIRMATION_METHODS = ("sms_code", "recorded_call", "signed_document", "app")
TERMS_LOCALES = ("zh_CN", "en")

#: Columns of a confirmed agreement the database refuses to change.
FROZEN_COLUMNS = (
    "case_id", "account_id", "version", "supersedes_id", "product_code", "kind", "start_date", "principal",
    "fees", "interest", "waived", "total", "annual_rate", "months", "days", "discount_percent",
    "largest_instalment", "reason", "investigation_id", "created_by", "approved_by", "approved_at",
    "confirmation_method", "confirmation_ref", "confirmed_at", "confirmed_by", "terms_locale", "terms_text",
    "terms_sha256", "pdf", "pdf_sha256",
)
#: Columns of an instalment the database refuses to change, ever.
FROZEN_INSTALMENT_COLUMNS = (
    "agreement_id", "number", "due_date", "principal", "fee", "fee_waived", "interest", "amount",
)


class PlanAgreement(Base):
    """One version of a repayment agreement on a case: the option chosen, exactly as offered."""

    __tablename__ = "plan_agreements"
    __table_args__ = (
        CheckConstraint(in_check("status", AGREEMENT_STATUSES), name="status"),
        CheckConstraint(in_check("kind", KINDS), name="kind"),
        CheckConstraint(f"confirmation_method IS NULL OR {in_check('confirmation_method', CONFIRMATION_METHODS)}",
                        name="confirmation_method"),
        CheckConstraint(in_check("terms_locale", TERMS_LOCALES), name="terms_locale"),
        CheckConstraint("principal >= 0 AND fees >= 0 AND interest >= 0 AND waived >= 0 AND total >= 0",
                        name="money"),
        CheckConstraint("version >= 1", name="version"),
        CheckConstraint("kind <> 'personalised' OR (reason IS NOT NULL AND length(reason) > 0)",
                        name="personalised_reason"),
        CheckConstraint("approved_by IS NULL OR approved_by <> created_by", name="four_eyes"),
        CheckConstraint("code_attempts >= 0", name="code_attempts"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    #: the version this one replaces (None for the first)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("plan_agreements.id"))
    product_code: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    #: the agreement date: the business date the option was made on (schedules count from it)
    start_date: Mapped[date] = mapped_column(Date)
    # -- the option, as offered (fen) ------------------------------------------------------------
    principal: Mapped[int] = mapped_column(BigInteger)
    fees: Mapped[int] = mapped_column(BigInteger)
    interest: Mapped[int] = mapped_column(BigInteger)
    waived: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    largest_instalment: Mapped[int] = mapped_column(BigInteger)
    #: disclosed annual rate in percent as exact text ("13.03"); None where none is disclosed
    annual_rate: Mapped[str | None] = mapped_column(String(16))
    months: Mapped[int | None] = mapped_column(Integer)
    days: Mapped[int | None] = mapped_column(Integer)
    #: settlement discount in percent as exact text
    discount_percent: Mapped[str | None] = mapped_column(String(16))
    #: the affordable monthly amount the options were made with (fen), when known
    affordable: Mapped[int | None] = mapped_column(BigInteger)
    #: why this agreement (required for a personalised instalment agreement)
    reason: Mapped[str | None] = mapped_column(Text)
    investigation_id: Mapped[int | None] = mapped_column(ForeignKey("investigations.id"))
    status: Mapped[str] = mapped_column(String(24))
    # -- four-eyes -------------------------------------------------------------------------------
    needs_approval: Mapped[bool] = mapped_column(Boolean)
    approval_role: Mapped[str | None] = mapped_column(String(16))
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # -- the customer's confirmation -------------------------------------------------------------
    confirmation_method: Mapped[str | None] = mapped_column(String(16))
    #: recording reference, interaction id, document or app reference
    confirmation_ref: Mapped[str | None] = mapped_column(String(200))
    #: sha256 of agreement id + the one-time code (the code itself is never stored here)
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    code_attempts: Mapped[int] = mapped_column(Integer, default=0)
    code_contact_point_id: Mapped[int | None] = mapped_column(ForeignKey("contact_points.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the user who recorded the confirmation
    confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # -- the written agreement ---------------------------------------------------------------------
    terms_locale: Mapped[str] = mapped_column(String(8))
    terms_text: Mapped[str] = mapped_column(Text)
    terms_sha256: Mapped[str] = mapped_column(String(64))
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    # -- how it ended ------------------------------------------------------------------------------
    ended_on: Mapped[date | None] = mapped_column(Date)
    end_reason: Mapped[str | None] = mapped_column(Text)
    #: business date of the last monitoring run that judged it
    monitored_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


Index("uq_plan_agreements_case_version", PlanAgreement.case_id, PlanAgreement.version, unique=True)
Index("ix_plan_agreements_status", PlanAgreement.status)


class PlanInstalment(Base):
    """One instalment of a confirmed agreement. Schedule columns never change; payment columns are
    kept up to date by monitoring."""

    __tablename__ = "plan_instalments"
    __table_args__ = (
        CheckConstraint(in_check("status", INSTALMENT_STATUSES), name="status"),
        CheckConstraint("amount = principal + fee + interest", name="amount"),
        CheckConstraint("paid >= 0 AND paid <= amount", name="paid"),
        CheckConstraint("number >= 1", name="number"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("plan_agreements.id"))
    number: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    principal: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    fee_waived: Mapped[int] = mapped_column(BigInteger)
    interest: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    paid: Mapped[int] = mapped_column(BigInteger, default=0)
    #: value date of the payment that paid it in full
    paid_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    #: the day a reminder is due (None: the day was before the agreement)
    reminder_on: Mapped[date | None] = mapped_column(Date)
    #: business date the reminder was enqueued
    reminded_on: Mapped[date | None] = mapped_column(Date)
    #: business date monitoring first found it missed (its follow-up task was created then)
    missed_on: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


Index("uq_plan_instalments_agreement_number", PlanInstalment.agreement_id, PlanInstalment.number, unique=True)


class ReAge(Base):
    """An account re-aged to current on ``reage_date`` by a completed plan.

    The delinquency engines read it as a payment on ``reage_date`` of every minimum issued before
    that date (see :func:`arrears.delinquency.repository.read_ledger` and docs/delinquency.md)."""

    __tablename__ = "reages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    reage_date: Mapped[date] = mapped_column(Date)
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("plan_agreements.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
