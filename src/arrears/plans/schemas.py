"""Request and response bodies of the plans API (Pydantic v2), also used by the CLI's JSON output.

Money is integer fen, with the same amount as a yuan string (``"1072.00"``) beside it for people;
rates are percentage strings (``"13.03"``), never floats.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from arrears.cases.schemas import MAX_FEN, Text
from arrears.kit.money import to_yuan
from arrears.plans.model import Option
from arrears.plans.tables import AGREEMENT_STATUSES, CONFIRMATION_METHODS, TERMS_LOCALES

Method = Literal[CONFIRMATION_METHODS]  # type: ignore[valid-type]
Locale = Literal[TERMS_LOCALES]  # type: ignore[valid-type]
AgreementStatus = Literal[AGREEMENT_STATUSES]  # type: ignore[valid-type]
OptionCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$",
                                  description="code of an option offered today (see plan-options)")]
Reason = Text(2000)
Reference = Text(200)
Code = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="the 6-digit code the customer received")]
AffordableFen = Annotated[int, Field(strict=True, ge=0, le=MAX_FEN, description="affordable monthly amount, fen")]


def yuan(fen: int) -> str:
    return str(to_yuan(fen))


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- options --------------------------------------------------------------------------------------

class ScheduleLine(BaseModel):
    number: int
    due_date: date
    principal: int
    fee: int
    fee_waived: int
    interest: int
    amount: int
    amount_yuan: str


class PlanOption(BaseModel):
    code: str
    kind: str
    label_zh: str
    label_en: str
    months: int | None
    days: int | None
    principal: int
    principal_yuan: str
    fees: int
    fees_yuan: str
    interest: int
    interest_yuan: str
    waived: int
    waived_yuan: str
    total: int
    total_yuan: str
    cost: int
    cost_yuan: str
    largest_instalment: int
    largest_instalment_yuan: str
    annual_rate: str | None = Field(description="disclosed annual rate (IRR) in percent; null: none disclosed")
    discount_percent: str | None
    fits_affordable: bool | None
    offered: bool
    reasons: list[str]
    reason_codes: list[str]
    needs_approval: bool
    approval_role: str | None
    schedule: list[ScheduleLine]

    @classmethod
    def of(cls, o: Option) -> PlanOption:
        return cls(
            code=o.code, kind=o.kind, label_zh=o.labels.get("zh_CN", o.code), label_en=o.labels.get("en", o.code),
            months=o.months, days=o.days, principal=o.principal, principal_yuan=yuan(o.principal), fees=o.fees,
            fees_yuan=yuan(o.fees), interest=o.interest, interest_yuan=yuan(o.interest), waived=o.waived,
            waived_yuan=yuan(o.waived), total=o.total, total_yuan=yuan(o.total), cost=o.cost, cost_yuan=yuan(o.cost),
            largest_instalment=o.largest_instalment, largest_instalment_yuan=yuan(o.largest_instalment),
            annual_rate=None if o.annual_rate is None else str(o.annual_rate),
            discount_percent=None if o.discount_percent is None else str(o.discount_percent),
            fits_affordable=o.fits_affordable, offered=o.offered, reasons=list(o.reasons),
            reason_codes=list(o.reason_codes), needs_approval=o.needs_approval, approval_role=o.approval_role,
            schedule=[ScheduleLine(number=s.number, due_date=s.due_date, principal=s.principal, fee=s.fee,
                                   fee_waived=s.fee_waived, interest=s.interest, amount=s.amount,
                                   amount_yuan=yuan(s.amount)) for s in o.schedule],
        )


class PlanInputsOut(BaseModel):
    business_date: date
    balance: int
    balance_yuan: str
    overdue: int
    overdue_yuan: str
    minimum_due: int
    minimum_due_yuan: str
    dpd: int
    affordable: int | None
    affordable_yuan: str | None
    willingness: int | None
    cause: str | None
    role: str


class PlanOptions(BaseModel):
    case_id: int | None
    account_id: int
    investigation_id: int | None
    inputs: PlanInputsOut
    options: list[PlanOption]


# -- agreements -------------------------------------------------------------------------------------

class AgreementCreate(_In):
    option_code: OptionCode
    reason: Reason | None = Field(None, description="why this agreement; required for a personalised agreement")
    locale: Locale = "zh_CN"
    affordable: AffordableFen | None = Field(None, description="override of the investigation's affordable amount")


class AgreementRevise(AgreementCreate):
    locale: Locale | None = None  # type: ignore[assignment]


class AgreementApprove(_In):
    note: Reason | None = None


class SendCode(_In):
    contact_point_id: Annotated[int, Field(strict=True, ge=1, le=2**63 - 1)] | None = Field(
        None, description="one of the customer's verified mobiles (default: the first)")


class AgreementConfirm(_In):
    method: Method
    code: Code | None = Field(None, description="for sms_code")
    reference: Reference | None = Field(None, description="recording, interaction, document or app reference")


class AgreementCancel(_In):
    reason: Text(2000, 1)  # type: ignore[valid-type]


class CodeSentOut(BaseModel):
    agreement_id: int
    contact_point_id: int
    masked_phone: str
    expires_at: datetime
    outbox_id: int


class InstalmentOut(BaseModel):
    number: int
    due_date: date
    principal: int
    fee: int
    fee_waived: int
    interest: int
    amount: int
    amount_yuan: str
    paid: int
    paid_yuan: str
    paid_on: date | None
    status: str
    reminder_on: date | None
    reminded_on: date | None
    missed_on: date | None


class Agreement(BaseModel):
    id: int
    reference: str
    case_id: int
    account_id: int
    version: int
    supersedes_id: int | None
    product_code: str
    kind: str
    start_date: date
    status: AgreementStatus
    principal: int
    principal_yuan: str
    fees: int
    fees_yuan: str
    interest: int
    interest_yuan: str
    waived: int
    waived_yuan: str
    total: int
    total_yuan: str
    annual_rate: str | None
    months: int | None
    days: int | None
    discount_percent: str | None
    affordable: int | None
    reason: str | None
    investigation_id: int | None
    needs_approval: bool
    approval_role: str | None
    created_by: int
    approved_by: int | None
    approved_at: datetime | None
    confirmation_method: str | None
    confirmation_ref: str | None
    confirmed_at: datetime | None
    confirmed_by: int | None
    code_sent: bool
    code_expires_at: datetime | None
    code_attempts: int
    terms_locale: str
    terms_text: str | None = Field(description="null for roles that may not see the customer's name")
    terms_sha256: str
    pdf_sha256: str
    ended_on: date | None
    end_reason: str | None
    monitored_on: date | None
    created_at: datetime
    updated_at: datetime
    instalments: list[InstalmentOut]


class ConfirmError(BaseModel):
    code: str
    message: str
    field: str | None = None
