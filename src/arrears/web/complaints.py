"""Complaints on the clock, for compliance officers and team leads: the list with each complaint's
ageing (days open, days to its deadline, overdue first), its page with the timeline and the handler's
moves (acknowledge, investigate, extend once, answer with the root cause, close), the register form
(agents register from the case page, and see no more), escalating overdue complaints, and the
complaints-per-1,000-accounts report by team, agency and strategy with its CSV.

Who: compliance officers act on every complaint, team leads on their own team's (the team that had
the account when it came in); supervisors, auditors and administrators read. Agents, team leads,
supervisors and compliance officers register. Names are masked by role; every write is audited
(``complaint.*``). Rules: :mod:`arrears.complaints.model`; guide: docs/complaints.md.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BeforeValidator
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account
from arrears.auth.deps import DbSession
from arrears.auth.model import Role, mask
from arrears.auth.tables import User
from arrears.cases.service import business_date_of
from arrears.cases.tables import Case
from arrears.complaints import model, service
from arrears.complaints import repository as repo
from arrears.complaints.model import ComplaintError, ComplaintFieldError
from arrears.complaints.tables import Complaint
from arrears.kit.clock import utc_now
from arrears.kit.inputs import IsoDate
from arrears.reports.service import to_csv
from arrears.web.casepage import FormError
from arrears.web.i18n import N_
from arrears.web.inputs import OptionalFormId, PathId
from arrears.web.render import render, settings_of
from arrears.web.security import CsrfUser, page_role

router = APIRouter(include_in_schema=False)

#: Who reads the complaint pages; who acts on complaints; who registers one.
READERS = (Role.COMPLIANCE, Role.TEAM_LEAD, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)
ACTORS = (Role.COMPLIANCE, Role.TEAM_LEAD)
REGISTRARS = (Role.AGENT, Role.TEAM_LEAD, Role.SUPERVISOR, Role.COMPLIANCE)
Reader = Annotated[User, Depends(page_role(*READERS))]
Actor = Annotated[User, Depends(page_role(*ACTORS))]
Registrar = Annotated[User, Depends(page_role(*REGISTRARS))]
Escalator = Annotated[User, Depends(page_role(Role.COMPLIANCE))]

CHANNELS = {
    "phone": N_("Phone"), "letter": N_("Letter"), "email": N_("E-mail"), "branch": N_("Branch"),
    "app": N_("App"), "portal": N_("Customer's own pages"), "agent": N_("To a collector"),
    "regulator": N_("Forwarded by a regulator (12378, 12363…)"), "other": N_("Other"),
}
CATEGORIES = {
    "collection_conduct": N_("A collector's conduct"), "contact_frequency": N_("Contacted too often"),
    "contact_time": N_("Contacted at the wrong time"), "third_party": N_("Family, employer or others contacted"),
    "fees_interest": N_("Fees or interest"), "amount_disputed": N_("The amount owed"),
    "repayment_plan": N_("Repayment plan"), "credit_report": N_("Credit report"), "privacy": N_("Personal data"),
    "agency": N_("A collection agency"), "other": N_("Other"),
}
ROOT_CAUSES = {
    "agent_conduct": N_("A collector's conduct"), "agency_conduct": N_("An agency's conduct"),
    "process": N_("Our process"), "system": N_("A system fault"), "policy": N_("Our policy"),
    "communication": N_("What we told the customer"), "customer_misunderstanding": N_("A misunderstanding"),
    "no_fault_found": N_("No fault found"), "other": N_("Other"),
}
STATUSES = {
    "received": N_("Received"), "acknowledged": N_("Acknowledged"), "investigating": N_("Investigating"),
    "answered": N_("Answered"), "closed": N_("Closed"),
}
EVENTS = {
    **STATUSES, "extended": N_("Deadline extended"), "escalated": N_("Escalated: past the deadline"),
    "assigned": N_("Handler assigned"),
}
GROUPS = {"team": N_("Team"), "agency": N_("Agency"), "strategy": N_("Strategy")}
MOVE_LABELS = {"acknowledge": N_("Acknowledge"), "investigate": N_("Start the investigation"),
               "answer": N_("Answer"), "close": N_("Close")}
NOTICES = {
    "registered": N_("The complaint was registered: collection contact with the customer is held until it is closed."),
    "acknowledged": N_("The complaint was acknowledged."), "investigating": N_("The investigation has started."),
    "answered": N_("The answer was recorded."), "closed": N_("The complaint was closed: the hold on contact ends today."),
    "extended": N_("The deadline was extended."), "assigned": N_("The handler was changed."),
}
#: The service's refusals, in the reader's language.
REFUSALS = {
    "the complaint has been extended once already": N_("The complaint has been extended once already."),
    "the deadline has passed: an extension is given before it runs out":
        N_("The deadline has passed: an extension is given before it runs out."),
    "the deadline is already at the rule's limit": N_("The deadline is already at the rule's limit."),
    "a complaint cannot be received in the future": N_("A complaint cannot be received in the future."),
    "a complaint forwarded by a regulator needs the regulator's reference":
        N_("A complaint forwarded by a regulator needs the regulator's reference."),
    "the handler must be an active compliance officer or team lead":
        N_("The handler must be an active compliance officer or team lead."),
    "a closed complaint is not reassigned": N_("A closed complaint is not reassigned."),
}


def _refused(exc: ComplaintError | ComplaintFieldError, field: str) -> FormError:
    named = getattr(exc, "field", field)
    words = REFUSALS.get(exc.message)
    if words is None:
        if exc.message.endswith(" is required"):
            words = N_("Fill this in")
        elif isinstance(exc, ComplaintError) and exc.message.startswith("a complaint that is"):
            words = N_("This step is not possible in the complaint's present state.")
        else:
            words = N_("Not a valid value")
    error = FormError(words, field=named)
    error.status = exc.status
    return error


def _today(request: Request) -> date:
    return business_date_of(utc_now(), settings_of(request).timezone)


def _scope(user: User) -> ColumnElement[bool]:
    return repo.visible(user.role, user.team_id)


def _audit_read(session: Session, user: User, what: str, **detail: Any) -> None:
    from arrears.auth.service import record

    record(session, actor=user.username, action=f"complaint.{what}", entity="complaint", entity_id=None,
           detail={**detail, "source": "web"})


def ageing(c: Complaint, today: date, bank_tz: str) -> dict[str, Any]:
    """Days open, days left to the deadline (negative: overdue) and whether it is overdue."""
    answered = model.received_on(c.answered_at, bank_tz) if c.answered_at else None
    clock = model.ageing(status=c.status, received=c.received_on, deadline=c.deadline, answered=answered,
                         today=today)
    return {"days_open": clock.days_open, "days_left": clock.days_left, "overdue": clock.overdue}


def _blank_as_none(value: object) -> object:
    return None if value == "" else value


From = Annotated[IsoDate | None, BeforeValidator(_blank_as_none), Query(alias="from")]
To = Annotated[IsoDate | None, BeforeValidator(_blank_as_none), Query(alias="to")]
Code = Annotated[str, Query(max_length=32)]


def _filters(status: str, channel: str, category: str) -> None:
    if status not in ("", "open", *model.STATUSES):
        raise FormError(N_("Not a valid value"), field="status")
    if channel and channel not in model.CHANNELS:
        raise FormError(N_("Not a valid value"), field="channel")
    if category and category not in model.CATEGORIES:
        raise FormError(N_("Not a valid value"), field="category")


def _rows(request: Request, session: Session, user: User, today: date, **filters: Any) -> list[dict[str, Any]]:
    tz = settings_of(request).timezone
    return [{"c": r.complaint, "account_ref": r.account_ref, "case_id": r.case_id,
             "customer": mask("name", r.customer_name, user.role), **ageing(r.complaint, today, tz)}
            for r in repo.listing(session, scope=_scope(user), today=today, **filters)]


def _report(request: Request, session: Session, group: str, date_from: date | None,
            date_to: date | None) -> tuple[str, date, date, list[service.RateRow]]:
    if group not in GROUPS:
        raise FormError(N_("Not a valid value"), field="group")
    to = date_to or _today(request)
    start = date_from or to - timedelta(days=89)
    if start > to:
        raise FormError(N_("The first date must not come after the last"), field="from")
    return group, start, to, service.rates(session, group=group, since=start, until=to)


@router.get("/compliance/complaints")
def complaints_page(request: Request, session: DbSession, user: Reader, status: Code = "open",
                    channel: Code = "", category: Code = "", overdue: Code = "", escalated: Code = "",
                    group: Code = "team", date_from: From = None, date_to: To = None,
                    notice: Annotated[str, Query(max_length=32)] = "") -> Response:
    _filters(status, channel, category)
    today = _today(request)
    rows = _rows(request, session, user, today, status=status, channel=channel, category=category,
                 overdue_only=overdue == "1", escalated_only=escalated == "1")
    group, start, to, rates = _report(request, session, group, date_from, date_to)
    query = {"status": status, "channel": channel, "category": category, "overdue": overdue,
             "escalated": escalated}
    return render(request, "complaints.html", rows=rows, today=today, status=status, channel=channel,
                  category=category, overdue=overdue, escalated=escalated, query=query,
                  report_query={"group": group, "from": start.isoformat(), "to": to.isoformat()},
                  channels=CHANNELS, categories=CATEGORIES, statuses=STATUSES, groups=GROUPS, group=group,
                  date_from=start, date_to=to, rates=rates, can_act=user.role in ACTORS,
                  notice=NOTICES.get(notice), rule=model.CN_RULE)


def _csv(text: str, name: str) -> Response:
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/compliance/complaints/export/complaints.csv")
def complaints_csv(request: Request, session: DbSession, user: Reader, status: Code = "open", channel: Code = "",
                   category: Code = "", overdue: Code = "", escalated: Code = "") -> Response:
    _filters(status, channel, category)
    today = _today(request)
    rows = [{"id": r["c"].id, "account_ref": r["account_ref"], "customer": r["customer"], "channel": r["c"].channel,
             "category": r["c"].category, "status": r["c"].status, "received_on": r["c"].received_on.isoformat(),
             "deadline": r["c"].deadline.isoformat(), "extended": r["c"].extended,
             "escalated": r["c"].escalated_at is not None, "days_open": r["days_open"], "days_left": r["days_left"],
             "root_cause": r["c"].root_cause or ""}
            for r in _rows(request, session, user, today, status=status, channel=channel, category=category,
                           overdue_only=overdue == "1", escalated_only=escalated == "1")]
    _audit_read(session, user, "export", rows=len(rows))
    return _csv(to_csv(rows, list(rows[0]) if rows else ["id"]), f"complaints-{today}.csv")


@router.get("/compliance/complaints/export/rates.csv")
def rates_csv(request: Request, session: DbSession, user: Reader, group: Code = "team", date_from: From = None,
              date_to: To = None) -> Response:
    group, start, to, rates = _report(request, session, group, date_from, date_to)
    rows = [{"group": r.group, "name": r.label if r.key is not None else "(none)", "complaints": r.complaints,
             "accounts": r.accounts, "per_1000": "" if r.per_thousand is None else str(r.per_thousand)}
            for r in rates]
    return _csv(to_csv(rows, ["group", "name", "complaints", "accounts", "per_1000"]),
                f"complaints-per-1000-by-{group}-{start}-{to}.csv")


def _handlers(session: Session) -> list[User]:
    return list(session.scalars(select(User).where(User.active.is_(True), User.role.in_(service.HANDLER_ROLES))
                                .order_by(User.username)))


def _account_in_scope(session: Session, user: User, account_ref: str) -> Account:
    account = repo.account_for(session, account_ref, role=user.role, team_id=user.team_id)
    if account is None:
        raise FormError(N_("No account with this number"), field="account_ref")
    return account


@router.get("/compliance/complaints/new")
def new_complaint(request: Request, session: DbSession, user: Registrar,
                  case_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None) -> Response:
    account_ref = ""
    if case_id is not None:
        found = session.execute(select(Account.account_ref).join(Case, Case.account_id == Account.id)
                                .where(Case.id == case_id)).scalar_one_or_none()
        account_ref = found or ""
    now = utc_now().astimezone(ZoneInfo(settings_of(request).timezone))
    return render(request, "complaint_new.html", account_ref=account_ref, case_id=case_id, channels=CHANNELS,
                  categories=CATEGORIES, handlers=_handlers(session) if user.role in ACTORS else [],
                  received_on=now.date(), received_time=now.strftime("%H:%M"), rule=model.CN_RULE)


def _received_at(request: Request, day: str, clock: str) -> datetime:
    try:
        on = date.fromisoformat(day.strip()) if day.strip() else None
    except ValueError:
        raise FormError(N_("Give a date (YYYY-MM-DD)"), field="received_on") from None
    try:
        at = time.fromisoformat(clock.strip()) if clock.strip() else time()
    except ValueError:
        raise FormError(N_("Give a time (HH:MM)"), field="received_time") from None
    if on is None:
        return utc_now()
    if on.year < 2000:
        raise FormError(N_("Not a valid value"), field="received_on")
    return datetime.combine(on, at.replace(tzinfo=None), ZoneInfo(settings_of(request).timezone))


@router.post("/compliance/complaints")
def post_complaint(
    request: Request, session: DbSession, user: Registrar, _: CsrfUser,
    account_ref: Annotated[str, Form(max_length=64)], channel: Annotated[str, Form(max_length=16)],
    category: Annotated[str, Form(max_length=32)], summary: Annotated[str, Form(max_length=4000)],
    received_on: Annotated[str, Form(max_length=10)] = "", received_time: Annotated[str, Form(max_length=8)] = "",
    regulator_ref: Annotated[str, Form(max_length=64)] = "", handler: OptionalFormId = None,
) -> Response:
    """Register a complaint; its deadline is the rule's, and the customer's collection contact is held."""
    account = _account_in_scope(session, user, account_ref)
    at = _received_at(request, received_on, received_time)
    try:
        complaint = service.register(
            session, account=account, channel=channel, received_at=at, category=category, summary=summary,
            actor=user.username, bank_tz=settings_of(request).timezone, regulator_ref=regulator_ref,
            handler_id=handler if user.role in ACTORS else None)
    except (ComplaintError, ComplaintFieldError) as exc:
        raise _refused(exc, "summary") from exc
    if user.role in READERS:
        return RedirectResponse(f"/compliance/complaints/{complaint.id}?notice=registered", status_code=303)
    case = repo.latest_case(session, account.id)
    target = f"/case/{case.id}?notice=complaint_registered" if case else "/queue"
    return RedirectResponse(target, status_code=303)


def _complaint(session: Session, user: User, complaint_id: int) -> Complaint:
    return repo.get(session, complaint_id, scope=_scope(user))


@router.get("/compliance/complaints/{complaint_id}")
def complaint_page(request: Request, complaint_id: PathId, session: DbSession, user: Reader,
                   notice: Annotated[str, Query(max_length=32)] = "") -> Response:
    c = _complaint(session, user, complaint_id)
    today = _today(request)
    account = session.get(Account, c.account_id)
    assert account is not None
    from arrears.accounts.tables import Customer, Hold

    customer = session.get(Customer, c.customer_id)
    hold = session.get(Hold, c.hold_id) if c.hold_id else None
    handler = session.get(User, c.handler_id) if c.handler_id else None
    case = repo.latest_case(session, c.account_id)
    moves = [m for m, (sources, _) in model.MOVES.items() if c.status in sources]
    can_extend = (not c.extended and c.status in model.UNANSWERED and today <= c.deadline)
    return render(request, "complaint.html", c=c, account=account, case_id=case.id if case else None,
                  customer=mask("name", customer.name if customer else "", user.role), hold=hold,
                  handler=handler, events=repo.events(session, c.id), today=today,
                  **ageing(c, today, settings_of(request).timezone),
                  can_act=user.role in ACTORS, moves=moves, move_labels=MOVE_LABELS, can_extend=can_extend,
                  extended_to=model.RULES[c.rule].extended_deadline(c.received_on),
                  handlers=_handlers(session), channels=CHANNELS, categories=CATEGORIES, root_causes=ROOT_CAUSES,
                  statuses=STATUSES, event_labels=EVENTS, notice=NOTICES.get(notice), rule=model.RULES[c.rule])


@router.post("/compliance/complaints/{complaint_id}/move")
def post_move(
    request: Request, complaint_id: PathId, session: DbSession, user: Actor, _: CsrfUser,
    move: Annotated[str, Form(max_length=16)], note: Annotated[str, Form(max_length=4000)] = "",
    root_cause: Annotated[str, Form(max_length=32)] = "", root_cause_text: Annotated[str, Form(max_length=4000)] = "",
    answer: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Acknowledge, start the investigation, answer (root cause and the answer given) or close."""
    c = _complaint(session, user, complaint_id)
    if move not in model.MOVES:
        raise FormError(N_("Not a valid value"), field="move")
    try:
        service.act(session, complaint=c, action=move, actor=user.username, note=note, root_cause=root_cause,
                    root_cause_text=root_cause_text, answer=answer, today=_today(request))
    except (ComplaintError, ComplaintFieldError) as exc:
        raise _refused(exc, "move") from exc
    return RedirectResponse(f"/compliance/complaints/{c.id}?notice={c.status}", status_code=303)


