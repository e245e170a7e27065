"""Case process services: lifecycle moves, interactions (and the holds some outcomes place),
investigations, promises to pay, tasks and appointments.

Every function takes a :class:`~sqlalchemy.orm.Session` and keyword-only domain arguments, and
``flush()``-es; the caller's entry point owns the transaction. Actors are written as ``user:<id>``
for people, or the name of a job (``cycle``, ``promise-judge``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from arrears.accounts.tables import Hold
from arrears.auth.model import Forbidden
from arrears.cases import repository as repo
from arrears.cases.model import (
    CAUSES,
    CHANNELS,
    DIRECTIONS,
    ENDED_STATES,
    PARTIES,
    WILLINGNESS,
    CaseRules,
    PromiseJudgement,
    PromiseRules,
    affordable_monthly,
    can_transition,
    check_transition,
    judge_promise,
    promise_window,
)
from arrears.cases.tables import (
    Appointment,
    Case,
    CaseTransition,
    HoldReview,
    Interaction,
    Investigation,
    Promise,
    Task,
)
from arrears.config import Settings, get_settings
from arrears.contact.cn_records import (
    REFUSAL_OUTCOME,
    RecordError,
    check_visit,
    record_agreement,
    record_refusal,
    record_visit,
)
from arrears.contact.regf import note_interaction
from arrears.contact.service import gate_interaction
from arrears.kit.clock import utc_now
from arrears.kit.errors import ArrearsError
from arrears.kit.inputs import require_reason


def user_actor(user_id: int | None) -> str:
    return f"user:{user_id}" if user_id is not None else "system"


def business_date_of(moment: datetime, zone: str | None = None) -> date:
    """The bank's business date at an aware moment (in ``ARREARS_TIMEZONE`` unless a zone is given)."""
    if moment.tzinfo is None:
        raise ArrearsError("naive datetime refused: times must be timezone-aware")
    return moment.astimezone(ZoneInfo(zone or get_settings().timezone)).date()


def _aware(name: str, value: datetime) -> None:
    if value.tzinfo is None:
        raise ArrearsError(f"{name} must be timezone-aware")


def _one_of(name: str, value: object, allowed: tuple) -> None:  # type: ignore[type-arg]
    if value not in allowed:
        raise ArrearsError(f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}")


# -- lifecycle ----------------------------------------------------------------------------------

def transition(session: Session, *, case_id: int, to_state: str, actor: str, reason: str) -> CaseTransition:
    """Move a case to ``to_state`` if the lifecycle allows it, recording who, when and why.

    Raises :class:`~arrears.cases.model.InvalidTransition` (nothing written) otherwise.
    """
    reason = require_reason(reason, field="reason")
    case = repo.get_case(session, case_id, for_update=True)
    check_transition(case.status, to_state)
    now = utc_now()
    move = CaseTransition(case_id=case.id, from_state=case.status, to_state=to_state, actor=actor,
                          reason=reason, at=now)
    if to_state in ENDED_STATES:
        case.closed_on = business_date_of(now)
        case.close_reason = to_state if to_state == "cured" else reason[:32]
    elif case.status in ENDED_STATES:  # reopened by a person
        case.closed_on = case.close_reason = case.closed_by_run_id = None
        case.reopened_on = business_date_of(now)
        case.reopen_count = case.reopen_count + 1
    case.status = to_state
    case.updated_at = now
    session.add(move)
    session.flush()
    return move


# -- interactions -------------------------------------------------------------------------------

@dataclass(frozen=True)
class RecordedInteraction:
    interaction: Interaction
    hold: Hold | None
    review: HoldReview | None


