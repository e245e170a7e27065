"""REST endpoints of repayment plans: options side by side, agreements (make, approve, confirm,
revise, cancel) and their PDF copies.

Scope and masking follow the case API: an agreement whose case is outside the caller's team answers
404; the terms (which carry the customer's name) are withheld from roles that see names masked.
Every write, and every read of a PDF, appends an audit record (in the service) in the request's
transaction.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from arrears.auth.deps import CurrentUser, DbSession, require_role
from arrears.auth.model import POLICY, Forbidden, Role, masked
from arrears.auth.service import case_scope
from arrears.auth.tables import User
from arrears.cases import repository as case_repo
from arrears.cases.schemas import MAX_FEN, MAX_INT, ErrorBody
from arrears.cases.tables import Case
from arrears.plans import repository as repo
from arrears.plans import schemas as s
from arrears.plans import service
from arrears.plans.tables import PlanAgreement

#: Roles that make agreements and record the customer's confirmation.
WORKERS = (Role.AGENT, Role.TEAM_LEAD, Role.SUPERVISOR, Role.ADMIN)
#: Roles that may be the second person on an agreement (each within its own authority).
APPROVERS = (Role.TEAM_LEAD, Role.SUPERVISOR, Role.COMPLIANCE)

Worker = Annotated[User, Depends(require_role(*WORKERS))]
Approver = Annotated[User, Depends(require_role(*APPROVERS))]
CaseId = Annotated[int, Path(ge=1, le=MAX_INT, description="case id")]
AgreementId = Annotated[int, Path(ge=1, le=MAX_INT, description="agreement id")]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("no valid token or session"),
    403: _error("the caller's role may not do this"),
    404: _error("no such case or agreement within the caller's scope"),
    422: _error("the request is malformed or breaks a plan rule: the error names the field"),
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    400: _error("the confirmation code is wrong or expired, or too many were tried"),
    409: _error("the agreement's or the case's state does not allow this"),
}

router = APIRouter(tags=["plans"], responses=ERRORS)


def _case(session: Session, user: User, case_id: int) -> Case:
    return case_repo.case_in_scope(session, case_id, scope=case_scope(user, Case.team_id))


def _agreement(session: Session, user: User, agreement_id: int) -> PlanAgreement:
    agreement = repo.get_agreement(session, agreement_id)
    _case(session, user, agreement.case_id)  # 404 outside the caller's scope
    return agreement


def _sees_names(user: User) -> bool:
    return user.role in POLICY["name"].plain


def _out(session: Session, user: User, a: PlanAgreement) -> s.Agreement:
    y = s.yuan
    rows = repo.instalments(session, a.id)
    return s.Agreement(
        id=a.id, reference=service.reference(a), case_id=a.case_id, account_id=a.account_id, version=a.version,
        supersedes_id=a.supersedes_id, product_code=a.product_code, kind=a.kind, start_date=a.start_date,
        status=a.status, principal=a.principal, principal_yuan=y(a.principal), fees=a.fees, fees_yuan=y(a.fees),
        interest=a.interest, interest_yuan=y(a.interest), waived=a.waived, waived_yuan=y(a.waived), total=a.total,
        total_yuan=y(a.total), annual_rate=a.annual_rate, months=a.months, days=a.days,
        discount_percent=a.discount_percent, affordable=a.affordable, reason=a.reason,
        investigation_id=a.investigation_id, needs_approval=a.needs_approval, approval_role=a.approval_role,
        created_by=a.created_by, approved_by=a.approved_by, approved_at=a.approved_at,
        confirmation_method=a.confirmation_method, confirmation_ref=a.confirmation_ref,
        confirmed_at=a.confirmed_at, confirmed_by=a.confirmed_by, code_sent=a.code_hash is not None,
        code_expires_at=a.code_expires_at, code_attempts=a.code_attempts, terms_locale=a.terms_locale,
        terms_text=a.terms_text if _sees_names(user) else None, terms_sha256=a.terms_sha256,
        pdf_sha256=a.pdf_sha256, ended_on=a.ended_on, end_reason=a.end_reason, monitored_on=a.monitored_on,
        created_at=a.created_at, updated_at=a.updated_at,
        instalments=[s.InstalmentOut(
            number=r.number, due_date=r.due_date, principal=r.principal, fee=r.fee, fee_waived=r.fee_waived,
            interest=r.interest, amount=r.amount, amount_yuan=y(r.amount), paid=r.paid, paid_yuan=y(r.paid),
            paid_on=r.paid_on, status=r.status, reminder_on=r.reminder_on, reminded_on=r.reminded_on,
            missed_on=r.missed_on) for r in rows],
    )


def options_out(found: service.CaseOptions) -> s.PlanOptions:
    i = found.inputs
    return s.PlanOptions(
        case_id=found.case_id, account_id=found.account_id, investigation_id=found.investigation_id,
        inputs=s.PlanInputsOut(
            business_date=i.today, balance=i.balance, balance_yuan=s.yuan(i.balance), overdue=i.overdue,
            overdue_yuan=s.yuan(i.overdue), minimum_due=i.minimum_due, minimum_due_yuan=s.yuan(i.minimum_due),
            dpd=i.dpd, affordable=i.affordable,
            affordable_yuan=s.yuan(i.affordable) if i.affordable is not None else None,
            willingness=i.willingness, cause=i.cause, role=i.role),
        options=[s.PlanOption.of(o) for o in found.options],
    )


# -- options --------------------------------------------------------------------------------------

@router.get("/cases/{case_id}/plan-options", summary="The repayment options side by side", response_model=s.PlanOptions)
def plan_options(
    case_id: CaseId, session: DbSession, user: CurrentUser,
    affordable: Annotated[int | None, Query(ge=0, le=MAX_FEN, description="affordable monthly amount (fen), "
                                                                          "instead of the investigation's")] = None,
) -> s.PlanOptions:
    """Every configured product for the case's account today: schedule, total cost, annual rate
    (IRR), whether it fits the affordable amount, whether it is offered (and why not), and whether
    it needs a second person's approval given the caller's authority."""
    case = _case(session, user, case_id)
    return options_out(service.options_for_case(session, case_id=case.id, user=user, affordable=affordable))


# -- agreements -------------------------------------------------------------------------------------

@router.get("/cases/{case_id}/agreements", summary="Every agreement (and version) on the case",
            response_model=list[s.Agreement])
def list_agreements(case_id: CaseId, session: DbSession, user: CurrentUser) -> list[s.Agreement]:
    case = _case(session, user, case_id)
    return [_out(session, user, a) for a in repo.agreements_of_case(session, case.id)]


@router.post("/cases/{case_id}/agreements", summary="Make an agreement from an option offered today",
             response_model=s.Agreement, status_code=status.HTTP_201_CREATED, responses=WRITE_ERRORS)
def create_agreement(case_id: CaseId, body: s.AgreementCreate, session: DbSession, user: Worker) -> s.Agreement:
    """The option's exact schedule, terms and PDF are written. An option not offered answers 422 with
    the reasons; a personalised agreement needs ``reason``. Status ``pending_approval`` when a second
    person must approve it, else ``awaiting_confirmation``."""
    case = _case(session, user, case_id)
    agreement = service.create_agreement(session, case_id=case.id, user=user, option_code=body.option_code,
                                         reason=body.reason, locale=body.locale, affordable=body.affordable)
    return _out(session, user, agreement)


@router.get("/agreements/{agreement_id}", summary="One agreement with its schedule and payments",
            response_model=s.Agreement)
def get_agreement(agreement_id: AgreementId, session: DbSession, user: CurrentUser) -> s.Agreement:
    return _out(session, user, _agreement(session, user, agreement_id))


@router.post("/agreements/{agreement_id}/approve", summary="Approve an agreement (four-eyes)",
             response_model=s.Agreement, responses=WRITE_ERRORS)
def approve_agreement(agreement_id: AgreementId, body: s.AgreementApprove, session: DbSession,
                      user: Approver) -> s.Agreement:
    """By a second person (not its author) whose role has the authority the agreement needs."""
    agreement = _agreement(session, user, agreement_id)
    return _out(session, user, service.approve_agreement(session, agreement_id=agreement.id, user=user,
                                                          note=body.note))


@router.post("/agreements/{agreement_id}/send-code", summary="Send the customer a confirmation code by SMS",
             response_model=s.CodeSentOut, responses=WRITE_ERRORS)
def send_code(agreement_id: AgreementId, body: s.SendCode, session: DbSession, user: Worker) -> s.CodeSentOut:
    """A 6-digit code, valid 15 minutes, to the customer's verified mobile (through the outbox).
    The code is never shown here."""
    agreement = _agreement(session, user, agreement_id)
    sent = service.send_confirmation_code(session, agreement_id=agreement.id, user=user,
                                          contact_point_id=body.contact_point_id)
    return s.CodeSentOut(agreement_id=agreement.id, contact_point_id=sent.contact_point.id,
                         masked_phone=masked("phone", sent.contact_point.value),
                         expires_at=sent.expires_at, outbox_id=sent.outbox_id)


@router.post("/agreements/{agreement_id}/confirm", summary="Record the customer's confirmation",
             response_model=s.Agreement, responses=WRITE_ERRORS)
def confirm_agreement(agreement_id: AgreementId, body: s.AgreementConfirm, session: DbSession,
                      user: Worker) -> Any:
    """``sms_code`` with the code, or ``recorded_call`` / ``signed_document`` / ``app`` with a
    reference. Confirmed, the agreement is active and frozen and the case moves to ``plan_active``.
    A wrong code answers 400 and counts as an attempt."""
    agreement = _agreement(session, user, agreement_id)
    done = service.confirm_agreement(session, agreement_id=agreement.id, user=user, method=body.method,
                                     code=body.code, reference_=body.reference)
    if done.error is not None:
        # Returned, not raised: the request's transaction commits, so the attempt counts.
        body_ = {"error": {"code": done.code, "message": done.error, "field": done.field}}
        return JSONResponse(body_, status_code=400)
    return _out(session, user, done.agreement)


@router.post("/agreements/{agreement_id}/revise", summary="Make a new version of an active agreement",
             response_model=s.Agreement, status_code=status.HTTP_201_CREATED, responses=WRITE_ERRORS)
def revise_agreement(agreement_id: AgreementId, body: s.AgreementRevise, session: DbSession,
                     user: Worker) -> s.Agreement:
    """The old version keeps running until the new one is confirmed; then it is ``superseded``."""
    agreement = _agreement(session, user, agreement_id)
    new = service.revise_agreement(session, agreement_id=agreement.id, user=user, option_code=body.option_code,
                                   reason=body.reason, locale=body.locale, affordable=body.affordable)
    return _out(session, user, new)


@router.post("/agreements/{agreement_id}/cancel", summary="Cancel an agreement not yet confirmed",
             response_model=s.Agreement, responses=WRITE_ERRORS)
def cancel_agreement(agreement_id: AgreementId, body: s.AgreementCancel, session: DbSession,
                     user: Worker) -> s.Agreement:
    agreement = _agreement(session, user, agreement_id)
    return _out(session, user, service.cancel_agreement(session, agreement_id=agreement.id, user=user,
                                                         reason=body.reason))


@router.get("/agreements/{agreement_id}/pdf", summary="The agreement's PDF copy (an audited read)",
            response_class=Response,
            responses={200: {"content": {"application/pdf": {}}, "description": "the PDF"}})
def agreement_pdf(agreement_id: AgreementId, session: DbSession, user: CurrentUser) -> Response:
    """The customer's copy, with their name: not for roles that see names masked."""
    agreement = _agreement(session, user, agreement_id)
    if not _sees_names(user):
        raise Forbidden(f"role {user.role} may not read agreements, which carry the customer's name")
    found = service.read_pdf(session, agreement_id=agreement.id, user=user)
    return Response(found.pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{service.reference(found)}.pdf"'})
