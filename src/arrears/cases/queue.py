"""The agents' work queue: assignment of cases to teams, "next case" with a lease, release, renew.

Ranking (among open, not contact-suppressed, unheld cases in the agent's team scope):

1. cases with an appointment owned by the agent whose window contains now;
2. ``follow_up`` cases with an open ``broken_promise`` task;
3. everything else, by expected value = ``balance`` (fen) × propensity to pay (basis points),
   highest first; ties by case id.

A case whose repayment plan runs (``plan_active``) is not queue work: only an appointment of rank 1
brings it to its owner; the plan's next event (a missed instalment, a broken plan) moves it to
``follow_up`` and back into ranks 2–3. Confirming a plan ends the hold on the case
(:func:`wrap_up_plan`): the lease goes back and the tasks the plan made moot are cancelled.

The claim is one ``UPDATE cases … WHERE id = COALESCE(rank 1, rank 2, rank 3) AND <capacity left>
RETURNING …``; each rank is a ``LIMIT 1`` sub-select, and a later rank is only evaluated when the
earlier ones found nothing. No two agents ever hold the same case:

- PostgreSQL: each rank's candidate row is taken with ``FOR UPDATE SKIP LOCKED``; a row another
  claim is locking is skipped, and the lease condition is re-checked on the locked row version, so a
  case claimed and committed meanwhile is not taken again. Before the claim, the agent's own user
  row is locked, so one agent's concurrent claims (a double click) cannot exceed their capacity.
- SQLite: the claim starts with a write (on the agent's user row), which takes the database's
  single write lock before anything is read; claims are therefore serialised and each sees the
  previous one's lease. Call :func:`next_case` first in its transaction, or begin the transaction
  with ``BEGIN IMMEDIATE`` (the API does).

A lease runs until ``lease_expires_at``; an expired lease may be taken by any claim.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from arrears.accounts.tables import Account, Customer
from arrears.auth.audit import record
from arrears.auth.model import sees_all_teams
from arrears.auth.tables import User
from arrears.cases.model import OPEN_STATES
from arrears.cases.service import business_date_of
from arrears.cases.tables import (
    BUCKET_PROPENSITY_BP,
    UNKNOWN_BUCKET_PROPENSITY_BP,
    Appointment,
    Case,
    HoldReview,
    Promise,
    Task,
    WorkSkill,
    expected_value_sql,
)
from arrears.delinquency import repository as delinquency
from arrears.kit.clock import utc_now
from arrears.kit.errors import ArrearsError, NotFound

#: How long a claim holds a case unless renewed.
DEFAULT_LEASE = timedelta(minutes=15)

#: Task kinds a confirmed repayment plan makes moot: the calls and follow-ups chasing a payment the
#: plan now schedules. Reviews and escalation tasks (legal, agency, charge-off) stay for a person.
MOOT_WITH_PLAN: tuple[str, ...] = ("call", "broken_promise", "promise_short", "missed_instalment", "broken_plan")

#: Buckets in ageing order; skills name a range of them.
BUCKET_ORDER: tuple[str, ...] = ("M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7+")



class QueueError(ArrearsError):
    status = 409


class AtCapacity(QueueError):
    """The user already holds as many cases as their capacity allows."""


class NotHolder(QueueError):
    """The user does not hold the case (never did, released it, or the lease was taken over)."""


@dataclass(frozen=True)
class Skill:
    """A bucket range, optionally limited to languages and products (None = any)."""

    bucket_from: str
    bucket_to: str
    languages: tuple[str, ...] | None = None
    products: tuple[str, ...] | None = None
    priority: int = 100

    def __post_init__(self) -> None:
        for name in ("bucket_from", "bucket_to"):
            if getattr(self, name) not in BUCKET_ORDER:
                raise ArrearsError(f"{name} must be one of {', '.join(BUCKET_ORDER)}; got {getattr(self, name)!r}")
        if BUCKET_ORDER.index(self.bucket_from) > BUCKET_ORDER.index(self.bucket_to):
            raise ArrearsError(f"bucket range {self.bucket_from}..{self.bucket_to} is inverted")

    @property
    def buckets(self) -> tuple[str, ...]:
        return BUCKET_ORDER[BUCKET_ORDER.index(self.bucket_from): BUCKET_ORDER.index(self.bucket_to) + 1]

    def matches(self, *, bucket: str, language: str, product: str) -> bool:
        return (bucket in self.buckets and (self.languages is None or language in self.languages)
                and (self.products is None or product in self.products))


def _split(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())


def _join(values: Sequence[str] | None) -> str | None:
    return None if values is None else ",".join(values)


def _skill(row: WorkSkill) -> Skill:
    return Skill(row.bucket_from, row.bucket_to, _split(row.languages), _split(row.products), row.priority)


# -- propensity and expected value ---------------------------------------------------------------

def default_propensity_bp(bucket: str) -> int:
    return BUCKET_PROPENSITY_BP.get(bucket, UNKNOWN_BUCKET_PROPENSITY_BP)


def propensity_bp(case_row: Case) -> int:
    return case_row.propensity_bp if case_row.propensity_bp is not None else default_propensity_bp(case_row.bucket)


def expected_value(case_row: Case) -> int:
    """balance (fen) × propensity (basis points): fen × 10,000, an exact integer."""
    return int(case_row.balance) * propensity_bp(case_row)


def _ev_sql() -> ColumnElement[Any]:
    return expected_value_sql(Case.__table__.c)


# -- skills and assignment -----------------------------------------------------------------------

def set_skills(session: Session, *, skills: Sequence[Skill], team_id: int | None = None,
               user_id: int | None = None) -> None:
    """Replace the skill rows of one team (assignment rules) or one user (queue filter)."""
    if (team_id is None) == (user_id is None):
        raise ArrearsError("skills belong to exactly one of a team or a user")
    owner = WorkSkill.team_id == team_id if team_id is not None else WorkSkill.user_id == user_id
    for row in session.scalars(select(WorkSkill).where(owner)):
        session.delete(row)
    session.flush()
    for s in skills:
        session.add(WorkSkill(team_id=team_id, user_id=user_id, bucket_from=s.bucket_from, bucket_to=s.bucket_to,
                              languages=_join(s.languages), products=_join(s.products), priority=s.priority,
                              created_at=utc_now()))
    session.flush()


def team_skills(session: Session) -> list[tuple[int, Skill]]:
    """(team id, skill) in the order assignment tries them: priority, then row id."""
    rows = session.scalars(select(WorkSkill).where(WorkSkill.team_id.is_not(None))
                           .order_by(WorkSkill.priority, WorkSkill.id))
    return [(int(r.team_id), _skill(r)) for r in rows if r.team_id is not None]


def assign_cases(session: Session, *, chunk: int = 5000, refresh_figures: bool = True) -> dict[int, int]:
    """Give every open case without a team to the first team whose skill matches the case's bucket,
    the account's product and the customer's language. Cases no rule matches stay unassigned.
    The book figures of the latest cycle date are refreshed to count them in their teams (unless
    ``refresh_figures`` is False: the daily cycle assigns in its own transaction and refreshes after).
    Returns {team id: cases assigned}."""
    rules = team_skills(session)
    if not rules:
        return {}
    rows = session.execute(
        select(Case.id, Case.bucket, Account.product, Customer.language)
        .join(Account, Account.id == Case.account_id).join(Customer, Customer.id == Account.customer_id)
        .where(Case.team_id.is_(None), Case.status.in_(OPEN_STATES)).order_by(Case.id)
    ).all()
    by_team: dict[int, list[int]] = defaultdict(list)
    for case_id, bucket, product, language in rows:
        for team_id, skill in rules:
            if skill.matches(bucket=bucket, language=language, product=product):
                by_team[team_id].append(case_id)
                break
    for team_id, ids in by_team.items():
        for i in range(0, len(ids), chunk):
            session.execute(update(Case).where(Case.id.in_(ids[i:i + chunk]), Case.team_id.is_(None))
                            .values(team_id=team_id).execution_options(synchronize_session=False))
    session.flush()
    if by_team and refresh_figures:
        # the team figures of the latest cycle date count these accounts in their new teams
        conn = session.connection()
        latest = delinquency.latest_cycle_date(conn)
        if latest is not None:
            delinquency.refresh_book_figures(conn, [latest])
    return {t: len(ids) for t, ids in by_team.items()}


# -- the queue -----------------------------------------------------------------------------------

def _sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


# The claim statement is built once per shape (dialect, team scope, the user's skills) with bind
# parameters for everything that changes per call, so SQLAlchemy's compiled cache serves it.
_UID, _TEAM, _NOW, _TODAY, _UNTIL, _CAPACITY = (bindparam(n) for n in ("uid", "team", "now", "today", "until",
                                                                       "capacity"))


def _suppressed(sqlite: bool) -> ColumnElement[bool]:
    """An open promise whose window (promised date + grace) has not ended, or a pending hold review
    (the same rule as :func:`arrears.cases.service.contact_status`)."""
    if sqlite:
        window_open = func.date(Promise.promised_date, func.printf("+%d days", Promise.grace_days)) >= _TODAY
    else:
        window_open = Promise.promised_date + Promise.grace_days >= _TODAY
    return or_(
        exists().where(Promise.case_id == Case.id, Promise.status == "open", window_open),
        exists().where(HoldReview.case_id == Case.id, HoldReview.status == "pending"),
    )


def _skill_filter(skills: Sequence[Skill]) -> ColumnElement[bool] | None:
    if not skills:
        return None
    conds = []
    for s in skills:
        parts: list[ColumnElement[bool]] = [Case.bucket.in_(s.buckets)]
        if s.products is not None:
            parts.append(Account.product.in_(s.products))
        if s.languages is not None:
            parts.append(Customer.language.in_(s.languages))
        conds.append(and_(*parts))
    return exists().where(Account.id == Case.account_id, Customer.id == Account.customer_id, or_(*conds))


def _due_appointment() -> ColumnElement[bool]:
    # IN (subquery), not a correlated EXISTS: the few due appointments drive the search
    return Case.id.in_(select(Appointment.case_id).where(
        Appointment.owner_id == _UID, Appointment.status == "scheduled", Appointment.window_start <= _NOW,
        Appointment.window_end >= _NOW))


def _broken_promise() -> ColumnElement[bool]:
    return and_(Case.status == "follow_up", Case.id.in_(
        select(Task.case_id).where(Task.kind == "broken_promise", Task.status == "open")))


def _candidate(sqlite: bool, conds: list[ColumnElement[bool]], order: list[Any]) -> Any:
    """The id of the first available case under ``conds`` (a scalar sub-select, locked on PostgreSQL)."""
    stmt = select(Case.id).where(*conds).order_by(*order, Case.id).limit(1).correlate(None)
    if not sqlite:
        stmt = stmt.with_for_update(skip_locked=True)
    return stmt.scalar_subquery()


@lru_cache(maxsize=256)
def _claim_statement(sqlite: bool, scoped: bool, skills: tuple[Skill, ...]) -> Any:
    base = [
        Case.status.in_(OPEN_STATES),
        or_(Case.held_by.is_(None), Case.lease_expires_at <= _NOW),
        ~_suppressed(sqlite),
    ]
    if scoped:
        base.append(Case.team_id == _TEAM)
    skill_filter = _skill_filter(skills)
    if skill_filter is not None:
        base.append(skill_filter)
    waiting = [*base, Case.status != "plan_active"]  # a running plan waits for its next event
    pick = func.coalesce(
        _candidate(sqlite, [*base, _due_appointment()], []),
        _candidate(sqlite, [*waiting, _broken_promise()], []),
        _candidate(sqlite, waiting, [_ev_sql().desc()]),
    )
    held = (select(func.count()).select_from(Case)
            .where(Case.held_by == _UID, Case.lease_expires_at > _NOW).correlate(None).scalar_subquery())
    return (update(Case).where(Case.id == pick, held < _CAPACITY)
            .values(held_by=_UID, lease_expires_at=_UNTIL, claims=Case.claims + 1)
            .returning(Case))


def _lock_user(session: Session, user: User) -> tuple[int, tuple[Skill, ...]]:
    """Serialise the user's own claims (capacity); return their capacity and skills. On SQLite the
    lock is a write, which also takes the database's write lock before anything is read."""
    if _sqlite(session):
        stmt = update(User).where(User.id == user.id).values(capacity=User.capacity).returning(User.capacity)
        capacity = session.execute(stmt.execution_options(synchronize_session=False)).scalar_one_or_none()
        if capacity is None:
            raise NotFound(f"no user {user.id}")
        return int(capacity), tuple(user_skills(session, user=user))
    rows = session.execute(
        select(User.capacity, WorkSkill).outerjoin(WorkSkill, WorkSkill.user_id == User.id)
        .where(User.id == user.id).order_by(WorkSkill.priority, WorkSkill.id).with_for_update(of=User)
    ).all()
    if not rows:
        raise NotFound(f"no user {user.id}")
    return int(rows[0][0]), tuple(_skill(skill) for _, skill in rows if skill is not None)


