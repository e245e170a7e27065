"""All SQL of escalation: what to place and recall, legal queue, the case's file for a bundle, and
the recoveries report. Portable SQLAlchemy Core (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, and_, case, exists, extract, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, ContactPoint, Customer, Hold, Payment
from arrears.cases.tables import Case, CaseTransition, Task
from arrears.escalation.tables import AgencyCollection, AgencyPlacement, ChargeOff, LegalReferral
from arrears.kit.errors import NotFound


@dataclass(frozen=True)
class ToPlace:
    case_id: int
    account_id: int
    account_ref: str
    customer_id: int
    customer_name: str
    dpd: int
    balance: int


def cases_to_place(session: Session) -> list[ToPlace]:
    """Cases in ``agency_placement`` without a live placement, by case id."""
    live = exists().where(AgencyPlacement.case_id == Case.id, AgencyPlacement.status == "placed")
    rows = session.execute(
        select(Case.id, Case.account_id, Account.account_ref, Customer.id, Customer.name, Case.dpd, Case.balance)
        .join(Account, Account.id == Case.account_id).join(Customer, Customer.id == Account.customer_id)
        .where(Case.status == "agency_placement", ~live).order_by(Case.id)).all()
    return [ToPlace(*r) for r in rows]


def debtor_contacts(session: Session, customer_ids: Sequence[int]) -> dict[int, dict[str, str]]:
    """The debtor's own phone and address per customer (not opted out; verified first, then oldest)."""
    out: dict[int, dict[str, str]] = defaultdict(dict)
    if not customer_ids:
        return out
    rows = session.execute(
        select(ContactPoint.customer_id, ContactPoint.kind, ContactPoint.value)
        .where(ContactPoint.customer_id.in_(customer_ids), ContactPoint.owner == "debtor",
               ContactPoint.opted_out.is_(False), ContactPoint.kind.in_(("phone", "address")))
        .order_by(ContactPoint.customer_id, ContactPoint.verified.desc(), ContactPoint.id)).all()
    for customer_id, kind, value in rows:
        out[customer_id].setdefault(kind, value)
    return out


def holds_in_force(session: Session, account_ids: Sequence[int], on: date) -> dict[int, set[str]]:
    out: dict[int, set[str]] = defaultdict(set)
    if not account_ids:
        return out
    rows = session.execute(select(Hold.account_id, Hold.kind).where(
        Hold.account_id.in_(account_ids), Hold.start_date <= on,
        or_(Hold.end_date.is_(None), Hold.end_date >= on))).all()
    for account_id, kind in rows:
        out[account_id].add(kind)
    return out


def live_placements(session: Session, agency: str | None = None) -> list[tuple[AgencyPlacement, str, str]]:
    """Live placements with their case state and account ref, by id (locked for update)."""
    stmt = (select(AgencyPlacement, Case.status, Account.account_ref)
            .join(Case, Case.id == AgencyPlacement.case_id).join(Account, Account.id == AgencyPlacement.account_id)
            .where(AgencyPlacement.status == "placed").order_by(AgencyPlacement.id)
            .with_for_update(of=AgencyPlacement))
    if agency is not None:
        stmt = stmt.where(AgencyPlacement.agency == agency)
    return [(p, status, ref) for p, status, ref in session.execute(stmt).all()]


def paid_since_placement(session: Session, placement_ids: Sequence[int], on: date) -> dict[int, int]:
    """Per placement: ledger payments valued from ``placed_on`` through ``on`` plus the agency's
    collections valued through ``on`` (fen)."""
    if not placement_ids:
        return {}
    direct = (select(AgencyPlacement.id.label("pid"), Payment.amount.label("amount"))
              .join(Payment, and_(Payment.account_id == AgencyPlacement.account_id,
                                  Payment.value_date >= AgencyPlacement.placed_on, Payment.value_date <= on))
              .where(AgencyPlacement.id.in_(placement_ids)))
    agency = (select(AgencyCollection.placement_id.label("pid"), AgencyCollection.amount.label("amount"))
              .where(AgencyCollection.placement_id.in_(placement_ids), AgencyCollection.value_date <= on))
    both = union_all(direct, agency).subquery()
    return {pid: int(total) for pid, total in
            session.execute(select(both.c.pid, func.sum(both.c.amount)).group_by(both.c.pid)).all()}


def placements_by_id(session: Session, ids: Sequence[int]) -> dict[int, tuple[AgencyPlacement, str]]:
    if not ids:
        return {}
    rows = session.execute(select(AgencyPlacement, Account.account_ref)
                           .join(Account, Account.id == AgencyPlacement.account_id)
                           .where(AgencyPlacement.id.in_(ids))).all()
    return {p.id: (p, ref) for p, ref in rows}


