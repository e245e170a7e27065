"""SQL of the outbox worker: claiming due messages, reading what a message needs, recording results.

Every write that follows a claim is guarded by the claim's lease (``status = 'sending' AND
next_attempt_at = <lease end>``): a worker whose lease ran out and whose message another worker
took over writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, ContactPoint, Customer
from arrears.cases.tables import Case
from arrears.channels.tables import MessageDelivery, OutboxMessage
from arrears.contact import repository as contact_repo
from arrears.contact.policy import Wishes


@dataclass(frozen=True)
class Claimed:
    id: int
    attempts: int
    lease_until: datetime
    #: the status before the claim: ``sending`` means a previous worker stopped during the send
    was: str


@dataclass(frozen=True)
class PointInfo:
    id: int
    kind: str
    value: str
    owner: str
    verified: bool
    opted_out: bool


@dataclass(frozen=True)
class MessageContext:
    """Everything the worker needs to decide on and send one message (plain data)."""

    id: int
    idempotency_key: str
    channel: str
    template: str
    locale: str
    payload: dict[str, Any]
    case_id: int | None
    created_at: datetime
    point: PointInfo | None
    customer_name: str | None
    time_zone: str | None
    account_ref: str | None
    #: (kind, start date, end date inclusive or None) of every hold on the account
    holds: tuple[tuple[str, date, date | None], ...]
    #: (started_at, channel, party, outcome, contact point id, account ref) of the recent interactions on
    #: every account of the customer
    interactions: tuple[tuple[datetime, str, str, str, int | None, str | None], ...]
    #: the customer's contact preferences, as the gate reads them (None: none)
    wishes: Wishes | None = None
    #: the account's product and the customer's jurisdiction, which choose the gate's pack
    product: str | None = None
    jurisdiction: str | None = None


def claim_due(session: Session, *, now: datetime, limit: int, lease_until: datetime,
              channels: tuple[str, ...]) -> list[Claimed]:
    """Take up to ``limit`` due messages of ``channels``: pending or failed with ``next_attempt_at``
    passed, or ``sending`` whose lease has run out. Locked rows are skipped (PostgreSQL); on SQLite
    the caller's ``BEGIN IMMEDIATE`` makes the claim exclusive."""
    stmt = (
        select(OutboxMessage.id, OutboxMessage.attempts, OutboxMessage.status)
        .where(OutboxMessage.status.in_(("pending", "failed", "sending")), OutboxMessage.next_attempt_at <= now,
               OutboxMessage.channel.in_(channels))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = session.execute(stmt).all()
    claimed = []
    for row in rows:
        session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(
            status="sending", attempts=row.attempts + 1, next_attempt_at=lease_until))
        claimed.append(Claimed(row.id, row.attempts + 1, lease_until, row.status))
    return claimed


def message_context(session: Session, message_id: int, *, since: datetime) -> MessageContext:
    """The message with its contact point, customer, account holds and the case's interactions since ``since``."""
    m = session.get_one(OutboxMessage, message_id)
    point = None
    customer_name = time_zone = jurisdiction = product = None
    customer_of_point = None
    if m.contact_point_id is not None:
        cp, customer = session.execute(
            select(ContactPoint, Customer).join(Customer, Customer.id == ContactPoint.customer_id)
            .where(ContactPoint.id == m.contact_point_id)).one()
        point = PointInfo(cp.id, cp.kind, cp.value, cp.owner, bool(cp.verified), bool(cp.opted_out))
        customer_name, time_zone, jurisdiction = customer.name, customer.time_zone, customer.jurisdiction
        customer_of_point = customer.id
    account_ref = None
    holds: tuple[tuple[str, date, date | None], ...] = ()
    interactions: tuple[tuple[datetime, str, str, str, int | None, str | None], ...] = ()
    if m.case_id is not None:
        account_id, account_ref, customer_id, product = session.execute(
            select(Account.id, Account.account_ref, Account.customer_id, Account.product)
            .join(Case, Case.account_id == Account.id).where(Case.id == m.case_id)).one()
        if customer_name is None:
            customer_name, time_zone, jurisdiction = session.execute(
                select(Customer.name, Customer.time_zone, Customer.jurisdiction)
                .where(Customer.id == customer_id)).one()
        # the person's history and holds, as for every gate check (one contact budget per customer)
        holds = contact_repo.customer_holds(session, account_id=account_id, customer_id=customer_id)
        interactions = contact_repo.customer_interactions(session, customer_id, since=since, outbound_only=False)
    return MessageContext(
        id=m.id, idempotency_key=m.idempotency_key, channel=m.channel, template=m.template, locale=m.locale,
        payload=dict(m.payload or {}), case_id=m.case_id, created_at=m.created_at, point=point,
        customer_name=customer_name, time_zone=time_zone, account_ref=account_ref, holds=holds,
        interactions=interactions,
        wishes=contact_repo.wishes(session, customer_of_point) if customer_of_point is not None else None,
        product=product, jurisdiction=jurisdiction,
    )


def settle(session: Session, claim: Claimed, **values: Any) -> bool:
    """Write ``values`` on the claimed message if the claim still holds it; False when it does not."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == claim.id, OutboxMessage.status == "sending",
               OutboxMessage.next_attempt_at == claim.lease_until)
        .values(**values)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def add_delivery(session: Session, *, message_id: int, attempt: int, status: str, at: datetime,
                 provider_ref: str | None = None, detail: str | None = None) -> MessageDelivery:
    row = MessageDelivery(message_id=message_id, attempt=attempt, status=status, provider_ref=provider_ref,
                          detail=detail, at=at)
    session.add(row)
    session.flush()
    return row


def deliveries(session: Session, message_id: int) -> list[MessageDelivery]:
    return list(session.execute(
        select(MessageDelivery).where(MessageDelivery.message_id == message_id).order_by(MessageDelivery.id)
    ).scalars())


def counts_by_status(session: Session) -> dict[str, int]:
    return {s: int(n) for s, n in session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()}


def next_due(session: Session, *, channels: tuple[str, ...]) -> datetime | None:
    """When the next message of ``channels`` falls due (None: none waiting)."""
    return session.execute(
        select(func.min(OutboxMessage.next_attempt_at))
        .where(OutboxMessage.status.in_(("pending", "failed", "sending")), OutboxMessage.channel.in_(channels))
    ).scalar_one_or_none()