def user_skills(session: Session, *, user: User) -> list[Skill]:
    """The user's own skills (their queue filter); none means the whole team scope."""
    return [_skill(r) for r in session.scalars(select(WorkSkill).where(WorkSkill.user_id == user.id)
                                               .order_by(WorkSkill.priority, WorkSkill.id))]


def held_count(session: Session, *, user: User, now: datetime) -> int:
    return int(session.scalar(select(func.count()).select_from(Case)
                              .where(Case.held_by == user.id, Case.lease_expires_at > now)) or 0)


def held_cases(session: Session, *, user: User, now: datetime | None = None) -> list[Case]:
    now = now or utc_now()
    return list(session.scalars(select(Case).where(Case.held_by == user.id, Case.lease_expires_at > now)
                                .order_by(Case.id)))


def next_case(session: Session, *, user: User, now: datetime | None = None,
              lease: timedelta = DEFAULT_LEASE) -> Case | None:
    """Claim the best available case for ``user`` (see the module's ranking) and return it, or None.

    Raises :class:`AtCapacity` when the user already holds ``capacity`` live leases.
    """
    now = now or utc_now()
    if now.tzinfo is None:
        raise ArrearsError("now must be timezone-aware")
    if lease <= timedelta(0):
        raise ArrearsError("a lease must be positive")
    capacity, skills = _lock_user(session, user)
    scoped = not sees_all_teams(user.role)
    if scoped and user.team_id is None:
        return None  # an agent outside any team sees no cases
    claim = _claim_statement(_sqlite(session), scoped, skills)
    params = {"uid": user.id, "team": user.team_id, "now": now, "today": business_date_of(now),
              "until": now + lease, "capacity": capacity}
    if _sqlite(session):
        params["today"] = params["today"].isoformat()
    found = session.scalars(claim, params, execution_options={"synchronize_session": False,
                                                              "populate_existing": True}).one_or_none()
    if found is None and held_count(session, user=user, now=now) >= capacity:
        raise AtCapacity(f"user {user.id} already holds {capacity} case(s), their capacity")
    return found


