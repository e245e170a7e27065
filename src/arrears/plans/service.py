"""Repayment plans in the store: options for a case, agreements (approval, confirmation, versions,
cancellation) and the daily monitoring of running plans.

Every function takes the caller's session and keyword-only domain arguments and ``flush()``-es;
the entry point (API request, CLI command, the cycle) owns the transaction. Every event leaves an
audit record, written here so that no entry point can forget it. Actors: the user's username for
people, ``plan-monitor`` (or the name the caller gives) for the daily monitoring.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, ContactPoint, Customer
from arrears.auth.model import Forbidden
from arrears.auth.service import record
from arrears.auth.tables import User
from arrears.cases import queue
from arrears.cases import repository as case_repo
from arrears.cases.model import ENDED_STATES, TRANSITIONS, can_transition
from arrears.cases.service import business_date_of, transition
from arrears.cases.tables import Case, Investigation, Task
from arrears.channels.outbox import enqueue
from arrears.config import get_settings
from arrears.kit.clock import utc_now
from arrears.kit.errors import ArrearsError
from arrears.kit.inputs import require_reason, visible
from arrears.plans import repository as repo
from arrears.plans.config import load_default_plan_products
from arrears.plans.documents import render_pdf, render_terms, sha256_hex
from arrears.plans.model import (
    Instalment,
    Option,
    PlanError,
    PlanInputs,
    PlanProducts,
    allocate,
    approval_refusal,
    generate_options,
    plan_status,
    reage_decision,
    reminder_dates,
)
from arrears.plans.tables import DRAFT_STATUSES, TERMS_LOCALES, PlanAgreement, PlanInstalment, ReAge

#: A confirmation code is valid this long after it is sent.
CODE_TTL = timedelta(minutes=15)
#: Wrong codes allowed per agreement (over every code sent for it); then only another method confirms.
MAX_CODE_ATTEMPTS = 5
#: Codes that may be sent for one agreement.
MAX_CODES_SENT = 5
MONITOR_ACTOR = "plan-monitor"


class PlanConflict(ArrearsError):
    """The agreement's or the case's state does not allow this."""

    status = 409


class PlanFieldError(ArrearsError):
    """A request field is wrong for this agreement; ``field`` names it."""

    status = 422

    def __init__(self, message: str, *, field: str, code: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        if code is not None:
            self.code = code


class OptionNotOffered(PlanFieldError):
    def __init__(self, option: Option) -> None:
        super().__init__(f"option {option.code!r} is not offered: {'; '.join(option.reasons)}",
                         field="option_code", code="option_not_offered")
        self.reasons = option.reasons


def products() -> PlanProducts:
    return load_default_plan_products()


def _actor(user: User) -> str:
    return user.username


def _today() -> date:
    return business_date_of(utc_now())


# -- options ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CaseOptions:
    case_id: int | None
    account_id: int
    inputs: PlanInputs
    options: list[Option]
    investigation_id: int | None


def plan_inputs(
    session: Session, *, account: Account, case: Case | None, role: str, business_date: date,
    affordable: int | None = None,
) -> tuple[PlanInputs, Investigation | None]:
    """What the options are made from: the latest statement's balance and minimum due, the latest
    snapshot's past-due amount and DPD (the case's DPD without one), and the case's current
    investigation (affordable amount, willingness, cause); ``affordable`` overrides the amount."""
    statement = repo.latest_statement(session, account.id, on_or_before=business_date)
    if statement is not None:
        balance, minimum = max(0, int(statement.new_balance)), int(statement.minimum_due)
    else:
        balance, minimum = int(case.balance) if case is not None else 0, 0
    snapshot = repo.latest_snapshot(session, account.id, on_or_before=business_date)
    overdue = int(snapshot.amount_past_due) if snapshot is not None else 0
    dpd = snapshot.dpd if snapshot is not None else (case.dpd if case is not None else 0)
    investigation = case_repo.latest_investigation(session, case.id) if case is not None else None
    if affordable is None and investigation is not None:
        affordable = int(investigation.affordable_monthly)
    inputs = PlanInputs(
        today=business_date, balance=balance, overdue=min(overdue, balance), minimum_due=min(minimum, balance),
        affordable=affordable, willingness=investigation.willingness if investigation else None,
        cause=investigation.cause if investigation else None, role=role, dpd=max(0, int(dpd)),
    )
    return inputs, investigation


def options_for_account(
    session: Session, *, account: Account, role: str, affordable: int | None = None,
    business_date: date | None = None, rules: PlanProducts | None = None,
) -> CaseOptions:
    case = repo.case_of_account(session, account.id)
    inputs, investigation = plan_inputs(session, account=account, case=case, role=role,
                                        business_date=business_date or _today(), affordable=affordable)
    return CaseOptions(case.id if case else None, account.id, inputs, generate_options(inputs, rules or products()),
                       investigation.id if investigation else None)


def options_for_case(
    session: Session, *, case_id: int, user: User, affordable: int | None = None,
    business_date: date | None = None, rules: PlanProducts | None = None,
) -> CaseOptions:
    """The options side by side for the case's account, with the settlement authority of ``user``."""
    case = case_repo.get_case(session, case_id)
    account, _ = repo.account_and_customer(session, case.account_id)
    inputs, investigation = plan_inputs(session, account=account, case=case, role=user.role,
                                        business_date=business_date or _today(), affordable=affordable)
    return CaseOptions(case.id, account.id, inputs, generate_options(inputs, rules or products()),
                       investigation.id if investigation else None)