@router.post("/compliance/complaints/{complaint_id}/extend")
def post_extend(request: Request, complaint_id: PathId, session: DbSession, user: Actor, _: CsrfUser,
                reason: Annotated[str, Form(max_length=4000)] = "") -> Response:
    """Extend the deadline once, with the reason the customer is told."""
    c = _complaint(session, user, complaint_id)
    try:
        service.extend(session, complaint=c, reason=reason, actor=user.username, today=_today(request))
    except (ComplaintError, ComplaintFieldError) as exc:
        raise _refused(exc, "reason") from exc
    return RedirectResponse(f"/compliance/complaints/{c.id}?notice=extended", status_code=303)


@router.post("/compliance/complaints/{complaint_id}/handler")
def post_handler(request: Request, complaint_id: PathId, session: DbSession, user: Actor, _: CsrfUser,
                 handler: OptionalFormId = None) -> Response:
    c = _complaint(session, user, complaint_id)
    try:
        service.assign(session, complaint=c, handler_id=handler, actor=user.username)
    except (ComplaintError, ComplaintFieldError) as exc:
        raise _refused(exc, "handler") from exc
    return RedirectResponse(f"/compliance/complaints/{c.id}?notice=assigned", status_code=303)


@router.post("/compliance/complaints/escalate")
def post_escalate(request: Request, session: DbSession, user: Escalator, _: CsrfUser) -> Response:
    """Escalate now every overdue complaint not escalated yet (the daily cycle does it too)."""
    service.escalate_overdue(session, today=_today(request), actor=user.username)
    return RedirectResponse("/compliance/complaints?overdue=1&status=open", status_code=303)


__all__ = ["router"]
