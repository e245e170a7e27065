"""All SQL of the compliance gate's store side: the facts a candidate contact is built from, and the
compliance log (``contact_decisions``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from arrears.accounts.tables import Account, ContactPoint, Customer, Hold
from arrears.cases.tables import Appointment, Case, Interaction
from arrears.contact.cn_tables import AppointmentAgreement
from arrears.contact.policy import Wishes
from arrears.contact.tables import ContactDecision, ContactPreference, OverrideUse
from arrears.kit.errors import NotFound


@dataclass(frozen=True)
class CaseFacts:
    case_id: int
    account_id: int
    account_ref: str
    customer_id: int
    time_zone: str | None
    team_id: int | None
    #: the account's product and the customer's jurisdiction: they choose the pack (``packchoice.pack_for``)
    product: str | None = None
    jurisdiction: str | None = None


@dataclass(frozen=True)
class PointFacts:
    id: int
    customer_id: int
    kind: str
    owner: str
    opted_out: bool


def case_facts(session: Session, case_id: int, *, scope: ColumnElement[bool] | None = None) -> CaseFacts:
    """The case's account and customer zone; :class:`NotFound` when missing or outside ``scope``."""
    stmt = (select(Case.id, Account.id, Account.account_ref, Customer.id, Customer.time_zone, Case.team_id,
                   Account.product, Customer.jurisdiction)
            .join(Account, Account.id == Case.account_id).join(Customer, Customer.id == Account.customer_id)
            .where(Case.id == case_id))
    if scope is not None:
        stmt = stmt.where(scope)
    row = session.execute(stmt).one_or_none()
    if row is None:
        raise NotFound(f"no case {case_id}")
    return CaseFacts(*row)


#: Hold kinds about the person, not one debt: a hold of these kinds on any of the customer's accounts
#: holds every contact with the customer (the other kinds stay with their account).
PERSON_HOLD_KINDS = ("bankruptcy", "deceased")


def customer_holds(session: Session, *, account_id: int, customer_id: int
                   ) -> tuple[tuple[str, date, date | None], ...]:
    """(kind, start date, end date inclusive or None) of every hold on the account, and of the person's
    holds (:data:`PERSON_HOLD_KINDS`) on the customer's other accounts."""
    return tuple((k, s, e) for k, s, e in session.execute(
        select(Hold.kind, Hold.start_date, Hold.end_date).join(Account, Account.id == Hold.account_id)
        .where(Account.customer_id == customer_id,
               or_(Hold.account_id == account_id, Hold.kind.in_(PERSON_HOLD_KINDS)))
        .order_by(Hold.start_date, Hold.id)).all())


def customer_interactions(session: Session, customer_id: int, *, since: datetime, before: datetime | None = None,
                          outbound_only: bool = True
                          ) -> tuple[tuple[datetime, str, str, str, int | None, str], ...]:
    """(started_at, channel, party, outcome, contact point id, account ref) of the interactions on every
    case of every account of the customer in [since, before), oldest first: the person's history of
    attempts, each with the debt it was about (the contact rules count per person or per debt, as the
    pack says). Read by customer → accounts → cases → interactions (case_id, started_at), each step on
    an index."""
    stmt = (select(Interaction.started_at, Interaction.channel, Interaction.party, Interaction.outcome,
                   Interaction.contact_point_id, Account.account_ref)
            .join(Case, Case.id == Interaction.case_id).join(Account, Account.id == Case.account_id)
            .where(Account.customer_id == customer_id, Interaction.started_at >= since))
    if before is not None:
        stmt = stmt.where(Interaction.started_at < before)
    if outbound_only:
        stmt = stmt.where(Interaction.direction == "outbound")
    return tuple((a, c, p, o, cp, ref) for a, c, p, o, cp, ref in session.execute(
        stmt.order_by(Interaction.started_at, Interaction.id)).all())


def contact_point(session: Session, point_id: int) -> PointFacts | None:
    row = session.execute(select(ContactPoint.id, ContactPoint.customer_id, ContactPoint.kind, ContactPoint.owner,
                                 ContactPoint.opted_out).where(ContactPoint.id == point_id)).one_or_none()
    return None if row is None else PointFacts(row[0], row[1], row[2], row[3], bool(row[4]))


