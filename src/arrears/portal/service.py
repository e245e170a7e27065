"""The personal link: issued, sent through the outbox (so the compliance gate judges it like any
message), revoked; the identity check, throttled per link and per client address; the verified visit.

Services take the caller's session and flush; :func:`verify_identity` is an entry point (it takes the
engine) because a wrong answer must be recorded even though the visitor is refused.
"""

from __future__ import annotations

import functools
import os
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, ContactPoint, Customer
from arrears.auth.service import record, token_digest
from arrears.cases.config import load_default_case_rules
from arrears.cases.model import CaseRules
from arrears.cases.service import RecordedInteraction, business_date_of, record_interaction
from arrears.cases.tables import Case, Interaction, Promise
from arrears.channels.outbox import enqueue
from arrears.channels.tables import OutboxMessage
from arrears.config import Settings
from arrears.kit.clock import utc_now
from arrears.kit.db import transaction, write_first
from arrears.kit.errors import ArrearsError, NotFound
from arrears.plans import repository as plans_repo
from arrears.plans.tables import PlanAgreement, PlanInstalment
from arrears.portal.model import (
    ADDRESS_WINDOW,
    DEFAULT_LINK_TTL,
    LONGEST_LINK_TTL,
    MAX_FAILURES_PER_ADDRESS,
    MAX_FAILURES_PER_LINK,
    SESSION_IDLE,
    identity_matches,
    mac_matches,
    make_token,
    parse_token,
)
from arrears.portal.tables import PortalAttempt, PortalLink, PortalSession

KEY_BYTES = 32


class PortalKeyError(ArrearsError):
    """The portal key cannot be read or made: a setup fault of the server."""

    status = 500


