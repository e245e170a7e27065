"""All SQL of the case process (the daily cycle's bulk case writes live in the cycle's repository)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, FromClause, ScalarSelect, exists, func, select
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, ContactPoint, Customer, Hold, Payment
from arrears.auth.tables import Team
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
from arrears.kit.errors import NotFound


def get_case(session: Session, case_id: int, *, for_update: bool = False) -> Case:
    stmt = select(Case).where(Case.id == case_id)
    if for_update:
        stmt = stmt.with_for_update()
    case = session.execute(stmt).scalar_one_or_none()
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def transitions(session: Session, case_id: int) -> list[CaseTransition]:
    return list(session.execute(
        select(CaseTransition).where(CaseTransition.case_id == case_id).order_by(CaseTransition.id)
    ).scalars())


def latest_investigation(session: Session, case_id: int) -> Investigation | None:
    return session.execute(
        select(Investigation).where(Investigation.case_id == case_id)
        .order_by(Investigation.version.desc()).limit(1)
    ).scalar_one_or_none()


def investigations(session: Session, case_id: int) -> list[Investigation]:
    return list(session.execute(
        select(Investigation).where(Investigation.case_id == case_id).order_by(Investigation.version)
    ).scalars())


def pending_reviews(session: Session, case_id: int) -> list[HoldReview]:
    return list(session.execute(
        select(HoldReview).where(HoldReview.case_id == case_id, HoldReview.status == "pending").order_by(HoldReview.id)
    ).scalars())


def get_review(session: Session, review_id: int) -> HoldReview:
    review = session.get(HoldReview, review_id)
    if review is None:
        raise NotFound(f"no hold review {review_id}")
    return review


def holds_of_case(session: Session, case_id: int) -> list[Hold]:
    return list(session.execute(
        select(Hold).join(Case, Case.account_id == Hold.account_id).where(Case.id == case_id).order_by(Hold.id)
    ).scalars())


def open_promises(session: Session, case_id: int) -> list[Promise]:
    return list(session.execute(
        select(Promise).where(Promise.case_id == case_id, Promise.status == "open").order_by(Promise.id)
    ).scalars())


def promises_to_judge(session: Session, *, as_of: date) -> list[tuple[Promise, int]]:
    """Open promises made on or before ``as_of``, with their case's account id."""
    return [(p, a) for p, a in session.execute(
        select(Promise, Case.account_id).join(Case, Case.id == Promise.case_id)
        .where(Promise.status == "open", Promise.created_on <= as_of).order_by(Promise.id)
    ).all()]


def payments_between(session: Session, *, account_id: int, first: date, last: date) -> list[tuple[date, int]]:
    return [(d, int(a)) for d, a in session.execute(
        select(Payment.value_date, Payment.amount)
        .where(Payment.account_id == account_id, Payment.value_date >= first, Payment.value_date <= last)
    ).all()]


def tasks(session: Session, case_id: int) -> list[Task]:
    return list(session.execute(select(Task).where(Task.case_id == case_id).order_by(Task.id)).scalars())


def get_appointment(session: Session, appointment_id: int) -> Appointment:
    appt = session.get(Appointment, appointment_id)
    if appt is None:
        raise NotFound(f"no appointment {appointment_id}")
    return appt


def due_appointments(session: Session, *, owner_id: int, at: datetime) -> list[Appointment]:
    return list(session.execute(
        select(Appointment).where(
            Appointment.owner_id == owner_id, Appointment.status == "scheduled",
            Appointment.window_start <= at, Appointment.window_end >= at,
        ).order_by(Appointment.window_start, Appointment.id)
    ).scalars())


def _kept_by_interaction():  # type: ignore[no-untyped-def]
    return exists().where(
        Interaction.case_id == Appointment.case_id,
        Interaction.started_at >= Appointment.window_start,
        Interaction.started_at <= Appointment.window_end,
    )


def missed_appointments(session: Session, *, at: datetime, owner_id: int | None = None) -> list[Appointment]:
    """Windows that ended before ``at`` with no interaction on the case inside them and not marked done
    (still ``scheduled``, or already marked ``missed``)."""
    stmt = select(Appointment).where(
        Appointment.window_end < at,
        Appointment.status.in_(("scheduled", "missed")),
        ~_kept_by_interaction(),
    )
    if owner_id is not None:
        stmt = stmt.where(Appointment.owner_id == owner_id)
    return list(session.execute(stmt.order_by(Appointment.window_end, Appointment.id)).scalars())


def interaction_in_window(session: Session, appointment: Appointment) -> Interaction | None:
    return session.execute(
        select(Interaction).where(
            Interaction.case_id == appointment.case_id,
            Interaction.started_at >= appointment.window_start,
            Interaction.started_at <= appointment.window_end,
        ).order_by(Interaction.started_at, Interaction.id).limit(1)
    ).scalar_one_or_none()


def next_investigation_version(session: Session, case_id: int) -> int:
    return int(session.execute(
        select(func.coalesce(func.max(Investigation.version), 0)).where(Investigation.case_id == case_id)
    ).scalar_one()) + 1