# -- the written agreement ----------------------------------------------------------------------

def reference(agreement: PlanAgreement) -> str:
    return f"C{agreement.case_id}-V{agreement.version}"


def masked_account(account_ref: str) -> str:
    return "****" + account_ref[-4:] if len(account_ref) > 4 else "****"


def _local_moment(name: str, moment: datetime | None, zone: str) -> dict[str, str | None]:
    """``moment`` for the written agreement: the customer's wall-clock time, their zone's name and its
    UTC offset then (``<name>_at``, ``<name>_zone``, ``<name>_offset``); all None when there is none."""
    if moment is None:
        return {f"{name}_at": None, f"{name}_zone": None, f"{name}_offset": None}
    local = moment.astimezone(ZoneInfo(zone))
    offset = local.strftime("%z")
    return {f"{name}_at": local.strftime("%Y-%m-%d %H:%M:%S"), f"{name}_zone": zone,
            f"{name}_offset": f"UTC{offset[:3]}:{offset[3:]}"}


def _render(session: Session, agreement: PlanAgreement, schedule: list[dict[str, object]],
            rules: PlanProducts) -> None:
    """(Re)write the agreement's terms and PDF from its current fields. Refused by the database
    once the agreement is confirmed, so nothing is flushed before the new text is set."""
    with session.no_autoflush:
        account, customer = repo.account_and_customer(session, agreement.account_id)
        names = repo.usernames(session, agreement.created_by, agreement.approved_by)
        previous = session.get(PlanAgreement, agreement.supersedes_id) if agreement.supersedes_id else None
    product = rules.product(agreement.product_code) if any(
        p.code == agreement.product_code for p in rules.products) else None
    context = {
        "kind": agreement.kind, "reference": reference(agreement), "version": agreement.version,
        "supersedes_reference": reference(previous) if previous is not None else None,
        "start_date": agreement.start_date, "customer_name": customer.name,
        "account": masked_account(account.account_ref),
        "product_zh": product.label("zh_CN") if product else agreement.product_code,
        "product_en": product.label("en") if product else agreement.product_code,
        "product_code": agreement.product_code, "schedule": schedule,
        "principal": agreement.principal, "fees": agreement.fees, "interest": agreement.interest,
        "fee_waived": sum(int(i["fee_waived"]) for i in schedule),  # type: ignore[call-overload]
        "total": agreement.total, "waived": agreement.waived, "discount_percent": agreement.discount_percent,
        "annual_rate": agreement.annual_rate, "grace_days": rules.monitoring.grace_days,
        "max_misses": rules.monitoring.max_misses, "reason": agreement.reason,
        **_local_moment("confirmed", agreement.confirmed_at, customer.time_zone),
        "confirmation_method": agreement.confirmation_method, "confirmation_ref": agreement.confirmation_ref,
        "agent": names.get(agreement.created_by, str(agreement.created_by)),
        "approver": names.get(agreement.approved_by) if agreement.approved_by else None,
    }
    text = render_terms(context, agreement.terms_locale)
    made_at = agreement.confirmed_at or agreement.approved_at or agreement.created_at
    pdf = render_pdf(text, font=get_settings().pdf_font, title=f"{reference(agreement)} {agreement.product_code}",
                     made_at=made_at)
    agreement.terms_text, agreement.terms_sha256 = text, sha256_hex(text)
    agreement.pdf, agreement.pdf_sha256 = pdf, sha256_hex(pdf)