def portal_key(settings: Settings) -> bytes:
    """The key that signs links: ``ARREARS_PORTAL_KEY_FILE``, else ``<data_dir>/portal.key``, made
    (random, mode 0600) on first use. Changing it invalidates every link sent."""
    path = settings.portal_key_file or settings.data_dir / "portal.key"
    try:
        return bytes.fromhex(Path(path).read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        raise PortalKeyError(f"portal key file {path}: cannot be read ({exc})") from None
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made by another process meanwhile
        return bytes.fromhex(Path(path).read_text(encoding="ascii").strip())
    key = secrets.token_hex(KEY_BYTES)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    return bytes.fromhex(key)


def link_url(settings: Settings, token: str) -> str:
    return f"{settings.portal_base_url.rstrip('/')}/p/{token}"


@dataclass(frozen=True)
class IssuedLink:
    link: PortalLink
    token: str
    url: str
    outbox_id: int | None


def issue_link(
    session: Session, *, account_ref: str, key: bytes, settings: Settings, actor: str, send: str | None = None,
    ttl: timedelta = DEFAULT_LINK_TTL,
) -> IssuedLink:
    """A new personal link for the account (earlier open links of the account are revoked), sent by
    SMS or e-mail through the outbox when ``send`` says so. Audited ``portal.link``."""
    if not timedelta(hours=1) <= ttl <= LONGEST_LINK_TTL:
        raise ArrearsError(f"a link lasts from 1 hour to {LONGEST_LINK_TTL.days} days")
    if send not in (None, "sms", "email"):
        raise ArrearsError(f"unknown channel {send!r}: sms or email")
    account = session.scalars(select(Account).where(Account.account_ref == account_ref)).one_or_none()
    if account is None:
        raise NotFound(f"no account {account_ref!r}")
    customer = session.get(Customer, account.customer_id)
    assert customer is not None
    now = utc_now()
    superseded = session.execute(
        update(PortalLink).where(PortalLink.account_id == account.id, PortalLink.revoked_at.is_(None),
                                 PortalLink.expires_at > now)
        .values(revoked_at=now, revoked_by=actor[:64], revoke_reason="a new link was sent")
        .execution_options(synchronize_session=False)).rowcount
    link = PortalLink(account_id=account.id, nonce=secrets.token_hex(16), channel=send or "none", created_by=actor[:64],
                      created_at=now, expires_at=now + ttl, failures=0)
    session.add(link)
    session.flush()
    token = make_token(key, link.id, link.nonce)
    url = link_url(settings, token)
    outbox_id = None
    if send is not None:
        point = _contact_point(session, customer.id, channel=send)
        locale = customer.language if customer.language in ("zh_CN", "en") else "zh_CN"
        case = case_of(session, link)  # so the gate sees the account's holds and its contact history
        message, _ = enqueue(session, idempotency_key=f"portal-link:{link.id}", channel=send, template="portal.link",
                             locale=locale, contact_point_id=point.id, case_id=case.id if case is not None else None,
                             payload={"url": url, "expires_at": link.expires_at})
        link.outbox_id = outbox_id = message.id
        session.flush()
    record(session, actor=actor, action="portal.link", entity="account", entity_id=account.account_ref,
           detail={"link_id": link.id, "channel": link.channel, "expires_at": link.expires_at,
                   "superseded": superseded, "outbox_id": outbox_id})
    return IssuedLink(link, token, url, outbox_id)


def _contact_point(session: Session, customer_id: int, *, channel: str) -> ContactPoint:
    """The customer's own verified mobile (SMS) or e-mail address on file."""
    if channel == "sms":
        points = plans_repo.debtor_mobiles(session, customer_id)
    else:
        points = list(session.scalars(
            select(ContactPoint).where(ContactPoint.customer_id == customer_id, ContactPoint.kind == "email",
                                       ContactPoint.owner == "debtor").order_by(ContactPoint.id)))
    if not points:
        raise ArrearsError(f"the customer has no {'mobile number' if channel == 'sms' else 'e-mail address'} of "
                           "their own on file to send the link to")
    return points[0]


def revoke_link(session: Session, *, link_id: int, actor: str, reason: str) -> PortalLink:
    """The link stops working now; its verified visits end. Audited ``portal.revoke``."""
    link = session.get(PortalLink, link_id)
    if link is None:
        raise NotFound(f"no portal link {link_id}")
    if link.revoked_at is not None:
        raise ArrearsError(f"portal link {link_id} was already revoked")
    now = utc_now()
    link.revoked_at, link.revoked_by, link.revoke_reason = now, actor[:64], reason[:200]
    session.execute(update(PortalSession).where(PortalSession.link_id == link.id, PortalSession.ended_at.is_(None))
                    .values(ended_at=now).execution_options(synchronize_session=False))
    session.flush()
    record(session, actor=actor, action="portal.revoke", entity="portal_link", entity_id=str(link.id),
           detail={"reason": reason[:200]})
    return link


# -- the visitor --------------------------------------------------------------------------------------

def _open_link(session: Session, token: str, key: bytes) -> PortalLink | None:
    """The link a token stands for while it works (signed, not expired, revoked or worn out), else None.
    A malformed or unknown token costs the same work as a real one."""
    parsed = parse_token(token)
    link = session.get(PortalLink, parsed.link_id) if parsed is not None else None
    nonce = link.nonce if link is not None else "0" * 32
    signed = mac_matches(key, parsed, nonce) if parsed is not None else False
    if link is None or not signed:
        return None
    if link.revoked_at is not None or link.expires_at <= utc_now() or link.failures >= MAX_FAILURES_PER_LINK:
        return None
    return link


def note_opened(engine: Engine, *, token: str, key: bytes) -> None:
    """The first time a working link's page is opened (the funnel's "opened")."""
    with transaction(write_first(engine)) as session:
        link = _open_link(session, token, key)
        if link is not None and link.first_opened_at is None:
            link.first_opened_at = utc_now()


@dataclass(frozen=True)
class Verified:
    link_id: int
    session_token: str


class IdentityRefused(ArrearsError):
    """One answer for every refusal (wrong details, unknown, expired or revoked link), so the answer
    says nothing about whether the link or the account exists."""

    status = 401


class TooManyAttempts(ArrearsError):
    status = 429


REFUSED = "the details do not match our records, or this link no longer works"


def _address_failures(session: Session, remote: str | None) -> int:
    if remote is None:
        return 0
    return session.scalar(select(func.count()).select_from(PortalAttempt).where(
        PortalAttempt.remote == remote, PortalAttempt.outcome.in_(("wrong", "unknown_link")),
        PortalAttempt.at > utc_now() - ADDRESS_WINDOW)) or 0


def verify_identity(engine: Engine, *, token: str, key: bytes, last4: str | None, born: date | None,
                    remote: str | None) -> Verified:
    """Check the visitor's answers against the link's customer, or raise :class:`IdentityRefused` (the
    same message whatever was wrong) or :class:`TooManyAttempts` (the client address is throttled).

    Every answer is recorded; a link takes :data:`MAX_FAILURES_PER_LINK` wrong answers, then stops
    working. The link's row is locked while it is judged, so parallel guesses cannot overtake it."""
    outcome: Verified | ArrearsError
    with transaction(write_first(engine)) as session:
        if session.get_bind().dialect.name == "postgresql" and remote is not None:
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"arrears.portal:{remote}"})
        now = utc_now()
        if _address_failures(session, remote) >= MAX_FAILURES_PER_ADDRESS:
            session.add(PortalAttempt(link_id=None, remote=remote, at=now, outcome="refused"))
            outcome = TooManyAttempts("too many attempts from this network: please try again in 15 minutes")
        else:
            parsed = parse_token(token)
            if parsed is not None:  # lock the link's row for this check (no-op for an unknown id)
                session.execute(select(PortalLink.id).where(PortalLink.id == parsed.link_id).with_for_update())
            link = _open_link(session, token, key)
            customer = _customer_of(session, link) if link is not None else None
            matches = identity_matches(
                national_id=customer.national_id if customer else "000000000000000000",
                birth_date=customer.birth_date if customer else date(1900, 1, 1), last4=last4, born=born)
            if link is None or customer is None:
                session.add(PortalAttempt(link_id=None, remote=remote, at=now, outcome="unknown_link"))
                outcome = IdentityRefused(REFUSED)
            elif not matches:
                link.failures += 1
                session.add(PortalAttempt(link_id=link.id, remote=remote, at=now, outcome="wrong"))
                record(session, actor="cardholder", action="portal.identity_failed", entity="portal_link",
                       entity_id=str(link.id), detail={"remote": remote, "failures": link.failures})
                outcome = IdentityRefused(REFUSED)
            else:
                outcome = start_visit(session, link=link, remote=remote, method="identity")
        session.flush()
    if isinstance(outcome, ArrearsError):
        raise outcome
    return outcome


