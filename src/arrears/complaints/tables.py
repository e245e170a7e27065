"""Complaints in the store: each complaint with its clock, and its timeline of events.
Rules: :mod:`arrears.complaints.model`; the compliance officer's guide: docs/complaints.md."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from arrears.complaints.model import CATEGORIES, CHANNELS, ROOT_CAUSES, STATUSES
from arrears.kit.clock import utc_now
from arrears.kit.db import Base, BigId, UTCDateTime, in_check


class Complaint(Base):
    """A customer's complaint: received, acknowledged, investigated, answered within the rule's days
    (extended once at most), escalated when the clock runs out, closed. While it is open the account
    carries a ``complaint`` hold (``hold_id``), so the contact gate holds collection contact."""

    __tablename__ = "complaints"
    __table_args__ = (
        CheckConstraint(in_check("status", STATUSES), name="status"),
        CheckConstraint(in_check("channel", CHANNELS), name="channel"),
        CheckConstraint(in_check("category", CATEGORIES), name="category"),
        CheckConstraint(f"root_cause IS NULL OR {in_check('root_cause', ROOT_CAUSES)}", name="root_cause"),
        CheckConstraint("deadline >= received_on", name="deadline"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    #: the regulator's or hotline's own reference of a forwarded complaint (12378, 12363 …)
    regulator_ref: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: the business date of receipt in the bank's calendar: day 0 of the clock
    received_on: Mapped[date] = mapped_column(Date, index=True)
    category: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    #: the user handling it (a compliance officer or team lead); None until assigned
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="received")
    rule: Mapped[str] = mapped_column(String(16))
    #: last day to answer (inclusive), from the rule; moved once by an extension
    deadline: Mapped[date] = mapped_column(Date, index=True)
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    root_cause: Mapped[str | None] = mapped_column(String(32))
    root_cause_text: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    #: the complaint hold that holds the customer's contact while the complaint is open
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("holds.id"), index=True)
    #: who had the account when the complaint came in (the report counts it against them)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    agency: Mapped[str | None] = mapped_column(String(32))
    strategy: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


Index("ix_complaints_status_deadline", Complaint.status, Complaint.deadline)


class ComplaintEvent(Base):
    """One step on a complaint's timeline (received, acknowledged, extended, escalated, answered …)."""

    __tablename__ = "complaint_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[Any] = mapped_column(JSON)