def _schedule_rows(rows: list[PlanInstalment] | tuple[Instalment, ...]) -> list[dict[str, object]]:
    return [{"number": r.number, "due_date": r.due_date, "principal": int(r.principal), "fee": int(r.fee),
             "fee_waived": int(r.fee_waived), "interest": int(r.interest), "amount": int(r.amount)} for r in rows]


# -- agreements ---------------------------------------------------------------------------------

def _audit(session: Session, actor: str, action: str, agreement: PlanAgreement, **detail: object) -> None:
    record(session, actor=actor, action=action, entity="plan_agreement", entity_id=agreement.id,
           detail={"case_id": agreement.case_id, "version": agreement.version, "status": agreement.status, **detail})


def create_agreement(
    session: Session,
    *,
    case_id: int,
    user: User,
    option_code: str,
    reason: str | None = None,
    locale: str = "zh_CN",
    affordable: int | None = None,
    business_date: date | None = None,
    rules: PlanProducts | None = None,
    supersedes: PlanAgreement | None = None,
    require_approval: str | None = None,
) -> PlanAgreement:
    """An agreement from one of the options offered to the case today.

    Refused: an option not on offer (the reasons are given), a personalised agreement without a
    reason, a case that has ended, a case with another agreement being made or running (revise it
    instead). An option that needs a second person's approval starts ``pending_approval``; any other
    ``awaiting_confirmation``. The schedule is written with it and never changes.
    ``require_approval`` (a role) makes an option that needs no approval need this role's (an option
    beyond the maker's narrower authority, e.g. the cardholder's own self-service).
    """
    rules = rules or products()
    if locale not in TERMS_LOCALES:
        raise PlanFieldError(f"locale must be one of {', '.join(TERMS_LOCALES)}", field="locale")
    reason = require_reason(reason, field="reason") if visible(reason) else None  # optional unless personalised
    case = case_repo.get_case(session, case_id, for_update=True)
    if case.status in ENDED_STATES:
        raise PlanConflict(f"case {case.id} is {case.status}: reopen it before agreeing a plan")
    live = [a for a in repo.live_agreements(session, case.id) if supersedes is None or a.id != supersedes.id]
    if live:
        a = live[0]
        raise PlanConflict(f"case {case.id} already has agreement {a.id} ({a.status}); "
                           f"{'revise' if a.status == 'active' else 'cancel'} it first")
    found = options_for_case(session, case_id=case.id, user=user, affordable=affordable,
                             business_date=business_date, rules=rules)
    option = next((o for o in found.options if o.code == option_code), None)
    if option is None:
        raise PlanFieldError(f"no option {option_code!r} (options: {', '.join(o.code for o in found.options)})",
                             field="option_code", code="unknown_option")
    if not option.offered:
        raise OptionNotOffered(option)
    if option.kind == "personalised" and not reason:
        raise PlanFieldError("a personalised instalment agreement needs the reason recorded", field="reason",
                             code="reason_required")
    needs_approval = option.needs_approval or require_approval is not None
    approval_role = option.approval_role or (require_approval if needs_approval else None)
    now = utc_now()
    agreement = PlanAgreement(
        case_id=case.id, account_id=case.account_id, version=repo.next_version(session, case.id),
        supersedes_id=supersedes.id if supersedes else None, product_code=option.code, kind=option.kind,
        start_date=found.inputs.today, principal=option.principal, fees=option.fees, interest=option.interest,
        waived=option.waived, total=option.total, largest_instalment=option.largest_instalment,
        annual_rate=str(option.annual_rate) if option.annual_rate is not None else None,
        months=option.months, days=option.days,
        discount_percent=str(option.discount_percent) if option.discount_percent is not None else None,
        affordable=found.inputs.affordable, reason=reason, investigation_id=found.investigation_id,
        status="pending_approval" if needs_approval else "awaiting_confirmation",
        needs_approval=needs_approval, approval_role=approval_role, created_by=user.id,
        code_attempts=0, terms_locale=locale, terms_text="", terms_sha256="", pdf=b"", pdf_sha256="",
        created_at=now, updated_at=now,
    )
    session.add(agreement)
    session.flush()
    for s in option.schedule:
        session.add(PlanInstalment(
            agreement_id=agreement.id, number=s.number, due_date=s.due_date, principal=s.principal, fee=s.fee,
            fee_waived=s.fee_waived, interest=s.interest, amount=s.amount, paid=0, status="pending",
            updated_at=now))
    _render(session, agreement, _schedule_rows(option.schedule), rules)
    session.flush()
    _audit(session, _actor(user), "plan.agreement_create", agreement, product=option.code, total=option.total,
           annual_rate=agreement.annual_rate, needs_approval=needs_approval,
           approval_role=approval_role, reason=reason, investigation_id=found.investigation_id,
           supersedes_id=agreement.supersedes_id, terms_sha256=agreement.terms_sha256)
    return agreement


