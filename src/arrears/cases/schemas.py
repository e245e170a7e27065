"""Request and response bodies of the case API (Pydantic v2).

Money is integer fen (``int``, never a float); timestamps are timezone-aware (a time without a
zone is refused); business dates are ISO dates. Text fields refuse NUL characters, which no store
can keep.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from arrears.cases.model import CAUSES, CHANNELS, DIRECTIONS, PARTIES, STATES
from arrears.kit.inputs import IsoDate, visible

#: Largest id or amount the API accepts (a signed 64-bit integer).
MAX_INT = 2**63 - 1
#: Largest amount of fen the API accepts (10^15 fen = 10 trillion yuan): far beyond any card.
MAX_FEN = 10**15

State = Literal[STATES]  # type: ignore[valid-type]
Channel = Literal[CHANNELS]  # type: ignore[valid-type]
Direction = Literal[DIRECTIONS]  # type: ignore[valid-type]
Party = Literal[PARTIES]  # type: ignore[valid-type]
Cause = Literal[CAUSES]  # type: ignore[valid-type]

_NO_NUL = r"^[^\x00]*$"


def Text(max_length: int, min_length: int = 0) -> type[str]:  # noqa: N802 - reads as a type
    """A string of at most ``max_length`` characters, without NUL; ``min_length`` after stripping."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length, pattern=_NO_NUL,
                                            strip_whitespace=min_length > 0)]  # type: ignore[return-value]


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("timestamp out of range") from None


def _said(value: str) -> str:
    if not visible(value):
        raise ValueError("a reason is required: say why in words")
    return value


#: A required reason: something a reader can see (not only spaces or zero-width characters).
Reason = Annotated[Text(2000, 1), AfterValidator(_said)]
Notes = Text(4000)
OutcomeCode = Text(32, 1)
RecordingRef = Text(200)

