"""My day: the work list of one agent (or of a team lead's team) for the bank's business day.

Four kinds of item, on open cases only:

- **call-backs** (appointments): due today (the window starts before the end of the bank's day)
  or overdue (the window ended and nobody has been in contact with the case since it began,
  whether still ``scheduled`` or marked ``missed``). An agent's are the ones they own, and those
  on their team's cases whose owner is no longer an active member of the case's team (unowned);
- **broken promises**: promises the daily cycle judged ``broken`` or ``partly_kept`` whose
  follow-up task (``broken_promise`` / ``promise_short``) is still open, on cases the agent holds
  or on promises the agent took;
- **tasks**: open tasks due today or earlier (overdue) on the cases of the agent's team (tasks are
  the team's: they carry no assignee), except the follow-up tasks of the broken promises listed
  above.

Everything is within the user's scope: the cases of their team (an agent outside any team has an
empty day).

A team lead sees all of it for their team's cases. Items are sorted by urgency: a call-back whose
window is open now, overdue call-backs, broken promises, overdue tasks, call-backs later today,
tasks due today; within each, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import ColumnElement

from arrears.accounts.tables import Account, Customer
from arrears.auth.model import Role
from arrears.auth.tables import User
from arrears.cases.model import OPEN_STATES
from arrears.cases.tables import Appointment, Case, Interaction, Promise, Task

#: Follow-up task kinds the cycle opens for a promise not kept (linked by ``promise_id``).
PROMISE_TASKS = ("broken_promise", "promise_short")
#: Items shown at most (the most urgent first).
LIMIT = 300

#: Urgency ranks, most urgent first.
CALLBACK_NOW, CALLBACK_OVERDUE, BROKEN_PROMISE, TASK_OVERDUE, CALLBACK_TODAY, TASK_TODAY = range(6)


@dataclass(frozen=True)
class DayItem:
    #: one of the urgency ranks above
    urgency: int
    #: ``callback``, ``broken_promise`` or ``task``
    kind: str
    #: the appointment's, promise's or task's id
    item_id: int
    case_id: int
    account_ref: str
    customer_name: str
    #: the task's kind (``call``, ``review_task`` …), the promise's status, or ``scheduled``/``missed``
    what: str
    #: call-back window; for a promise or a task, None
    window: tuple[datetime, datetime] | None = None
    #: the promised date (promise) or the due date (task)
    day: date | None = None
    #: fen promised
    amount: int | None = None
    #: fen paid on a promise
    paid: int | None = None

    @property
    def overdue(self) -> bool:
        return self.urgency in (CALLBACK_OVERDUE, TASK_OVERDUE)

    def _key(self) -> tuple[Any, ...]:
        moment = self.window[0] if self.window else datetime.combine(self.day or date.min, time(0), tzinfo=UTC)
        return (self.urgency, moment, self.case_id, self.item_id)


@dataclass(frozen=True)
class MyDay:
    items: list[DayItem]
    #: more items existed than :data:`LIMIT`
    truncated: bool

    def count(self, *urgencies: int) -> int:
        return sum(1 for i in self.items if i.urgency in urgencies)


def day_bounds(today: date, zone: str) -> tuple[datetime, datetime]:
    """The bank's business day ``today`` as [start, end) in UTC."""
    start = datetime.combine(today, time(0), tzinfo=ZoneInfo(zone))
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def _team_cases(user: User) -> ColumnElement[bool]:
    return Case.team_id == user.team_id if user.team_id is not None else Case.id.is_(None)


def _parties() -> Any:
    return (Account.account_ref, Customer.name)


def my_day(session: Session, *, user: User, now: datetime, today: date, zone: str) -> MyDay:
    """The work list of ``user`` at ``now`` (aware) on the bank's business day ``today`` in ``zone``."""
    lead = user.role == Role.TEAM_LEAD
    _, day_end = day_bounds(today, zone)
    open_case = and_(Case.status.in_(OPEN_STATES), _team_cases(user))  # the user's scope: their team's cases
    items: list[DayItem] = []

    # -- call-backs -------------------------------------------------------------------------------
    member = aliased(User)
    team_member = exists().where(member.id == Appointment.owner_id, member.active.is_(True),
                                 member.team_id == Case.team_id)
    if lead:
        mine_appt: ColumnElement[bool] = _team_cases(user)
    else:
        mine_appt = or_(Appointment.owner_id == user.id, ~team_member)
    contacted_since = exists().where(Interaction.case_id == Appointment.case_id,
                                     Interaction.started_at >= Appointment.window_start)
    due_today = and_(Appointment.status == "scheduled", Appointment.window_end >= now,
                     Appointment.window_start < day_end)
    overdue = and_(Appointment.status.in_(("scheduled", "missed")), Appointment.window_end < now, ~contacted_since)
    rows = session.execute(
        select(Appointment, *_parties()).join(Case, Case.id == Appointment.case_id)
        .join(Account, Account.id == Case.account_id).join(Customer, Customer.id == Account.customer_id)
        .where(open_case, mine_appt, or_(due_today, overdue))
        .order_by(Appointment.window_start, Appointment.id).limit(LIMIT + 1)).all()
    for appt, ref, name in rows:
        if appt.window_end < now:
            urgency = CALLBACK_OVERDUE
        elif appt.window_start <= now:
            urgency = CALLBACK_NOW
        else:
            urgency = CALLBACK_TODAY
        items.append(DayItem(urgency, "callback", appt.id, appt.case_id, ref, name, appt.status,
                             window=(appt.window_start, appt.window_end)))

    # -- broken promises --------------------------------------------------------------------------
    follow_up = select(Task.promise_id).where(Task.status == "open", Task.kind.in_(PROMISE_TASKS),
                                              Task.promise_id.is_not(None))
    mine_promise = _team_cases(user) if lead else or_(Case.held_by == user.id,
                                                       Promise.created_by == f"user:{user.id}")
    rows = session.execute(
        select(Promise, *_parties()).join(Case, Case.id == Promise.case_id)
        .join(Account, Account.id == Case.account_id).join(Customer, Customer.id == Account.customer_id)
        .where(open_case, mine_promise, Promise.status.in_(("broken", "partly_kept")), Promise.id.in_(follow_up))
        .order_by(Promise.promised_date, Promise.id).limit(LIMIT + 1)).all()
    listed = set()
    for promise, ref, name in rows:
        listed.add(promise.id)
        items.append(DayItem(BROKEN_PROMISE, "broken_promise", promise.id, promise.case_id, ref, name,
                             promise.status, day=promise.promised_date, amount=int(promise.amount),
                             paid=int(promise.paid) if promise.paid is not None else None))

    # -- tasks --------------------------------------------------------------------------------------
    rows = session.execute(
        select(Task, *_parties()).join(Case, Case.id == Task.case_id)
        .join(Account, Account.id == Case.account_id).join(Customer, Customer.id == Account.customer_id)
        .where(open_case, Task.status == "open", Task.due_on <= today)
        .order_by(Task.due_on, Task.id).limit(LIMIT + len(listed) + 1)).all()
    for task, ref, name in rows:
        if task.kind in PROMISE_TASKS and task.promise_id in listed:
            continue  # shown as the broken promise itself
        items.append(DayItem(TASK_OVERDUE if task.due_on < today else TASK_TODAY, "task", task.id, task.case_id,
                             ref, name, task.kind, day=task.due_on))

    items.sort(key=DayItem._key)
    return MyDay(items[:LIMIT], len(items) > LIMIT)
