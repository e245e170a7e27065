"""What the daily cycle writes: one snapshot per account and business date (only for accounts with
something past due; no row means current), the bucket-change history, and the run log.

Nothing here is ever deleted: when a late (backdated) payment or a new hold changes the past, the
affected rows are marked superseded by the run that restated them and the corrected rows are added.

``book_figures`` is the one derived table: the book in arrears per business date, team and bucket,
rewritten for a date whenever that date's snapshots or its cases' teams change
(:func:`arrears.delinquency.repository.refresh_book_figures`), so the dashboards read a few rows per
date instead of every account's snapshot.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from arrears.kit.clock import utc_now
from arrears.kit.db import Base, BigId, UTCDateTime


class CycleRun(Base):
    __tablename__ = "cycle_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    business_date: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16))  # running | completed | failed
    #: highest ingest run whose rows this cycle has seen (ledger changes after it are "new")
    ingest_watermark: Mapped[int] = mapped_column(BigInteger, default=0)
    accounts_assessed: Mapped[int] = mapped_column(Integer, default=0)
    delinquent_accounts: Mapped[int] = mapped_column(Integer, default=0)
    restated_from: Mapped[date | None] = mapped_column(Date)
    restated_accounts: Mapped[int] = mapped_column(Integer, default=0)
    snapshots_written: Mapped[int] = mapped_column(Integer, default=0)
    bucket_changes: Mapped[int] = mapped_column(Integer, default=0)
    cases_opened: Mapped[int] = mapped_column(Integer, default=0)
    cases_closed: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DelinquencySnapshot(Base):
    __tablename__ = "delinquency_snapshots"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    business_date: Mapped[date] = mapped_column(Date)
    dpd: Mapped[int] = mapped_column(Integer)
    delinquent: Mapped[bool] = mapped_column(Boolean)
    bucket: Mapped[str] = mapped_column(String(16))
    cycles_delinquent: Mapped[int] = mapped_column(Integer)
    amount_past_due: Mapped[int] = mapped_column(BigInteger)
    past_due_c1: Mapped[int] = mapped_column(BigInteger)
    past_due_c2: Mapped[int] = mapped_column(BigInteger)
    past_due_c3: Mapped[int] = mapped_column(BigInteger)
    past_due_c4: Mapped[int] = mapped_column(BigInteger)
    past_due_c5: Mapped[int] = mapped_column(BigInteger)
    past_due_c6: Mapped[int] = mapped_column(BigInteger)
    past_due_c7p: Mapped[int] = mapped_column(BigInteger)
    charge_off: Mapped[bool] = mapped_column(Boolean)
    oldest_unpaid_due_date: Mapped[date | None] = mapped_column(Date)
    cycle_run_id: Mapped[int] = mapped_column(ForeignKey("cycle_runs.id"))
    superseded_by_run_id: Mapped[int | None] = mapped_column(ForeignKey("cycle_runs.id"))


Index(
    "uq_delinquency_snapshots_current",
    DelinquencySnapshot.account_id,
    DelinquencySnapshot.business_date,
    unique=True,
    sqlite_where=text("superseded_by_run_id IS NULL"),
    postgresql_where=text("superseded_by_run_id IS NULL"),
)
Index("ix_delinquency_snapshots_date", DelinquencySnapshot.business_date)


class BucketChange(Base):
    __tablename__ = "bucket_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    business_date: Mapped[date] = mapped_column(Date)
    from_bucket: Mapped[str] = mapped_column(String(16))
    to_bucket: Mapped[str] = mapped_column(String(16))
    dpd: Mapped[int] = mapped_column(Integer)
    cycle_run_id: Mapped[int] = mapped_column(ForeignKey("cycle_runs.id"))
    superseded_by_run_id: Mapped[int | None] = mapped_column(ForeignKey("cycle_runs.id"))


Index(
    "uq_bucket_changes_current",
    BucketChange.account_id,
    BucketChange.business_date,
    unique=True,
    sqlite_where=text("superseded_by_run_id IS NULL"),
    postgresql_where=text("superseded_by_run_id IS NULL"),
)
Index("ix_bucket_changes_date", BucketChange.business_date)


class BookFigure(Base):
    """Accounts in arrears (current, delinquent snapshots) on a business date, per team and bucket:
    how many, their past-due amount and the balance of their open case, in fen. The team is that of the
    account's latest case when the row was written (None: no team)."""

    __tablename__ = "book_figures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    business_date: Mapped[date] = mapped_column(Date)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    bucket: Mapped[str] = mapped_column(String(16))
    accounts: Mapped[int] = mapped_column(Integer)
    amount_past_due: Mapped[int] = mapped_column(BigInteger)
    balance: Mapped[int] = mapped_column(BigInteger)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


Index("ix_book_figures_date_team", BookFigure.business_date, BookFigure.team_id)
