"""One-time codes sent by SMS to the customer's own mobile number on file: to prove who they are
(purpose ``identity``) or to confirm a plan they chose (purpose ``plan``, subject: the agreement).

A code is 6 digits; only its HMAC under the portal key is kept. It works for :data:`CODE_TTL`,
takes :data:`MAX_CODE_TRIES` wrong entries, and is used once: the row is claimed by a conditional
``UPDATE … WHERE used_at IS NULL``, so two parallel requests with the right code cannot both use it
(on SQLite and PostgreSQL alike). A link sends at most :data:`MAX_CODES_PER_WINDOW` codes in
:data:`CODE_WINDOW`; a new code replaces the earlier unused ones of the same purpose and subject.
Codes go out through the outbox (template ``portal.code``), and so through the compliance gate.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, Customer
from arrears.auth.service import record
from arrears.channels.outbox import enqueue
from arrears.channels.tables import OutboxMessage
from arrears.kit.clock import utc_now
from arrears.kit.db import transaction, write_first
from arrears.kit.errors import ArrearsError
from arrears.plans import repository as plans_repo
from arrears.portal.model import parse_token
from arrears.portal.service import (
    REFUSED,
    IdentityRefused,
    TooManyAttempts,
    Verified,
    _open_link,
    address_throttled,
    case_of,
    lock_address,
    start_visit,
)
from arrears.portal.tables import CODE_PURPOSES, PortalAttempt, PortalCode, PortalLink

#: A code works this long after it is sent.
CODE_TTL = timedelta(minutes=10)
#: Wrong entries one code takes; then it no longer works.
MAX_CODE_TRIES = 5
#: Codes one link may send within :data:`CODE_WINDOW` (both purposes together).
MAX_CODES_PER_WINDOW = 3
CODE_WINDOW = timedelta(hours=1)
CODE_DIGITS = 6
#: Every answer of the identity-by-code entry points takes at least this long, so a working link (a
#: code sent: several rows written) and an unknown one (nothing sent) cannot be told apart by timing.
ANSWER_FLOOR_SECONDS = 0.25
TEMPLATE = "portal.code"


class NoMobileOnFile(ArrearsError):
    """The customer has no verified mobile number of their own that accepts messages."""

    status = 409


class TooManyCodes(ArrearsError):
    """The link sent its codes for this hour."""

    status = 429


def code_digest(key: bytes, *, link_id: int, purpose: str, subject_id: int | None, code: str) -> str:
    return hmac.new(key, f"arrears-portal-code\n{link_id}\n{purpose}\n{subject_id or 0}\n{code}".encode(),
                    hashlib.sha256).hexdigest()


def normalise_code(text: str | None) -> str | None:
    """The code as typed (spaces and dashes left out), or None unless it is 6 digits."""
    cleaned = "".join(ch for ch in (text or "") if ch not in " -")
    return cleaned if len(cleaned) == CODE_DIGITS and cleaned.isascii() and cleaned.isdigit() else None


def codes_sent(session: Session, link_id: int, *, since: datetime) -> int:
    return session.scalar(select(func.count()).select_from(PortalCode).where(
        PortalCode.link_id == link_id, PortalCode.created_at > since)) or 0


@dataclass(frozen=True)
class SentCode:
    row: PortalCode
    outbox_id: int
    expires_at: datetime


def send_code(session: Session, *, link: PortalLink, key: bytes, purpose: str, subject_id: int | None = None) -> SentCode:
    """A new code by SMS to the customer's own mobile on file. Raises :class:`TooManyCodes` when the
    link sent :data:`MAX_CODES_PER_WINDOW` codes in the last hour, :class:`NoMobileOnFile` when there
    is no number to send it to. Earlier unused codes of the same purpose and subject stop working."""
    if purpose not in CODE_PURPOSES:
        raise ArrearsError(f"unknown code purpose {purpose!r}")
    now = utc_now()
    # the link's row is the lock: parallel requests cannot overtake the limit
    session.execute(select(PortalLink.id).where(PortalLink.id == link.id).with_for_update())
    if codes_sent(session, link.id, since=now - CODE_WINDOW) >= MAX_CODES_PER_WINDOW:
        raise TooManyCodes(f"{MAX_CODES_PER_WINDOW} codes were sent in the last hour: please try again later")
    account = session.get(Account, link.account_id)
    customer = session.get(Customer, account.customer_id) if account is not None else None
    mobiles = plans_repo.debtor_mobiles(session, customer.id) if customer is not None else []
    if customer is None or not mobiles:
        raise NoMobileOnFile("there is no mobile number of the customer's own on file to send a code to")
    session.execute(update(PortalCode).where(
        PortalCode.link_id == link.id, PortalCode.purpose == purpose, PortalCode.used_at.is_(None),
        PortalCode.expires_at > now,
        PortalCode.subject_id.is_(None) if subject_id is None else PortalCode.subject_id == subject_id)
        .values(expires_at=now).execution_options(synchronize_session=False))
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    row = PortalCode(link_id=link.id, purpose=purpose, subject_id=subject_id,
                     code_hash=code_digest(key, link_id=link.id, purpose=purpose, subject_id=subject_id, code=code),
                     created_at=now, expires_at=now + CODE_TTL, attempts=0)
    session.add(row)
    session.flush()
    case = case_of(session, link)
    locale = customer.language if customer.language in ("zh_CN", "en") else "zh_CN"
    message, _ = enqueue(session, idempotency_key=f"portal-code:{row.id}", channel="sms", template=TEMPLATE,
                         locale=locale, case_id=case.id if case is not None else None, contact_point_id=mobiles[0].id,
                         payload={"code": code, "purpose": purpose, "expires_at": row.expires_at})
    row.outbox_id = message.id
    session.flush()
    record(session, actor="cardholder", action="portal.code_sent", entity="portal_link", entity_id=str(link.id),
           detail={"code_id": row.id, "purpose": purpose, "subject_id": subject_id, "outbox_id": message.id,
                   "expires_at": row.expires_at})
    return SentCode(row, message.id, row.expires_at)


@dataclass(frozen=True)
class CodeCheck:
    """``ok``: the code was right and is now used; else ``reason`` (``none``, ``expired``, ``tries``,
    ``wrong``, ``used``) and the wrong entries it still takes."""

    ok: bool
    reason: str | None = None
    tries_left: int = 0
    code: PortalCode | None = None
    contact_point_id: int | None = None


def check_code(session: Session, *, link: PortalLink, key: bytes, purpose: str, subject_id: int | None,
               code: str | None) -> CodeCheck:
    """Judge an entered code against the link's latest code of this purpose and subject. A wrong entry
    is counted (commit it even though the answer is a refusal); a right one uses the code up."""
    now = utc_now()
    row = session.scalars(select(PortalCode).where(
        PortalCode.link_id == link.id, PortalCode.purpose == purpose,
        PortalCode.subject_id.is_(None) if subject_id is None else PortalCode.subject_id == subject_id)
        .order_by(PortalCode.id.desc()).limit(1)).first()
    given = code_digest(key, link_id=link.id, purpose=purpose, subject_id=subject_id, code=code or "??????")
    if row is None:
        return CodeCheck(False, "none")
    if row.used_at is not None:
        return CodeCheck(False, "used")
    if row.expires_at <= now:
        return CodeCheck(False, "expired")
    if row.attempts >= MAX_CODE_TRIES:
        return CodeCheck(False, "tries")
    if code is None or not hmac.compare_digest(given, row.code_hash):
        counted = session.execute(update(PortalCode).where(PortalCode.id == row.id,
                                                           PortalCode.attempts < MAX_CODE_TRIES)
                                  .values(attempts=PortalCode.attempts + 1)
                                  .execution_options(synchronize_session=False)).rowcount
        session.refresh(row)
        return CodeCheck(False, "wrong" if counted else "tries", max(0, MAX_CODE_TRIES - row.attempts))
    claimed = session.execute(update(PortalCode).where(
        PortalCode.id == row.id, PortalCode.used_at.is_(None), PortalCode.attempts < MAX_CODE_TRIES,
        PortalCode.expires_at > now).values(used_at=now).execution_options(synchronize_session=False)).rowcount
    if claimed != 1:  # a parallel request used it first
        return CodeCheck(False, "used")
    session.refresh(row)
    point = session.scalar(select(OutboxMessage.contact_point_id).where(OutboxMessage.id == row.outbox_id)) \
        if row.outbox_id is not None else None
    return CodeCheck(True, code=row, contact_point_id=point)


# -- identity by code ---------------------------------------------------------------------------------

def _at_least(started: float) -> None:
    left = ANSWER_FLOOR_SECONDS - (time.monotonic() - started)
    if left > 0:
        time.sleep(left)


def request_identity_code(engine: Engine, *, token: str, key: bytes, remote: str | None) -> None:
    """"Send me a code instead": a code to the link's customer's mobile on file when the token is a
    working link, else nothing. The answer is the same either way, and takes at least
    :data:`ANSWER_FLOOR_SECONDS` (only :class:`TooManyAttempts`, for a throttled client address, is
    different, and it does not depend on the token)."""
    started = time.monotonic()
    with transaction(write_first(engine)) as session:
        lock_address(session, remote)
        if address_throttled(session, remote):
            session.add(PortalAttempt(link_id=None, remote=remote, at=utc_now(), outcome="refused"))
            session.flush()
            refused = True
        else:
            refused = False
            link = _open_link(session, token, key)
            if link is None:  # the same work, and a record of the request, but nothing sent
                code_digest(key, link_id=0, purpose="identity", subject_id=None, code="000000")
                codes_sent(session, 0, since=utc_now() - CODE_WINDOW)
                record(session, actor="cardholder", action="portal.code_refused", entity="portal_link",
                       entity_id=None, detail={"purpose": "identity", "reason": "unknown link", "remote": remote})
            else:
                try:
                    with session.begin_nested():
                        send_code(session, link=link, key=key, purpose="identity")
                except (TooManyCodes, NoMobileOnFile) as exc:  # nothing sent; the visitor is told the same
                    record(session, actor="cardholder", action="portal.code_refused", entity="portal_link",
                           entity_id=str(link.id), detail={"purpose": "identity", "reason": str(exc)})
    _at_least(started)
    if refused:
        raise TooManyAttempts("too many attempts from this network: please try again in 15 minutes")


def verify_identity_code(engine: Engine, *, token: str, key: bytes, code: str | None,
                         remote: str | None) -> Verified:
    """The identity check by code: the same throttles and the same single answer as
    :func:`arrears.portal.service.verify_identity` (a wrong code is a wrong answer of the link); every
    answer takes at least :data:`ANSWER_FLOOR_SECONDS`."""
    started = time.monotonic()
    outcome: Verified | ArrearsError
    with transaction(write_first(engine)) as session:
        lock_address(session, remote)
        now = utc_now()
        if address_throttled(session, remote):
            session.add(PortalAttempt(link_id=None, remote=remote, at=now, outcome="refused"))
            outcome = TooManyAttempts("too many attempts from this network: please try again in 15 minutes")
        else:
            parsed = parse_token(token)
            if parsed is not None:
                session.execute(select(PortalLink.id).where(PortalLink.id == parsed.link_id).with_for_update())
            link = _open_link(session, token, key)
            if link is None:
                code_digest(key, link_id=0, purpose="identity", subject_id=None, code=code or "")  # the same work
                session.add(PortalAttempt(link_id=None, remote=remote, at=now, outcome="unknown_link"))
                outcome = IdentityRefused(REFUSED)
            else:
                checked = check_code(session, link=link, key=key, purpose="identity", subject_id=None, code=code)
                if checked.ok:
                    outcome = start_visit(session, link=link, remote=remote, method="code")
                else:
                    link.failures += 1
                    session.add(PortalAttempt(link_id=link.id, remote=remote, at=now, outcome="wrong"))
                    record(session, actor="cardholder", action="portal.identity_failed", entity="portal_link",
                           entity_id=str(link.id), detail={"remote": remote, "failures": link.failures,
                                                           "method": "code", "reason": checked.reason})
                    outcome = IdentityRefused(REFUSED)
        session.flush()
    _at_least(started)
    if isinstance(outcome, ArrearsError):
        raise outcome
    return outcome


def answer_by(today: date, working_days: int) -> date:
    """The day a request made ``today`` is answered by: ``working_days`` working days later (Monday to
    Friday, China's public holidays left out)."""
    import holidays

    off = holidays.country_holidays("CN", years=range(today.year, today.year + 2))
    day, left = today, max(0, working_days)
    while left > 0 or day.weekday() >= 5 or day in off:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in off:
            left -= 1
    return day


__all__ = ["CODE_TTL", "CODE_WINDOW", "MAX_CODES_PER_WINDOW", "MAX_CODE_TRIES", "CodeCheck", "NoMobileOnFile",
           "SentCode", "TooManyCodes", "answer_by", "check_code", "code_digest", "normalise_code",
           "request_identity_code", "send_code", "verify_identity_code"]
