"""Read-only SQL of the web pages (the writes go through the domains' services)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session, aliased

from arrears.accounts.tables import Account, Customer, Hold, Statement
from arrears.auth.tables import Team, User
from arrears.cases.model import OPEN_STATES
from arrears.cases.tables import Appointment, Case, HoldReview, Promise, Task, expected_value_sql
from arrears.channels.tables import OutboxMessage
from arrears.delinquency.tables import DelinquencySnapshot
from arrears.plans.tables import PlanAgreement, PlanInstalment


@dataclass(frozen=True)
class QueueRow:
    case: Case
    account_ref: str
    customer_name: str
    amount_past_due: int | None
    #: what to do next: (code, moment or day or None); see ``queue.html`` for the words
    next_action: tuple[str, Any]


def latest_past_due(session: Session, account_ids: list[int]) -> dict[int, int]:
    """The amount past due (fen) of each account's latest current snapshot."""
    out: dict[int, int] = {}
    if not account_ids:
        return out
    rows = session.execute(
        select(DelinquencySnapshot.account_id, DelinquencySnapshot.amount_past_due)
        .where(DelinquencySnapshot.account_id.in_(account_ids), DelinquencySnapshot.superseded_by_run_id.is_(None))
        .order_by(DelinquencySnapshot.account_id, DelinquencySnapshot.business_date.desc(),
                  DelinquencySnapshot.id.desc()))
    for account_id, amount in rows:
        out.setdefault(int(account_id), int(amount))
    return out


def _next_actions(session: Session, cases: list[Case], *, user: User, now: datetime, today: date
                  ) -> dict[int, tuple[str, Any]]:
    ids = [c.id for c in cases]
    if not ids:
        return {}
    appts: dict[int, list[Appointment]] = defaultdict(list)
    for a in session.scalars(select(Appointment).where(Appointment.case_id.in_(ids), Appointment.status == "scheduled",
                                                       Appointment.window_end >= now)
                             .order_by(Appointment.window_start)):
        appts[a.case_id].append(a)
    reviews = set(session.scalars(select(HoldReview.case_id).where(HoldReview.case_id.in_(ids),
                                                                   HoldReview.status == "pending")))
    promises: dict[int, date] = {}
    for case_id, promised in session.execute(select(Promise.case_id, Promise.promised_date)
                                             .where(Promise.case_id.in_(ids), Promise.status == "open")
                                             .order_by(Promise.promised_date)):
        promises.setdefault(case_id, promised)
    broken = set(session.scalars(select(Task.case_id).where(Task.case_id.in_(ids), Task.status == "open",
                                                            Task.kind.in_(("broken_promise", "promise_short")))))
    out: dict[int, tuple[str, Any]] = {}
    for c in cases:
        first = appts.get(c.id, [None])[0]
        if first is not None and first.window_start <= now:
            out[c.id] = ("appointment_now", first.window_end)
        elif c.id in reviews:
            out[c.id] = ("hold_review", None)
        elif c.id in broken:
            out[c.id] = ("broken_promise", None)
        elif c.id in promises:
            out[c.id] = ("promise_due", promises[c.id])
        elif first is not None:
            out[c.id] = ("appointment", first.window_start)
        else:
            out[c.id] = (f"state_{c.status}", None)
    return out


def _rows(session: Session, stmt: Any, *, user: User, now: datetime, today: date) -> list[QueueRow]:
    found = session.execute(stmt).all()
    cases = [r[0] for r in found]
    past_due = latest_past_due(session, [c.account_id for c in cases])
    actions = _next_actions(session, cases, user=user, now=now, today=today)
    return [QueueRow(c, ref, name, past_due.get(c.account_id), actions[c.id]) for c, ref, name in found]


def _base() -> Any:
    return (select(Case, Account.account_ref, Customer.name)
            .join(Account, Account.id == Case.account_id).join(Customer, Customer.id == Account.customer_id))


def held_rows(session: Session, *, user: User, now: datetime, today: date) -> list[QueueRow]:
    """Cases the user holds (a live lease), oldest claim first."""
    stmt = _base().where(Case.held_by == user.id, Case.lease_expires_at > now).order_by(Case.lease_expires_at, Case.id)
    return _rows(session, stmt, user=user, now=now, today=today)


