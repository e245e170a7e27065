"""The card ledger as the bank sends it: customers, contact points, accounts, statements,
payments and holds, plus the record of every file ingested and every row it quarantined."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from arrears.kit.clock import utc_now
from arrears.kit.db import Base, BigId, UTCDateTime, in_check

CONTACT_KINDS = ("phone", "address", "email")
CONTACT_OWNERS = ("debtor", "emergency", "other")
ACCOUNT_STATUSES = ("open", "frozen", "closed", "charged_off")
PAYMENT_CHANNELS = ("bank_transfer", "auto_debit", "counter", "mobile_app", "wechat", "alipay", "other")
HOLD_KINDS = ("dispute", "complaint", "hardship", "bankruptcy", "deceased", "fraud", "legal")


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_ref: Mapped[str] = mapped_column(String(64), unique=True)
    #: indexed (like national_id and contact_points.value): the desk's search matches the full value
    name: Mapped[str] = mapped_column(String(200), index=True)
    national_id: Mapped[str] = mapped_column(String(18), index=True)
    birth_date: Mapped[date] = mapped_column(Date)
    time_zone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    language: Mapped[str] = mapped_column(String(16), default="zh_CN")
    #: where the customer lives (``CN``, ``US-NY``, ``US-NY-NYC``...): chooses the compliance pack's
    #: country and its state/city layers (``arrears.contact.packchoice``)
    jurisdiction: Mapped[str] = mapped_column(String(16), server_default="CN")
    ingest_run_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_runs.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    accounts: Mapped[list[Account]] = relationship(back_populates="customer", lazy="raise")
    contact_points: Mapped[list[ContactPoint]] = relationship(back_populates="customer", lazy="raise")


class ContactPoint(Base):
    __tablename__ = "contact_points"
    __table_args__ = (
        CheckConstraint(in_check("kind", CONTACT_KINDS), name="kind"),
        CheckConstraint(in_check("owner", CONTACT_OWNERS), name="owner"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_ref: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(500), index=True)
    owner: Mapped[str] = mapped_column(String(16))
    relation: Mapped[str | None] = mapped_column(String(64))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    ingest_run_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_runs.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    customer: Mapped[Customer] = relationship(back_populates="contact_points", lazy="raise")


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint(in_check("status", ACCOUNT_STATUSES), name="status"),
        CheckConstraint("statement_day BETWEEN 1 AND 28", name="statement_day"),
        CheckConstraint("due_day BETWEEN 1 AND 28", name="due_day"),
        CheckConstraint("credit_limit >= 0", name="credit_limit"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_ref: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    product: Mapped[str] = mapped_column(String(64))
    #: fen
    credit_limit: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    statement_day: Mapped[int] = mapped_column(Integer)
    due_day: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open")
    opened_on: Mapped[date] = mapped_column(Date)
    ingest_run_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_runs.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    customer: Mapped[Customer] = relationship(back_populates="accounts", lazy="raise")


class Statement(Base):
    __tablename__ = "statements"
    __table_args__ = (
        CheckConstraint("due_date > statement_date", name="due_after_statement"),
        CheckConstraint("minimum_due >= 0", name="minimum_due"),
        CheckConstraint("past_due_included >= 0 AND past_due_included <= minimum_due", name="past_due_included"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    statement_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    #: fen; negative is a credit balance
    new_balance: Mapped[int] = mapped_column(BigInteger)
    #: fen, as printed: includes unpaid minimum carried over from earlier statements
    minimum_due: Mapped[int] = mapped_column(BigInteger)
    #: fen, the part of minimum_due carried over from earlier statements
    past_due_included: Mapped[int] = mapped_column(BigInteger, default=0)
    ingest_run_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_runs.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


Index("uq_statements_account_date", Statement.account_id, Statement.statement_date, unique=True)


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(in_check("channel", PAYMENT_CHANNELS), name="channel"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    payment_ref: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    #: fen
    amount: Mapped[int] = mapped_column(BigInteger)
    value_date: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(16))
    ingest_run_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_runs.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


Index("ix_payments_account_value_date", Payment.account_id, Payment.value_date)


class Hold(Base):
    """A hold on an account: some pause ageing (a dispute under investigation), others only stop contact."""

    __tablename__ = "holds"
    __table_args__ = (
        CheckConstraint(in_check("kind", HOLD_KINDS), name="kind"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    hold_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    start_date: Mapped[date] = mapped_column(Date)
    #: inclusive; NULL = open-ended
    end_date: Mapped[date | None] = mapped_column(Date)
    pauses_ageing: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    ingest_run_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_runs.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class IngestRun(Base):
    """One file loaded (or rejected): what it held and what became of each row."""

    __tablename__ = "ingest_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    file_name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_loaded: Mapped[int] = mapped_column(Integer, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rows_conflicting: Mapped[int] = mapped_column(Integer, default=0)
    rows_quarantined: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IngestIssue(Base):
    """A row that was not loaded: quarantined (bad value) or a conflict with what the store holds."""

    __tablename__ = "ingest_issues"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ingest_run_id: Mapped[int] = mapped_column(ForeignKey("ingest_runs.id"), index=True)
    row_number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # quarantine | conflict
    field: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    natural_key: Mapped[str | None] = mapped_column(String(200))
    raw: Mapped[str | None] = mapped_column(Text)