def approve_agreement(
    session: Session, *, agreement_id: int, user: User, note: str | None = None, rules: PlanProducts | None = None,
) -> PlanAgreement:
    """Four-eyes: a second person whose role has the authority approves the agreement."""
    rules = rules or products()
    agreement = repo.get_agreement(session, agreement_id, for_update=True)
    if agreement.status != "pending_approval":
        raise PlanConflict(f"agreement {agreement.id} is {agreement.status}, not pending_approval")
    if user.id == agreement.created_by:
        raise Forbidden("four-eyes: the person who made the agreement cannot approve it")
    why = approval_refusal(user.role, approval_role=agreement.approval_role,
                           discount_percent=Decimal(agreement.discount_percent) if agreement.discount_percent
                           else None, settlement=rules.settlement)
    if why is not None:
        raise Forbidden(why)
    now = utc_now()
    agreement.status, agreement.approved_by, agreement.approved_at, agreement.updated_at = \
        "awaiting_confirmation", user.id, now, now
    _render(session, agreement, _schedule_rows(repo.instalments(session, agreement.id)), rules)
    session.flush()
    _audit(session, _actor(user), "plan.agreement_approve", agreement, approval_role=agreement.approval_role,
           note=note, terms_sha256=agreement.terms_sha256)
    return agreement


def _code_digest(agreement_id: int, code: str) -> str:
    return hashlib.sha256(f"arrears.plan-code:{agreement_id}:{code}".encode()).hexdigest()


def _awaiting(agreement: PlanAgreement) -> None:
    if agreement.status == "pending_approval":
        raise PlanConflict(f"agreement {agreement.id} needs a {agreement.approval_role}'s approval first")
    if agreement.status != "awaiting_confirmation":
        raise PlanConflict(f"agreement {agreement.id} is {agreement.status}, not awaiting_confirmation")


@dataclass(frozen=True)
class CodeSent:
    agreement: PlanAgreement
    contact_point: ContactPoint
    expires_at: datetime
    outbox_id: int


