"""Choosing a plan on the cardholder's page (docs/self-service.md, "Choosing a plan").

The cardholder enters their monthly income, essential spending, other debt payments and dependants
(and why they are behind): a new version of the case's investigation, recorded by ``cardholder``.
The same affordability rule and the same options engine as an agent's give the options side by side.
An option within self-service authority (by default: what an agent of the lowest role may agree
alone, and no discount: ``ARREARS_PORTAL_PLAN_MAX_DISCOUNT``) is confirmed with a one-time code and
becomes an active agreement exactly as an agent's ``sms_code`` confirmation makes it. Anything beyond
goes to a team lead's approval list; the customer is told by when it is answered
(``ARREARS_PORTAL_APPROVAL_WORKING_DAYS``) and confirms it with a code once it is approved.

Agreements are made by the system user ``self-service`` (inactive, it cannot sign in): the four-eyes
rule holds, since a real team lead approves what the cardholder asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account
from arrears.auth.service import record
from arrears.auth.tables import User
from arrears.cases.model import CAUSES
from arrears.cases.service import business_date_of, current_investigation, record_investigation
from arrears.cases.tables import Case
from arrears.config import Settings
from arrears.kit.clock import utc_now
from arrears.kit.db import transaction, write_first
from arrears.kit.errors import ArrearsError
from arrears.kit.money import to_fen
from arrears.plans import repository as plans_repo
from arrears.plans import service as plans
from arrears.plans.model import Option
from arrears.plans.tables import PlanAgreement
from arrears.portal.codes import (
    CODE_TTL,
    NoMobileOnFile,
    TooManyCodes,
    answer_by,
    check_code,
    normalise_code,
    send_code,
)
from arrears.portal.pages import csrf_ok, expired_page, link_path, open_visit, portal_page, to_start
from arrears.portal.service import case_of, case_rules, portal_key, record_self_service
from arrears.portal.tables import PortalLink
from arrears.web.i18n import N_
from arrears.web.render import gettext, request_locale, settings_of

router = APIRouter(include_in_schema=False)

#: The system user that makes the cardholder's own agreements (never signs in).
SELF_SERVICE_USERNAME = "self-service"
#: Its role: the lowest, so the engine offers what such an agent could offer.
SELF_SERVICE_ROLE = "agent"
#: Who approves what goes beyond self-service authority (and needs no higher role by itself).
APPROVER_ROLE = "team_lead"
NO_PASSWORD = "!"  # matches no password: the user cannot sign in
#: The willingness recorded with the cardholder's figures when no earlier one is known: they came to
#: choose a plan themselves.
SELF_SERVICE_WILLINGNESS = 4
MAX_DEPENDANTS = 20

#: Why they are behind, as the cardholder says it (the case's causes).
CAUSE_LABELS = {
    "job_loss": N_("I lost my job or my income fell"), "illness": N_("Illness or injury"),
    "business_trouble": N_("My business is in trouble"), "over_indebted": N_("I have too many debts"),
    "forgot": N_("I forgot to pay"), "dispute": N_("I do not agree with what I owe"),
    "fraud": N_("Someone used my card without me"), "other": N_("Another reason"),
}


def self_service_user(session: Session) -> User:
    """The system user ``self-service``, made on first use (inactive, no password)."""
    user = session.scalars(select(User).where(User.username == SELF_SERVICE_USERNAME)).one_or_none()
    if user is None:
        try:
            with session.begin_nested():
                user = User(username=SELF_SERVICE_USERNAME, display_name="Cardholder self-service",
                            password_hash=NO_PASSWORD, role=SELF_SERVICE_ROLE, active=False)
                session.add(user)
                session.flush()
        except IntegrityError:  # made by a parallel request meanwhile
            user = session.scalars(select(User).where(User.username == SELF_SERVICE_USERNAME)).one()
    if user.active or user.password_hash != NO_PASSWORD or user.role != SELF_SERVICE_ROLE:
        raise ArrearsError(f"user {SELF_SERVICE_USERNAME!r} is a person's account: rename it, the cardholder's "
                           "own agreements are made by a system user of that name")
    return user


@dataclass(frozen=True)
class Choice:
    """An option the engine offers, as the cardholder sees it: ``within`` self-service authority
    (confirmed with a code) or not (a team lead's approval first)."""

    option: Option
    within: bool

    @property
    def single(self) -> bool:
        return len(self.option.schedule) == 1


def within_authority(option: Option, settings: Settings) -> bool:
    return option.offered and not option.needs_approval and \
        (option.discount_percent or Decimal(0)) <= settings.portal_plan_max_discount


def cardholder_choices(session: Session, *, account: Account, settings: Settings) -> list[Choice]:
    """The options the engine offers today for the account (with the self-service role), in the
    products' order; not-offered ones are left out."""
    found = plans.options_for_account(session, account=account, role=SELF_SERVICE_ROLE,
                                      business_date=business_date_of(utc_now(), settings.timezone))
    return [Choice(o, within_authority(o, settings)) for o in found.options if o.offered]


def _own_agreements(session: Session, case: Case, user: User) -> tuple[PlanAgreement | None, PlanAgreement | None]:
    """(the case's live agreement if any, the cardholder's own one awaiting their code if any)."""
    live = plans_repo.live_agreements(session, case.id)
    first = live[0] if live else None
    own = next((a for a in live if a.status == "awaiting_confirmation" and a.created_by == user.id), None)
    return first, own


def _fen(text: str, field: str, errors: dict[str, str]) -> int:
    try:
        amount = Decimal(text.strip().replace(",", "").replace("，", ""))
    except (InvalidOperation, AttributeError):
        errors[field] = N_("Please enter an amount in yuan, for example 3500 or 3500.50.")
        return 0
    if not amount.is_finite() or amount < 0 or amount >= Decimal(10) ** 10 or amount != amount.quantize(Decimal("0.01")):
        errors[field] = N_("Please enter an amount of 0 or more, with at most two decimals.")
        return 0
    return to_fen(amount)


def _state_page(request: Request, token: str, session: Session, link: PortalLink, settings: Settings,
                **extra: object) -> Response | None:
    """The plan pages' answer when the case already has an agreement going on, else None."""
    case = case_of(session, link)
    if case is None:
        return portal_page(request, "portal_plan_state.html", token, state="no_case")
    user = self_service_user(session)
    live, own = _own_agreements(session, case, user)
    if live is None or own is not None:
        return None
    if live.status == "pending_approval":
        return portal_page(request, "portal_plan_state.html", token, state="pending", agreement=live,
                           by=answer_by(live.created_at.date(), settings.portal_approval_working_days))
    if live.status == "awaiting_confirmation" and live.created_by == user.id:
        return None
    return portal_page(request, "portal_plan_state.html", token, state=live.status, agreement=live)


@router.get("/p/{token}/plan")
def plan_form(request: Request, token: str) -> Response:
    settings = settings_of(request)
    with transaction(write_first(request.app.state.engine)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        busy = _state_page(request, token, session, link, settings)
        if busy is not None:
            return busy
        case = case_of(session, link)
        own = _own_agreements(session, case, self_service_user(session))[1] if case is not None else None
        if own is not None and own.approved_by is not None:  # approved: the cardholder confirms it now
            return RedirectResponse(link_path(token, "/plan/confirm"), status_code=303)
    return _form_page(request, token, values={}, errors={})


def _form_page(request: Request, token: str, *, values: dict[str, str], errors: dict[str, str],
               status_code: int = 200) -> Response:
    return portal_page(request, "portal_plan.html", token, status_code=status_code, values=values,
                       errors={k: gettext(request, v) for k, v in errors.items()}, causes=CAUSE_LABELS,
                       action=link_path(token, "/plan"))


@router.post("/p/{token}/plan")
def plan_figures(
    request: Request, token: str,
    monthly_income: Annotated[str, Form(max_length=20)] = "",
    essential_spending: Annotated[str, Form(max_length=20)] = "",
    other_debt_payments: Annotated[str, Form(max_length=20)] = "0",
    dependants: Annotated[str, Form(max_length=4)] = "0",
    cause: Annotated[str, Form(max_length=32)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """The cardholder's figures: a new investigation version by ``cardholder``, then the options."""
    if not csrf_ok(request, csrf_token):
        return expired_page(request, token)
    values = {"monthly_income": monthly_income, "essential_spending": essential_spending,
              "other_debt_payments": other_debt_payments, "dependants": dependants, "cause": cause}
    errors: dict[str, str] = {}
    income = _fen(monthly_income, "monthly_income", errors)
    essential = _fen(essential_spending, "essential_spending", errors)
    other = _fen(other_debt_payments or "0", "other_debt_payments", errors)
    kids = dependants.strip() or "0"
    if not (kids.isascii() and kids.isdigit() and int(kids) <= MAX_DEPENDANTS):
        errors["dependants"] = N_("Please enter a whole number from 0 to 20.")
    if cause not in CAUSES:
        errors["cause"] = N_("Please choose why the payments fell behind.")
    settings = settings_of(request)
    with transaction(write_first(request.app.state.engine)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        busy = _state_page(request, token, session, link, settings)
        if busy is not None:
            return busy
        if errors:
            return _form_page(request, token, values=values, errors=errors, status_code=422)
        case = case_of(session, link)
        assert case is not None
        last = current_investigation(session, case_id=case.id)
        version = record_investigation(
            session, case_id=case.id, cause=cause, monthly_income=income, essential_spending=essential,
            other_debt_payments=other, dependants=int(kids),
            willingness=last.willingness if last is not None else SELF_SERVICE_WILLINGNESS,
            recorded_by="cardholder", rules=case_rules(), notes="entered by the cardholder on their own page")
        record(session, actor="cardholder", action="portal.affordability", entity="case", entity_id=case.id,
               detail={"link_id": link.id, "investigation_id": version.id, "version": version.version,
                       "affordable_monthly": int(version.affordable_monthly)})
    return RedirectResponse(link_path(token, "/plan/options"), status_code=303)


@router.get("/p/{token}/plan/options")
def plan_options(request: Request, token: str) -> Response:
    settings = settings_of(request)
    with transaction(write_first(request.app.state.engine)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        return _options_page(request, token, session, link, settings)


def _options_page(request: Request, token: str, session: Session, link: PortalLink, settings: Settings, *,
                  error: str | None = None, status_code: int = 200) -> Response:
    busy = _state_page(request, token, session, link, settings)
    if busy is not None:
        return busy
    case = case_of(session, link)
    assert case is not None
    latest = current_investigation(session, case_id=case.id)
    if latest is None or latest.recorded_by != "cardholder":
        return RedirectResponse(link_path(token, "/plan"), status_code=303)
    account = session.get(Account, link.account_id)
    assert account is not None
    try:
        choices = cardholder_choices(session, account=account, settings=settings)
    except plans.PlanError:  # nothing to plan for (no balance)
        choices = []
    return portal_page(request, "portal_plan_options.html", token, status_code=status_code, choices=choices,
                       affordable=int(latest.affordable_monthly), error=error, action=link_path(token, "/plan/choose"),
                       by=answer_by(business_date_of(utc_now(), settings.timezone), settings.portal_approval_working_days),
                       again=link_path(token, "/plan"))


@router.post("/p/{token}/plan/choose")
def plan_choose(
    request: Request, token: str, option_code: Annotated[str, Form(max_length=32)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """The cardholder's choice: within authority → an agreement awaiting their code (sent now); beyond
    → an agreement pending a team lead's approval."""
    if not csrf_ok(request, csrf_token):
        return expired_page(request, token)
    settings = settings_of(request)
    key = portal_key(settings)
    with transaction(write_first(request.app.state.engine)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        busy = _state_page(request, token, session, link, settings)
        if busy is not None:
            return busy
        case = case_of(session, link)
        account = session.get(Account, link.account_id)
        assert case is not None and account is not None
        user = self_service_user(session)
        choice = next((c for c in cardholder_choices(session, account=account, settings=settings)
                       if c.option.code == option_code), None)
        if choice is None:
            return _options_page(request, token, session, link, settings, status_code=422, error=gettext(
                request, N_("That option is not offered to you today. Please choose one of the options below.")))
        _, own = _own_agreements(session, case, user)
        if own is not None:  # an earlier choice not confirmed: replaced by this one
            plans.cancel_agreement(session, agreement_id=own.id, user=user,
                                   reason="the cardholder chose another option on their page")
        latest = current_investigation(session, case_id=case.id)
        try:
            with session.begin_nested():
                agreement = plans.create_agreement(
                    session, case_id=case.id, user=user, option_code=choice.option.code,
                    reason=f"chosen by the cardholder on their own page (cause: {latest.cause if latest else 'unknown'})",
                    locale=request_locale(request), business_date=business_date_of(utc_now(), settings.timezone),
                    require_approval=None if choice.within else APPROVER_ROLE)
        except ArrearsError:  # e.g. the case has ended meanwhile
            return _options_page(request, token, session, link, settings, status_code=409, error=gettext(
                request, N_("We cannot offer a plan on this page today. Please call us.")))
        if agreement.status == "pending_approval":
            record_self_service(session, link=link, outcome="plan_chosen", action="plan",
                                detail={"agreement_id": agreement.id, "product": agreement.product_code,
                                        "total": int(agreement.total), "status": agreement.status,
                                        "approval_role": agreement.approval_role},
                                notes=f"asked for plan {agreement.product_code} on their page: waiting for "
                                      f"a {agreement.approval_role}'s approval")
            return RedirectResponse(link_path(token, "/plan"), status_code=303)
        try:
            with session.begin_nested():
                send_code(session, link=link, key=key, purpose="plan", subject_id=agreement.id)
        except (TooManyCodes, NoMobileOnFile):
            pass  # the confirmation page says how to get a code
    return RedirectResponse(link_path(token, "/plan/confirm"), status_code=303)


def _confirm_page(request: Request, token: str, session: Session, link: PortalLink, settings: Settings, *,
                  error: str | None = None, status_code: int = 200) -> Response:
    case = case_of(session, link)
    if case is None:
        return RedirectResponse(link_path(token, "/plan"), status_code=303)
    _, own = _own_agreements(session, case, self_service_user(session))
    if own is None:
        return RedirectResponse(link_path(token, "/plan"), status_code=303)
    rows = plans_repo.instalments(session, own.id)
    return portal_page(request, "portal_plan_confirm.html", token, status_code=status_code, agreement=own,
                       rows=rows, error=error, action=link_path(token, "/plan/confirm"),
                       resend=link_path(token, "/plan/code"), minutes=int(CODE_TTL.total_seconds() // 60))


@router.get("/p/{token}/plan/confirm")
def plan_confirm_form(request: Request, token: str) -> Response:
    settings = settings_of(request)
    with transaction(write_first(request.app.state.engine)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        return _confirm_page(request, token, session, link, settings)


@router.post("/p/{token}/plan/code")
def plan_send_code(request: Request, token: str, csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """A (new) code to confirm the cardholder's own agreement awaiting confirmation."""
    if not csrf_ok(request, csrf_token):
        return expired_page(request, token)
    settings = settings_of(request)
    with transaction(write_first(request.app.state.engine)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        case = case_of(session, link)
        own = _own_agreements(session, case, self_service_user(session))[1] if case is not None else None
        if own is None:
            return RedirectResponse(link_path(token, "/plan"), status_code=303)
        try:
            with session.begin_nested():
                send_code(session, link=link, key=portal_key(settings), purpose="plan", subject_id=own.id)
        except TooManyCodes:
            return _confirm_page(request, token, session, link, settings, status_code=429, error=gettext(
                request, N_("We have sent three codes in the last hour. Please try again later.")))
        except NoMobileOnFile:
            return _confirm_page(request, token, session, link, settings, status_code=409, error=gettext(
                request, N_("We have no mobile number of yours to send a code to. Please call us to confirm.")))
    return RedirectResponse(link_path(token, "/plan/confirm"), status_code=303)


_CODE_ERRORS = {
    "wrong": N_("This code is not right. Please check it and try again."),
    "expired": N_("This code has expired. Please ask for a new one."),
    "tries": N_("This code was entered wrongly too often. Please ask for a new one."),
    "used": N_("This code was already used. Please ask for a new one."),
    "none": N_("No code was sent yet. Please ask for one."),
}


@router.post("/p/{token}/plan/confirm")
def plan_confirm(
    request: Request, token: str, code: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """The code is right: the agreement becomes active (exactly as an agent's ``sms_code`` confirmation)."""
    if not csrf_ok(request, csrf_token):
        return expired_page(request, token)
    settings = settings_of(request)
    with transaction(write_first(request.app.state.engine)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        case = case_of(session, link)
        user = self_service_user(session)
        own = _own_agreements(session, case, user)[1] if case is not None else None
        if own is None:
            return RedirectResponse(link_path(token, "/plan"), status_code=303)
        checked = check_code(session, link=link, key=portal_key(settings), purpose="plan", subject_id=own.id,
                             code=normalise_code(code))
        if not checked.ok:
            record(session, actor="cardholder", action="portal.code_rejected", entity="plan_agreement",
                   entity_id=own.id, detail={"link_id": link.id, "reason": checked.reason})
            return _confirm_page(request, token, session, link, settings, status_code=422,
                                 error=gettext(request, _CODE_ERRORS[checked.reason or "wrong"]))
        try:
            with session.begin_nested():
                done = plans.confirm_agreement(session, agreement_id=own.id, user=user, method="sms_code",
                                               checked_code_point=checked.contact_point_id or 0,
                                               business_date=business_date_of(utc_now(), settings.timezone))
        except ArrearsError:
            return _confirm_page(request, token, session, link, settings, status_code=409, error=gettext(
                request, N_("This plan can no longer start as agreed. Please choose again or call us.")))
        agreement = done.agreement
        if agreement.approved_by is None:  # one record per agreement: an approved one was recorded when asked
            record_self_service(session, link=link, outcome="plan_chosen", action="plan",
                                detail={"agreement_id": agreement.id, "product": agreement.product_code,
                                        "total": int(agreement.total), "status": agreement.status},
                                notes=f"chose and confirmed plan {agreement.product_code} on their page")
        agreement_id = agreement.id
    return RedirectResponse(link_path(token, f"/plan/done?agreement={agreement_id}"), status_code=303)


@router.get("/p/{token}/plan/done")
def plan_done(request: Request, token: str, agreement: str = "") -> Response:
    with transaction(write_first(request.app.state.engine)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        row = session.get(PlanAgreement, int(agreement)) if agreement.isascii() and agreement.isdigit() \
            and len(agreement) < 18 else None
        if row is None or row.account_id != link.account_id or row.status != "active":
            return RedirectResponse(link_path(token, "/home"), status_code=303)
        rows = plans_repo.instalments(session, row.id)
    return portal_page(request, "portal_plan_done.html", token, agreement=row, rows=rows)


@router.get("/p/{token}/agreements/{agreement_id}.pdf")
def agreement_pdf(request: Request, token: str, agreement_id: str) -> Response:
    """One of this account's agreements as PDF, in a verified visit only; audited ``plan.pdf_read`` by
    ``cardholder`` (an unmasked read: the PDF carries the customer's name)."""
    with transaction(write_first(request.app.state.engine)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        row = session.get(PlanAgreement, int(agreement_id)) if agreement_id.isascii() and agreement_id.isdigit() \
            and len(agreement_id) < 18 else None
        if row is None or row.account_id != link.account_id or not row.pdf:
            return portal_page(request, "portal_plan_state.html", token, status_code=404, state="no_agreement")
        record(session, actor="cardholder", action="plan.pdf_read", entity="plan_agreement", entity_id=row.id,
               detail={"case_id": row.case_id, "version": row.version, "status": row.status, "link_id": link.id,
                       "pdf_sha256": row.pdf_sha256, "personal_data": "unmasked"})
        pdf, name = bytes(row.pdf), f"{plans.reference(row)}.pdf"
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store"})