def _held(session: Session, case_id: int, user: User) -> Case:
    if _sqlite(session):
        _lock_user(session, user)  # write first: a read-then-write transaction could not upgrade
    stmt = select(Case).where(Case.id == case_id).execution_options(populate_existing=True)
    if not _sqlite(session):
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).one_or_none()
    if row is None:
        raise NotFound(f"no case {case_id}")
    if row.held_by != user.id:
        raise NotHolder(f"case {case_id} is not held by user {user.id}")
    return row


def release(session: Session, *, case_id: int, user: User) -> Case:
    """Give the case back to the queue."""
    row = _held(session, case_id, user)
    row.held_by = None
    row.lease_expires_at = None
    session.flush()
    return row


def renew(session: Session, *, case_id: int, user: User, now: datetime | None = None,
          lease: timedelta = DEFAULT_LEASE) -> Case:
    """Extend the user's lease to ``now + lease`` (also after it expired, as long as nobody took it)."""
    now = now or utc_now()
    row = _held(session, case_id, user)
    row.lease_expires_at = now + lease
    session.flush()
    return row


def wrap_up_plan(session: Session, *, case_id: int, actor: str, agreement_id: int) -> tuple[int | None, list[int]]:
    """The case's repayment plan is now active: whoever holds the case gives it back (an audited
    ``queue.release`` with reason ``plan_active``), and its open tasks of :data:`MOOT_WITH_PLAN` kinds
    are cancelled (``task.cancel`` each). The caller has the case row locked (the confirmation does).
    Returns (the user who held it or None, the ids of the tasks cancelled)."""
    row = session.get(Case, case_id)
    if row is None:
        raise NotFound(f"no case {case_id}")
    holder = row.held_by
    if holder is not None:
        record(session, actor=actor, action="queue.release", entity="case", entity_id=case_id,
               detail={"reason": "plan_active", "agreement_id": agreement_id, "held_by": holder,
                       "lease_expires_at": row.lease_expires_at})
        row.held_by = None
        row.lease_expires_at = None
    cancelled = []
    for task in session.scalars(select(Task).where(Task.case_id == case_id, Task.status == "open",
                                                   Task.kind.in_(MOOT_WITH_PLAN)).order_by(Task.id)):
        task.status = "cancelled"
        cancelled.append(task.id)
        record(session, actor=actor, action="task.cancel", entity="task", entity_id=task.id,
               detail={"case_id": case_id, "kind": task.kind, "reason": "plan_active", "agreement_id": agreement_id})
    session.flush()
    return holder, cancelled