def collections_by_ref(session: Session, agency: str, refs: Sequence[str]) -> dict[str, AgencyCollection]:
    if not refs:
        return {}
    found: dict[str, AgencyCollection] = {}
    for start in range(0, len(refs), 500):
        chunk = refs[start:start + 500]
        for row in session.scalars(select(AgencyCollection).where(AgencyCollection.agency == agency,
                                                                  AgencyCollection.collection_ref.in_(chunk))):
            found[row.collection_ref] = row
    return found


# -- cases ----------------------------------------------------------------------------------------

def get_case(session: Session, case_id: int, *, for_update: bool = False) -> Case:
    stmt = select(Case).where(Case.id == case_id)
    if for_update:
        stmt = stmt.with_for_update()
    found = session.scalars(stmt).one_or_none()
    if found is None:
        raise NotFound(f"case {case_id} not found")
    return found


def entered_state_on(session: Session, case_ids: Sequence[int], state: str) -> dict[int, datetime]:
    """When each case last moved into ``state``."""
    if not case_ids:
        return {}
    return dict(session.execute(select(CaseTransition.case_id, func.max(CaseTransition.at))
                                .where(CaseTransition.case_id.in_(case_ids), CaseTransition.to_state == state)
                                .group_by(CaseTransition.case_id)).all())


def legal_queue(session: Session) -> list[tuple[int, str, int, int, str | None]]:
    """(case id, account ref, balance, dpd, live referral status) of cases in legal_review, by case id."""
    live = (select(LegalReferral.case_id, LegalReferral.status)
            .where(LegalReferral.status.in_(("pending", "proceed"))).subquery())
    return [tuple(r) for r in session.execute(
        select(Case.id, Account.account_ref, Case.balance, Case.dpd, live.c.status)
        .join(Account, Account.id == Case.account_id).outerjoin(live, live.c.case_id == Case.id)
        .where(Case.status == "legal_review").order_by(Case.id)).all()]


def live_referral(session: Session, case_id: int) -> LegalReferral | None:
    return session.scalars(select(LegalReferral).where(
        LegalReferral.case_id == case_id, LegalReferral.status.in_(("pending", "proceed"))
    ).with_for_update()).one_or_none()


def open_task(session: Session, case_id: int, kind: str) -> Task | None:
    return session.scalars(select(Task).where(Task.case_id == case_id, Task.kind == kind, Task.status == "open")
                           .order_by(Task.id).limit(1).with_for_update()).first()


def charge_off_of(session: Session, account_id: int) -> ChargeOff | None:
    return session.scalars(select(ChargeOff).where(ChargeOff.account_id == account_id)).one_or_none()


def table_rows(session: Session, table: Table, *where: Any, order_by: Sequence[Any]) -> list[dict[str, Any]]:
    """Every column of the rows of ``table`` matching ``where``, as dicts in column order."""
    return [dict(r) for r in session.execute(select(table).where(*where).order_by(*order_by)).mappings().all()]


# -- recoveries -----------------------------------------------------------------------------------

def recoveries(session: Session, *, first: date, last: date) -> list[tuple[int, int, str, int, int, int]]:
    """Money recovered after charge-off, valued ``first``..``last`` (both inclusive), as
    (charge-off year, month, channel, items, gross fen, commission fen) by year, month, channel.

    direct: ledger payments valued after the charge-off date on a charged-off account;
    agency: agency collections valued after the charge-off date on a placement of the account."""
    direct = (select(ChargeOff.charged_off_on.label("co_on"), literal("direct").label("channel"),
                     Payment.amount.label("amount"), literal(0).label("commission"))
              .join(Payment, Payment.account_id == ChargeOff.account_id)
              .where(Payment.value_date > ChargeOff.charged_off_on, Payment.value_date.between(first, last)))
    agency = (select(ChargeOff.charged_off_on.label("co_on"), literal("agency").label("channel"),
                     AgencyCollection.amount.label("amount"), AgencyCollection.commission.label("commission"))
              .join(AgencyPlacement, AgencyPlacement.account_id == ChargeOff.account_id)
              .join(AgencyCollection, AgencyCollection.placement_id == AgencyPlacement.id)
              .where(AgencyCollection.value_date > ChargeOff.charged_off_on,
                     AgencyCollection.value_date.between(first, last)))
    both = union_all(direct, agency).subquery()
    year = extract("year", both.c.co_on)
    month = extract("month", both.c.co_on)
    rows = session.execute(
        select(year, month, both.c.channel, func.count(), func.sum(both.c.amount), func.sum(both.c.commission))
        .group_by(year, month, both.c.channel)
        .order_by(year, month, case((both.c.channel == "direct", 0), else_=1))).all()
    return [(int(y), int(m), ch, int(n), int(gross), int(comm)) for y, m, ch, n, gross, comm in rows]