def record_interaction(
    session: Session,
    *,
    case_id: int,
    channel: str,
    direction: str,
    party: str,
    started_at: datetime,
    outcome: str,
    rules: CaseRules,
    ended_at: datetime | None = None,
    agent_id: int | None = None,
    contact_point_id: int | None = None,
    notes: str | None = None,
    recording_ref: str | None = None,
    override_decision_id: int | None = None,
    collectors: int | None = None,
    entered: bool = False,
    entry_consent: bool = False,
    content: Mapping[str, Any] | None = None,
    voicemail_limited: bool = False,
) -> RecordedInteraction:
    """Record an interaction. An outcome configured with a hold places it on the account at once
    (``created_by`` = the agent), and one that stops contact opens a review; contact stays stopped
    until a person reviews it (:func:`review_hold`).

    An outbound call, visit, SMS or e-mail an agent records passes the compliance gate at ``started_at``
    first (:func:`arrears.contact.service.gate_interaction`; a call needs its ``recording_ref``): a
    block is logged and raised as ``ContactBlocked`` unless ``override_decision_id`` names an approved
    override. Automatic records (no agent: the worker, the dialer) were gated before the contact.
    An inbound contact (the customer reached us) is not gated.

    The party must fit the outcome (``party`` in outcomes.yaml): an outcome that means nobody
    answered has party ``nobody``, a right-party outcome needs the cardholder (``debtor``), a third
    party outcome an ``emergency_contact`` or ``other``; else :class:`~arrears.cases.model.PartyMismatch`
    (422 naming ``party``) and nothing is written.

    A field visit an agent records carries ``collectors`` (how many went), ``entered`` and
    ``entry_consent``: the gate checks them (``cn`` · ``field_visit``) and they are kept with the visit
    (``visit_records``). The outcome ``refused_contact`` records that the emergency contact or third party
    at ``contact_point_id`` refused further contact (``contact_refusals``): never contacted again.

    ``content``/``voicemail_limited``: what an outbound contact said — the Regulation F content facts
    (e.g. ``collector_disclosure``) and whether any voicemail was the limited-content message; not
    stated, the gate takes the cautious default (a ``us-reg-f`` call is blocked naming the rule)."""
    _one_of("channel", channel, CHANNELS)
    _one_of("direction", direction, DIRECTIONS)
    _one_of("party", party, PARTIES)
    _aware("started_at", started_at)
    if ended_at is not None:
        _aware("ended_at", ended_at)
        if ended_at < started_at:
            raise ArrearsError("ended_at is before started_at")
    rule = rules.outcome(outcome)
    rule.check_party(party)
    visit = None
    if channel == "visit" and direction == "outbound" and agent_id is not None:
        check_visit(collectors, entered, entry_consent)
        visit = (int(collectors or 0), entered, entry_consent)
    if outcome == REFUSAL_OUTCOME and contact_point_id is None:
        raise RecordError("a refusal of further contact is recorded against the contact point reached",
                          field="contact_point_id")
    case = repo.get_case(session, case_id)
    if direction == "outbound" and agent_id is not None:
        gate_interaction(session, case_id=case.id, channel=channel, party=party, started_at=started_at,
                         contact_point_id=contact_point_id, recording_ref=recording_ref, agent_id=agent_id,
                         override_decision_id=override_decision_id, visit=visit, content=content,
                         voicemail_limited=voicemail_limited)
    interaction = Interaction(
        case_id=case.id, channel=channel, direction=direction, party=party, contact_point_id=contact_point_id,
        started_at=started_at, ended_at=ended_at, outcome=outcome, notes=notes, recording_ref=recording_ref,
        agent_id=agent_id, created_at=utc_now(),
    )
    session.add(interaction)
    session.flush()
    # a conversation with the debtor may be the initial communication a validation notice must follow
    note_interaction(session, case_id=case.id, channel=channel, party=party, outcome=outcome, at=started_at,
                     actor=user_actor(agent_id))
    if visit is not None:
        record_visit(session, interaction=interaction, collectors=visit[0], entered=entered,
                     entry_consent=entry_consent, actor=user_actor(agent_id))
    if outcome == REFUSAL_OUTCOME and contact_point_id is not None:
        record_refusal(session, contact_point_id=contact_point_id, actor=user_actor(agent_id), at=started_at,
                       interaction_id=interaction.id, note=notes)
    hold = review = None
    if rule.hold is not None:
        hold = Hold(account_id=case.account_id, kind=rule.hold, start_date=business_date_of(started_at),
                    end_date=None, pauses_ageing=rule.pauses_ageing,
                    reason=f"interaction {interaction.id}: {outcome}", created_by=user_actor(agent_id),
                    created_at=utc_now())
        session.add(hold)
        session.flush()
        if rule.hold == "complaint":  # a complaint on the clock of its own (docs/complaints.md)
            from arrears.complaints.service import register_from_interaction

            register_from_interaction(session, interaction=interaction, account_id=case.account_id,
                                      actor=user_actor(agent_id))
    if rule.stops_contact:
        review = HoldReview(case_id=case.id, hold_id=hold.id if hold else None, interaction_id=interaction.id,
                            outcome=outcome, status="pending", created_at=utc_now())
        session.add(review)
        session.flush()
    return RecordedInteraction(interaction, hold, review)