def send_confirmation_code(
    session: Session, *, agreement_id: int, user: User, contact_point_id: int | None = None,
) -> CodeSent:
    """A fresh 6-digit code by SMS to the debtor's verified mobile; only its hash is kept here.

    The plain code exists only in the outbox row that carries it to the customer."""
    agreement = repo.get_agreement(session, agreement_id, for_update=True)
    _awaiting(agreement)
    if agreement.code_attempts >= MAX_CODE_ATTEMPTS:
        raise PlanConflict(f"too many wrong codes for agreement {agreement.id}: confirm it another way")
    if repo.codes_sent(session, agreement.id) >= MAX_CODES_SENT:
        raise PlanConflict(f"{MAX_CODES_SENT} codes were already sent for agreement {agreement.id}: "
                           f"confirm it another way")
    _, customer = repo.account_and_customer(session, agreement.account_id)
    mobiles = repo.debtor_mobiles(session, customer.id)
    if contact_point_id is not None:
        mobiles = [m for m in mobiles if m.id == contact_point_id]
        if not mobiles:
            raise PlanFieldError(f"contact point {contact_point_id} is not a verified mobile of the customer",
                                 field="contact_point_id")
    if not mobiles:
        raise PlanConflict("the customer has no verified mobile number that accepts messages; "
                           "confirm by a recorded call or a signed document")
    point = mobiles[0]
    code = f"{secrets.randbelow(10**6):06d}"
    now = utc_now()
    digest = _code_digest(agreement.id, code)
    agreement.code_hash, agreement.code_expires_at = digest, now + CODE_TTL
    agreement.code_contact_point_id, agreement.updated_at = point.id, now
    session.flush()
    locale = customer.language if customer.language in TERMS_LOCALES else "zh_CN"
    message, _ = enqueue(
        session, idempotency_key=f"plan-code:{agreement.id}:{digest[:24]}", channel="sms",
        template="plan.confirmation_code", locale=locale, case_id=agreement.case_id, contact_point_id=point.id,
        payload={"code": code, "agreement": reference(agreement), "total": agreement.total,
                 "expires_at": agreement.code_expires_at, "terms_sha256": agreement.terms_sha256},
    )
    _audit(session, _actor(user), "plan.code_sent", agreement, contact_point_id=point.id, outbox_id=message.id,
           expires_at=agreement.code_expires_at)
    return CodeSent(agreement, point, now + CODE_TTL, message.id)


@dataclass(frozen=True)
class ConfirmResult:
    """``error`` (with ``field``) when the code was refused: the attempt is counted and must be
    committed, so the service returns instead of raising."""

    agreement: PlanAgreement
    error: str | None = None
    code: str | None = None
    field: str | None = None


def _path_to_plan_active(state: str) -> list[str]:
    """The shortest walk from ``state`` to ``plan_active`` through open states."""
    prev: dict[str, str | None] = {state: None}
    todo = deque([state])
    while todo:
        s = todo.popleft()
        if s == "plan_active":
            break
        for nxt in sorted(TRANSITIONS[s]):
            if nxt not in prev and nxt not in ENDED_STATES:
                prev[nxt] = s
                todo.append(nxt)
    if "plan_active" not in prev:
        return []
    out, node = [], "plan_active"
    while node != state:
        out.append(node)
        node = prev[node]  # type: ignore[assignment]
    return out[::-1]


