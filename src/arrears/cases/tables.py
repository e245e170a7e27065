"""Collection cases and what happens on them: lifecycle transitions, interactions, hold reviews,
investigations, promises to pay, tasks and appointments.

History tables (transitions, interactions, investigations) are append-only: rows are added, never
updated or deleted. The lifecycle rules live in :mod:`arrears.cases.model`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    case,
    desc,
    func,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import ColumnElement

from arrears.cases.model import (
    APPOINTMENT_STATUSES,
    CAUSES,
    CHANNELS,
    DIRECTIONS,
    OPEN_STATES,
    PARTIES,
    PROMISE_STATUSES,
    REVIEW_STATUSES,
    STATES,
    TASK_STATUSES,
)
from arrears.kit.clock import utc_now
from arrears.kit.db import Base, BigId, UTCDateTime, in_check

#: The partial-index predicate: a case in one of these states owns its account.
OPEN_STATES_SQL = in_check("status", OPEN_STATES)


class Case(Base):
    """One account's collections case. ``status`` is the lifecycle state; a cured case reopens in place."""

    __tablename__ = "cases"
    __table_args__ = (CheckConstraint(in_check("status", STATES), name="status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    opened_on: Mapped[date] = mapped_column(Date)
    #: the day the case last ended (cured or closed); cleared when it reopens
    closed_on: Mapped[date | None] = mapped_column(Date)
    close_reason: Mapped[str | None] = mapped_column(String(32))
    open_bucket: Mapped[str] = mapped_column(String(16))
    bucket: Mapped[str] = mapped_column(String(16))
    dpd: Mapped[int] = mapped_column(Integer)
    opened_by_run_id: Mapped[int] = mapped_column(ForeignKey("cycle_runs.id"))
    closed_by_run_id: Mapped[int | None] = mapped_column(ForeignKey("cycle_runs.id"))
    #: the last day the case reopened after a cure (None = never reopened)
    reopened_on: Mapped[date | None] = mapped_column(Date)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    #: the team working the case (set by the assignment rules, :func:`arrears.cases.queue.assign_cases`)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    #: outstanding balance in fen that the work queue ranks by (balance × propensity to pay)
    balance: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: propensity to pay in basis points (1/10,000); NULL = the bucket's default (queue.BUCKET_PROPENSITY_BP)
    propensity_bp: Mapped[int | None] = mapped_column(Integer)
    #: the user holding the case in the work queue, until ``lease_expires_at``
    held_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: how many times the case has been claimed from the work queue
    claims: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


Index(
    "uq_cases_open_account",
    Case.account_id,
    unique=True,
    sqlite_where=text(OPEN_STATES_SQL),
    postgresql_where=text(OPEN_STATES_SQL),
)


#: Default propensity to pay by bucket, in basis points (6000 = 60 %), used when a case has no
#: ``propensity_bp`` of its own; unknown buckets get UNKNOWN_BUCKET_PROPENSITY_BP.
BUCKET_PROPENSITY_BP: dict[str, int] = {
    "M0": 8000, "M1": 6000, "M2": 4000, "M3": 2500, "M4": 1500, "M5": 1000, "M6": 700, "M7+": 500,
}
UNKNOWN_BUCKET_PROPENSITY_BP = 500


def expected_value_sql(c: Any) -> ColumnElement[Any]:
    """balance × propensity (explicit or the bucket's default) over the columns ``c`` of ``cases``.

    Constants are inlined (not bound) so that the queue's ORDER BY matches the index below."""
    default = case(*((c.bucket == literal_column(f"'{b}'"), literal_column(str(bp)))
                     for b, bp in BUCKET_PROPENSITY_BP.items()),
                   else_=literal_column(str(UNKNOWN_BUCKET_PROPENSITY_BP)))
    return c.balance * func.coalesce(c.propensity_bp, default)


#: The same expression as PostgreSQL prints it back, so that comparing the models with a migrated
#: store sees the index unchanged (the query's ORDER BY is matched by meaning, not by text).
_EV_INDEX_SQL = ("(balance * COALESCE(propensity_bp,\nCASE\n"
                 + "".join(f"    WHEN bucket::text = '{b}'::text THEN {bp}\n" for b, bp in BUCKET_PROPENSITY_BP.items())
                 + f"    ELSE {UNKNOWN_BUCKET_PROPENSITY_BP}\nEND))")

#: The work queue walks a team's cases in expected-value order (PostgreSQL only: SQLite stores are
#: small enough to sort, and SQLite reflection does not read expression indexes).
Index("ix_cases_queue_rank", Case.team_id, desc(text(_EV_INDEX_SQL)), Case.id).ddl_if(dialect="postgresql")


class WorkSkill(Base):
    """One skill row: a range of buckets, optionally limited to customer languages and products.

    A row with ``team_id`` is an assignment rule (unassigned open cases matching it go to the team,
    lowest ``priority`` first); a row with ``user_id`` narrows what that agent takes from the queue
    (an agent without rows takes any case of the team). ``languages`` / ``products`` are
    comma-separated lists; NULL = any.
    """

    __tablename__ = "work_skills"
    __table_args__ = (
        CheckConstraint("(team_id IS NULL) <> (user_id IS NULL)", name="owner"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    bucket_from: Mapped[str] = mapped_column(String(16))
    bucket_to: Mapped[str] = mapped_column(String(16))
    languages: Mapped[str | None] = mapped_column(String(200))
    products: Mapped[str | None] = mapped_column(String(500))
    priority: Mapped[int] = mapped_column(Integer, default=100, server_default="100")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class CaseTransition(Base):
    """One lifecycle move: who, when, why. ``from_state`` is NULL for the move that created the case."""

    __tablename__ = "case_transitions"
    __table_args__ = (
        CheckConstraint(in_check("to_state", STATES), name="to_state"),
        CheckConstraint(f"from_state IS NULL OR {in_check('from_state', STATES)}", name="from_state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    #: "cycle", "user:<id>", or a named job
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    cycle_run_id: Mapped[int | None] = mapped_column(ForeignKey("cycle_runs.id"))


class Interaction(Base):
    """One contact attempt or conversation on a case, whatever the channel and whoever started it."""

    __tablename__ = "interactions"
    __table_args__ = (
        CheckConstraint(in_check("channel", CHANNELS), name="channel"),
        CheckConstraint(in_check("direction", DIRECTIONS), name="direction"),
        CheckConstraint(in_check("party", PARTIES), name="party"),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="times"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(16))
    #: who was reached
    party: Mapped[str] = mapped_column(String(24))
    contact_point_id: Mapped[int | None] = mapped_column(ForeignKey("contact_points.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: a code of the configured outcome list (outcomes.yaml)
    outcome: Mapped[str] = mapped_column(String(32))
    notes: Mapped[str | None] = mapped_column(Text)
    recording_ref: Mapped[str | None] = mapped_column(String(200))
    #: the user who handled it (None = automatic)
    agent_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


Index("ix_interactions_case_started", Interaction.case_id, Interaction.started_at)


class HoldReview(Base):
    """A hold an interaction placed, waiting for a person to confirm it; contact stops meanwhile."""

    __tablename__ = "hold_reviews"
    __table_args__ = (CheckConstraint(in_check("status", REVIEW_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("holds.id"))
    interaction_id: Mapped[int] = mapped_column(ForeignKey("interactions.id"))
    outcome: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reviewed_by: Mapped[int | None] = mapped_column(Integer)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Investigation(Base):
    """One version of what we learned about why the customer is behind and what they can pay.
    Every update adds a version; the current one is the highest ``version`` of the case."""

    __tablename__ = "investigations"
    __table_args__ = (
        CheckConstraint(in_check("cause", CAUSES), name="cause"),
        CheckConstraint("willingness BETWEEN 1 AND 5", name="willingness"),
        CheckConstraint("monthly_income >= 0 AND essential_spending >= 0 AND other_debt_payments >= 0 "
                        "AND dependants >= 0 AND affordable_monthly >= 0", name="non_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    version: Mapped[int] = mapped_column(Integer)
    cause: Mapped[str] = mapped_column(String(24))
    #: fen per month
    monthly_income: Mapped[int] = mapped_column(BigInteger)
    essential_spending: Mapped[int] = mapped_column(BigInteger)
    other_debt_payments: Mapped[int] = mapped_column(BigInteger)
    dependants: Mapped[int] = mapped_column(Integer)
    #: the living reserve in force when this version was computed (fen)
    reserve_base: Mapped[int] = mapped_column(BigInteger)
    reserve_per_dependant: Mapped[int] = mapped_column(BigInteger)
    affordable_monthly: Mapped[int] = mapped_column(BigInteger)
    willingness: Mapped[int] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


Index("uq_investigations_case_version", Investigation.case_id, Investigation.version, unique=True)


class Promise(Base):
    """A promise to pay ``amount`` fen by ``promised_date``, judged against the account's payments."""

    __tablename__ = "promises"
    __table_args__ = (
        CheckConstraint(in_check("status", PROMISE_STATUSES), name="status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("promised_date >= created_on", name="dates"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    interaction_id: Mapped[int | None] = mapped_column(ForeignKey("interactions.id"))
    #: fen
    amount: Mapped[int] = mapped_column(BigInteger)
    promised_date: Mapped[date] = mapped_column(Date)
    #: business date the promise was made: payments from this value date on count
    created_on: Mapped[date] = mapped_column(Date)
    grace_days: Mapped[int] = mapped_column(Integer)
    tolerance: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="open")
    paid: Mapped[int | None] = mapped_column(BigInteger)
    judged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


Index("ix_promises_status_date", Promise.status, Promise.promised_date)


class Task(Base):
    """Work to do on a case (a follow-up after a broken promise, a review …)."""

    __tablename__ = "tasks"
    __table_args__ = (CheckConstraint(in_check("status", TASK_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")
    promise_id: Mapped[int | None] = mapped_column(ForeignKey("promises.id"))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Appointment(Base):
    """A call-back window the customer chose (预约), owned by one user."""

    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint(in_check("status", APPOINTMENT_STATUSES), name="status"),
        CheckConstraint("window_end > window_start", name="window"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    owner_id: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    #: the interaction that kept it
    interaction_id: Mapped[int | None] = mapped_column(ForeignKey("interactions.id"))
    notes: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


Index("ix_appointments_owner_window", Appointment.owner_id, Appointment.window_start)