def appointment_window(session: Session, case_id: int, at: datetime) -> tuple[datetime, datetime, bool] | None:
    """The scheduled appointment window open at ``at``, else the next one to open (None: none), and
    whether the debtor's agreement to it is on record (:mod:`arrears.contact.cn_records`)."""
    row = session.execute(
        select(Appointment.window_start, Appointment.window_end, AppointmentAgreement.appointment_id)
        .outerjoin(AppointmentAgreement, AppointmentAgreement.appointment_id == Appointment.id)
        .where(Appointment.case_id == case_id, Appointment.status == "scheduled", Appointment.window_end > at)
        .order_by(Appointment.window_start, Appointment.id).limit(1)).one_or_none()
    return None if row is None else (row[0], row[1], row[2] is not None)


def wishes_of(row: ContactPreference | None) -> Wishes | None:
    """The gate's view of a customer's contact preferences (None: none, or nothing that binds)."""
    if row is None:
        return None
    window = None
    if row.window_start is not None and row.window_end is not None and row.window_start != row.window_end:
        window = (row.window_start.hour * 3600 + row.window_start.minute * 60,
                  row.window_end.hour * 3600 + row.window_end.minute * 60)
    days = frozenset(i for i, flag in enumerate(row.days) if flag == "1") if row.days else None
    stopped = frozenset(c for c in (row.stopped_channels or "").split(",") if c)
    found = Wishes(stopped=stopped, window=window, days=days or None)
    return None if found.empty else found


def wishes(session: Session, customer_id: int) -> Wishes | None:
    """The customer's contact preferences as the gate reads them."""
    return wishes_of(session.scalars(select(ContactPreference).where(ContactPreference.customer_id == customer_id)
                                     ).one_or_none())


def wishes_by_customer(session: Session, customer_ids: list[int]) -> dict[int, Wishes]:
    """:func:`wishes` for many customers at once (only those with preferences that bind)."""
    out: dict[int, Wishes] = {}
    for i in range(0, len(customer_ids), 5000):
        for row in session.scalars(select(ContactPreference)
                                   .where(ContactPreference.customer_id.in_(customer_ids[i:i + 5000]))):
            found = wishes_of(row)
            if found is not None:
                out[row.customer_id] = found
    return out


def add_decision(session: Session, **values: Any) -> ContactDecision:
    row = ContactDecision(**values)
    session.add(row)
    session.flush()
    return row


def get_decision(session: Session, decision_id: int) -> ContactDecision | None:
    return session.get(ContactDecision, decision_id)


def decision_page(session: Session, *, scope: ColumnElement[bool], case_id: int | None, allowed: bool | None,
                  limit: int, offset: int) -> tuple[list[ContactDecision], int]:
    """Logged decisions within ``scope`` (a filter over ``cases``), newest first, and how many match."""
    where: list[ColumnElement[bool]] = [scope]
    if case_id is not None:
        where.append(ContactDecision.case_id == case_id)
    if allowed is not None:
        where.append(ContactDecision.allowed == allowed)
    base = select(ContactDecision).outerjoin(Case, Case.id == ContactDecision.case_id).where(*where)
    total = session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    rows = list(session.execute(base.order_by(ContactDecision.id.desc()).limit(limit).offset(offset)).scalars())
    return rows, int(total)


def override_used(session: Session, decision_id: int) -> OverrideUse | None:
    return session.get(OverrideUse, decision_id)


def consume_override(session: Session, *, decision_id: int, used_at: datetime, used_by: str,
                     use_decision_id: int | None) -> bool:
    """Record the one use of override ``decision_id``; False when it was used already (the insert
    fails on the primary key — on PostgreSQL after the other use's transaction commits)."""
    try:
        with session.begin_nested():
            session.add(OverrideUse(decision_id=decision_id, used_at=used_at, used_by=used_by[:64],
                                    use_decision_id=use_decision_id))
            session.flush()
    except IntegrityError:
        return False
    return True