def confirm_agreement(
    session: Session,
    *,
    agreement_id: int,
    user: User,
    method: str,
    code: str | None = None,
    reference_: str | None = None,
    business_date: date | None = None,
    rules: PlanProducts | None = None,
    checked_code_point: int | None = None,
) -> ConfirmResult:
    """Record the customer's confirmation. ``sms_code``: the code sent (wrong, expired or too many
    attempts answer an error, counted); ``recorded_call`` / ``signed_document`` / ``app``: the
    reference of the recording, document or app session is required. ``checked_code_point``: an
    ``sms_code`` the caller has already checked (the cardholder's one-time code, sent to that contact
    point), so no code is asked for here.

    Confirmed: the agreement is active, its terms and PDF are frozen, reminders are scheduled, the
    case moves to ``plan_active`` (through the lifecycle's allowed moves), a version it replaces
    becomes ``superseded``, and the case leaves the agent's hands (:func:`arrears.cases.queue.wrap_up_plan`:
    the lease is released and the tasks the plan made moot are cancelled, both audited)."""
    rules = rules or products()
    agreement = repo.get_agreement(session, agreement_id, for_update=True)
    _awaiting(agreement)
    today = business_date or _today()
    case = case_repo.get_case(session, agreement.case_id, for_update=True)
    if case.status in ENDED_STATES:
        raise PlanConflict(f"case {case.id} is {case.status}: the agreement cannot start")
    rows = repo.instalments(session, agreement.id)
    if rows and rows[0].due_date < today:
        raise PlanConflict(f"the first instalment was due {rows[0].due_date}: make a new agreement")
    if method == "sms_code" and checked_code_point is not None:
        ref = f"sms:{checked_code_point}"
    elif method == "sms_code":
        if not code:
            raise PlanFieldError("the code the customer received is required", field="code")
        if agreement.code_hash is None or agreement.code_expires_at is None:
            raise PlanConflict("no code was sent for this agreement")
        if agreement.code_attempts >= MAX_CODE_ATTEMPTS:
            return ConfirmResult(agreement, "too many wrong codes: confirm another way", "too_many_attempts", "code")
        if utc_now() > agreement.code_expires_at:
            return ConfirmResult(agreement, "the code has expired: send a new one", "code_expired", "code")
        if not hmac.compare_digest(_code_digest(agreement.id, code), agreement.code_hash):
            agreement.code_attempts += 1
            agreement.updated_at = utc_now()
            session.flush()
            _audit(session, _actor(user), "plan.code_rejected", agreement, attempts=agreement.code_attempts)
            left = MAX_CODE_ATTEMPTS - agreement.code_attempts
            return ConfirmResult(agreement, f"wrong code ({left} attempts left)", "wrong_code", "code")
        ref = f"sms:{agreement.code_contact_point_id}"
    elif method in ("recorded_call", "signed_document", "app"):
        if not reference_ or not reference_.strip():
            raise PlanFieldError(f"confirmation by {method} needs the reference of the recording, document "
                                 f"or app session", field="reference")
        ref = reference_.strip()
    else:
        raise PlanFieldError("method must be sms_code, recorded_call, signed_document or app", field="method")
    now = utc_now()
    agreement.confirmation_method, agreement.confirmation_ref = method, ref[:200]
    agreement.confirmed_at, agreement.confirmed_by = now, user.id
    agreement.status, agreement.updated_at = "active", now
    reminders = dict(reminder_dates([_instalment(r) for r in rows], rules.monitoring.reminder_days_before,
                                    not_before=today))
    for r in rows:
        r.reminder_on = reminders.get(r.number)
    _render(session, agreement, _schedule_rows(rows), rules)
    session.flush()
    actor = _actor(user)
    for target in _path_to_plan_active(case.status) if case.status != "plan_active" else []:
        transition(session, case_id=case.id, to_state=target, actor=f"user:{user.id}",
                   reason=f"plan agreement {reference(agreement)} confirmed ({method})")
    superseded = None
    if agreement.supersedes_id is not None:
        old = repo.get_agreement(session, agreement.supersedes_id, for_update=True)
        if old.status == "active":
            old.status, old.ended_on, old.updated_at = "superseded", today, now
            old.end_reason = f"replaced by version {agreement.version}"
            session.flush()
            superseded = old.id
            _audit(session, actor, "plan.agreement_superseded", old, by_agreement_id=agreement.id)
    _audit(session, actor, "plan.agreement_confirm", agreement, method=method, reference=agreement.confirmation_ref,
           terms_sha256=agreement.terms_sha256, pdf_sha256=agreement.pdf_sha256, superseded_id=superseded,
           reminders=[d for _, d in sorted(reminders.items())])
    queue.wrap_up_plan(session, case_id=case.id, actor=actor, agreement_id=agreement.id)
    return ConfirmResult(agreement)


def revise_agreement(
    session: Session, *, agreement_id: int, user: User, option_code: str, reason: str | None = None,
    locale: str | None = None, affordable: int | None = None, business_date: date | None = None,
    rules: PlanProducts | None = None,
) -> PlanAgreement:
    """A new version of an active agreement, from today's options. The old one keeps running until
    the new one is confirmed, and then becomes ``superseded``."""
    old = repo.get_agreement(session, agreement_id, for_update=True)
    if old.status != "active":
        raise PlanConflict(f"agreement {old.id} is {old.status}: only an active agreement is revised "
                           f"(cancel a draft and make a new one)")
    pending = [a for a in repo.live_agreements(session, old.case_id) if a.supersedes_id == old.id]
    if pending:
        raise PlanConflict(f"agreement {pending[0].id} already revises it; cancel that one first")
    return create_agreement(session, case_id=old.case_id, user=user, option_code=option_code, reason=reason,
                            locale=locale or old.terms_locale, affordable=affordable, business_date=business_date,
                            rules=rules, supersedes=old)