def lock_address(session: Session, remote: str | None) -> None:
    """Serialise the answers of one client address until the transaction ends (PostgreSQL; SQLite's
    write lock, taken at BEGIN, already does)."""
    if session.get_bind().dialect.name == "postgresql" and remote is not None:
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"arrears.portal:{remote}"})


def address_throttled(session: Session, remote: str | None) -> bool:
    """The address gave :data:`MAX_FAILURES_PER_ADDRESS` wrong answers or unknown links in the window."""
    return _address_failures(session, remote) >= MAX_FAILURES_PER_ADDRESS


def start_visit(session: Session, *, link: PortalLink, remote: str | None, method: str) -> Verified:
    """The identity is proven (``method``: ``identity`` or ``code``): a verified visit begins, audited
    ``portal.verified``."""
    now = utc_now()
    session_token = secrets.token_urlsafe(32)
    session.add(PortalSession(link_id=link.id, token_hash=token_digest(session_token), created_at=now,
                              last_seen_at=now))
    session.add(PortalAttempt(link_id=link.id, remote=remote, at=now, outcome="verified"))
    link.verified_at = link.verified_at or now
    link.first_opened_at = link.first_opened_at or now
    detail: dict[str, object] = {"remote": remote}
    if method != "identity":
        detail["method"] = method
    record(session, actor="cardholder", action="portal.verified", entity="portal_link",
           entity_id=str(link.id), detail=detail)
    return Verified(link.id, session_token)


