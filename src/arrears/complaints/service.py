"""Complaints on the clock, in the store: registering one (which holds the customer's collection contact
through a ``complaint`` hold), the handler's moves, the one extension, closing (which lifts the hold),
escalating those whose clock ran out, and the complaints-per-1,000-accounts report.

Every write is an audit record (``complaint.*``) and a step on the complaint's timeline. Services
flush; the entry point (request, command) commits. The rule and the state machine are
:mod:`arrears.complaints.model`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, Hold
from arrears.auth.service import record
from arrears.auth.tables import User
from arrears.cases.tables import Interaction, Task
from arrears.complaints import model
from arrears.complaints import repository as repo
from arrears.complaints.model import ComplaintError, ComplaintFieldError, check_code
from arrears.complaints.tables import Complaint, ComplaintEvent
from arrears.kit.clock import utc_now

#: Roles that may be a complaint's handler.
HANDLER_ROLES = ("compliance", "team_lead")
#: The task kind an escalation opens on the account's case, for its team and compliance.
ESCALATION_TASK = "complaint_overdue"
MAX_TEXT = 4000


def _event(session: Session, complaint: Complaint, *, action: str, actor: str, at: datetime,
           note: str | None = None, **detail: Any) -> None:
    session.add(ComplaintEvent(complaint_id=complaint.id, action=action, at=at, actor=actor[:64], note=note,
                               detail=detail))
    record(session, actor=actor, action=f"complaint.{action}", entity="complaint", entity_id=complaint.id,
           detail={"status": complaint.status, "deadline": complaint.deadline.isoformat(), **detail})


def _text(value: str, field: str, *, required: bool = True) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise ComplaintFieldError(f"{field} is required", field=field)
        return None
    if len(value) > MAX_TEXT:
        raise ComplaintFieldError(f"{field} is longer than {MAX_TEXT} characters", field=field)
    return value


def _handler(session: Session, handler_id: int | None) -> int | None:
    if handler_id is None:
        return None
    user = session.get(User, handler_id)
    if user is None or not user.active or user.role not in HANDLER_ROLES:
        raise ComplaintFieldError("the handler must be an active compliance officer or team lead", field="handler")
    return user.id


def register(session: Session, *, account: Account, channel: str, received_at: datetime, category: str,
             summary: str, actor: str, bank_tz: str, handler_id: int | None = None, regulator_ref: str = "",
             rule: model.ComplaintRule = model.CN_RULE, recorded: bool = False) -> Complaint:
    """Record a complaint received at ``received_at`` (not in the future) on ``account``; its deadline is
    the rule's. The account gets a ``complaint`` hold from the day of receipt (or the complaint is linked
    to one already open), so the contact gate holds collection contact while the complaint is open."""
    check_code(channel, model.CHANNELS, "channel")
    check_code(category, model.CATEGORIES, "category")
    text = _text(summary, "summary")
    now = utc_now()
    if received_at.tzinfo is None:
        raise ComplaintFieldError("the time of receipt must be timezone-aware", field="received_on")
    if received_at > now + timedelta(minutes=5) and not recorded:
        raise ComplaintFieldError("a complaint cannot be received in the future", field="received_on")
    ref = (regulator_ref or "").strip()[:64] or None
    if channel == "regulator" and ref is None:
        raise ComplaintFieldError("a complaint forwarded by a regulator needs the regulator's reference",
                                  field="regulator_ref")
    day = model.received_on(received_at, bank_tz)
    owners = repo.owners(session, account.id)
    complaint = Complaint(
        account_id=account.id, customer_id=account.customer_id, channel=channel, regulator_ref=ref,
        received_at=received_at, received_on=day, category=category, summary=text,
        handler_id=_handler(session, handler_id), status="received", rule=rule.code, deadline=rule.deadline(day),
        extended=False, team_id=owners.team_id, agency=owners.agency, strategy=owners.strategy,
        created_by=actor[:64], created_at=now)
    session.add(complaint)
    session.flush()
    hold = repo.open_complaint_hold(session, account.id, day)
    linked = hold is not None
    if hold is None:
        hold = Hold(account_id=account.id, kind="complaint", start_date=day, end_date=None, pauses_ageing=False,
                    reason=f"complaint {complaint.id}", created_by=actor[:64], created_at=now)
        session.add(hold)
        session.flush()
        record(session, actor=actor, action="hold.place", entity="hold", entity_id=hold.id,
               detail={"kind": "complaint", "account_id": account.id, "complaint_id": complaint.id,
                       "start_date": day.isoformat()})
    complaint.hold_id = hold.id
    _event(session, complaint, action="received", actor=actor, at=now, channel=channel, category=category,
           received_at=received_at.isoformat(), hold_id=hold.id, hold_linked=linked)
    return complaint


def register_from_interaction(session: Session, *, interaction: Interaction, account_id: int, actor: str,
                              bank_tz: str | None = None) -> Complaint:
    """The complaint a recorded interaction carries (the outcome ``complaint``: an agent's call or
    visit, or the cardholder's "tell us" on their own pages), received when the interaction started;
    it links the complaint hold the outcome placed. Its subject is "other" until compliance reads it."""
    from arrears.config import get_settings

    account = session.get(Account, account_id)
    assert account is not None
    if interaction.channel == "self_service":
        channel = "portal"
    elif interaction.direction == "inbound" and interaction.channel in ("call", "email", "letter"):
        channel = {"call": "phone", "email": "email", "letter": "letter"}[interaction.channel]
    else:
        channel = "agent"
    summary = (interaction.notes or "").strip()[:MAX_TEXT] or f"recorded with interaction {interaction.id}"
    return register(session, account=account, channel=channel, received_at=interaction.started_at, category="other",
                    summary=summary, actor=actor, bank_tz=bank_tz or get_settings().timezone, recorded=True)


def assign(session: Session, *, complaint: Complaint, handler_id: int | None, actor: str) -> Complaint:
    if complaint.status == "closed":
        raise ComplaintError("a closed complaint is not reassigned")
    complaint.handler_id = _handler(session, handler_id)
    _event(session, complaint, action="assigned", actor=actor, at=utc_now(), handler_id=complaint.handler_id)
    return complaint


def act(session: Session, *, complaint: Complaint, action: str, actor: str, note: str = "",
        root_cause: str = "", root_cause_text: str = "", answer: str = "", today: date) -> Complaint:
    """A handler's move: ``acknowledge``, ``investigate``, ``answer`` (with the root cause and the answer
    given to the customer) or ``close`` (which lifts the complaint hold unless another open complaint
    still needs it: the hold ends on ``today``, so contact may resume the next day)."""
    target = model.move(complaint.status, action)
    now = utc_now()
    detail: dict[str, Any] = {"from": complaint.status}
    if action == "answer":
        complaint.root_cause = check_code(root_cause, model.ROOT_CAUSES, "root_cause")
        complaint.root_cause_text = _text(root_cause_text, "root_cause_text", required=False)
        complaint.answer = _text(answer, "answer")
        complaint.answered_at = now
        detail.update(root_cause=complaint.root_cause, on_time=today <= complaint.deadline)
    elif action == "acknowledge":
        complaint.acknowledged_at = now
    elif action == "close":
        complaint.closed_at = now
        detail["hold_lifted"] = _lift_hold(session, complaint, today=today, actor=actor)
    complaint.status = target
    _event(session, complaint, action={"acknowledge": "acknowledged", "investigate": "investigating",
                                       "answer": "answered", "close": "closed"}[action],
           actor=actor, at=now, note=_text(note, "note", required=False), **detail)
    return complaint


def _lift_hold(session: Session, complaint: Complaint, *, today: date, actor: str) -> bool:
    if complaint.hold_id is None or repo.others_on_hold(session, complaint.hold_id, complaint.id):
        return False
    hold = session.get(Hold, complaint.hold_id)
    if hold is None or hold.end_date is not None:
        return False
    hold.end_date = max(today, hold.start_date)
    record(session, actor=actor, action="hold.lift", entity="hold", entity_id=hold.id,
           detail={"kind": "complaint", "complaint_id": complaint.id, "end_date": hold.end_date.isoformat()})
    return True


def extend(session: Session, *, complaint: Complaint, reason: str, actor: str, today: date,
           rule: model.ComplaintRule | None = None) -> Complaint:
    """Extend the deadline once, with a reason (told to the customer), to the rule's limit."""
    why = _text(reason, "reason")
    rule = rule or model.RULES[complaint.rule]
    new = model.extension(rule=rule, status=complaint.status, received=complaint.received_on,
                          deadline=complaint.deadline, extended=complaint.extended, today=today)
    old = complaint.deadline
    complaint.deadline, complaint.extended, complaint.extension_reason = new, True, why
    _event(session, complaint, action="extended", actor=actor, at=utc_now(), note=why, old_deadline=old.isoformat())
    return complaint


