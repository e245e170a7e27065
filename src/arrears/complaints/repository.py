"""The complaints' SQL: who has the account, the complaint holds, the lists with their ageing, and the
figures of the complaints-per-1,000-accounts report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, Customer, Hold
from arrears.auth.tables import Team
from arrears.cases.model import OPEN_STATES
from arrears.cases.tables import Case
from arrears.complaints.model import OPEN_STATUSES, UNANSWERED
from arrears.complaints.tables import Complaint, ComplaintEvent
from arrears.escalation.tables import AgencyPlacement
from arrears.kit.errors import NotFound
from arrears.strategy.tables import StrategyAssignment, StrategyDecision


@dataclass(frozen=True)
class Owners:
    """Who had the account when a complaint came in: its case's team, the agency it is placed with,
    its strategy (each None when there is none)."""

    case_id: int | None
    team_id: int | None
    agency: str | None
    strategy: str | None


def account_by_ref(session: Session, account_ref: str) -> Account | None:
    return session.scalars(select(Account).where(Account.account_ref == account_ref)).one_or_none()


#: Roles whose complaints (and accounts to register one on) are their own team's.
TEAM_SCOPED = ("agent", "team_lead")


def visible(role: str, team_id: int | None) -> ColumnElement[bool]:
    """Complaints a user may see: their team's for a team lead (the team that had the account when the
    complaint came in), every one for the roles that see all teams."""
    if role in TEAM_SCOPED:
        return Complaint.team_id == team_id if team_id is not None else false()
    return true()


def account_for(session: Session, account_ref: str, *, role: str, team_id: int | None) -> Account | None:
    """The account ``account_ref``, if the user may register a complaint on it: for agents and team
    leads an account one of whose cases their team works."""
    account = account_by_ref(session, account_ref.strip())
    if account is None or role not in TEAM_SCOPED:
        return account
    mine = session.execute(select(Case.id).where(Case.account_id == account.id, Case.team_id == team_id)
                           .limit(1)).first()
    return account if team_id is not None and mine is not None else None


def latest_case(session: Session, account_id: int) -> Case | None:
    """The account's open case, else its latest one."""
    return session.scalars(select(Case).where(Case.account_id == account_id)
                           .order_by(Case.status.in_(OPEN_STATES).desc(), Case.id.desc()).limit(1)).first()


def owners(session: Session, account_id: int) -> Owners:
    case = latest_case(session, account_id)
    agency = session.scalars(select(AgencyPlacement.agency).where(
        AgencyPlacement.account_id == account_id, AgencyPlacement.status == "placed")
        .order_by(AgencyPlacement.id.desc()).limit(1)).first()
    strategy = session.scalars(select(StrategyAssignment.strategy)
                               .where(StrategyAssignment.account_id == account_id)).first()
    return Owners(case.id if case else None, case.team_id if case else None, agency, strategy)


def open_complaint_hold(session: Session, account_id: int, on: date) -> Hold | None:
    """A complaint hold placed here (not one the bank's holds file sent, which the bank ends) on the
    account, in force on ``on`` with no end date: one to link to."""
    return session.scalars(select(Hold).where(Hold.account_id == account_id, Hold.kind == "complaint",
                                              Hold.end_date.is_(None), Hold.start_date <= on,
                                              Hold.ingest_run_id.is_(None))
                           .order_by(Hold.id).limit(1)).first()


def others_on_hold(session: Session, hold_id: int, complaint_id: int) -> int:
    """Open complaints other than ``complaint_id`` that the hold holds contact for."""
    return int(session.execute(select(func.count()).select_from(Complaint).where(
        Complaint.hold_id == hold_id, Complaint.id != complaint_id,
        Complaint.status.in_(OPEN_STATUSES))).scalar_one())


def get(session: Session, complaint_id: int, *, scope: ColumnElement[bool] | None = None) -> Complaint:
    stmt = select(Complaint).where(Complaint.id == complaint_id)
    if scope is not None:
        stmt = stmt.where(scope)
    found = session.scalars(stmt).one_or_none()
    if found is None:
        raise NotFound(f"no complaint {complaint_id}")
    return found


def events(session: Session, complaint_id: int) -> list[ComplaintEvent]:
    return list(session.scalars(select(ComplaintEvent).where(ComplaintEvent.complaint_id == complaint_id)
                                .order_by(ComplaintEvent.at, ComplaintEvent.id)))


