"""All SQL of the payments package."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, Payment
from arrears.payments.tables import PaymentEvent, PaymentOrder


def account_id(session: Session, account_ref: str) -> int | None:
    return session.scalar(select(Account.id).where(Account.account_ref == account_ref))


def account_ref(session: Session, account_id: int) -> str:
    return session.scalars(select(Account.account_ref).where(Account.id == account_id)).one()


def add_order(session: Session, row: PaymentOrder) -> PaymentOrder:
    session.add(row)
    session.flush()
    return row


def order_by_merchant_id(session: Session, merchant_order_id: str, *, for_update: bool = False) -> PaymentOrder | None:
    stmt = select(PaymentOrder).where(PaymentOrder.merchant_order_id == merchant_order_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def events_of(session: Session, order_id: int) -> Sequence[PaymentEvent]:
    return session.scalars(
        select(PaymentEvent).where(PaymentEvent.order_id == order_id).order_by(PaymentEvent.id)
    ).all()


def event_by_txn(session: Session, provider: str, provider_txn_id: str) -> PaymentEvent | None:
    return session.scalars(
        select(PaymentEvent).where(PaymentEvent.provider == provider, PaymentEvent.provider_txn_id == provider_txn_id)
    ).one_or_none()


def insert_event(session: Session, row: PaymentEvent) -> bool:
    """Insert a provider event; False (and nothing written) when its transaction id is already stored."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


def paid_unconfirmed(session: Session, *, paid_before: datetime | None = None) -> Sequence[PaymentOrder]:
    stmt = select(PaymentOrder).where(PaymentOrder.paid_fen > 0, PaymentOrder.bank_payment_ref.is_(None))
    if paid_before is not None:
        stmt = stmt.where(PaymentOrder.paid_at < paid_before)
    return session.scalars(stmt.order_by(PaymentOrder.paid_at, PaymentOrder.id)).all()


def ledger_payments(session: Session, refs: Iterable[str]) -> dict[str, Payment]:
    refs = list(refs)
    if not refs:
        return {}
    return {p.payment_ref: p for p in session.scalars(select(Payment).where(Payment.payment_ref.in_(refs)))}


def pending_fen(session: Session, account_id: int) -> int:
    """Paid, unconfirmed orders of an account, less refunds — leaving out any whose payment the bank's
    ledger already holds (the file came before reconciliation ran): that payment counts there."""
    in_ledger = select(Payment.id).where(Payment.payment_ref == PaymentOrder.transaction_id).exists()
    return int(
        session.scalar(
            select(func.coalesce(func.sum(PaymentOrder.paid_fen - PaymentOrder.refunded_fen), 0)).where(
                PaymentOrder.account_id == account_id, PaymentOrder.bank_payment_ref.is_(None), ~in_ledger
            )
        )
        or 0
    )


def ledger_fen(session: Session, account_id: int) -> int:
    return int(
        session.scalar(select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.account_id == account_id)) or 0
    )


def orders_of_account(session: Session, account_id: int, *, limit: int = 50) -> Sequence[PaymentOrder]:
    """An account's payment orders, newest first."""
    return session.scalars(
        select(PaymentOrder).where(PaymentOrder.account_id == account_id)
        .order_by(PaymentOrder.created_at.desc(), PaymentOrder.id.desc()).limit(limit)
    ).all()