def cancel_agreement(session: Session, *, agreement_id: int, user: User, reason: str) -> PlanAgreement:
    """Cancel an agreement not yet confirmed."""
    if not visible(reason):
        raise PlanFieldError("a cancellation needs a reason", field="reason")
    reason = require_reason(reason, field="reason")
    agreement = repo.get_agreement(session, agreement_id, for_update=True)
    if agreement.status not in DRAFT_STATUSES:
        raise PlanConflict(f"agreement {agreement.id} is {agreement.status}: only one not yet confirmed is "
                           f"cancelled")
    now = utc_now()
    agreement.status, agreement.ended_on, agreement.end_reason, agreement.updated_at = \
        "cancelled", _today(), reason.strip(), now
    agreement.code_hash = None
    session.flush()
    _audit(session, _actor(user), "plan.agreement_cancel", agreement, reason=reason.strip())
    return agreement


def read_pdf(session: Session, *, agreement_id: int, user: User) -> PlanAgreement:
    """The agreement whose PDF is handed out; the read is audited."""
    agreement = repo.get_agreement(session, agreement_id)
    _audit(session, _actor(user), "plan.pdf_read", agreement, pdf_sha256=agreement.pdf_sha256)
    return agreement


# -- monitoring ---------------------------------------------------------------------------------

def _instalment(row: PlanInstalment) -> Instalment:
    return Instalment(row.number, row.due_date, int(row.principal), int(row.fee), int(row.interest),
                      int(row.amount), int(row.fee_waived))


@dataclass
class MonitorResult:
    business_date: date
    agreements: int = 0
    kept: int = 0
    late: int = 0
    missed: int = 0
    tasks: int = 0
    reminders: int = 0
    broken: list[int] = field(default_factory=list)
    completed: list[int] = field(default_factory=list)
    reaged: list[int] = field(default_factory=list)


def _task(session: Session, *, case_id: int, kind: str, due_on: date, actor: str) -> Task:
    task = Task(case_id=case_id, kind=kind, due_on=due_on, status="open", created_by=actor, created_at=utc_now())
    session.add(task)
    session.flush()
    return task


def _move(session: Session, case: Case, to_state: str, *, actor: str, reason: str) -> bool:
    if case.status == to_state or not can_transition(case.status, to_state):
        return False
    transition(session, case_id=case.id, to_state=to_state, actor=actor, reason=reason)
    return True