def waiting_rows(session: Session, *, user: User, scope: ColumnElement[bool], now: datetime, today: date,
                 limit: int = 50) -> list[QueueRow]:
    """Open cases within ``scope`` that nobody holds, by expected recovery (balance × propensity); a
    case whose plan runs is not waiting work (the queue's rule, :mod:`arrears.cases.queue`)."""
    stmt = (_base().where(scope, Case.status.in_(OPEN_STATES), Case.status != "plan_active",
                          or_(Case.held_by.is_(None), Case.lease_expires_at <= now))
            .order_by(expected_value_sql(Case.__table__.c).desc(), Case.id).limit(limit))
    return _rows(session, stmt, user=user, now=now, today=today)


def snapshots(session: Session, account_id: int, limit: int = 400) -> list[DelinquencySnapshot]:
    """The account's current delinquency snapshots, oldest first (the last ``limit``)."""
    rows = list(session.scalars(
        select(DelinquencySnapshot)
        .where(DelinquencySnapshot.account_id == account_id, DelinquencySnapshot.superseded_by_run_id.is_(None))
        .order_by(DelinquencySnapshot.business_date.desc(), DelinquencySnapshot.id.desc()).limit(limit)))
    return rows[::-1]


def messages(session: Session, case_id: int, limit: int = 100) -> list[OutboxMessage]:
    """Messages sent (or queued) on the case, newest first. Their payload is never shown."""
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case_id)
                                .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(limit)))


