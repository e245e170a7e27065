"""All SQL of repayment plans in the store."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, ContactPoint, Customer, Payment, Statement
from arrears.auth.tables import User
from arrears.cases.tables import Case
from arrears.channels.tables import OutboxMessage
from arrears.delinquency.tables import DelinquencySnapshot
from arrears.kit.errors import NotFound
from arrears.plans.tables import DRAFT_STATUSES, PlanAgreement, PlanInstalment, ReAge


def latest_statement(session: Session, account_id: int, *, on_or_before: date) -> Statement | None:
    return session.execute(
        select(Statement).where(Statement.account_id == account_id, Statement.statement_date <= on_or_before)
        .order_by(Statement.statement_date.desc()).limit(1)
    ).scalar_one_or_none()


def latest_snapshot(session: Session, account_id: int, *, on_or_before: date) -> DelinquencySnapshot | None:
    """The account's current (not superseded) snapshot of the latest business date up to ``on_or_before``."""
    return session.execute(
        select(DelinquencySnapshot).where(
            DelinquencySnapshot.account_id == account_id, DelinquencySnapshot.business_date <= on_or_before,
            DelinquencySnapshot.superseded_by_run_id.is_(None),
        ).order_by(DelinquencySnapshot.business_date.desc()).limit(1)
    ).scalar_one_or_none()


def account_and_customer(session: Session, account_id: int) -> tuple[Account, Customer]:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(f"no account {account_id}")
    customer = session.get(Customer, account.customer_id)
    assert customer is not None
    return account, customer


def account_by_ref_or_id(session: Session, ref_or_id: str) -> Account:
    account = session.execute(select(Account).where(Account.account_ref == ref_or_id)).scalar_one_or_none()
    if account is None and ref_or_id.isdigit() and int(ref_or_id) < 2**63:
        account = session.get(Account, int(ref_or_id))
    if account is None:
        raise NotFound(f"no account {ref_or_id!r} (give the bank's account id or the store's id)")
    return account


def case_of_account(session: Session, account_id: int) -> Case | None:
    """The account's latest case (open or not)."""
    return session.execute(
        select(Case).where(Case.account_id == account_id).order_by(Case.id.desc()).limit(1)
    ).scalar_one_or_none()


def debtor_mobiles(session: Session, customer_id: int) -> list[ContactPoint]:
    """The customer's own verified phone numbers that have not opted out, oldest first."""
    return list(session.execute(
        select(ContactPoint).where(
            ContactPoint.customer_id == customer_id, ContactPoint.kind == "phone", ContactPoint.owner == "debtor",
            ContactPoint.verified.is_(True), ContactPoint.opted_out.is_(False),
        ).order_by(ContactPoint.id)
    ).scalars())


def get_agreement(session: Session, agreement_id: int, *, for_update: bool = False) -> PlanAgreement:
    stmt = select(PlanAgreement).where(PlanAgreement.id == agreement_id)
    if for_update:
        stmt = stmt.with_for_update()
    found = session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no agreement {agreement_id}")
    return found


def agreements_of_case(session: Session, case_id: int) -> list[PlanAgreement]:
    return list(session.execute(
        select(PlanAgreement).where(PlanAgreement.case_id == case_id).order_by(PlanAgreement.version)
    ).scalars())


def next_version(session: Session, case_id: int) -> int:
    return int(session.execute(
        select(func.coalesce(func.max(PlanAgreement.version), 0)).where(PlanAgreement.case_id == case_id)
    ).scalar_one()) + 1


def live_agreements(session: Session, case_id: int) -> list[PlanAgreement]:
    """The case's agreements still being made or running."""
    return list(session.execute(
        select(PlanAgreement).where(PlanAgreement.case_id == case_id,
                                    PlanAgreement.status.in_((*DRAFT_STATUSES, "active")))
        .order_by(PlanAgreement.id)
    ).scalars())


def instalments(session: Session, agreement_id: int) -> list[PlanInstalment]:
    return list(session.execute(
        select(PlanInstalment).where(PlanInstalment.agreement_id == agreement_id).order_by(PlanInstalment.number)
    ).scalars())


def active_agreements(session: Session, *, started_by: date) -> list[PlanAgreement]:
    return list(session.execute(
        select(PlanAgreement).where(PlanAgreement.status == "active", PlanAgreement.start_date <= started_by)
        .order_by(PlanAgreement.id)
    ).scalars())


def payments_between(session: Session, *, account_id: int, first: date, last: date) -> list[tuple[date, int]]:
    return [(d, int(a)) for d, a in session.execute(
        select(Payment.value_date, Payment.amount)
        .where(Payment.account_id == account_id, Payment.value_date >= first, Payment.value_date <= last)
        .order_by(Payment.value_date, Payment.id)
    ).all()]


def last_reage(session: Session, account_id: int) -> date | None:
    return session.execute(select(func.max(ReAge.reage_date)).where(ReAge.account_id == account_id)).scalar_one()


def reage_of(session: Session, agreement_id: int) -> ReAge | None:
    return session.execute(select(ReAge).where(ReAge.agreement_id == agreement_id)).scalar_one_or_none()


def usernames(session: Session, *ids: int | None) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(wanted))).all())


def codes_sent(session: Session, agreement_id: int) -> int:
    """Confirmation codes sent for an agreement (their outbox rows)."""
    return int(session.execute(
        select(func.count()).select_from(OutboxMessage)
        .where(OutboxMessage.idempotency_key.like(f"plan-code:{int(agreement_id)}:%"))
    ).scalar_one())
