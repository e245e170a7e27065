"""Collection cases. For now the minimum the daily cycle needs: one open case per delinquent
account, opened when it becomes delinquent and closed when it cures."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from arrears.kit.clock import utc_now
from arrears.kit.db import Base, BigId, UTCDateTime


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (CheckConstraint("status IN ('open', 'closed')", name="status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    opened_on: Mapped[date] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    close_reason: Mapped[str | None] = mapped_column(String(32))
    open_bucket: Mapped[str] = mapped_column(String(16))
    bucket: Mapped[str] = mapped_column(String(16))
    dpd: Mapped[int] = mapped_column(Integer)
    opened_by_run_id: Mapped[int] = mapped_column(ForeignKey("cycle_runs.id"))
    closed_by_run_id: Mapped[int | None] = mapped_column(ForeignKey("cycle_runs.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


Index(
    "uq_cases_open_account",
    Case.account_id,
    unique=True,
    sqlite_where=text("status = 'open'"),
    postgresql_where=text("status = 'open'"),
)
