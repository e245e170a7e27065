"""The REST API's complaint bodies: ``ComplaintCreate`` in, ``Complaint`` out (names never included)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from arrears.cases.schemas import Moment
from arrears.complaints.model import CATEGORIES, CHANNELS, ROOT_CAUSES, STATUSES

Channel = Literal[CHANNELS]  # type: ignore[valid-type]
Category = Literal[CATEGORIES]  # type: ignore[valid-type]
Status = Literal[STATUSES]  # type: ignore[valid-type]
RootCause = Literal[ROOT_CAUSES]  # type: ignore[valid-type]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ComplaintCreate(_In):
    account_ref: Annotated[str, Field(min_length=1, max_length=64, description="the bank's account id")]
    channel: Channel
    received_at: Moment | None = Field(None, description="when it was received (default: now); timezone-aware")
    category: Category
    summary: Annotated[str, Field(min_length=1, max_length=4000, description="what the customer says")]
    regulator_ref: Annotated[str | None, Field(None, max_length=64, description=(
        "the regulator's reference of a forwarded complaint (required when channel is regulator)"))]


class Complaint(_Out):
    id: int
    account_ref: str
    channel: Channel
    regulator_ref: str | None
    received_at: datetime
    received_on: date
    category: Category
    status: Status
    deadline: date
    extended: bool
    escalated_at: datetime | None
    overdue: bool
    days_open: int
    days_left: int
    root_cause: RootCause | None
    hold_id: int | None


class ComplaintList(_Out):
    business_date: date
    complaints: list[Complaint]