#: A timezone-aware timestamp, normalised to UTC.
Moment = Annotated[AwareDatetime, AfterValidator(_utc)]
Fen = Annotated[int, Field(strict=True, ge=1, le=MAX_FEN, description="integer fen (分)")]
NonNegativeFen = Annotated[int, Field(strict=True, ge=0, le=MAX_FEN, description="integer fen (分) per month")]
Id = Annotated[int, Field(strict=True, ge=1, le=MAX_INT)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- errors ---------------------------------------------------------------------------------------

class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable error code, e.g. not_found, validation_error")
    message: str = Field(description="what is wrong, in words")
    field: str | None = Field(None, description="the request field that is wrong, when one is")


class ErrorBody(BaseModel):
    """Every error response has this shape."""

    error: ErrorDetail


# -- cases ----------------------------------------------------------------------------------------

class ContactPoint(_Out):
    id: int
    kind: str
    value: str = Field(description="masked as the caller's role requires")
    owner: str
    relation: str | None
    verified: bool
    opted_out: bool


class Customer(_Out):
    customer_ref: str
    name: str = Field(description="masked as the caller's role requires")
    national_id: str = Field(description="masked as the caller's role requires")
    contact_points: list[ContactPoint]


class CaseSummary(_Out):
    id: int
    account_ref: str
    status: str
    bucket: str
    dpd: int
    opened_on: date
    closed_on: date | None
    team: str | None = Field(None, description="code of the team working the case, when assigned")
    customer_name: str = Field(description="masked as the caller's role requires")


class Case(CaseSummary):
    open_bucket: str
    close_reason: str | None
    reopened_on: date | None
    reopen_count: int
    held_by: int | None = Field(None, description="user holding the case from the work queue")
    lease_expires_at: datetime | None = Field(None, description="end of that user's lease")
    created_at: datetime
    updated_at: datetime
    customer: Customer


class QueueNext(BaseModel):
    case: Case | None = Field(description="the case now held by the caller; null when the queue is empty")


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int = Field(description="cases matching the filters (within the caller's scope)")
    limit: int
    offset: int


# -- transitions ----------------------------------------------------------------------------------

class TransitionCreate(_In):
    to_state: State
    reason: Reason


class Transition(_Out):
    id: int
    case_id: int
    from_state: str | None
    to_state: str
    actor: str
    reason: str
    at: datetime


# -- interactions ---------------------------------------------------------------------------------

class InteractionCreate(_In):
    channel: Channel
    direction: Direction
    party: Party
    started_at: Moment
    ended_at: Moment | None = None
    outcome: OutcomeCode = Field(description="a configured outcome code, e.g. right_party_contact")
    contact_point_id: Id | None = Field(None, description="a contact point of the case's customer")
    notes: Notes | None = None
    recording_ref: RecordingRef | None = None
    collectors: int | None = Field(None, ge=1, le=20, description="a field visit: how many collectors went")
    entered: bool = Field(False, description="a field visit: the collectors entered the home")
    entry_consent: bool = Field(False, description="a field visit: the occupant consented to their entering")
    collector_disclosure: Literal["none", "debt_collector", "full"] = Field(
        "none", description="an outbound contact's debt-collector disclosure (us-reg-f, 12 CFR 1006.18(e)): full = "
                            "attempting to collect a debt, any information used for that purpose (the initial "
                            "communication); debt_collector = from a debt collector (later ones); not stated: none")
    voicemail_limited: bool = Field(False, description="an outbound call: any voicemail left was the limited-content "
                                                       "message (us-reg-f, 12 CFR 1006.2(j)); not stated: false")


class Interaction(_Out):
    id: int
    case_id: int
    channel: str
    direction: str
    party: str
    contact_point_id: int | None
    started_at: datetime
    ended_at: datetime | None
    outcome: str
    notes: str | None
    recording_ref: str | None
    agent_id: int | None
    created_at: datetime


class InteractionRecorded(BaseModel):
    interaction: Interaction
    hold_id: int | None = Field(description="the hold the outcome placed on the account, if any")
    review_id: int | None = Field(description="the hold review opened (contact stops until reviewed), if any")


# -- investigations -------------------------------------------------------------------------------

class InvestigationCreate(_In):
    cause: Cause
    monthly_income: NonNegativeFen
    essential_spending: NonNegativeFen
    other_debt_payments: NonNegativeFen
    dependants: Annotated[int, Field(strict=True, ge=0, le=50)]
    willingness: Annotated[int, Field(strict=True, ge=1, le=5, description="1 (refuses) to 5 (keen)")]
    notes: Notes | None = None


class Investigation(_Out):
    id: int
    case_id: int
    version: int
    cause: str
    monthly_income: int
    essential_spending: int
    other_debt_payments: int
    dependants: int
    reserve_base: int
    reserve_per_dependant: int
    affordable_monthly: int = Field(description="fen per month the customer can afford")
    willingness: int
    notes: str | None
    recorded_by: str
    recorded_at: datetime


# -- promises -------------------------------------------------------------------------------------

class PromiseCreate(_In):
    amount: Fen
    promised_date: IsoDate
    interaction_id: Id | None = Field(None, description="the interaction on this case where it was promised")


class Promise(_Out):
    id: int
    case_id: int
    interaction_id: int | None
    amount: int
    promised_date: date
    created_on: date
    grace_days: int
    tolerance: int
    status: str
    paid: int | None
    judged_at: datetime | None
    created_by: str
    created_at: datetime


# -- appointments ---------------------------------------------------------------------------------

class AppointmentCreate(_In):
    window_start: Moment
    window_end: Moment
    owner_id: Id | None = Field(None, description="user who will call back (default: the caller)")
    notes: Notes | None = None
    agreed_by_debtor: bool = Field(False, description="the customer asked for this window: their agreement to "
                                   "be contacted in it (recorded; only an agreed window lifts the cn quiet hours)")


class AppointmentComplete(_In):
    interaction_id: Id = Field(description="the interaction on this case that kept the appointment")


class Appointment(_Out):
    id: int
    case_id: int
    owner_id: int
    window_start: datetime
    window_end: datetime
    status: str
    interaction_id: int | None
    notes: str | None
    created_by: str
    created_at: datetime


# -- holds ----------------------------------------------------------------------------------------

class Hold(_Out):
    id: int
    hold_ref: str | None
    kind: str
    start_date: date
    end_date: date | None
    pauses_ageing: bool
    reason: str | None
    created_by: str
    created_at: datetime


class HoldReview(_Out):
    id: int
    case_id: int
    hold_id: int | None
    interaction_id: int
    outcome: str
    status: str
    reviewed_by: int | None
    reviewed_at: datetime | None
    review_note: str | None
    created_at: datetime


class CaseHolds(BaseModel):
    holds: list[Hold]
    reviews: list[HoldReview]


class HoldReviewUpdate(_In):
    note: Reason
    lift_hold_on: IsoDate | None = Field(None, description="end the hold on this day (inclusive); omit to confirm it")


class RevealCreate(_In):
    """Which piece of the case's personal data to unmask, and why."""

    kind: Literal["national_id", "name", "phone", "email", "address"]
    contact_point_id: Id | None = Field(None, description="required for phone, email and address")
    purpose: Literal["view", "dial"] = Field("view", description="dial: a phone number handed to the dialer")


class Revealed(BaseModel):
    kind: str
    contact_point_id: int | None
    purpose: str
    value: str

