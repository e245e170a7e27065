"""The case page and the guided call script.

Everything the agent sees is read within the caller's scope (another team's case is 404) and masked
by role; every write goes through the domain services, so the compliance gate and the audit log
apply exactly as through the API (the audit actions are the API's).

The script's steps are HTMX fragments (``GET /case/{id}/script/{step}`` into ``#script``); without
HTMX the same URLs answer the whole case page at that step, and the forms post normally and are
redirected back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.auth.deps import DbSession
from arrears.auth.model import POLICY, Role, can_reveal, mask
from arrears.auth.service import RevealLimited, case_scope, record, reveal
from arrears.auth.tables import User
from arrears.cases import repository as case_repo
from arrears.cases import service as case_service
from arrears.cases.model import CAUSES, PARTIES, TRANSITIONS, WILLINGNESS, InvalidTransition
from arrears.cases.tables import Case
from arrears.contact import repository as contact_repo
from arrears.contact.policy import AttemptLimit, ContactCandidate, PolicyPack, gate
from arrears.contact.service import (
    ContactBlocked,
    ContactFieldError,
    candidate_for_case,
    pack_for_case,
    script_facts_for_case,
)
from arrears.contact.tables import ContactPreference
from arrears.kit.clock import utc_now
from arrears.kit.errors import ArrearsError, NotFound
from arrears.kit.inputs import visible
from arrears.kit.money import to_fen, to_yuan
from arrears.payments.service import orders_of_account
from arrears.payments.settings import payments_of
from arrears.plans import repository as plan_repo
from arrears.plans import service as plan_service
from arrears.plans.model import approval_refusal
from arrears.web import labels
from arrears.web import repository as repo
from arrears.web.i18n import N_, check_locale, translations
from arrears.web.inputs import FormId, OptionalFormId, PathId
from arrears.web.render import gettext, render, request_locale, service_message, settings_of
from arrears.web.security import CsrfUser, WebUser, is_htmx, page_role

router = APIRouter(include_in_schema=False)

#: Roles that work cases (the API's WORKERS): record outcomes, investigations, agreements.
WORKERS = (Role.AGENT, Role.TEAM_LEAD, Role.SUPERVISOR, Role.ADMIN)
Worker = Annotated[User, Depends(page_role(*WORKERS))]
STEP_CODES = tuple(code for code, _ in labels.SCRIPT_STEPS)


#: Roles that may approve an agreement (the API's APPROVERS; the service checks rank and authority).
APPROVERS = (Role.TEAM_LEAD, Role.SUPERVISOR, Role.COMPLIANCE)
Approver = Annotated[User, Depends(page_role(*APPROVERS))]


class FormError(ArrearsError):
    """A form field is wrong; ``field`` names the input (its ``name``), so that the page can mark it.

    ``message`` is an English message id (``N_``) with ``%(name)s`` parameters, shown translated
    (``plain=True``: a service's own message, shown as it is); ``str(exc)`` stays ``"field: message"``
    in English."""

    status = 422

    def __init__(self, message: str, *, field: str, plain: bool = False, **params: Any) -> None:
        super().__init__(f"{field}: {message % params if params else message}")
        self.field = field
        self.msgid = message
        self.plain = plain
        self.params = params

    def translated(self, request: Request) -> str:
        text = service_message(request, self.msgid) if self.plain else gettext(request, self.msgid)
        return text % self.params if self.params else text


@contextmanager
def _on_field(field: str | tuple[str, ...], *also: type[ArrearsError]) -> Iterator[None]:
    """A service's plain refusal (an ``ArrearsError`` itself, or one of ``also``) of a value typed in a
    form becomes a :class:`FormError` naming the input: ``field``, or of several the one the
    service's message starts with (``"cause must be one of…"``). Every other error passes unchanged."""
    try:
        yield
    except ArrearsError as exc:
        if getattr(exc, "field", None) is None and (type(exc) is ArrearsError or isinstance(exc, also)):
            names = (field,) if isinstance(field, str) else field
            named = next((n for n in names if exc.message.startswith(f"{n} ") or exc.message.startswith(f"{n}:")),
                         names[0])
            raise FormError(exc.message, field=named, plain=True) from exc
        raise


def _case(session: Session, user: User, case_id: int) -> Case:
    return case_repo.case_in_scope(session, case_id, scope=case_scope(user, Case.team_id))


def _audit(session: Session, user: User, action: str, entity: str, entity_id: int, **detail: Any) -> None:
    record(session, actor=user.username, action=action, entity=entity, entity_id=entity_id,
           detail={**detail, "source": "web"})


def _bank_zone(request: Request) -> ZoneInfo:
    return ZoneInfo(settings_of(request).timezone)


# -- what the page shows -------------------------------------------------------------------------------

def _personal(user: User, customer: Any, points: list[Any]) -> dict[str, Any]:
    """The customer's personal data as the caller's role may see it, and what it may unmask (an
    audited reveal; a value the role already sees plain has nothing to reveal)."""
    role = user.role

    def revealable(kind: str) -> bool:
        return can_reveal(kind, role) and role not in POLICY[kind].plain

    return {
        "name": mask("name", customer.name, role),
        "national_id": mask("national_id", customer.national_id, role),
        "can_reveal_national_id": revealable("national_id"),
        "points": [{"id": p.id, "kind": p.kind, "value": mask(p.kind, p.value, role), "owner": p.owner,
                    "relation": p.relation, "verified": p.verified, "opted_out": p.opted_out,
                    "can_reveal": revealable(p.kind)} for p in points],
    }


def _chart(snaps: list[Any]) -> str:
    """Chart data (JSON, read by static/app.js): dates, DPD, amount past due in yuan (text, exact)."""
    return json.dumps({
        "dates": [s.business_date.isoformat() for s in snaps],
        "dpd": [int(s.dpd) for s in snaps],
        "past_due": [str(to_yuan(int(s.amount_past_due))) for s in snaps],
        "buckets": [s.bucket for s in snaps],
    }).replace("</", "<\\/")  # inside a <script> element


def _verdict_pack(session: Session, case: Case) -> PolicyPack:
    """The policy pack the page's "may I call now?" verdict and its attempt counter are read from: the
    case's own, as every gate check chooses it (product and jurisdiction, with its layers)."""
    return pack_for_case(contact_repo.case_facts(session, case.id))


def _attempts_today(candidate: ContactCandidate, pack: PolicyPack) -> dict[str, int] | None:
    """Calls to the debtor counted today against the pack's daily attempt limit (the strictest one-day
    rule in scope of the candidate); None when the pack has no such rule."""
    daily = [r for r in pack.in_scope(candidate) if isinstance(r, AttemptLimit) and r.window_days == 1]
    if not daily:
        return None
    rule = min(daily, key=lambda r: r.max_attempts)
    return {"count": rule.counted(candidate), "limit": rule.max_attempts}


def _verdict(session: Session, case: Case, points: list[Any], now: datetime) -> dict[str, Any]:
    """The gate's verdict for a recorded call to the cardholder now (asked, not logged: viewing the page is
    not a contact; recording the call passes the gate again, and that is logged), and the day's attempts
    against the limit of the same pack."""
    phone = next((p for p in points if p.kind == "phone" and p.owner == "debtor" and not p.opted_out), None)
    try:
        # the call follows the script: its disclosure and limited-content voicemail (us-reg-f)
        script = script_facts_for_case(session, case_id=case.id, at=now)
        candidate = candidate_for_case(session, case_id=case.id, channel="call", party="debtor",
                                       purpose="collection", at=now, contact_point_id=phone.id if phone else None,
                                       has_recording=True, content=script.content(),
                                       voicemail_limited=script.voicemail_limited)
        pack = _verdict_pack(session, case)
        decision = gate(candidate, pack)
    except ContactFieldError as exc:
        return {"allowed": False, "blocks": [], "next_allowed_at": None, "error": exc.message, "attempts": None}
    return {"allowed": decision.allowed, "blocks": decision.blocks, "next_allowed_at": decision.next_allowed_at,
            "error": None, "attempts": _attempts_today(candidate, pack), "pack": pack.name,
            "pack_version": pack.version, "layers": [name for name, _ in pack.layers]}


def _timeline(session: Session, case: Case) -> list[dict[str, Any]]:
    interactions = case_repo.interactions(session, case.id)
    names = repo.usernames(session, {i.agent_id for i in interactions if i.agent_id is not None})
    items: list[dict[str, Any]] = [
        {"at": i.started_at, "kind": "interaction", "channel": i.channel, "direction": i.direction,
         "party": i.party, "outcome": i.outcome, "notes": i.notes, "agent": names.get(i.agent_id or 0)}
        for i in interactions]
    items += [{"at": m.sent_at or m.created_at, "kind": "message", "channel": m.channel, "template": m.template,
               "status": m.status} for m in repo.messages(session, case.id)]
    items.sort(key=lambda x: x["at"], reverse=True)
    return items


def _figures(session: Session, user: User, case: Case, account: Any) -> dict[str, Any]:
    """The money and the days the case header shows (as the "explain" step reads them): amount past due,
    balance, days past due and since when (the oldest unpaid due date)."""
    today = case_service.business_date_of(utc_now())
    inputs, _ = plan_service.plan_inputs(session, account=account, case=case, role=user.role, business_date=today)
    snapshot = plan_repo.latest_snapshot(session, account.id, on_or_before=today)
    return {"past_due": inputs.overdue, "balance": inputs.balance, "dpd": inputs.dpd,
            "since": snapshot.oldest_unpaid_due_date if snapshot else None}


def panels(session: Session, user: User, case: Case) -> dict[str, Any]:
    """What a write can change outside the script: the header (figures, attempts, verdict), the
    "may I call now?" verdict, the promises and appointments, the timeline. The page draws them, and a
    write's HTMX answer sends them again out of band."""
    account, _customer, points, _ = case_repo.case_parties(session, case)
    now = utc_now()
    return {
        "figures": _figures(session, user, case, account),
        "verdict": _verdict(session, case, points, now),
        "timeline": _timeline(session, case),
        "promises": case_repo.promises(session, case.id),
        "appointments": case_repo.appointments(session, case.id),
        "held_by_me": _held_by_me(user, case, now),
    }


def case_context(request: Request, session: Session, user: User, case: Case, step: str) -> dict[str, Any]:
    account, customer, points, team = case_repo.case_parties(session, case)
    now = utc_now()
    snaps = repo.snapshots(session, account.id)
    reviews = case_repo.hold_reviews(session, case.id)
    placed = {i.id: i.agent_id for i in case_repo.interactions(session, case.id)} if reviews else {}
    return {
        "case": case, "account": account, "customer": customer, "team": team,
        "personal": _personal(user, customer, points),
        "chart": _chart(snaps), "has_history": bool(snaps),
        **panels(session, user, case),
        "holds": case_repo.holds_of_case(session, case.id),
        "reviews": reviews,
        "reviewers": repo.usernames(session, {r.reviewed_by for r in reviews if r.reviewed_by}),
        # a hold is reviewed by a second person: not by the agent whose interaction placed it
        "placed_by_me": {r.id for r in reviews if placed.get(r.interaction_id) == user.id},
        "can_verify_points": user.role in LINK_REVOKERS,
        "payment_orders": orders_of_account(session, account_id=account.id, now=now, confirm_within_days=payments_of(
            request.app.state).settings.confirm_within_days),
        "customer_tz": customer.time_zone,
        # the customer, not just the account: their other accounts, cases, plans and promises
        "other_accounts": repo.other_accounts(session, customer_id=customer.id, account_id=account.id,
                                              scope=case_scope(user, Case.team_id),
                                              today=case_service.business_date_of(now)),
        "preferences": session.scalars(select(ContactPreference)
                                       .where(ContactPreference.customer_id == customer.id)).one_or_none(),
        "can_review": user.role in REVIEWERS,
        **portal_links_context(session, user, case),
        **script_context(request, session, user, case, step),
    }


#: The channels an agent logs a contact on (the portal records ``self_service`` itself; ``app`` is automatic).
AGENT_CHANNELS = ("call", "sms", "email", "visit", "letter")


def _outcome_label(request: Request, code: str) -> str:
    rule = request.app.state.case_rules.outcomes.get(code)
    return rule.labels.get(request_locale(request), code) if rule is not None else code


def _outcome_labels(request: Request) -> list[tuple[str, str]]:
    locale = request_locale(request)
    rules = request.app.state.case_rules
    return [(code, rule.labels.get(locale, code)) for code, rule in rules.outcomes.items()]


def script_context(request: Request, session: Session, user: User, case: Case, step: str,
                   **extra: Any) -> dict[str, Any]:
    """What one step of the call script needs."""
    if step not in STEP_CODES:
        raise NotFound(f"no script step {step!r}")
    account, customer, points, _ = case_repo.case_parties(session, case)
    out: dict[str, Any] = {"case": case, "step": step, "steps": labels.SCRIPT_STEPS, "labels": labels,
                           "can_work": user.role in WORKERS, "sees_names": user.role in POLICY["name"].plain,
                           "customer_name": mask("name", customer.name, user.role),
                           "outcome_labels": dict(_outcome_labels(request)), **extra}
    today = case_service.business_date_of(utc_now())
    if step in ("explain", "options"):
        inputs, _ = plan_service.plan_inputs(session, account=account, case=case, role=user.role,
                                             business_date=today)
        snapshot = plan_repo.latest_snapshot(session, account.id, on_or_before=today)
        out.update(inputs=inputs, oldest_due=snapshot.oldest_unpaid_due_date if snapshot else None,
                   account_ref=account.account_ref)
    if step in ("reason", "investigation", "options"):
        out.update(causes=CAUSES, willingness=WILLINGNESS,
                   investigation=case_service.current_investigation(session, case_id=case.id),
                   chosen_cause=request.query_params.get("cause"))
    if step == "options":
        found = plan_service.options_for_case(session, case_id=case.id, user=user)
        out.update(options=found.options, option_inputs=found.inputs)
    if step in ("agreement", "options"):
        agreements = plan_repo.agreements_of_case(session, case.id)
        out.update(agreements=agreements,
                   schedules={a.id: plan_repo.instalments(session, a.id) for a in agreements
                              if a.status in ("pending_approval", "awaiting_confirmation", "active")},
                   methods=labels.CONFIRMATION_METHODS,
                   mobiles=[(p.id, mask("phone", p.value, user.role)) for p in plan_repo.debtor_mobiles(session,
                                                                                                      customer.id)])
    if step == "agreement":
        out.update(approval={a.id: why_not_approver(user, a) for a in agreements if a.status == "pending_approval"},
                   revise_options=[])
        if out["can_work"] and any(a.status == "active" for a in agreements):
            out["revise_options"] = [o for o in plan_service.options_for_case(session, case_id=case.id,
                                                                                user=user).options if o.offered]
    if step in ("greeting", "next"):
        # what the script says under the case's pack: the disclosure and the voicemail (us-reg-f)
        out.update(_script_words(request, session, case, customer, user))
    if step == "next":
        local_now = utc_now().astimezone(_bank_zone(request))
        out.update(outcomes=_outcome_labels(request), parties=PARTIES, channels=AGENT_CHANNELS,
                   outcome_parties={c: r.party for c, r in request.app.state.case_rules.outcomes.items()},
                   contact_now=local_now,
                   phones=[(p.id, mask("phone", p.value, user.role), p.owner) for p in points if p.kind == "phone"],
                   moves=sorted(TRANSITIONS.get(case.status, ())), today=today)
        out.update(dial_context(request, session, user, case, points))
    return out


#: What the agent says under ``us-reg-f`` (12 CFR 1006.18(e); 1006.2(j)), in the customer's language.
DISCLOSURE_WORDS = {
    "full": N_("This is a debt collector attempting to collect a debt, and any information obtained will be used "
               "for that purpose."),
    "debt_collector": N_("This call is from a debt collector."),
}
VOICEMAIL_WORDS = N_("Hello, this is %(agent)s at %(business)s. Please call me back on %(phone)s.")


def _script_words(request: Request, session: Session, case: Case, customer: Any, user: User) -> dict[str, Any]:
    """The script's facts under the case's pack (:func:`arrears.contact.service.script_facts_for_case`)
    and the words that make them true — the debt-collector disclosure and the limited-content voicemail —
    in the customer's language (``customers.language``, Chinese when it is not one of the page's)."""
    script = script_facts_for_case(session, case_id=case.id, at=utc_now())
    settings = settings_of(request)
    lang = check_locale(customer.language) or "zh_CN"
    words = translations(lang)
    business = settings.bank_name if lang == "zh_CN" else settings.bank_name_en
    return {"script": script, "customer_lang": lang.replace("_", "-"),
            "disclosure_words": words.gettext(DISCLOSURE_WORDS[script.disclosure]) if script.disclosure else None,
            "voicemail_words": words.gettext(VOICEMAIL_WORDS) % {
                "agent": user.display_name or user.username, "business": business,
                "phone": settings.bank_service_phone} if script.voicemail_limited else None}


def why_not_approver(user: User, agreement: Any) -> str | None:
    """Why ``user`` cannot approve this pending agreement, as the service decides (None: they can;
    empty: their role approves nothing, so the page offers nothing)."""
    if user.role not in APPROVERS:
        return ""
    if agreement.created_by == user.id:
        return N_("You made this agreement: another person must approve it.")
    if approval_refusal(user.role, approval_role=agreement.approval_role,
                        discount_percent=Decimal(agreement.discount_percent) if agreement.discount_percent else None,
                        settlement=plan_service.products().settlement) is not None:
        return N_("Your role does not have the authority to approve it.")
    return None


def _held_by_me(user: User, case: Case, now: datetime) -> bool:
    return case.held_by == user.id and case.lease_expires_at is not None and case.lease_expires_at > now


def _after_write(session: Session, user: User, case: Case) -> dict[str, Any]:
    """The case header and the panels a write changes (:func:`panels`), swapped out of band
    (``hx-swap-oob``) with a write's answer: what the page shows stays right without a reload."""
    session.flush()
    session.refresh(case)
    return {"head_oob": True, **panels(session, user, case)}


def _script_response(request: Request, session: Session, user: User, case: Case, step: str,
                     status_code: int = 200, *, wrote: bool = True, **extra: Any) -> Response:
    if is_htmx(request):
        head = _after_write(session, user, case) if wrote else {}
        return render(request, "_script.html", status_code=status_code,
                      **script_context(request, session, user, case, step, **head, **extra))
    return render(request, "case.html", status_code=status_code, **case_context(request, session, user, case, step),
                  **{k: v for k, v in extra.items()})


def _done(request: Request, session: Session, user: User, case: Case, step: str, notice: str) -> Response:
    """After a write: the next step and the case header out of band (HTMX), or a redirect to the case
    page at that step."""
    if is_htmx(request):
        return render(request, "_script.html", **script_context(request, session, user, case, step,
                                                                notice=gettext(request, notice),
                                                                **_after_write(session, user, case)))
    return RedirectResponse(f"/case/{case.id}?step={step}#script", status_code=303)


# -- pages ------------------------------------------------------------------------------------------------

#: Confirmations the case page shows after a redirect (``?notice=``).
CASE_NOTICES = {"hold_kept": N_("The review was recorded: the hold stays."),
                "hold_lifted": N_("The review was recorded: the hold ends on the day chosen."),
                "point_verified": N_("The number is marked as verified: a code can now be sent to it by SMS."),
                "complaint_registered": N_("The complaint was registered: collection contact with the customer is "
                                           "held until compliance closes it.")}


@router.get("/case/{case_id}")
def case_page(request: Request, case_id: PathId, session: DbSession, user: WebUser, step: str = "greeting",
              notice: Annotated[str, Query(max_length=32)] = "") -> Response:
    case = _case(session, user, case_id)
    return render(request, "case.html", **case_context(request, session, user, case, step),
                  notice=CASE_NOTICES.get(notice))


@router.get("/case/{case_id}/script/{step}")
def script_step(request: Request, case_id: PathId, step: str, session: DbSession, user: WebUser) -> Response:
    case = _case(session, user, case_id)
    return _script_response(request, session, user, case, step, wrote=False)


@router.get("/case/{case_id}/best-hours")
def best_hours_fragment(request: Request, case_id: PathId, session: DbSession, user: WebUser) -> Response:
    """The customer's best hours to call, with the reason (the best-time model over the call history)."""
    from arrears.web.besttime import HistoryCache, best_hours_for

    cache = getattr(request.app.state, "web_besttime", None)
    if cache is None:
        cache = request.app.state.web_besttime = HistoryCache()
    case = _case(session, user, case_id)
    _, customer, _, _ = case_repo.case_parties(session, case)
    appts = [(a.window_start, a.window_end) for a in case_repo.appointments(session, case.id)
             if a.status == "scheduled" and a.window_end > utc_now()]
    choices = best_hours_for(request.app.state.engine, customer_id=customer.id, tz=customer.time_zone,
                             locale=request_locale(request), appointments=appts, cache=cache)
    return render(request, "_best_hours.html", choices=choices)


@router.post("/case/{case_id}/reveal")
def reveal_value(
    request: Request, case_id: PathId, session: DbSession, user: CsrfUser,
    kind: Annotated[str, Form(max_length=16)], contact_point_id: OptionalFormId = None,
) -> Response:
    """Unmask one value for a role the masking policy allows; audited (never the value itself)."""
    case = _case(session, user, case_id)
    _, customer, points, _ = case_repo.case_parties(session, case)
    if kind in ("national_id", "name"):
        value, subject = (customer.national_id if kind == "national_id" else customer.name), \
            f"customer:{customer.customer_ref}"
    else:
        point = next((p for p in points if p.id == contact_point_id and p.kind == kind), None)
        if point is None:
            raise NotFound(f"case {case.id} has no {kind} contact point {contact_point_id}")
        value, subject = point.value, f"contact_point:{point.id}"
    settings = settings_of(request)
    try:
        shown = reveal(session, user=user, kind=kind, value=value, subject=subject, purpose="view",
                       limit=settings.reveal_limit, window_seconds=settings.reveal_window_seconds)
    except RevealLimited:
        # Rendered, not raised: the request's transaction commits the refusal's audit record.
        return render(request, "_revealed.html", status_code=429, value=None, limited=True)
    return render(request, "_revealed.html", value=shown)


# -- writes of the call script ------------------------------------------------------------------------------

def _fen(text: str, field: str, *, positive: bool = False) -> int:
    try:
        amount = Decimal(text.strip().replace(",", ""))
    except (InvalidOperation, AttributeError):
        raise FormError(N_("Not an amount: %(value)s"), field=field, value=text) from None
    if not amount.is_finite() or amount < 0 or (positive and amount == 0) or amount >= Decimal(10) ** 12:
        raise FormError(N_("Must be more than 0") if positive else N_("Must be 0 or more"), field=field)
    return to_fen(amount)


@router.post("/case/{case_id}/script/investigation")
def post_investigation(
    request: Request, case_id: PathId, session: DbSession, user: Worker, _: CsrfUser,
    cause: Annotated[str, Form()], monthly_income: Annotated[str, Form(max_length=20)],
    essential_spending: Annotated[str, Form(max_length=20)],
    other_debt_payments: Annotated[str, Form(max_length=20)] = "0",
    dependants: Annotated[int, Form(ge=0, le=50)] = 0, willingness: Annotated[int, Form(ge=1, le=5)] = 3,
    notes: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """A new version of the investigation; the affordable monthly amount is computed by the service."""
    case = _case(session, user, case_id)
    amounts = (_fen(monthly_income, "monthly_income"), _fen(essential_spending, "essential_spending"),
               _fen(other_debt_payments or "0", "other_debt_payments"))
    with _on_field(("cause", "monthly_income", "essential_spending", "other_debt_payments", "dependants",
                    "willingness", "notes")):
        version = case_service.record_investigation(
            session, case_id=case.id, cause=cause, monthly_income=amounts[0], essential_spending=amounts[1],
            other_debt_payments=amounts[2], dependants=dependants, willingness=willingness,
            recorded_by=case_service.user_actor(user.id), rules=request.app.state.case_rules,
            notes=notes.strip() or None)
    _audit(session, user, "investigation.create", "investigation", version.id, case_id=case.id,
           version=version.version, cause=version.cause, affordable_monthly=version.affordable_monthly)
    return _done(request, session, user, case, "options", N_("Investigation saved: these are the options it allows."))


@router.post("/case/{case_id}/script/agreement")
def post_agreement(
    request: Request, case_id: PathId, session: DbSession, user: Worker, _: CsrfUser,
    option_code: Annotated[str, Form(max_length=64)], reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """An agreement from an option offered today (the plans service writes schedule, terms, PDF, audit)."""
    case = _case(session, user, case_id)
    _, customer, _, _ = case_repo.case_parties(session, case)
    locale = customer.language if customer.language in ("zh_CN", "en") else "zh_CN"
    plan_service.create_agreement(session, case_id=case.id, user=user, option_code=option_code,
                                  reason=reason.strip() or None, locale=locale)
    return _done(request, session, user, case, "agreement", N_("Agreement written: confirm it with the customer."))


def _draft(session: Session, user: User, case: Case, agreement_id: int) -> Any:
    agreement = plan_repo.get_agreement(session, agreement_id)
    if agreement.case_id != case.id:
        raise NotFound(f"no agreement {agreement_id} on case {case.id}")
    return agreement


@router.post("/case/{case_id}/script/send-code")
def post_send_code(
    request: Request, case_id: PathId, session: DbSession, user: Worker, _: CsrfUser,
    agreement_id: FormId, contact_point_id: OptionalFormId = None,
) -> Response:
    case = _case(session, user, case_id)
    agreement = _draft(session, user, case, agreement_id)
    plan_service.send_confirmation_code(session, agreement_id=agreement.id, user=user,
                                        contact_point_id=contact_point_id)
    return _done(request, session, user, case, "agreement", N_("A confirmation code was sent to the customer's mobile."))


@router.post("/case/{case_id}/script/confirm")
def post_confirm(
    request: Request, case_id: PathId, session: DbSession, user: Worker, _: CsrfUser,
    agreement_id: FormId, method: Annotated[str, Form(max_length=32)],
    code: Annotated[str, Form(max_length=12)] = "", reference: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """The customer's confirmation; a wrong code is answered (not raised) so that the attempt counts."""
    case = _case(session, user, case_id)
    agreement = _draft(session, user, case, agreement_id)
    done = plan_service.confirm_agreement(session, agreement_id=agreement.id, user=user, method=method,
                                          code=code.strip() or None, reference_=reference.strip() or None)
    if done.error is not None:
        return _script_response(request, session, user, case, "agreement", status_code=400,
                                error=gettext(request, N_("The code is wrong or has expired.")) + f" ({done.error})")
    return _done(request, session, user, case, "next", N_("Agreement confirmed: the plan is active."))


@router.post("/case/{case_id}/agreements/{agreement_id}/approve")
def post_approve(
    request: Request, case_id: PathId, agreement_id: PathId, session: DbSession, user: Approver, _: CsrfUser,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Four-eyes: a second person (never the agreement's maker) whose role has the authority approves
    it (``plan.agreement_approve``); the customer can then confirm it."""
    case = _case(session, user, case_id)
    agreement = _draft(session, user, case, agreement_id)
    plan_service.approve_agreement(session, agreement_id=agreement.id, user=user, note=note.strip() or None)
    return _done(request, session, user, case, "agreement", N_("Agreement approved: the customer can confirm it now."))


@router.post("/case/{case_id}/agreements/{agreement_id}/revise")
def post_revise(
    request: Request, case_id: PathId, agreement_id: PathId, session: DbSession, user: Worker, _: CsrfUser,
    option_code: Annotated[str, Form(max_length=64)] = "", reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """A new version of an active agreement from today's options (``plans.service.revise_agreement``):
    the old one runs until the new one is confirmed. The reason is required here."""
    case = _case(session, user, case_id)
    agreement = _draft(session, user, case, agreement_id)
    if not option_code:
        raise FormError(N_("Choose the new option"), field="option_code")
    if not visible(reason):
        raise FormError(N_("Say why the agreement is revised"), field="reason")
    plan_service.revise_agreement(session, agreement_id=agreement.id, user=user, option_code=option_code,
                                  reason=reason.strip())
    return _done(request, session, user, case, "agreement",
                 N_("New version written: confirm it with the customer; the current one runs until then."))


@router.post("/case/{case_id}/agreements/{agreement_id}/cancel")
def post_cancel_agreement(
    request: Request, case_id: PathId, agreement_id: PathId, session: DbSession, user: Worker, _: CsrfUser,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Cancel an agreement not yet confirmed, with a reason (``plan.agreement_cancel``)."""
    case = _case(session, user, case_id)
    agreement = _draft(session, user, case, agreement_id)
    plan_service.cancel_agreement(session, agreement_id=agreement.id, user=user, reason=reason)
    return _done(request, session, user, case, "agreement", N_("Agreement cancelled."))


def _local(request: Request, day: str, clock: str, field: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), tzinfo=_bank_zone(request))
    except ValueError:
        raise FormError(N_("Give a date (YYYY-MM-DD) and a time (HH:MM)"), field=field) from None


@router.post("/case/{case_id}/script/outcome")
def post_outcome(
    request: Request, case_id: PathId, session: DbSession, user: Worker, _: CsrfUser,
    outcome: Annotated[str, Form(max_length=32)], party: Annotated[str, Form(max_length=24)] = "",
    direction: Annotated[str, Form(max_length=16)] = "outbound", channel: Annotated[str, Form(max_length=16)] = "call",
    contact_date: Annotated[str, Form(max_length=10)] = "", contact_time: Annotated[str, Form(max_length=5)] = "",
    contact_point_id: OptionalFormId = None,
    recording_ref: Annotated[str, Form(max_length=200)] = "", notes: Annotated[str, Form(max_length=4000)] = "",
    next_step: Annotated[str, Form(max_length=16)] = "none",
    promise_amount: Annotated[str, Form(max_length=20)] = "", promise_date: Annotated[str, Form(max_length=10)] = "",
    appointment_date: Annotated[str, Form(max_length=10)] = "",
    appointment_from: Annotated[str, Form(max_length=5)] = "", appointment_to: Annotated[str, Form(max_length=5)] = "",
    to_state: Annotated[str, Form(max_length=16)] = "", move_reason: Annotated[str, Form(max_length=2000)] = "",
    call_id: Annotated[str, Form(max_length=32)] = "",
    visit_collectors: Annotated[str, Form(max_length=3)] = "", visit_entered: Annotated[str, Form(max_length=3)] = "",
    visit_consent: Annotated[str, Form(max_length=3)] = "", appointment_agreed: Annotated[str, Form(max_length=3)] = "",
    disclosure_given: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    """The contact's outcome (an outbound one through the compliance gate) and the next step: a promise
    to pay, a call-back appointment or a lifecycle move. All or nothing, except a block, which is logged.

    The contact is recorded as it happened: its direction, channel and time (the bank's zone; now when
    left empty, never in the future). Who answered follows from the outcome when the outcome says
    (nobody for an unanswered call, the cardholder for a right-party outcome); otherwise the agent
    chooses, and a choice that contradicts the outcome is refused on the field ``party``.

    A refusal keeps what was typed: a block answers the outcome step again with the form as it was sent
    (409); a wrong field answers, for HTMX, the message alone (the form on the page stays as typed), and
    without JavaScript the case page at the outcome step with the form as sent and the field marked (422,
    nothing written)."""
    case = _case(session, user, case_id)
    typed: dict[str, Any] = {
        "outcome": outcome, "party": party, "direction": direction, "channel": channel,
        "contact_date": contact_date, "contact_time": contact_time, "contact_point_id": contact_point_id,
        "recording_ref": recording_ref, "notes": notes, "next_step": next_step, "promise_amount": promise_amount,
        "promise_date": promise_date, "appointment_date": appointment_date, "appointment_from": appointment_from,
        "appointment_to": appointment_to, "to_state": to_state, "move_reason": move_reason, "call_id": call_id}
    # a field visit's collectors and consent (cn · field_visit); the customer's agreement to a call-back window
    typed |= {"visit_collectors": visit_collectors, "visit_entered": visit_entered, "visit_consent": visit_consent,
              "appointment_agreed": appointment_agreed}
    # the agent confirms the script's debt-collector disclosure was given (us-reg-f · collector_disclosure)
    typed |= {"disclosure_given": disclosure_given}
    if is_htmx(request):
        return _save_outcome(request, session, user, case, typed, **typed)
    try:
        with session.begin_nested():  # a refused form leaves nothing behind, though the request commits
            return _save_outcome(request, session, user, case, typed, **typed)
    except FormError as exc:
        return render(request, "case.html", status_code=422, **case_context(request, session, user, case, "next"),
                      typed=typed, error=exc.translated(request), error_field=exc.field)


def _save_outcome(
    request: Request, session: Session, user: User, case: Case, typed: dict[str, Any], *,
    outcome: str, party: str, direction: str, channel: str, contact_date: str, contact_time: str,
    contact_point_id: int | None, recording_ref: str, notes: str, next_step: str, promise_amount: str,
    promise_date: str, appointment_date: str, appointment_from: str, appointment_to: str, to_state: str,
    move_reason: str, call_id: str = "", visit_collectors: str = "", visit_entered: str = "", visit_consent: str = "",
    appointment_agreed: str = "", disclosure_given: str = "",
) -> Response:
    rules = request.app.state.case_rules
    if direction not in labels.DIRECTIONS:
        raise FormError(N_("Choose outbound or inbound"), field="direction")
    if channel not in AGENT_CHANNELS:
        raise FormError(N_("Choose how the contact was made"), field="channel")
    if outcome not in rules.outcomes:
        raise FormError(N_("Choose one of the outcomes"), field="outcome")
    rule = rules.outcome(outcome)
    if not party:
        allowed = rule.allowed_parties()
        if len(allowed) != 1:
            raise FormError(N_("Choose who answered: the outcome does not say"), field="party")
        party = allowed[0]
    elif party not in PARTIES:
        raise FormError(N_("Choose who answered"), field="party")
    elif party not in rule.allowed_parties():
        raise FormError(N_("%(outcome)s does not fit who answered (%(party)s): choose %(allowed)s"), field="party",
                        outcome=_outcome_label(request, outcome), party=gettext(request, labels.PARTIES[party]),
                        allowed=" / ".join(gettext(request, labels.PARTIES[p]) for p in rule.allowed_parties()))
    now = utc_now()
    started = now
    call = _call_for_outcome(session, user, case, call_id) if call_id else None
    if call is not None:
        # A call dialled from the case: its number, time and recording come from the call, not typed.
        channel, direction, contact_point_id, started = "call", "outbound", call.contact_point_id, call.requested_at
        if call.disposition in ("no_answer", "busy", "failed") and party != "nobody":
            raise FormError(N_("The dialler reports that nobody answered this call"), field="outcome")
        if call.provider != "tel":
            recording_ref = _call_recording(call)
    elif contact_date or contact_time:
        started = _local(request, contact_date or now.astimezone(_bank_zone(request)).date().isoformat(),
                         contact_time, "contact_time")
        if started > now:
            raise FormError(N_("The time of contact cannot be in the future"), field="contact_time")
    if channel == "call" and direction == "outbound" and not recording_ref.strip():
        raise FormError(N_("Required for an outbound call"), field="recording_ref")
    if next_step not in labels.NEXT_STEPS:
        raise FormError(N_("Choose one of the next steps"), field="next_step")
    if contact_point_id is not None:
        _, customer, points, _ = case_repo.case_parties(session, case)
        if all(p.id != contact_point_id for p in points):
            raise FormError(N_("Not one of the customer's numbers"), field="contact_point_id")
    if next_step == "transition" and not to_state:
        raise FormError(N_("Choose where to move the case"), field="to_state")
    collectors = None
    if channel == "visit" and direction == "outbound":
        if not visit_collectors.strip().isdigit() or not 1 <= int(visit_collectors.strip()) <= 20:
            raise FormError(N_("How many collectors went (1 to 20)"), field="visit_collectors")
        if visit_consent and not visit_entered:
            raise FormError(N_("Consent to enter is recorded only for a visit that entered"), field="visit_consent")
        collectors = int(visit_collectors.strip())
    content, voicemail_limited = _script_content(session, case, channel=channel, direction=direction, party=party,
                                                 started=started, disclosure_given=bool(disclosure_given))
    try:
        with _on_field(("outcome", "party", "recording_ref", "notes")):
            done = case_service.record_interaction(
                session, case_id=case.id, channel=channel, direction=direction, party=party, started_at=started,
                ended_at=_ended_at(call, started, now), outcome=outcome, rules=rules, agent_id=user.id,
                contact_point_id=contact_point_id, notes=notes.strip() or None,
                recording_ref=recording_ref.strip() or None, collectors=collectors, entered=bool(visit_entered),
                entry_consent=bool(visit_consent), content=content, voicemail_limited=voicemail_limited)
    except ContactBlocked as blocked:
        # Answered, not raised: the request's transaction keeps the logged block, nothing else is written.
        return _script_response(request, session, user, case, "next", status_code=409, blocked=blocked.decision,
                                typed=typed)
    interaction = done.interaction
    if call is not None:
        from arrears.dialler.service import link

        link(session, call=call, interaction_id=interaction.id)  # the interaction is now the attempt
    _audit(session, user, "interaction.create", "interaction", interaction.id, case_id=case.id, channel=channel,
           direction=direction, party=party, outcome=outcome, hold_id=done.hold.id if done.hold else None,
           review_id=done.review.id if done.review else None)
    if next_step == "promise":
        if not promise_date:
            raise FormError(N_("Required for a promise"), field="promise_date")
        try:
            promised = date.fromisoformat(promise_date)
        except ValueError:
            raise FormError(N_("Give a date (YYYY-MM-DD)"), field="promise_date") from None
        today = case_service.business_date_of(utc_now(), settings_of(request).timezone)
        latest = case_service.latest_promise_date(today, settings_of(request))
        if promised < today:
            raise FormError(N_("The promised date cannot be before today."), field="promise_date")
        if promised > latest:
            raise FormError(N_("The promised date is too far ahead: at the latest %(day)s."), field="promise_date",
                            day=latest.isoformat())
        amount = _fen(promise_amount, "promise_amount", positive=True)
        with _on_field(("promise_date", "promise_amount")):
            promise = case_service.record_promise(session, case_id=case.id, amount=amount, promised_date=promised,
                                                  created_by=case_service.user_actor(user.id), rules=rules,
                                                  interaction_id=interaction.id, latest=latest)
        _audit(session, user, "promise.create", "promise", promise.id, case_id=case.id, amount=promise.amount,
               promised_date=promise.promised_date)
    elif next_step == "appointment":
        start = _local(request, appointment_date, appointment_from, "appointment_from")
        end = _local(request, appointment_date, appointment_to, "appointment_to")
        if end <= start:
            end = start + timedelta(hours=1)
        with _on_field("appointment_date"):
            appt = case_service.schedule_appointment(session, case_id=case.id, owner_id=user.id, window_start=start,
                                                     window_end=end, created_by=case_service.user_actor(user.id),
                                                     notes=notes.strip() or None,
                                                     agreed_via="agent" if appointment_agreed else None)
        _audit(session, user, "appointment.create", "appointment", appt.id, case_id=case.id, owner_id=user.id,
               window_start=appt.window_start, window_end=appt.window_end)
    elif next_step == "transition":
        with _on_field("to_state", InvalidTransition):
            move = case_service.transition(session, case_id=case.id, to_state=to_state,
                                           actor=case_service.user_actor(user.id),
                                           reason=move_reason.strip() or f"call outcome: {outcome}")
        _audit(session, user, "case.transition", "case", case.id, transition_id=move.id, from_state=move.from_state,
               to_state=move.to_state, reason=move.reason)
    return _done(request, session, user, case, "next", N_("Outcome saved."))


@router.post("/case/{case_id}/appointments/{appointment_id}/cancel")
def post_cancel_appointment(request: Request, case_id: PathId, appointment_id: PathId, session: DbSession, user: Worker,
                            _: CsrfUser) -> Response:
    case = _case(session, user, case_id)
    appt = case_repo.get_appointment(session, appointment_id)
    if appt.case_id != case.id:
        raise NotFound(f"no appointment {appointment_id} on case {case.id}")
    case_service.cancel_appointment(session, appointment_id=appt.id)
    _audit(session, user, "appointment.cancel", "appointment", appt.id, case_id=case.id)
    return RedirectResponse(f"/case/{case.id}", status_code=303)


#: Roles that confirm or lift a hold an interaction placed (the API's REVIEWERS: not the agent).
REVIEWERS = (Role.TEAM_LEAD, Role.SUPERVISOR, Role.COMPLIANCE, Role.ADMIN)
Reviewer = Annotated[User, Depends(page_role(*REVIEWERS))]


@router.post("/case/{case_id}/hold-reviews/{review_id}")
def post_hold_review(
    request: Request, case_id: PathId, review_id: PathId, session: DbSession, user: Reviewer, _: CsrfUser,
    note: Annotated[str, Form(min_length=1, max_length=2000)],
    lift_hold_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """A second person confirms the hold (contact stays stopped by the hold) or lifts it on a day."""
    case = _case(session, user, case_id)
    review = case_repo.get_review(session, review_id)
    if review.case_id != case.id:
        raise NotFound(f"no hold review {review_id} on case {case.id}")
    try:
        lift = date.fromisoformat(lift_hold_on) if lift_hold_on else None
    except ValueError:
        raise FormError(N_("Give a date (YYYY-MM-DD)"), field="lift_hold_on") from None
    done = case_service.review_hold(session, review_id=review.id, reviewer_id=user.id, note=note.strip(),
                                    lift_hold_on=lift)
    _audit(session, user, "hold.review", "hold_review", done.id, case_id=case.id, hold_id=done.hold_id,
           lifted_on=lift)
    return RedirectResponse(f"/case/{case.id}?notice={'hold_lifted' if lift else 'hold_kept'}", status_code=303)


# -- the cardholder's personal link ----------------------------------------------------------------------

#: Roles that revoke a personal link (team lead and above).
LINK_REVOKERS = (Role.TEAM_LEAD, Role.SUPERVISOR, Role.ADMIN)
LinkRevoker = Annotated[User, Depends(page_role(*LINK_REVOKERS))]


@router.post("/case/{case_id}/contact-points/{contact_point_id}/verify")
def post_verify_contact_point(
    request: Request, case_id: PathId, contact_point_id: PathId, session: DbSession, user: LinkRevoker,
    _: CsrfUser, note: Annotated[str, Form(min_length=1, max_length=2000)],
) -> Response:
    """A team lead (or above) marks one of the customer's own phone numbers verified, saying how it was
    checked (audited ``contact_point.verify``): the agreement's confirmation by SMS code is sent only
    to a verified mobile (``plans.repository.debtor_mobiles``)."""
    from arrears.accounts.tables import ContactPoint

    case = _case(session, user, case_id)
    account, customer, points, _team = case_repo.case_parties(session, case)
    point = next((p for p in points if p.id == contact_point_id), None)
    if point is None:
        raise NotFound(f"no contact point {contact_point_id} of this customer")
    if point.kind != "phone" or point.owner != "debtor":
        raise FormError(N_("Only the customer's own phone number is verified here."), field="note")
    if not note.strip():
        raise FormError(N_("Say how the number was verified."), field="note")
    row = session.get(ContactPoint, point.id)
    assert row is not None
    if not row.verified:
        row.verified = True
        session.flush()
        _audit(session, user, "contact_point.verify", "contact_point", row.id, case_id=case.id,
               note=note.strip())
    return RedirectResponse(f"/case/{case.id}?notice=point_verified", status_code=303)
#: How many of the account's links the page lists (newest first).
LINKS_SHOWN = 20


def portal_links_context(session: Session, user: User, case: Case) -> dict[str, Any]:
    """The account's personal links as the case page lists them: sent when, by whom, which way, how far
    the customer got, and whether the link still works. Never the link itself (its token is shown to
    nobody after sending)."""
    from arrears.portal.tables import PortalLink

    now = utc_now()
    rows = session.scalars(select(PortalLink).where(PortalLink.account_id == case.account_id)
                           .order_by(PortalLink.id.desc()).limit(LINKS_SHOWN)).all()
    links = [{"id": r.id, "created_at": r.created_at, "created_by": r.created_by, "channel": r.channel,
              "opened_at": r.first_opened_at, "verified_at": r.verified_at, "acted_at": r.acted_at,
              "expires_at": r.expires_at, "revoked_at": r.revoked_at, "revoked_by": r.revoked_by,
              "revoke_reason": r.revoke_reason,
              "state": "revoked" if r.revoked_at is not None else "expired" if r.expires_at <= now else "working"}
             for r in rows]
    return {"portal_links": links, "can_send_link": user.role in WORKERS,
            "can_revoke_link": user.role in LINK_REVOKERS}


@router.post("/case/{case_id}/portal-link")
def post_portal_link(
    request: Request, case_id: PathId, session: DbSession, user: Worker, _: CsrfUser,
    channel: Annotated[str, Form(max_length=8)] = "sms",
) -> Response:
    """Send the customer their personal link (SMS or e-mail): asked of the compliance gate first (a
    block is logged and shown, nothing is sent), then made and put in the outbox by the portal's
    service, which audits it (``portal.link``) and revokes the account's earlier links."""
    from arrears.contact.service import check_contact
    from arrears.portal.service import issue_link, portal_key

    case = _case(session, user, case_id)
    if channel not in ("sms", "email"):
        raise FormError(N_("Choose SMS or e-mail"), field="channel")
    account, _customer, points, _ = case_repo.case_parties(session, case)
    kind = "phone" if channel == "sms" else "email"
    point = next((p for p in points if p.kind == kind and p.owner == "debtor" and not p.opted_out), None)
    if point is None:
        raise FormError(N_("The customer has no mobile number of their own on file") if channel == "sms" else
                        N_("The customer has no e-mail address of their own on file"), field="channel")
    decision = check_contact(session, case_id=case.id, channel=channel, party="debtor", purpose="collection",
                             at=utc_now(), actor=user.username, source="api", contact_point_id=point.id,
                             requested_by=user.username)
    if not decision.allowed:
        # Answered, not raised: the request's transaction keeps the logged block; no link is made.
        return render(request, "case.html", status_code=409,
                      **case_context(request, session, user, case, "greeting"), link_blocked=decision)
    settings = settings_of(request)
    with _on_field("channel"):
        issue_link(session, account_ref=account.account_ref, key=portal_key(settings), settings=settings,
                   actor=user.username, send=channel)
    return RedirectResponse(f"/case/{case.id}#portal-links", status_code=303)


@router.post("/case/{case_id}/portal-links/{link_id}/revoke")
def post_revoke_portal_link(
    request: Request, case_id: PathId, link_id: PathId, session: DbSession, user: LinkRevoker, _: CsrfUser,
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """The link stops working now (its open visits end); audited ``portal.revoke``."""
    from arrears.portal.service import revoke_link
    from arrears.portal.tables import PortalLink

    case = _case(session, user, case_id)
    link = session.get(PortalLink, link_id)
    if link is None or link.account_id != case.account_id:
        raise NotFound(f"no personal link {link_id} on case {case.id}")
    if link.revoked_at is not None:
        raise FormError(N_("This link was already revoked"), field="reason")
    revoke_link(session, link_id=link.id, actor=user.username, reason=reason.strip() or "revoked on the case page")
    return RedirectResponse(f"/case/{case.id}#portal-links", status_code=303)


# -- dialling from the case ---------------------------------------------------------------------------------

#: A dialler's disposition → the outcome the outcome form pre-selects (the agent may change it).
DISPOSITION_OUTCOMES = {"no_answer": "no_answer", "failed": "no_answer", "busy": "busy", "voicemail": "left_message"}
#: How the dial panel names a call's state and its disposition.
CALL_STATES = {"requested": N_("Dialling"), "ringing": N_("Ringing"), "answered": N_("Connected"),
               "ended": N_("Call ended")}
DISPOSITIONS = {"answered": N_("Answered"), "no_answer": N_("No answer"), "busy": N_("Line busy"),
                "failed": N_("Call failed"), "voicemail": N_("Voicemail")}


def dial_context(request: Request, session: Session, user: User, case: Case, points: list[Any]) -> dict[str, Any]:
    """The dial panel of the script's last step: the customer's numbers (masked by role), whether a
    dialler is configured (else a ``tel:`` link after the gate), and the agent's call on this case whose
    outcome is still to be recorded, with the recording reference it gives the outcome."""
    from arrears.dialler import service as dialler_service
    from arrears.dialler.settings import dialling_of

    call = dialler_service.open_call(session, case_id=case.id, agent_id=user.id) if user.role in WORKERS else None
    return {"dial_configured": dialling_of(request.app.state).dialler is not None,
            "dial_points": [(p.id, mask("phone", p.value, user.role), p.owner) for p in points
                            if p.kind == "phone" and not p.opted_out],
            "open_call": call, "call_ref": dialler_service.call_reference(call) if call is not None else None,
            "call_outcome": DISPOSITION_OUTCOMES.get(call.disposition or "") if call is not None else None,
            "call_states": CALL_STATES, "dispositions": DISPOSITIONS}


@router.post("/case/{case_id}/dial")
def post_dial(request: Request, case_id: PathId, session: DbSession, user: Worker, _: CsrfUser,
              contact_point_id: FormId) -> Response:
    """Call a number of the customer: the compliance gate is asked first (a block is logged and shown
    with its reasons and the next allowed time; nothing is dialled), then the dialler originates the
    call, or — no dialler configured — the answer carries a ``tel:`` link for the agent's own phone.
    Either way the call is recorded (an attempt) and audited (``dialler.originate``, ``pii.reveal``)."""
    from arrears.dialler import service as dialler_service
    from arrears.dialler.model import DiallerError
    from arrears.dialler.settings import dialling_of

    case = _case(session, user, case_id)
    _, _, points, _ = case_repo.case_parties(session, case)
    point = next((p for p in points if p.id == contact_point_id and p.kind == "phone"), None)
    if point is None:
        raise FormError(N_("Not one of the customer's numbers"), field="contact_point_id")
    dialling = dialling_of(request.app.state)
    settings = settings_of(request)
    try:
        done = dialler_service.dial(session, case=case, user=user, point=point, dialler=dialling.dialler,
                                    events_url=dialling.settings.events_url, reveal_limit=settings.reveal_limit,
                                    reveal_window_seconds=settings.reveal_window_seconds)
    except RevealLimited:
        # Answered, not raised: the refusal's audit record is kept; nothing is dialled.
        return _script_response(request, session, user, case, "next", status_code=429,
                                dial_error=gettext(request, N_("Too many numbers asked for in a short time: "
                                                               "try again in a moment.")))
    except DiallerError as exc:
        raise FormError(N_("The dialler did not take the call: try again, or dial by hand."),
                        field="contact_point_id") from exc
    if not done.decision.allowed:
        # Answered, not raised: the request's transaction keeps the logged block; nothing is dialled.
        return _script_response(request, session, user, case, "next", status_code=409, dial_blocked=done.decision)
    return _script_response(request, session, user, case, "next", dialled=done.call, tel_number=done.number)


def _call_for_outcome(session: Session, user: User, case: Case, call_id: str) -> Any:
    """The agent's open call ``call_id`` on the case (its outcome not recorded yet), or a field error."""
    from arrears.dialler.service import open_call

    call = open_call(session, case_id=case.id, agent_id=user.id)
    if call is None or call.call_id != call_id:
        raise FormError(N_("This call's outcome is already recorded, or the call is not yours"), field="recording_ref")
    return call


def _call_recording(call: Any) -> str:
    """The recording reference of a dialled call, or a field error while the dialler has not reported its end."""
    from arrears.dialler.service import call_reference

    found = call_reference(call)
    if found is None:
        raise FormError(N_("The call has not ended yet: save the outcome once the dialler reports its end"),
                        field="recording_ref")
    return found


def _script_content(session: Session, case: Case, *, channel: str, direction: str, party: str, started: datetime,
                    disclosure_given: bool) -> tuple[dict[str, Any] | None, bool]:
    """What an outbound call recorded on the form said, for the gate: the script's limited-content
    voicemail, and — under a pack that needs it — its debt-collector disclosure, which the agent
    confirms for a conversation with the cardholder (unticked: a field error). A call nobody answered
    followed the same script. Other contacts state nothing (the cautious default)."""
    if channel != "call" or direction != "outbound":
        return None, False
    script = script_facts_for_case(session, case_id=case.id, at=started)
    if script.disclosure is None or party not in ("debtor", "nobody"):
        return None, script.voicemail_limited
    if party == "debtor" and not disclosure_given:
        raise FormError(N_("Confirm that you gave the debt-collector disclosure"), field="disclosure_given")
    return script.content(), script.voicemail_limited


def _ended_at(call: Any, started: datetime, now: datetime) -> datetime | None:
    if call is not None:
        return call.ended_at if call.ended_at is not None and call.ended_at >= started else None
    return now if started == now else None