def _customer_of(session: Session, link: PortalLink) -> Customer | None:
    account = session.get(Account, link.account_id)
    return session.get(Customer, account.customer_id) if account is not None else None


def visit(session: Session, *, token: str, key: bytes, session_token: str | None) -> PortalLink | None:
    """The link of a verified visit still going on (its cookie, for this link), or None."""
    if not session_token:
        return None
    link = _open_link(session, token, key)
    if link is None:
        return None
    row = session.scalars(select(PortalSession).where(PortalSession.token_hash == token_digest(session_token),
                                                      PortalSession.link_id == link.id)).one_or_none()
    now = utc_now()
    if row is None or row.ended_at is not None or row.last_seen_at <= now - SESSION_IDLE:
        return None
    row.last_seen_at = now
    session.flush()
    return link


def end_visit(session: Session, *, session_token: str | None) -> None:
    if not session_token:
        return
    session.execute(update(PortalSession).where(PortalSession.token_hash == token_digest(session_token),
                                                PortalSession.ended_at.is_(None))
                    .values(ended_at=utc_now()).execution_options(synchronize_session=False))


@dataclass(frozen=True)
class ContactEntry:
    """One contact attempt on the account, as the customer sees it: when, how, which way."""

    at: datetime
    channel: str
    direction: str


@dataclass(frozen=True)
class Overview:
    """What a verified cardholder sees first (amounts in fen)."""

    account_ref: str
    customer_name: str
    as_of: date | None
    amount_past_due: int
    dpd: int
    balance: int | None
    minimum_due: int | None
    statement_date: date | None
    due_date: date | None
    #: the open promise to pay: (amount, date), if any
    promise: tuple[int, date] | None = None
    #: the running plan: (total, next instalment's due date, amount still due on it), if any
    plan: tuple[int, date | None, int | None] | None = None
    #: every contact attempt on the account, newest first (calls and visits from the interaction log,
    #: messages once sent)
    contacts: tuple[ContactEntry, ...] = ()
    #: the account's agreements, newest first (each has its PDF)
    agreements: tuple[AgreementEntry, ...] = ()


@dataclass(frozen=True)
class AgreementEntry:
    """One agreement of the account as the customer sees it (its PDF is ``agreements/<id>.pdf``)."""

    id: int
    product_code: str
    status: str
    total: int
    start_date: date


#: How many contact attempts the page lists (newest first).
CONTACTS_SHOWN = 50