def review_hold(
    session: Session, *, review_id: int, reviewer_id: int, note: str, lift_hold_on: date | None = None
) -> HoldReview:
    """A person confirms (or lifts, ending it on ``lift_hold_on`` inclusive) a hold an outcome placed.

    The reviewer is a second person: the agent who recorded the interaction that placed the hold is
    refused (:class:`~arrears.auth.model.Forbidden`), so one person cannot both stop and resume contact."""
    note = require_reason(note, field="note")
    review = repo.get_review(session, review_id)
    if review.status != "pending":
        raise ArrearsError(f"hold review {review_id} is already reviewed")
    placed = session.get(Interaction, review.interaction_id)
    if placed is not None and placed.agent_id is not None and placed.agent_id == reviewer_id:
        raise Forbidden(f"hold review {review_id}: you recorded the interaction that placed this hold; "
                        "a second person must review it")
    review.status = "reviewed"
    review.reviewed_by = reviewer_id
    review.reviewed_at = utc_now()
    review.review_note = note
    if lift_hold_on is not None and review.hold_id is not None:
        hold = session.get(Hold, review.hold_id)
        assert hold is not None
        if lift_hold_on < hold.start_date:
            raise ArrearsError("a hold cannot end before it starts")
        hold.end_date = lift_hold_on
    session.flush()
    return review


@dataclass(frozen=True)
class ContactStatus:
    """Whether a case may be contacted on a day, and why not."""

    allowed: bool
    #: last day an open promise suppresses contact (promised date + grace), or None
    suppressed_until: date | None
    #: hold reviews still waiting for a person
    pending_reviews: tuple[int, ...]


def contact_suppressed_until(session: Session, *, case_id: int) -> date | None:
    """The last day open promises suppress contact on the case (promised date + grace), or None."""
    ends = [promise_window(created_on=p.created_on, promised_date=p.promised_date, grace_days=p.grace_days)[1]
            for p in repo.open_promises(session, case_id)]
    return max(ends) if ends else None


def contact_status(session: Session, *, case_id: int, on: date) -> ContactStatus:
    until = contact_suppressed_until(session, case_id=case_id)
    pending = tuple(r.id for r in repo.pending_reviews(session, case_id))
    return ContactStatus(allowed=not pending and (until is None or on > until), suppressed_until=until,
                         pending_reviews=pending)


# -- investigation ------------------------------------------------------------------------------

def record_investigation(
    session: Session,
    *,
    case_id: int,
    cause: str,
    monthly_income: int,
    essential_spending: int,
    other_debt_payments: int,
    dependants: int,
    willingness: int,
    recorded_by: str,
    rules: CaseRules,
    notes: str | None = None,
) -> Investigation:
    """Add a new version of the case's investigation (earlier versions are kept unchanged)."""
    _one_of("cause", cause, CAUSES)
    _one_of("willingness", willingness, WILLINGNESS)
    affordable = affordable_monthly(income=monthly_income, essential=essential_spending,
                                    other_debts=other_debt_payments, dependants=dependants, reserve=rules.reserve)
    case = repo.get_case(session, case_id, for_update=True)
    version = Investigation(
        case_id=case.id, version=repo.next_investigation_version(session, case.id), cause=cause,
        monthly_income=monthly_income, essential_spending=essential_spending,
        other_debt_payments=other_debt_payments, dependants=dependants, reserve_base=rules.reserve.base_fen,
        reserve_per_dependant=rules.reserve.per_dependant_fen, affordable_monthly=affordable,
        willingness=willingness, notes=notes, recorded_by=recorded_by, recorded_at=utc_now(),
    )
    session.add(version)
    session.flush()
    return version