def usernames(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {int(i): n for i, n in session.execute(select(User.id, User.username).where(User.id.in_(ids)))}


@dataclass(frozen=True)
class PendingApproval:
    agreement: PlanAgreement
    case: Case
    account_ref: str
    customer_name: str
    maker: str | None


def pending_approvals(session: Session, *, scope: ColumnElement[bool], limit: int = 200) -> list[PendingApproval]:
    """Agreements waiting for a second person's approval on the cases within ``scope``, oldest first."""
    maker = aliased(User)
    rows = session.execute(
        select(PlanAgreement, Case, Account.account_ref, Customer.name, maker.username)
        .join(Case, Case.id == PlanAgreement.case_id)
        .join(Account, Account.id == Case.account_id).join(Customer, Customer.id == Account.customer_id)
        .outerjoin(maker, maker.id == PlanAgreement.created_by)
        .where(PlanAgreement.status == "pending_approval", scope)
        .order_by(PlanAgreement.created_at, PlanAgreement.id).limit(limit)).all()
    return [PendingApproval(a, c, ref, name, who) for a, c, ref, name, who in rows]


@dataclass(frozen=True)
class OtherAccount:
    """One of the customer's other accounts, as the case page's customer view shows it."""

    account_ref: str
    product: str
    #: the latest statement's balance (fen; None: no statement yet)
    balance: int | None
    #: the latest current snapshot's amount past due (fen), DPD and bucket (None: never assessed)
    past_due: int | None
    dpd: int | None
    bucket: str | None
    #: the account's latest case (None: never in arrears)
    case_id: int | None = None
    case_status: str | None = None
    team: str | None = None
    #: the caller's scope includes the case (a link to it); else it is shown as another team's
    case_visible: bool = False
    #: the binding or pending agreement: (status, next instalment due date, its amount in fen)
    plan: tuple[str, date | None, int | None] | None = None
    #: open promises: (amount in fen, promised date), soonest first
    promises: tuple[tuple[int, date], ...] = ()
    #: kinds of the holds in force on the account today (a bankruptcy or death holds the person)
    holds: tuple[str, ...] = ()


#: Agreements the customer view shows (binding, or still being made).
_SHOWN_PLANS = ("pending_approval", "awaiting_confirmation", "active")


def other_accounts(session: Session, *, customer_id: int, account_id: int, scope: ColumnElement[bool],
                   today: date) -> list[OtherAccount]:
    """The customer's accounts other than ``account_id`` with their money, holds in force, latest case
    (visible or not under ``scope``, a filter over ``cases``), plan and open promises: one query per kind."""
    accounts = session.execute(select(Account.id, Account.account_ref, Account.product)
                               .where(Account.customer_id == customer_id, Account.id != account_id)
                               .order_by(Account.account_ref)).all()
    ids = [int(a[0]) for a in accounts]
    if not ids:
        return []
    balance: dict[int, int] = {}
    for acc, amount in session.execute(
            select(Statement.account_id, Statement.new_balance)
            .where(Statement.account_id.in_(ids), Statement.statement_date <= today)
            .order_by(Statement.account_id, Statement.statement_date.desc(), Statement.id.desc())):
        balance.setdefault(int(acc), max(0, int(amount)))
    snap: dict[int, tuple[int, int, str]] = {}
    for acc, amount, dpd, bucket in session.execute(
            select(DelinquencySnapshot.account_id, DelinquencySnapshot.amount_past_due, DelinquencySnapshot.dpd,
                   DelinquencySnapshot.bucket)
            .where(DelinquencySnapshot.account_id.in_(ids), DelinquencySnapshot.superseded_by_run_id.is_(None),
                   DelinquencySnapshot.business_date <= today)
            .order_by(DelinquencySnapshot.account_id, DelinquencySnapshot.business_date.desc(),
                      DelinquencySnapshot.id.desc())):
        snap.setdefault(int(acc), (int(amount), int(dpd), bucket))
    holds: dict[int, list[str]] = defaultdict(list)
    for acc, kind in session.execute(
            select(Hold.account_id, Hold.kind)
            .where(Hold.account_id.in_(ids), Hold.start_date <= today,
                   or_(Hold.end_date.is_(None), Hold.end_date >= today))
            .order_by(Hold.account_id, Hold.start_date, Hold.id)):
        if kind not in holds[int(acc)]:
            holds[int(acc)].append(kind)
    cases: dict[int, tuple[int, str, str | None, bool, int, str]] = {}
    for acc, cid, status, team, visible, dpd, bucket in session.execute(
            select(Case.account_id, Case.id, Case.status, Team.code, scope, Case.dpd, Case.bucket)
            .outerjoin(Team, Team.id == Case.team_id)
            .where(Case.account_id.in_(ids)).order_by(Case.account_id, Case.id.desc())):
        cases.setdefault(int(acc), (int(cid), status, team, bool(visible), int(dpd), bucket))
    case_ids = [c[0] for c in cases.values()]
    plans: dict[int, tuple[int, str]] = {}
    nxt: dict[int, tuple[date, int]] = {}
    promises: dict[int, list[tuple[int, date]]] = defaultdict(list)
    if case_ids:
        for aid, cid, status in session.execute(
                select(PlanAgreement.id, PlanAgreement.case_id, PlanAgreement.status)
                .where(PlanAgreement.case_id.in_(case_ids), PlanAgreement.status.in_(_SHOWN_PLANS))
                .order_by(PlanAgreement.case_id, PlanAgreement.id.desc())):
            plans.setdefault(int(cid), (int(aid), status))
        if plans:
            for aid, due, amount, paid in session.execute(
                    select(PlanInstalment.agreement_id, PlanInstalment.due_date, PlanInstalment.amount,
                           PlanInstalment.paid)
                    .where(PlanInstalment.agreement_id.in_([a for a, _ in plans.values()]),
                           PlanInstalment.status.in_(("pending", "part_paid", "late")))
                    .order_by(PlanInstalment.agreement_id, PlanInstalment.due_date, PlanInstalment.number)):
                nxt.setdefault(int(aid), (due, max(0, int(amount) - int(paid or 0))))
        for cid, amount, promised in session.execute(
                select(Promise.case_id, Promise.amount, Promise.promised_date)
                .where(Promise.case_id.in_(case_ids), Promise.status == "open")
                .order_by(Promise.case_id, Promise.promised_date, Promise.id)):
            promises[int(cid)].append((int(amount), promised))
    out: list[OtherAccount] = []
    for acc, ref, product in accounts:
        s = snap.get(int(acc))
        c = cases.get(int(acc))
        plan = None
        if c is not None and c[0] in plans:
            aid, status = plans[c[0]]
            due, amount = nxt.get(aid, (None, None))
            plan = (status, due, amount)
        out.append(OtherAccount(
            account_ref=ref, product=product, balance=balance.get(int(acc)),
            past_due=s[0] if s else None, dpd=s[1] if s else (c[4] if c else None),
            bucket=s[2] if s else (c[5] if c else None),
            case_id=c[0] if c else None, case_status=c[1] if c else None, team=c[2] if c else None,
            case_visible=c[3] if c else False, plan=plan,
            promises=tuple(promises.get(c[0], ())) if c else (), holds=tuple(holds.get(int(acc), ()))))
    return out