def escalate_overdue(session: Session, *, today: date, actor: str) -> list[Complaint]:
    """Mark every unanswered complaint past its deadline on ``today`` escalated, once: an audit record,
    a step on its timeline, and a ``complaint_overdue`` task due today on the account's case (its team
    and compliance see it). Running it again escalates nothing twice."""
    done = []
    now = utc_now()
    for complaint in repo.overdue_unescalated(session, today):
        complaint.escalated_at = now
        case = repo.latest_case(session, complaint.account_id)
        task_id = None
        if case is not None:
            task = Task(case_id=case.id, kind=ESCALATION_TASK, due_on=today, status="open", created_by=actor[:64],
                        created_at=now)
            session.add(task)
            session.flush()
            task_id = task.id
        _event(session, complaint, action="escalated", actor=actor, at=now, days_over=(today - complaint.deadline).days,
               task_id=task_id)
        done.append(complaint)
    session.flush()
    return done


# -- the report ------------------------------------------------------------------------------------------

GROUPS = ("team", "agency", "strategy")


@dataclass(frozen=True)
class RateRow:
    group: str
    key: str | None
    label: str
    complaints: int
    accounts: int
    per_thousand: Decimal | None


def rates(session: Session, *, group: str, since: date, until: date) -> list[RateRow]:
    """Complaints per 1,000 accounts for each team, agency or strategy over [since, until]: complaints
    received in the window counted against who had the account when each came in, over the distinct
    accounts that team, agency or strategy worked in the window (:func:`repo.accounts_by`). Complaints on
    accounts no team (agency, strategy) had are a row of their own (key None) without a rate."""
    if group not in GROUPS:
        raise ComplaintFieldError(f"group must be one of: {', '.join(GROUPS)}", field="group")
    if since > until:
        raise ComplaintFieldError("the first date must not come after the last", field="from")
    counts = repo.complaints_by(session, group, since, until)
    accounts = repo.accounts_by(session, group, since, until)
    names = repo.team_codes(session) if group == "team" else {}
    keys = sorted(set(accounts) | {k for k in counts if k is not None}, key=lambda k: names.get(k, k))
    out = [RateRow(group, k, names.get(k, k), counts.get(k, 0), accounts.get(k, 0),
                   model.per_thousand(counts.get(k, 0), accounts.get(k, 0))) for k in keys]
    if counts.get(None):
        out.append(RateRow(group, None, "", counts[None], 0, None))
    return out