def monitor_plans(
    session: Session, *, business_date: date, rules: PlanProducts | None = None, actor: str = MONITOR_ACTOR,
) -> MonitorResult:
    """Judge every active agreement on ``business_date``; idempotent for a date.

    The account's payments with value dates from the agreement date through ``business_date`` go
    to the instalments oldest first. A newly missed instalment: a ``missed_instalment`` task and the
    case to ``follow_up``. ``max_misses`` missed at once: the agreement is broken (a
    ``broken_plan`` task; the case stays in follow-up for the strategy). A reminder SMS for each
    instalment not yet paid whose reminder day has come (once: the outbox key is per agreement and
    instalment). All paid: completed, the case cured, and the account re-aged when the rule allows.
    """
    rules = rules or products()
    grace, max_misses = rules.monitoring.grace_days, rules.monitoring.max_misses
    out = MonitorResult(business_date)
    for agreement in repo.active_agreements(session, started_by=business_date):
        out.agreements += 1
        rows = repo.instalments(session, agreement.id)
        payments = repo.payments_between(session, account_id=agreement.account_id, first=agreement.start_date,
                                         last=business_date)
        states = allocate([_instalment(r) for r in rows], payments, as_of=business_date, grace_days=grace)
        case = case_repo.get_case(session, agreement.case_id, for_update=True)
        now = utc_now()
        for row, st in zip(rows, states):
            changed = (row.status, int(row.paid), row.paid_on) != (st.status, st.paid, st.paid_on)
            if changed:
                was = row.status
                row.status, row.paid, row.paid_on, row.updated_at = st.status, st.paid, st.paid_on, now
                if st.status != was and st.status in ("kept", "late", "missed"):
                    setattr(out, st.status, getattr(out, st.status) + 1)
                    _audit(session, actor, f"plan.instalment_{st.status}", agreement, instalment=row.number,
                           due_date=row.due_date, amount=int(row.amount), paid=st.paid, paid_on=st.paid_on,
                           business_date=business_date)
            if st.status == "missed" and row.missed_on is None:
                row.missed_on = business_date
                session.flush()
                task = _task(session, case_id=case.id, kind="missed_instalment", due_on=business_date, actor=actor)
                out.tasks += 1
                moved = _move(session, case, "follow_up", actor=actor,
                              reason=f"instalment {row.number} of plan {reference(agreement)} missed "
                                     f"(due {row.due_date})")
                _audit(session, actor, "plan.follow_up", agreement, instalment=row.number, task_id=task.id,
                       case_moved=moved)
            if (st.status in ("pending", "part_paid") and row.reminded_on is None and row.reminder_on is not None
                    and row.reminder_on <= business_date <= row.due_date):
                row.reminded_on = business_date
                session.flush()
                out.reminders += _remind(session, agreement, row, st.outstanding, actor=actor)
        session.flush()
        judgement = plan_status(states, max_misses=max_misses)
        agreement.monitored_on = business_date
        if judgement.status == "broken":
            agreement.status, agreement.ended_on, agreement.updated_at = "broken", business_date, now
            agreement.end_reason = f"{judgement.missed} instalments missed at once (limit {max_misses})"
            session.flush()
            task = _task(session, case_id=case.id, kind="broken_plan", due_on=business_date, actor=actor)
            out.tasks += 1
            moved = _move(session, case, "follow_up", actor=actor,
                          reason=f"plan {reference(agreement)} broken: {agreement.end_reason}")
            out.broken.append(agreement.id)
            _audit(session, actor, "plan.agreement_broken", agreement, missed=judgement.missed,
                   outstanding=judgement.outstanding, task_id=task.id, case_moved=moved)
        elif judgement.status == "completed":
            decision = reage_decision(states, rules=rules.reage,
                                      last_reaged_on=repo.last_reage(session, agreement.account_id))
            agreement.status, agreement.ended_on, agreement.updated_at = "completed", judgement.completed_on, now
            agreement.end_reason = f"paid in full on {judgement.completed_on}; re-age: {decision.reason}"
            session.flush()
            out.completed.append(agreement.id)
            reage_id = None
            if decision.reage and decision.on is not None:
                reage = ReAge(account_id=agreement.account_id, reage_date=decision.on, agreement_id=agreement.id,
                              reason=decision.reason, created_by=actor, created_at=now)
                session.add(reage)
                session.flush()
                reage_id = reage.id
                out.reaged.append(agreement.account_id)
            moved = _move(session, case, "cured", actor=actor,
                          reason=f"plan {reference(agreement)} completed on {judgement.completed_on}")
            _audit(session, actor, "plan.agreement_completed", agreement, completed_on=judgement.completed_on,
                   paid=judgement.paid, kept=judgement.kept, late=judgement.late, case_cured=moved)
            _audit(session, actor, "plan.reage" if decision.reage else "plan.reage_refused", agreement,
                   account_id=agreement.account_id, reage_date=decision.on, reason=decision.reason, reage_id=reage_id)
        session.flush()
    return out


def _remind(session: Session, agreement: PlanAgreement, row: PlanInstalment, outstanding: int, *, actor: str) -> int:
    _, customer = repo.account_and_customer(session, agreement.account_id)
    mobiles = repo.debtor_mobiles(session, customer.id)
    if not mobiles:
        _audit(session, actor, "plan.reminder_skipped", agreement, instalment=row.number,
               reason="no verified mobile that accepts messages")
        return 0
    message, created = enqueue(
        session, idempotency_key=f"plan-reminder:{agreement.id}:{row.number}", channel="sms",
        template="plan.reminder", locale=customer.language if customer.language in TERMS_LOCALES else "zh_CN",
        case_id=agreement.case_id, contact_point_id=mobiles[0].id,
        payload={"agreement": reference(agreement), "instalment": row.number, "due_date": row.due_date,
                 "amount": outstanding},
    )
    if created:
        _audit(session, actor, "plan.reminder", agreement, instalment=row.number, due_date=row.due_date,
               outbox_id=message.id)
    return int(created)


def customer_of(session: Session, agreement: PlanAgreement) -> Customer:
    return repo.account_and_customer(session, agreement.account_id)[1]


__all__ = [
    "CaseOptions", "ConfirmResult", "MonitorResult", "OptionNotOffered", "PlanConflict", "PlanError",
    "PlanFieldError", "approve_agreement", "cancel_agreement", "confirm_agreement", "create_agreement",
    "monitor_plans", "options_for_account", "options_for_case", "read_pdf", "revise_agreement",
    "send_confirmation_code",
]
