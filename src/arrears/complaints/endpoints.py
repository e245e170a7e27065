"""REST endpoints of complaints: register one, and list them with their clocks.

Registering: agents, team leads (an account their team works), supervisors and compliance. Listing:
compliance, supervisors, auditors and administrators see every complaint, team leads their team's
(the team that had the account when it came in). Registering holds the customer's collection contact
(a ``complaint`` hold) and is audited. docs/complaints.md.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from arrears.auth.deps import DbSession, require_role
from arrears.auth.model import Role
from arrears.auth.tables import User
from arrears.cases.schemas import ErrorBody
from arrears.cases.service import business_date_of
from arrears.complaints import model, service
from arrears.complaints import repository as repo
from arrears.complaints import schemas as s
from arrears.complaints.tables import Complaint
from arrears.config import get_settings
from arrears.kit.clock import utc_now
from arrears.kit.errors import NotFound

READERS = (Role.COMPLIANCE, Role.TEAM_LEAD, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)
REGISTRARS = (Role.AGENT, Role.TEAM_LEAD, Role.SUPERVISOR, Role.COMPLIANCE)
Reader = Annotated[User, Depends(require_role(*READERS))]
Registrar = Annotated[User, Depends(require_role(*REGISTRARS))]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


router = APIRouter(tags=["complaints"], responses={
    401: _error("no valid token or session"), 403: _error("the caller's role may not do this"),
    422: _error("the request is malformed: the error names the field")})


def _out(c: Complaint, account_ref: str, today: date) -> s.Complaint:
    answered = model.received_on(c.answered_at, get_settings().timezone) if c.answered_at else None
    clock = model.ageing(status=c.status, received=c.received_on, deadline=c.deadline, answered=answered,
                         today=today)
    return s.Complaint(
        id=c.id, account_ref=account_ref, channel=c.channel, regulator_ref=c.regulator_ref,
        received_at=c.received_at, received_on=c.received_on, category=c.category, status=c.status,
        deadline=c.deadline, extended=c.extended, escalated_at=c.escalated_at, overdue=clock.overdue,
        days_open=clock.days_open, days_left=clock.days_left, root_cause=c.root_cause, hold_id=c.hold_id)


@router.post("/complaints", status_code=201, response_model=s.Complaint, summary="Register a complaint",
             responses={404: _error("no such account (or not one the caller's team works)"),
                        409: _error("the complaint is refused as it stands")})
def register(body: s.ComplaintCreate, session: DbSession, user: Registrar) -> s.Complaint:
    """Its deadline is the rule's (15 calendar days from receipt in China); the account gets a
    ``complaint`` hold at once, so the contact gate holds collection contact until it is closed."""
    account = repo.account_for(session, body.account_ref, role=user.role, team_id=user.team_id)
    if account is None:
        raise NotFound(f"no account {body.account_ref}")
    tz = get_settings().timezone
    c = service.register(session, account=account, channel=body.channel, received_at=body.received_at or utc_now(),
                         category=body.category, summary=body.summary, actor=user.username, bank_tz=tz,
                         regulator_ref=body.regulator_ref or "")
    return _out(c, account.account_ref, business_date_of(utc_now(), tz))


@router.get("/complaints", response_model=s.ComplaintList, summary="Complaints with their clocks, overdue first")
def list_complaints(
    session: DbSession, user: Reader,
    status: Annotated[str, Query(max_length=16, description="a status, or open (any open one)")] = "open",
    overdue: Annotated[bool, Query(description="only those past their deadline and unanswered")] = False,
) -> s.ComplaintList:
    if status not in ("", "open", *model.STATUSES):
        raise model.ComplaintFieldError(f"status must be open or one of: {', '.join(model.STATUSES)}", field="status")
    today = business_date_of(utc_now(), get_settings().timezone)
    scope = repo.visible(user.role, user.team_id)
    rows = repo.listing(session, scope=scope, today=today, status=status, overdue_only=overdue)
    return s.ComplaintList(business_date=today, complaints=[_out(r.complaint, r.account_ref, today) for r in rows])