def ended_scheduled_appointments(session: Session, *, at: datetime) -> list[Appointment]:
    return list(session.execute(
        select(Appointment).where(Appointment.window_end < at, Appointment.status == "scheduled")
        .order_by(Appointment.id)
    ).scalars())


# -- reads for the API --------------------------------------------------------------------------

def case_page(
    session: Session, *, scope: ColumnElement[bool], state: str | None = None, bucket: str | None = None,
    team_code: str | None = None, limit: int = 50, offset: int = 0,
) -> tuple[list[tuple[Case, str, str, str | None]], int]:
    """One page of cases (oldest id first) within ``scope`` and the filters, with each case's account
    ref, customer name and team code; and how many cases match in all."""
    stmt = (
        select(Case, Account.account_ref, Customer.name, Team.code)
        .join(Account, Account.id == Case.account_id)
        .join(Customer, Customer.id == Account.customer_id)
        .outerjoin(Team, Team.id == Case.team_id)
        .where(scope)
    )
    if state is not None:
        stmt = stmt.where(Case.status == state)
    if bucket is not None:
        stmt = stmt.where(Case.bucket == bucket)
    if team_code is not None:
        stmt = stmt.where(Team.code == team_code)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(stmt.order_by(Case.id).limit(limit).offset(offset)).all()
    return [(c, a, n, t) for c, a, n, t in rows], int(total)


def case_in_scope(session: Session, case_id: int, *, scope: ColumnElement[bool]) -> Case:
    """The case, if it is within ``scope``; :class:`NotFound` otherwise (whether or not it exists)."""
    case = session.execute(select(Case).where(Case.id == case_id, scope)).scalar_one_or_none()
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def case_parties(session: Session, case: Case) -> tuple[Account, Customer, list[ContactPoint], str | None]:
    """The case's account, customer, the customer's contact points and the case's team code."""
    account = session.get(Account, case.account_id)
    assert account is not None
    customer = session.get(Customer, account.customer_id)
    assert customer is not None
    points = list(session.execute(
        select(ContactPoint).where(ContactPoint.customer_id == customer.id).order_by(ContactPoint.id)
    ).scalars())
    team = session.execute(select(Team.code).where(Team.id == case.team_id)).scalar_one_or_none() \
        if case.team_id is not None else None
    return account, customer, points, team


def interactions(session: Session, case_id: int) -> list[Interaction]:
    return list(session.execute(
        select(Interaction).where(Interaction.case_id == case_id).order_by(Interaction.started_at, Interaction.id)
    ).scalars())


def promises(session: Session, case_id: int) -> list[Promise]:
    return list(session.execute(select(Promise).where(Promise.case_id == case_id).order_by(Promise.id)).scalars())


def appointments(session: Session, case_id: int) -> list[Appointment]:
    return list(session.execute(
        select(Appointment).where(Appointment.case_id == case_id).order_by(Appointment.window_start, Appointment.id)
    ).scalars())


def hold_reviews(session: Session, case_id: int) -> list[HoldReview]:
    return list(session.execute(
        select(HoldReview).where(HoldReview.case_id == case_id).order_by(HoldReview.id)
    ).scalars())


def contact_suppressed_cases(session: Session, case_ids: list[int], *, on: date, chunk: int = 5000) -> set[int]:
    """Of ``case_ids``, those whose contact is suppressed on ``on``: a hold review still pending, or
    an open promise whose window (promised date + grace days) has not ended — the rule of
    :func:`arrears.cases.service.contact_status`, for many cases in a few queries."""
    out: set[int] = set()
    for i in range(0, len(case_ids), chunk):
        part = case_ids[i:i + chunk]
        out.update(session.execute(select(HoldReview.case_id).where(
            HoldReview.case_id.in_(part), HoldReview.status == "pending")).scalars())
        for case_id, promised, grace in session.execute(select(Promise.case_id, Promise.promised_date,
                                                               Promise.grace_days)
                                                        .where(Promise.case_id.in_(part), Promise.status == "open")):
            if on <= promised + timedelta(days=grace):
                out.add(case_id)
    return out


def latest_case_team(account_id: ColumnElement[int], outer: FromClause) -> ScalarSelect[int | None]:
    """The team of the account's latest case (None: no case, or a case given to no team), as a scalar
    subquery correlated with ``outer``, the table whose ``account_id`` column is given.

    Index look-ups per outer row rather than a join to cases grouped by account: the batch runs it in
    the transaction that just wrote the rows, before any statistics exist, and PostgreSQL planned such
    joins as nested loops over the grouped cases, quadratic in the book's size. ``max(id + 0)``, not
    ``max(id)``: PostgreSQL would otherwise answer max(id) by walking the primary key backwards until a
    row of the account turns up (a scan of the table per outer row while the statistics say the table
    is small); ``+ 0`` makes it read the account's few cases through ix_cases_account_id."""
    latest = Case.__table__.alias("latest")
    newest = select(func.max(Case.id + 0)).where(Case.account_id == account_id).correlate(outer).scalar_subquery()
    return select(latest.c.team_id).where(latest.c.id == newest).scalar_subquery()
