"""Escalation in the store: agency placements and what the agencies collected, charge-offs, and
legal referrals. Rules: :mod:`arrears.escalation.model`; file formats: docs/escalation.md."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from arrears.escalation.model import LIVE_REFERRAL_STATUSES, PLACEMENT_STATUSES, REFERRAL_STATUSES
from arrears.kit.clock import utc_now
from arrears.kit.db import Base, BigId, UTCDateTime, in_check


class AgencyPlacement(Base):
    """One account placed with a collection agency, from ``placed_on`` until recalled or returned."""

    __tablename__ = "agency_placements"
    __table_args__ = (
        CheckConstraint(in_check("status", PLACEMENT_STATUSES), name="status"),
        CheckConstraint("balance >= 0", name="balance"),
        CheckConstraint("rate_bp BETWEEN 0 AND 10000", name="rate_bp"),
        CheckConstraint("term_end >= placed_on", name="term"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    agency: Mapped[str] = mapped_column(String(32))
    placed_on: Mapped[date] = mapped_column(Date)
    #: fen: the case's balance on the day it was placed
    balance: Mapped[int] = mapped_column(BigInteger)
    dpd: Mapped[int] = mapped_column(Integer)
    #: commission rate for this placement, from the agency's tier for ``dpd``
    rate_bp: Mapped[int] = mapped_column(Integer)
    #: the agency's commission terms as they stood when the account was placed
    terms: Mapped[Any] = mapped_column(JSON)
    term_end: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="placed")
    recalled_on: Mapped[date | None] = mapped_column(Date)
    recall_reason: Mapped[str | None] = mapped_column(String(64))
    #: sha256 of the placement file that carried it to the agency
    file_sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


#: At most one live placement per case.
Index("uq_agency_placements_live", AgencyPlacement.case_id, unique=True,
      sqlite_where=text("status = 'placed'"), postgresql_where=text("status = 'placed'"))


class AgencyCollection(Base):
    """One amount an agency reports it collected on a placement, with the commission it earns."""

    __tablename__ = "agency_collections"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("commission >= 0 AND commission <= amount", name="commission"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    placement_id: Mapped[int] = mapped_column(ForeignKey("agency_placements.id"), index=True)
    agency: Mapped[str] = mapped_column(String(32))
    #: the agency's own reference of the row: unique per agency, so a file loaded twice adds nothing twice
    collection_ref: Mapped[str] = mapped_column(String(64))
    value_date: Mapped[date] = mapped_column(Date)
    #: fen
    amount: Mapped[int] = mapped_column(BigInteger)
    rate_bp: Mapped[int] = mapped_column(Integer)
    commission: Mapped[int] = mapped_column(BigInteger)
    source_file: Mapped[str] = mapped_column(String(500))
    source_row: Mapped[int] = mapped_column(Integer)
    file_sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


Index("uq_agency_collections_ref", AgencyCollection.agency, AgencyCollection.collection_ref, unique=True)
Index("ix_agency_collections_value_date", AgencyCollection.value_date)


class ChargeOff(Base):
    """An account written off: once per account, with its balance on the day."""

    __tablename__ = "charge_offs"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    charged_off_on: Mapped[date] = mapped_column(Date)
    #: fen: the case's balance (latest statement) at charge-off
    balance: Mapped[int] = mapped_column(BigInteger)
    dpd: Mapped[int] = mapped_column(Integer)
    #: the charge_off task that asked for it
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    requested_by: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class LegalReferral(Base):
    """A case referred for legal review: pending until decided (proceed, returned, withdrawn)."""

    __tablename__ = "legal_referrals"
    __table_args__ = (CheckConstraint(in_check("status", REFERRAL_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    referred_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
    #: sha256 of the last bundle built for it
    bundle_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


_LIVE_REFERRAL_SQL = in_check("status", LIVE_REFERRAL_STATUSES)
#: At most one live referral per case.
Index("uq_legal_referrals_live", LegalReferral.case_id, unique=True,
      sqlite_where=text(_LIVE_REFERRAL_SQL), postgresql_where=text(_LIVE_REFERRAL_SQL))


#: An agency's standing in the register: only an ``active`` agency receives new placements.
AGENCY_STATUSES: tuple[str, ...] = ("active", "suspended", "terminated")


class CollectionAgency(Base):
    """An outside collection agency in the bank's register: its licence or registration, its contract
    dates and its review dates. A placement needs an ``active`` agency under contract on the placement
    day whose next review is not past (GB/T 45251—2025 §5.4; docs/compliance.md "Outside agencies")."""

    __tablename__ = "collection_agencies"
    __table_args__ = (
        CheckConstraint(in_check("status", AGENCY_STATUSES), name="status"),
        CheckConstraint("contract_end >= contract_start", name="contract"),
    )

    #: the agency's code, as in the agencies file (commission tiers and recall rules)
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: licence or business registration (统一社会信用代码) number
    licence: Mapped[str] = mapped_column(String(100))
    contract_start: Mapped[date] = mapped_column(Date)
    contract_end: Mapped[date] = mapped_column(Date)
    last_review: Mapped[date | None] = mapped_column(Date)
    next_review: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active")
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class AgencyNotice(Base):
    """The notice to the debtor that their account will be placed with ``agency``: queued as a letter
    in the outbox; the placement waits until it was sent and the pack's ``agency_notice`` days have passed."""

    __tablename__ = "agency_notices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    agency: Mapped[str] = mapped_column(String(32))
    outbox_message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_messages.id"))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


Index("uq_agency_notices_case_agency", AgencyNotice.case_id, AgencyNotice.agency, unique=True)