def current_investigation(session: Session, *, case_id: int) -> Investigation | None:
    return repo.latest_investigation(session, case_id)


# -- promises -----------------------------------------------------------------------------------

class PromiseTooFar(ArrearsError):
    """A promised date beyond the furthest one allowed."""

    status = 422
    field = "promised_date"


def latest_promise_date(today: date, settings: Settings | None = None) -> date:
    """The furthest date a customer may promise to pay by, on their own page as to an agent:
    ``ARREARS_PORTAL_PROMISE_MAX_DAYS`` (30 by default) after ``today``."""
    return today + timedelta(days=(settings or get_settings()).portal_promise_max_days)


def record_promise(
    session: Session,
    *,
    case_id: int,
    amount: int,
    promised_date: date,
    created_by: str,
    rules: CaseRules,
    created_on: date | None = None,
    interaction_id: int | None = None,
    latest: date | None = None,
) -> Promise:
    """Record a promise to pay ``amount`` fen by ``promised_date``; grace and tolerance are fixed now.
    ``latest``: the furthest date allowed (:func:`latest_promise_date`; ``PromiseTooFar`` beyond it)."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ArrearsError(f"a promise needs a positive whole amount of fen, got {amount!r}")
    made_on = created_on or business_date_of(utc_now())
    if promised_date < made_on:
        raise ArrearsError("the promised date is before the day the promise is made")
    if latest is not None and promised_date > latest:
        raise PromiseTooFar(f"promised_date: too far ahead, at the latest {latest.isoformat()}")
    case = repo.get_case(session, case_id)
    promise = Promise(
        case_id=case.id, interaction_id=interaction_id, amount=amount, promised_date=promised_date,
        created_on=made_on, grace_days=rules.promises.grace_days, tolerance=rules.promises.tolerance_fen,
        status="open", created_by=created_by, created_at=utc_now(),
    )
    session.add(promise)
    session.flush()
    return promise


@dataclass(frozen=True)
class JudgedPromise:
    promise_id: int
    judgement: PromiseJudgement
    task_id: int | None
    moved_to_follow_up: bool


def judge_due_promises(session: Session, *, as_of: date, actor: str = "promise-judge") -> list[JudgedPromise]:
    """Judge every open promise on business date ``as_of``.

    kept: closed, nothing else. partly_kept: a ``promise_short`` task. broken: a ``broken_promise``
    task and the case moves to ``follow_up`` (recorded) when its state allows that move.
    Promises whose window is still running and not yet kept stay open.
    """
    out = []
    for promise, account_id in repo.promises_to_judge(session, as_of=as_of):
        first, last = promise_window(created_on=promise.created_on, promised_date=promise.promised_date,
                                     grace_days=promise.grace_days)
        payments = repo.payments_between(session, account_id=account_id, first=first, last=min(last, as_of))
        judgement = judge_promise(
            amount=int(promise.amount), created_on=promise.created_on, promised_date=promise.promised_date,
            payments=payments, as_of=as_of,
            rules=PromiseRules(grace_days=promise.grace_days, tolerance_fen=int(promise.tolerance)),
        )
        if judgement.status == "open":
            continue
        promise.status = judgement.status
        promise.paid = judgement.paid
        promise.judged_at = utc_now()
        task_id, moved = None, False
        if judgement.status in ("broken", "partly_kept"):
            kind = "broken_promise" if judgement.status == "broken" else "promise_short"
            task = Task(case_id=promise.case_id, kind=kind, due_on=as_of, status="open", promise_id=promise.id,
                        created_by=actor, created_at=utc_now())
            session.add(task)
            session.flush()
            task_id = task.id
        if judgement.status == "broken":
            case: Case = repo.get_case(session, promise.case_id)
            if can_transition(case.status, "follow_up"):
                transition(session, case_id=case.id, to_state="follow_up", actor=actor,
                           reason=f"promise {promise.id} broken: {promise.amount} fen due {promise.promised_date}")
                moved = True
        session.flush()
        out.append(JudgedPromise(promise.id, judgement, task_id, moved))
    return out


# -- appointments -------------------------------------------------------------------------------

def schedule_appointment(
    session: Session, *, case_id: int, owner_id: int, window_start: datetime, window_end: datetime,
    created_by: str, notes: str | None = None, agreed_via: str | None = None,
) -> Appointment:
    """Schedule a call-back window. ``agreed_via``: the debtor agreed to be contacted in it, and how
    (``portal``: they booked it; ``agent``: an agent booked it at their request) — recorded with the
    appointment (:func:`arrears.contact.cn_records.record_agreement`); only an agreed window lifts the
    ``cn`` quiet hours."""
    _aware("window_start", window_start)
    _aware("window_end", window_end)
    if window_end <= window_start:
        raise ArrearsError("an appointment window must end after it starts")
    case = repo.get_case(session, case_id)
    appt = Appointment(case_id=case.id, owner_id=owner_id, window_start=window_start, window_end=window_end,
                       status="scheduled", notes=notes, created_by=created_by, created_at=utc_now())
    session.add(appt)
    session.flush()
    if agreed_via is not None:
        record_agreement(session, appointment=appt, agreed_via=agreed_via, actor=created_by)
    return appt


def _set_appointment_status(session: Session, appointment_id: int, status: str) -> Appointment:
    appt = repo.get_appointment(session, appointment_id)
    if appt.status != "scheduled":
        raise ArrearsError(f"appointment {appointment_id} is {appt.status}, not scheduled")
    appt.status = status
    return appt


def complete_appointment(session: Session, *, appointment_id: int, interaction_id: int) -> Appointment:
    appt = repo.get_appointment(session, appointment_id)
    interaction = session.get(Interaction, interaction_id)
    if interaction is None or interaction.case_id != appt.case_id:
        raise ArrearsError(f"interaction {interaction_id} is not on the appointment's case")
    _set_appointment_status(session, appointment_id, "done")
    appt.interaction_id = interaction_id
    session.flush()
    return appt


def cancel_appointment(session: Session, *, appointment_id: int) -> Appointment:
    appt = _set_appointment_status(session, appointment_id, "cancelled")
    session.flush()
    return appt


def due_appointments(session: Session, *, owner_id: int, at: datetime) -> list[Appointment]:
    """Scheduled appointments of ``owner_id`` whose window contains ``at``."""
    _aware("at", at)
    return repo.due_appointments(session, owner_id=owner_id, at=at)


def missed_appointments(session: Session, *, at: datetime, owner_id: int | None = None) -> list[Appointment]:
    """For the team lead: windows that ended before ``at`` without an interaction on the case in them."""
    _aware("at", at)
    return repo.missed_appointments(session, at=at, owner_id=owner_id)


def settle_ended_appointments(session: Session, *, at: datetime) -> tuple[int, int]:
    """Mark scheduled appointments whose window has ended: done when an interaction on the case
    started inside the window, missed otherwise. Returns (done, missed)."""
    missed = [a for a in repo.missed_appointments(session, at=at) if a.status == "scheduled"]
    for appt in missed:
        appt.status = "missed"
    done = 0
    for appt in repo.ended_scheduled_appointments(session, at=at):
        hit = repo.interaction_in_window(session, appt)
        if hit is not None:
            appt.status, appt.interaction_id = "done", hit.id
            done += 1
    session.flush()
    return done, len(missed)
