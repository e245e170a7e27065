"""API shapes of escalation (read-only)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class LegalQueueRow(BaseModel):
    case_id: int
    account_ref: str
    since: date | None = Field(description="the business date the case last entered legal_review")
    days_waiting: int | None = Field(description="days from `since` to the queue date")
    balance: int = Field(description="integer fen (分)")
    dpd: int
    referral: str | None = Field(description="status of the live legal referral (pending, proceed), or null")


class LegalQueue(BaseModel):
    business_date: date
    cases: list[LegalQueueRow]