def overview(session: Session, *, link: PortalLink, time_zone: str) -> Overview:
    account = session.get(Account, link.account_id)
    assert account is not None
    customer = session.get(Customer, account.customer_id)
    assert customer is not None
    today = business_date_of(utc_now(), time_zone)
    snapshot = plans_repo.latest_snapshot(session, account.id, on_or_before=today)
    statement = plans_repo.latest_statement(session, account.id, on_or_before=today)
    case_ids = select(Case.id).where(Case.account_id == account.id).scalar_subquery()
    promise = session.execute(
        select(Promise.amount, Promise.promised_date).where(Promise.case_id.in_(case_ids), Promise.status == "open")
        .order_by(Promise.promised_date, Promise.id).limit(1)).first()
    agreement = session.scalars(
        select(PlanAgreement).where(PlanAgreement.account_id == account.id, PlanAgreement.status == "active")
        .order_by(PlanAgreement.id.desc()).limit(1)).first()
    plan = None
    if agreement is not None:
        nxt = session.scalars(
            select(PlanInstalment).where(PlanInstalment.agreement_id == agreement.id, PlanInstalment.paid
                                         < PlanInstalment.amount).order_by(PlanInstalment.number).limit(1)).first()
        plan = (int(agreement.total), nxt.due_date if nxt else None, int(nxt.amount - nxt.paid) if nxt else None)
    calls = session.execute(
        select(Interaction.started_at, Interaction.channel, Interaction.direction)
        .where(Interaction.case_id.in_(case_ids)).order_by(Interaction.started_at.desc()).limit(CONTACTS_SHOWN)).all()
    messages = session.execute(
        select(OutboxMessage.sent_at, OutboxMessage.channel)
        .where(OutboxMessage.sent_at.is_not(None),
               OutboxMessage.contact_point_id.in_(select(ContactPoint.id)
                                                  .where(ContactPoint.customer_id == customer.id)))
        .order_by(OutboxMessage.sent_at.desc()).limit(CONTACTS_SHOWN)).all()
    contacts = sorted([ContactEntry(at, channel, direction) for at, channel, direction in calls]
                      + [ContactEntry(at, channel, "outbound") for at, channel in messages],
                      key=lambda c: c.at, reverse=True)[:CONTACTS_SHOWN]
    return Overview(
        account_ref=account.account_ref, customer_name=customer.name,
        as_of=snapshot.business_date if snapshot is not None else None,
        amount_past_due=int(snapshot.amount_past_due) if snapshot is not None else 0,
        dpd=int(snapshot.dpd) if snapshot is not None else 0,
        balance=max(0, int(statement.new_balance)) if statement is not None else None,
        minimum_due=int(statement.minimum_due) if statement is not None else None,
        statement_date=statement.statement_date if statement is not None else None,
        due_date=statement.due_date if statement is not None else None,
        promise=(int(promise.amount), promise.promised_date) if promise is not None else None,
        plan=plan, contacts=tuple(contacts),
        agreements=tuple(AgreementEntry(a.id, a.product_code, a.status, int(a.total), a.start_date)
                         for a in session.execute(
                             select(PlanAgreement.id, PlanAgreement.product_code, PlanAgreement.status,
                                    PlanAgreement.total, PlanAgreement.start_date)
                             .where(PlanAgreement.account_id == account.id)
                             .order_by(PlanAgreement.id.desc()).limit(CONTACTS_SHOWN))),
    )


# -- what the cardholder does -------------------------------------------------------------------------

@functools.cache
def case_rules() -> CaseRules:
    return load_default_case_rules()


def case_of(session: Session, link: PortalLink) -> Case | None:
    """The account's case the cardholder's actions are recorded on: the open one, else the latest."""
    return session.scalars(
        select(Case).where(Case.account_id == link.account_id)
        .order_by(Case.closed_on.is_not(None), Case.id.desc()).limit(1)).first()


def record_self_service(
    session: Session, *, link: PortalLink, outcome: str, action: str, detail: dict[str, object],
    notes: str | None = None,
) -> RecordedInteraction | None:
    """Record one thing the cardholder did on their page: an inbound interaction on channel
    ``self_service`` with the given outcome (so its hold, if the outcome places one, is placed exactly
    as when an agent records it), the link's first action for the funnel, and an audit record
    ``portal.<action>`` by actor ``cardholder``. Returns None when the account has no case yet (the
    audit record is still written)."""
    now = utc_now()
    case = case_of(session, link)
    recorded = None
    if case is not None:
        recorded = record_interaction(session, case_id=case.id, channel="self_service", direction="inbound",
                                      party="debtor", started_at=now, ended_at=now, outcome=outcome,
                                      rules=case_rules(), notes=notes)
    link.acted_at = link.acted_at or now
    session.flush()
    account = session.get(Account, link.account_id)
    record(session, actor="cardholder", action=f"portal.{action}", entity="account",
           entity_id=account.account_ref if account is not None else str(link.account_id),
           detail={"link_id": link.id, "case_id": case.id if case is not None else None,
                   "interaction_id": recorded.interaction.id if recorded is not None else None, **detail})
    return recorded