@dataclass(frozen=True)
class Row:
    complaint: Complaint
    account_ref: str
    customer_name: str
    case_id: int | None


def listing(session: Session, *, scope: ColumnElement[bool] | None, today: date, status: str = "",
            overdue_only: bool = False, escalated_only: bool = False, channel: str = "", category: str = "",
            limit: int = 500) -> list[Row]:
    """Complaints in ``scope``, overdue ones first (oldest deadline first), then open ones by deadline,
    then closed ones, newest first. ``status`` ``open`` means any open status."""
    where: list[ColumnElement[bool]] = [] if scope is None else [scope]
    if status == "open":
        where.append(Complaint.status.in_(OPEN_STATUSES))
    elif status:
        where.append(Complaint.status == status)
    if overdue_only:
        where += [Complaint.status.in_(UNANSWERED), Complaint.deadline < today]
    if escalated_only:
        where.append(Complaint.escalated_at.is_not(None))
    if channel:
        where.append(Complaint.channel == channel)
    if category:
        where.append(Complaint.category == category)
    case_id = (select(func.max(Case.id)).where(Case.account_id == Complaint.account_id)
               .correlate(Complaint).scalar_subquery())
    overdue = and_(Complaint.status.in_(UNANSWERED), Complaint.deadline < today)
    is_open = Complaint.status.in_(OPEN_STATUSES)
    rows = session.execute(
        select(Complaint, Account.account_ref, Customer.name, case_id)
        .join(Account, Account.id == Complaint.account_id).join(Customer, Customer.id == Complaint.customer_id)
        .where(*where)
        .order_by(overdue.desc(), is_open.desc(), Complaint.deadline, Complaint.id).limit(limit)).all()
    return [Row(c, ref, name, cid) for c, ref, name, cid in rows]


def overdue_unescalated(session: Session, today: date) -> list[Complaint]:
    """Unanswered complaints past their deadline on ``today`` that are not escalated yet."""
    return list(session.scalars(select(Complaint).where(
        Complaint.status.in_(UNANSWERED), Complaint.deadline < today, Complaint.escalated_at.is_(None))
        .order_by(Complaint.deadline, Complaint.id).with_for_update()))


# -- the report: complaints per 1,000 accounts --------------------------------------------------------------

def complaints_by(session: Session, group: str, since: date, until: date) -> dict[str | None, int]:
    """Complaints received in [since, until] by the team (id as text), agency or strategy that had the
    account when each came in."""
    column = {"team": Complaint.team_id, "agency": Complaint.agency, "strategy": Complaint.strategy}[group]
    rows = session.execute(select(column, func.count()).where(
        Complaint.received_on >= since, Complaint.received_on <= until).group_by(column)).all()
    return {None if key is None else str(key): int(n) for key, n in rows}


def accounts_by(session: Session, group: str, since: date, until: date) -> dict[str, int]:
    """Distinct accounts each team, agency or strategy worked in [since, until]: a team's cases open on
    some day of it; an agency's placements live on some day of it; a strategy's daily decisions in it."""
    if group == "team":
        stmt = (select(Case.team_id, func.count(func.distinct(Case.account_id)))
                .where(Case.team_id.is_not(None), Case.opened_on <= until,
                       or_(Case.closed_on.is_(None), Case.closed_on >= since)).group_by(Case.team_id))
    elif group == "agency":
        stmt = (select(AgencyPlacement.agency, func.count(func.distinct(AgencyPlacement.account_id)))
                .where(AgencyPlacement.placed_on <= until,
                       or_(AgencyPlacement.recalled_on.is_(None), AgencyPlacement.recalled_on >= since))
                .group_by(AgencyPlacement.agency))
    else:
        stmt = (select(StrategyDecision.strategy, func.count(func.distinct(StrategyDecision.account_id)))
                .where(StrategyDecision.business_date >= since, StrategyDecision.business_date <= until)
                .group_by(StrategyDecision.strategy))
    return {str(key): int(n) for key, n in session.execute(stmt).all()}


def team_codes(session: Session) -> dict[str, str]:
    return {str(i): code for i, code in session.execute(select(Team.id, Team.code)).all()}


def complaint_holds(session: Session, account_id: int) -> list[Hold]:
    return list(session.scalars(select(Hold).where(Hold.account_id == account_id, Hold.kind == "complaint")
                                .order_by(Hold.id)))


def first_received(session: Session) -> datetime | None:
    return session.execute(select(func.min(Complaint.received_at))).scalar_one()
