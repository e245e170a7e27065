"""The SQL of call records and call events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, ContactPoint
from arrears.cases.tables import Case
from arrears.dialler.tables import DiallerCall, DiallerEvent

#: A contact point's owner → the interaction log's party of a call to it.
OWNER_PARTY = {"debtor": "debtor", "emergency": "emergency_contact", "other": "other"}


def call_by_call_id(session: Session, call_id: str) -> DiallerCall | None:
    return session.scalars(select(DiallerCall).where(DiallerCall.call_id == call_id)).one_or_none()


def event_seen(session: Session, event_id: str) -> bool:
    return session.scalar(select(DiallerEvent.id).where(DiallerEvent.event_id == event_id)) is not None


def open_call(session: Session, *, case_id: int, agent_id: int, since: datetime) -> DiallerCall | None:
    """The agent's latest call on the case since ``since`` whose outcome is not recorded yet."""
    return session.scalars(
        select(DiallerCall).where(DiallerCall.case_id == case_id, DiallerCall.agent_id == agent_id,
                                  DiallerCall.interaction_id.is_(None), DiallerCall.requested_at >= since)
        .order_by(DiallerCall.requested_at.desc(), DiallerCall.id.desc()).limit(1)).one_or_none()


def attempts_without_outcome(session: Session, customer_id: int, *, since: datetime, before: datetime
                             ) -> tuple[tuple[datetime, str, str, str, int | None, str], ...]:
    """Calls dialled to the customer in [since, before) whose outcome no interaction records yet, in the
    shape of :func:`arrears.contact.repository.customer_interactions`: each is an attempt (a call, to the
    number's owner, not known to be a conversation)."""
    rows = session.execute(
        select(DiallerCall.requested_at, ContactPoint.owner, DiallerCall.contact_point_id, Account.account_ref)
        .join(Case, Case.id == DiallerCall.case_id).join(Account, Account.id == Case.account_id)
        .join(ContactPoint, ContactPoint.id == DiallerCall.contact_point_id)
        .where(Account.customer_id == customer_id, DiallerCall.interaction_id.is_(None),
               DiallerCall.requested_at >= since, DiallerCall.requested_at < before)).all()
    return tuple((at, "call", OWNER_PARTY.get(owner, "other"), "no_answer", cp, ref) for at, owner, cp, ref in rows)
