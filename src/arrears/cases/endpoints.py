"""REST endpoints of the case process: cases, lifecycle moves, interactions, investigations,
promises, appointments, holds and (when the work queue is installed) the queue.

Every endpoint needs an authenticated caller. Agents and team leads see only their team's cases:
a case outside the caller's scope answers 404, exactly like one that does not exist. Every write
appends an audit record in the request's transaction. Personal data is masked by the caller's role.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from arrears.accounts.tables import ContactPoint as ContactPointRow
from arrears.accounts.tables import Hold as HoldRow
from arrears.auth.deps import CurrentUser, DbSession, require_role
from arrears.auth.model import Role, mask
from arrears.auth.service import RevealLimited, case_scope, record, reveal
from arrears.auth.tables import User
from arrears.cases import queue, service
from arrears.cases import repository as repo
from arrears.cases import schemas as s
from arrears.cases.model import CaseRules
from arrears.cases.tables import Case, Interaction
from arrears.contact.service import ContactBlocked
from arrears.kit.clock import utc_now
from arrears.kit.errors import ArrearsError, NotFound

#: Roles that work cases (record what happened, move them on).
WORKERS = (Role.AGENT, Role.TEAM_LEAD, Role.SUPERVISOR, Role.ADMIN)
#: Roles that confirm or lift a hold an interaction placed (a second person, not the agent).
REVIEWERS = (Role.TEAM_LEAD, Role.SUPERVISOR, Role.COMPLIANCE, Role.ADMIN)

Worker = Annotated[User, Depends(require_role(*WORKERS))]
Reviewer = Annotated[User, Depends(require_role(*REVIEWERS))]
CaseId = Annotated[int, Path(ge=1, le=s.MAX_INT, description="case id")]
ItemId = Annotated[int, Path(ge=1, le=s.MAX_INT)]


def _error(description: str) -> dict[str, Any]:
    return {"model": s.ErrorBody, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("no valid token or session"),
    403: _error("the caller's role may not do this"),
    404: _error("no such case within the caller's scope"),
    422: _error("the request is malformed: the error names the field"),
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    400: _error("the request breaks a rule of the case process"),
    409: _error("the case's state does not allow this"),
}

router = APIRouter(prefix="/cases", tags=["cases"], responses=ERRORS)


def _rules(request: Request) -> CaseRules:
    return request.app.state.case_rules


Rules = Annotated[CaseRules, Depends(_rules)]


def _scope(user: User) -> Any:
    return case_scope(user, Case.team_id)


def _case(session: Session, user: User, case_id: int) -> Case:
    return repo.case_in_scope(session, case_id, scope=_scope(user))


def _actor(user: User) -> str:
    return service.user_actor(user.id)


def _audit(session: Session, user: User, action: str, entity: str, entity_id: int, **detail: Any) -> None:
    record(session, actor=user.username, action=action, entity=entity, entity_id=entity_id, detail=detail)


def _masked(kind: str, value: str, role: str) -> str:
    return mask(kind, value, role) or ""


def _case_out(session: Session, user: User, case: Case) -> s.Case:
    account, customer, points, team = repo.case_parties(session, case)
    role = user.role
    return s.Case(
        id=case.id, account_ref=account.account_ref, status=case.status, bucket=case.bucket, dpd=case.dpd,
        opened_on=case.opened_on, closed_on=case.closed_on, team=team,
        customer_name=_masked("name", customer.name, role), open_bucket=case.open_bucket,
        close_reason=case.close_reason, reopened_on=case.reopened_on, reopen_count=case.reopen_count,
        held_by=case.held_by, lease_expires_at=case.lease_expires_at,
        created_at=case.created_at, updated_at=case.updated_at,
        customer=s.Customer(
            customer_ref=customer.customer_ref, name=_masked("name", customer.name, role),
            national_id=_masked("national_id", customer.national_id, role),
            contact_points=[
                s.ContactPoint(id=p.id, kind=p.kind, value=_masked(p.kind, p.value, role), owner=p.owner,
                               relation=p.relation, verified=p.verified, opted_out=p.opted_out)
                for p in points
            ],
        ),
    )


# -- cases ----------------------------------------------------------------------------------------

@router.get("", summary="List cases", response_model=s.CasePage)
def list_cases(
    session: DbSession,
    user: CurrentUser,
    state: Annotated[s.State | None, Query(description="lifecycle state")] = None,
    bucket: Annotated[str | None, Query(max_length=16, pattern=r"^[^\x00]*$", description="e.g. M2")] = None,
    team: Annotated[str | None, Query(max_length=32, pattern=r"^[^\x00]*$", description="team code")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> s.CasePage:
    """Cases the caller may see, oldest first, filtered by state, bucket and team; ``total`` counts
    every match, ``limit``/``offset`` choose the page."""
    rows, total = repo.case_page(session, scope=_scope(user), state=state, bucket=bucket, team_code=team,
                                 limit=limit, offset=offset)
    items = [
        s.CaseSummary(id=c.id, account_ref=ref, status=c.status, bucket=c.bucket, dpd=c.dpd, opened_on=c.opened_on,
                      closed_on=c.closed_on, team=team_code, customer_name=_masked("name", name, user.role))
        for c, ref, name, team_code in rows
    ]
    return s.CasePage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{case_id}", summary="One case, with its customer's data masked for the caller", response_model=s.Case)
def get_case(case_id: CaseId, session: DbSession, user: CurrentUser) -> s.Case:
    return _case_out(session, user, _case(session, user, case_id))


#: Roles the masking policy lets unmask something (the auditor nothing: refused before the body is read).
RevealUser = Annotated[User, Depends(require_role(Role.AGENT, Role.TEAM_LEAD, Role.SUPERVISOR, Role.COMPLIANCE,
                                                  Role.ADMIN))]


@router.post("/{case_id}/reveal", summary="Unmask one piece of the customer's personal data (audited)",
             response_model=s.Revealed,
             responses={403: _error("the caller's role may not unmask this kind of data"),
                        429: _error("too many reveals by the caller within the window (ARREARS_REVEAL_LIMIT)")})
def reveal_personal_data(case_id: CaseId, body: s.RevealCreate, session: DbSession, user: RevealUser,
                         request: Request) -> Any:
    """The unmasked value, for a role the masking policy allows (see docs/security.md); every reveal
    is an audit record naming who, what kind, whose and why, never the value itself. At most
    ``ARREARS_REVEAL_LIMIT`` reveals per user within ``ARREARS_REVEAL_WINDOW_SECONDS`` (429 beyond,
    with ``Retry-After``; the refusal is an audit record)."""
    case = _case(session, user, case_id)
    _, customer, points, _ = repo.case_parties(session, case)
    if body.kind in ("national_id", "name"):
        if body.contact_point_id is not None:
            raise FieldError(f"{body.kind} belongs to the customer, not to a contact point",
                             field="contact_point_id")
        value = customer.national_id if body.kind == "national_id" else customer.name
        subject = f"customer:{customer.customer_ref}"
    else:
        if body.contact_point_id is None:
            raise FieldError(f"name the contact point whose {body.kind} to unmask", field="contact_point_id")
        point = next((p for p in points if p.id == body.contact_point_id), None)
        if point is None or point.kind != body.kind:
            raise FieldError(f"case {case.id} has no {body.kind} contact point {body.contact_point_id}",
                             field="contact_point_id")
        value, subject = point.value, f"contact_point:{point.id}"
    settings = request.app.state.settings
    try:
        shown = reveal(session, user=user, kind=body.kind, value=value, subject=subject, purpose=body.purpose,
                       limit=settings.reveal_limit, window_seconds=settings.reveal_window_seconds)
    except RevealLimited as limited:
        # Answered, not raised: the request's transaction commits the refusal's audit record.
        return JSONResponse({"error": {"code": limited.code, "message": limited.message}}, status_code=429,
                            headers={"Retry-After": str(limited.retry_after)})
    return s.Revealed(kind=body.kind, contact_point_id=body.contact_point_id, purpose=body.purpose, value=shown)


# -- transitions ----------------------------------------------------------------------------------

@router.get("/{case_id}/transitions", summary="The case's lifecycle moves", response_model=list[s.Transition])
def list_transitions(case_id: CaseId, session: DbSession, user: CurrentUser) -> list[Any]:
    return repo.transitions(session, _case(session, user, case_id).id)


@router.post("/{case_id}/transitions", summary="Move the case to another lifecycle state",
             response_model=s.Transition, status_code=status.HTTP_201_CREATED, responses=WRITE_ERRORS)
def create_transition(case_id: CaseId, body: s.TransitionCreate, session: DbSession, user: Worker) -> Any:
    """Allowed moves follow the lifecycle table (docs/process.md); any other answers 409."""
    case = _case(session, user, case_id)
    move = service.transition(session, case_id=case.id, to_state=body.to_state, actor=_actor(user),
                              reason=body.reason)
    _audit(session, user, "case.transition", "case", case.id, transition_id=move.id, from_state=move.from_state,
           to_state=move.to_state, reason=move.reason)
    return move


# -- interactions ---------------------------------------------------------------------------------

@router.get("/{case_id}/interactions", summary="The case's interactions", response_model=list[s.Interaction])
def list_interactions(case_id: CaseId, session: DbSession, user: CurrentUser) -> list[Any]:
    return repo.interactions(session, _case(session, user, case_id).id)


@router.post("/{case_id}/interactions", summary="Record an interaction", response_model=s.InteractionRecorded,
             status_code=status.HTTP_201_CREATED, responses=WRITE_ERRORS)
def create_interaction(
    case_id: CaseId, body: s.InteractionCreate, session: DbSession, user: Worker, rules: Rules,
    override_decision_id: Annotated[int | None, Query(ge=1, le=s.MAX_INT, description=(
        "an override approved for this case and channel (POST /cases/{id}/contact-overrides), for an "
        "outbound contact the gate blocks: usable once, within ARREARS_OVERRIDE_VALID_MINUTES (60) of its "
        "approval"))] = None,
) -> Any:
    """An outcome configured with a hold places it on the account and may stop contact until a
    person reviews it (see the case's holds). An outbound call, visit, SMS or e-mail passes the
    compliance gate at ``started_at`` (a call needs its ``recording_ref``): when blocked, 409 names
    each rule and the next allowed time, and the block is logged."""
    case = _case(session, user, case_id)
    if body.contact_point_id is not None:
        _check_contact_point(session, case, body.contact_point_id)
    try:
        done = service.record_interaction(
            session, case_id=case.id, channel=body.channel, direction=body.direction, party=body.party,
            started_at=body.started_at, ended_at=body.ended_at, outcome=body.outcome, rules=rules, agent_id=user.id,
            contact_point_id=body.contact_point_id, notes=body.notes, recording_ref=body.recording_ref,
            override_decision_id=override_decision_id, collectors=body.collectors, entered=body.entered,
            entry_consent=body.entry_consent, content={"collector_disclosure": body.collector_disclosure},
            voicemail_limited=body.voicemail_limited,
        )
    except ContactBlocked as blocked:
        # Answered, not raised: the request's transaction commits the logged block (nothing else was written).
        return JSONResponse(blocked.body(), status_code=blocked.status)
    hold_id = done.hold.id if done.hold else None
    review_id = done.review.id if done.review else None
    _audit(session, user, "interaction.create", "interaction", done.interaction.id, case_id=case.id,
           channel=body.channel, outcome=body.outcome, hold_id=hold_id, review_id=review_id)
    return s.InteractionRecorded(interaction=s.Interaction.model_validate(done.interaction), hold_id=hold_id,
                                 review_id=review_id)


def _check_contact_point(session: Session, case: Case, contact_point_id: int) -> None:
    account, customer, _, _ = repo.case_parties(session, case)
    point = session.get(ContactPointRow, contact_point_id)
    if point is None or point.customer_id != customer.id:
        raise FieldError(f"contact point {contact_point_id} is not one of the case's customer",
                         field="contact_point_id")


class FieldError(ArrearsError):
    """A request field refers to something that does not fit the case."""

    status = 422

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def _interaction_of_case(session: Session, case: Case, interaction_id: int, field: str = "interaction_id") -> None:
    interaction = session.get(Interaction, interaction_id)
    if interaction is None or interaction.case_id != case.id:
        raise FieldError(f"interaction {interaction_id} is not on case {case.id}", field=field)


# -- investigations -------------------------------------------------------------------------------

@router.get("/{case_id}/investigations", summary="Every version of the case's investigation",
            response_model=list[s.Investigation])
def list_investigations(case_id: CaseId, session: DbSession, user: CurrentUser) -> list[Any]:
    return repo.investigations(session, _case(session, user, case_id).id)


@router.get("/{case_id}/investigations/current", summary="The current version of the case's investigation",
            response_model=s.Investigation)
def current_investigation(case_id: CaseId, session: DbSession, user: CurrentUser) -> Any:
    case = _case(session, user, case_id)
    found = service.current_investigation(session, case_id=case.id)
    if found is None:
        raise NotFound(f"case {case.id} has no investigation yet")
    return found


@router.post("/{case_id}/investigations", summary="Record a new version of the investigation",
             response_model=s.Investigation, status_code=status.HTTP_201_CREATED, responses=WRITE_ERRORS)
def create_investigation(
    case_id: CaseId, body: s.InvestigationCreate, session: DbSession, user: Worker, rules: Rules,
) -> Any:
    """Earlier versions stay unchanged; the affordable monthly amount is computed from this one."""
    case = _case(session, user, case_id)
    version = service.record_investigation(
        session, case_id=case.id, cause=body.cause, monthly_income=body.monthly_income,
        essential_spending=body.essential_spending, other_debt_payments=body.other_debt_payments,
        dependants=body.dependants, willingness=body.willingness, recorded_by=_actor(user), rules=rules,
        notes=body.notes,
    )
    _audit(session, user, "investigation.create", "investigation", version.id, case_id=case.id,
           version=version.version, cause=version.cause, affordable_monthly=version.affordable_monthly)
    return version


# -- promises -------------------------------------------------------------------------------------

@router.get("/{case_id}/promises", summary="The case's promises to pay", response_model=list[s.Promise])
def list_promises(case_id: CaseId, session: DbSession, user: CurrentUser) -> list[Any]:
    return repo.promises(session, _case(session, user, case_id).id)


@router.post("/{case_id}/promises", summary="Record a promise to pay", response_model=s.Promise,
             status_code=status.HTTP_201_CREATED, responses=WRITE_ERRORS)
def create_promise(request: Request, case_id: CaseId, body: s.PromiseCreate, session: DbSession, user: Worker,
                   rules: Rules) -> Any:
    """``amount`` is integer fen; grace days and tolerance are fixed from the rules in force now. The date
    is from today to ``ARREARS_PORTAL_PROMISE_MAX_DAYS`` ahead (the limit of the cardholder's own page)."""
    case = _case(session, user, case_id)
    if body.interaction_id is not None:
        _interaction_of_case(session, case, body.interaction_id)
    settings = request.app.state.settings
    latest = service.latest_promise_date(service.business_date_of(utc_now(), settings.timezone), settings)
    promise = service.record_promise(session, case_id=case.id, amount=body.amount, promised_date=body.promised_date,
                                     created_by=_actor(user), rules=rules, interaction_id=body.interaction_id,
                                     latest=latest)
    _audit(session, user, "promise.create", "promise", promise.id, case_id=case.id, amount=promise.amount,
           promised_date=promise.promised_date)
    return promise


# -- appointments ---------------------------------------------------------------------------------

@router.get("/{case_id}/appointments", summary="The case's call-back appointments",
            response_model=list[s.Appointment])
def list_appointments(case_id: CaseId, session: DbSession, user: CurrentUser) -> list[Any]:
    return repo.appointments(session, _case(session, user, case_id).id)


@router.post("/{case_id}/appointments", summary="Schedule a call-back appointment", response_model=s.Appointment,
             status_code=status.HTTP_201_CREATED, responses=WRITE_ERRORS)
def create_appointment(case_id: CaseId, body: s.AppointmentCreate, session: DbSession, user: Worker) -> Any:
    case = _case(session, user, case_id)
    owner_id = body.owner_id if body.owner_id is not None else user.id
    if owner_id != user.id:
        owner = session.get(User, owner_id)
        if owner is None or not owner.active:
            raise FieldError(f"no active user {owner_id}", field="owner_id")
    appt = service.schedule_appointment(session, case_id=case.id, owner_id=owner_id, window_start=body.window_start,
                                        window_end=body.window_end, created_by=_actor(user), notes=body.notes,
                                        agreed_via="agent" if body.agreed_by_debtor else None)
    _audit(session, user, "appointment.create", "appointment", appt.id, case_id=case.id, owner_id=owner_id,
           window_start=appt.window_start, window_end=appt.window_end, agreed_by_debtor=body.agreed_by_debtor)
    return appt


def _appointment(session: Session, case: Case, appointment_id: int) -> Any:
    appt = repo.get_appointment(session, appointment_id)
    if appt.case_id != case.id:
        raise NotFound(f"no appointment {appointment_id} on case {case.id}")
    return appt


@router.post("/{case_id}/appointments/{appointment_id}/complete", summary="Mark an appointment kept",
             response_model=s.Appointment, responses=WRITE_ERRORS)
def complete_appointment(
    case_id: CaseId, appointment_id: ItemId, body: s.AppointmentComplete, session: DbSession, user: Worker,
) -> Any:
    case = _case(session, user, case_id)
    _appointment(session, case, appointment_id)
    appt = service.complete_appointment(session, appointment_id=appointment_id, interaction_id=body.interaction_id)
    _audit(session, user, "appointment.complete", "appointment", appt.id, case_id=case.id,
           interaction_id=body.interaction_id)
    return appt


@router.post("/{case_id}/appointments/{appointment_id}/cancel", summary="Cancel an appointment",
             response_model=s.Appointment, responses=WRITE_ERRORS)
def cancel_appointment(case_id: CaseId, appointment_id: ItemId, session: DbSession, user: Worker) -> Any:
    case = _case(session, user, case_id)
    _appointment(session, case, appointment_id)
    appt = service.cancel_appointment(session, appointment_id=appointment_id)
    _audit(session, user, "appointment.cancel", "appointment", appt.id, case_id=case.id)
    return appt


# -- holds ----------------------------------------------------------------------------------------

@router.get("/{case_id}/holds", summary="Holds on the case's account and their reviews",
            response_model=s.CaseHolds)
def list_holds(case_id: CaseId, session: DbSession, user: CurrentUser) -> s.CaseHolds:
    case = _case(session, user, case_id)
    return s.CaseHolds(holds=[s.Hold.model_validate(h) for h in repo.holds_of_case(session, case.id)],
                       reviews=[s.HoldReview.model_validate(r) for r in repo.hold_reviews(session, case.id)])


@router.post("/{case_id}/hold-reviews/{review_id}", summary="Review a hold an interaction placed",
             response_model=s.HoldReview, responses=WRITE_ERRORS)
def review_hold(
    case_id: CaseId, review_id: ItemId, body: s.HoldReviewUpdate, session: DbSession, user: Reviewer,
) -> Any:
    """Confirm the hold (omit ``lift_hold_on``) or lift it, ending it on ``lift_hold_on``. Contact on
    the case resumes once no review is pending."""
    case = _case(session, user, case_id)
    review = repo.get_review(session, review_id)
    if review.case_id != case.id:
        raise NotFound(f"no hold review {review_id} on case {case.id}")
    if body.lift_hold_on is not None and review.hold_id is not None:
        hold = session.get(HoldRow, review.hold_id)
        if hold is not None and body.lift_hold_on < hold.start_date:
            raise FieldError("a hold cannot end before it starts", field="lift_hold_on")
    done = service.review_hold(session, review_id=review.id, reviewer_id=user.id, note=body.note,
                               lift_hold_on=body.lift_hold_on)
    _audit(session, user, "hold.review", "hold_review", done.id, case_id=case.id, hold_id=done.hold_id,
           lifted_on=body.lift_hold_on)
    return done


# -- work queue -----------------------------------------------------------------------------------

queue_router = APIRouter(prefix="/queue", tags=["queue"], responses=ERRORS)
#: Roles that take cases from the work queue.
QUEUE_USERS = (Role.AGENT, Role.TEAM_LEAD)
QueueUser = Annotated[User, Depends(require_role(*QUEUE_USERS))]


@queue_router.post("/next", summary="Take the next case from the work queue", response_model=s.QueueNext,
                   responses={409: _error("the caller already holds as many cases as their capacity")})
def next_case(session: DbSession, user: QueueUser) -> s.QueueNext:
    """Claims the best case for the caller (a due appointment first, then a broken promise, then the
    highest expected recovery) with a lease; ``case`` is null when nothing is available."""
    found = queue.next_case(session, user=user)
    if found is None:
        return s.QueueNext(case=None)
    _audit(session, user, "queue.claim", "case", found.id, lease_expires_at=found.lease_expires_at)
    return s.QueueNext(case=_case_out(session, user, found))


@router.post("/{case_id}/release", summary="Give a held case back to the work queue", response_model=s.Case,
             responses={409: _error("the caller does not hold the case")})
def release_case(case_id: CaseId, session: DbSession, user: QueueUser) -> s.Case:
    case = _case(session, user, case_id)
    released = queue.release(session, case_id=case.id, user=user)
    _audit(session, user, "queue.release", "case", case.id)
    return _case_out(session, user, released)


@router.post("/{case_id}/renew", summary="Extend the caller's lease on a held case", response_model=s.Case,
             responses={409: _error("the caller does not hold the case")})
def renew_case(case_id: CaseId, session: DbSession, user: QueueUser) -> s.Case:
    case = _case(session, user, case_id)
    renewed = queue.renew(session, case_id=case.id, user=user)
    _audit(session, user, "queue.renew", "case", case.id, lease_expires_at=renewed.lease_expires_at)
    return _case_out(session, user, renewed)
