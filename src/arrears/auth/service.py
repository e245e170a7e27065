"""Users, passwords, login throttling, tokens, data scopes and audited reveals (the audit chain: ``audit.py``).

Services take the caller's session and ``flush()``; the entry point owns the transaction.
One exception: :func:`login` is an entry point itself (it takes the engine), because a sign-in must be
recorded even when it fails and must not hold a lock while argon2 checks the password.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import ColumnElement, and_, column, false, func, or_, select, text, true
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from arrears.auth.audit import record, verify  # noqa: F401 - re-exported: most modules import them from here
from arrears.auth.model import (
    TEAM_ROLES,
    AccountLocked,
    AuthError,
    Forbidden,
    can_reveal,
    check_kind,
    check_role,
    sees_all_teams,
)
from arrears.auth.passwords import MIN_LENGTH as MIN_PASSWORD_LENGTH
from arrears.auth.passwords import check_new_password
from arrears.auth.tables import AuditRecord, AuthToken, LoginAttempt, Team, User
from arrears.config import get_settings
from arrears.kit.clock import utc_now
from arrears.kit.db import transaction, write_first
from arrears.kit.errors import ArrearsError, NotFound

# --------------------------------------------------------------------------------------------
# Settings of the security rules (documented in docs/security.md)

SESSION_TTL = timedelta(hours=12)
API_TOKEN_TTL = timedelta(days=90)
TOKEN_BYTES = 32

@lru_cache(maxsize=4)
def _hasher_of(time_cost: int, memory_kib: int, parallelism: int) -> tuple[PasswordHasher, str]:
    """The argon2id hasher of these costs, and a hash verified against when the username is unknown
    (so both paths cost one argon2 verification)."""
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
    return hasher, hasher.hash(secrets.token_hex(16))


def _current() -> tuple[PasswordHasher, str]:
    s = get_settings()
    if s.password_hash_time_cost * s.password_hash_memory_kib < 5 * 7_168:
        raise ArrearsError("password hash too cheap: ARREARS_PASSWORD_HASH_TIME_COST × ARREARS_PASSWORD_HASH_MEMORY_KIB "
                           "must be at least 5 × 7168 (OWASP's lowest argon2id configuration)")
    return _hasher_of(s.password_hash_time_cost, s.password_hash_memory_kib, s.password_hash_parallelism)


def _hasher() -> PasswordHasher:
    return _current()[0]


# --------------------------------------------------------------------------------------------
# Passwords


def hash_password(password: str) -> str:
    """argon2id hash (PHC string) with the configured costs (``ARREARS_PASSWORD_HASH_*``)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ArrearsError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than the current ones."""
    return _hasher().check_needs_rehash(password_hash)


# --------------------------------------------------------------------------------------------
# Teams and users


def get_or_create_team(session: Session, *, code: str, name: str | None = None, actor: str) -> Team:
    team = session.scalars(select(Team).where(Team.code == code)).one_or_none()
    if team is None:
        team = Team(code=code, name=name or code)
        session.add(team)
        session.flush()
        record(session, actor=actor, action="team.create", entity="team", entity_id=str(team.id),
               detail={"code": code, "name": team.name})
    return team


#: A team's code: lower-case letters, digits, ``.``, ``_`` and ``-``, 1 to 32 characters.
TEAM_CODE = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")


class UnknownTeam(ArrearsError):
    """A team code that names no team (a team is created on purpose, never by a typo)."""

    status = 422
    field = "team"

    def __init__(self, code: str) -> None:
        super().__init__(f"team: no team {code!r}; create the team first")
        self.code = code


def create_team(session: Session, *, code: str, name: str | None = None, actor: str) -> Team:
    """A new team (audited ``team.create``); refused when the code is malformed or taken."""
    code = code.strip()
    if not TEAM_CODE.fullmatch(code):
        raise ArrearsError("team_code: 1 to 32 lower-case letters, digits, '.', '_' or '-'")
    if session.scalars(select(Team.id).where(Team.code == code)).first() is not None:
        raise ArrearsError(f"team_code: team {code!r} already exists")
    return get_or_create_team(session, code=code, name=(name or "").strip() or None, actor=actor)


def team_by_code(session: Session, code: str) -> Team:
    """The team with this code, or :class:`UnknownTeam`."""
    team = session.scalars(select(Team).where(Team.code == code)).one_or_none()
    if team is None:
        raise UnknownTeam(code)
    return team


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    team: str | None = None,
    display_name: str | None = None,
    actor: str,
    new_team: bool = False,
) -> User:
    """A new user. Agents and team leads must belong to a team: an existing one (:class:`UnknownTeam`
    otherwise), or with ``new_team`` one created now if it does not exist."""
    role = check_role(role).value
    username = username.strip()
    if not username or len(username) > 64:
        raise ArrearsError("username must be 1 to 64 characters")
    check_new_password(password, username=username, display_name=display_name)
    if role in TEAM_ROLES and not team:
        raise ArrearsError(f"a {role} must belong to a team (--team)")
    if session.scalars(select(User.id).where(User.username == username)).first() is not None:
        raise ArrearsError(f"user {username!r} already exists")
    team_row = None
    if team:
        team_row = get_or_create_team(session, code=team, actor=actor) if new_team else team_by_code(session, team)
    user = User(username=username, display_name=display_name, password_hash=hash_password(password), role=role,
                team_id=team_row.id if team_row else None, active=True)
    session.add(user)
    session.flush()
    record(session, actor=actor, action="user.create", entity="user", entity_id=str(user.id),
           detail={"username": username, "role": role, "team": team})
    return user


def get_user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def set_password(session: Session, *, user: User, password: str, actor: str) -> None:
    """New password (:func:`arrears.auth.passwords.check_new_password`); every token of the user is revoked."""
    check_new_password(password, username=user.username, display_name=user.display_name)
    user.password_hash = hash_password(password)
    user.password_changed_at = utc_now()
    revoked = revoke_user_tokens(session, user=user, actor=actor, reason="password changed")
    record(session, actor=actor, action="user.password", entity="user", entity_id=str(user.id),
           detail={"tokens_revoked": revoked})


# --------------------------------------------------------------------------------------------
# Login and throttling


@dataclass(frozen=True)
class Throttle:
    """How many failed sign-ins are allowed within ``window`` (docs/security.md, "Throttling").

    Failures count per submitted username, whether or not such a user exists, so the answers and
    their timing say nothing about which usernames are real:

    - ``per_pair``: one username from one client address. Stops guessing from one place without
      letting that place lock the real user out everywhere else.
    - ``per_address``: any usernames from one client address (password spraying, stuffing). Counts
      concluded failures only, so it may be overshot by the sign-ins in flight at that moment.
    - ``per_username``: one username from every address together (a distributed guess). Reaching it
      locks the account (``users.locked_until``) for ``window``; an admin may unlock it.

    A refused attempt is answered 423 until the oldest of the failures that make the limit leaves the
    window (the account lock: until it ends). A successful sign-in or an admin's unlock restarts the
    username's counts; the address count only ever ages out.
    """

    per_pair: int = 5
    per_address: int = 30
    per_username: int = 50
    window: timedelta = timedelta(minutes=15)


DEFAULT_THROTTLE = Throttle()
#: Outcomes that count as failures once concluded; a ``pending`` attempt counts too (:func:`_failed`).
CONCLUDED_FAILURES = ("bad_password", "unknown_user")
#: A pending attempt older than this was left by a process that died while checking: a failure.
STALE_PENDING = timedelta(seconds=60)
#: How long a sign-in waits for attempts in flight before the limit counts them as failures.
IN_FLIGHT_WAIT = timedelta(seconds=10)


def _attempt(session: Session, *, username: str, user: User | None, outcome: str, remote: str | None) -> LoginAttempt:
    row = LoginAttempt(username=username, user_id=user.id if user else None, at=utc_now(), outcome=outcome,
                       remote=remote)
    session.add(row)
    session.flush()
    return row


def _serialise_sign_ins(session: Session, *, username: str, remote: str | None) -> None:
    """Hold the throttle's locks for this username and address until the transaction ends.

    SQLite: the transaction began IMMEDIATE (:func:`arrears.kit.db.write_first`), which already
    serialises it with every other writer. PostgreSQL: transaction-scoped advisory locks, always the
    address's first and the username's second, so two sign-ins never wait on each other in a cycle.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in (f"arrears.login.address:{remote or ''}", f"arrears.login.username:{username}"):
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})


def _restart_point(user: User | None, now: datetime) -> datetime | None:
    """Failures of a username before its last successful sign-in or the end of its last lock (an
    admin's unlock ends it now) do not count."""
    if user is None:
        return None
    marks = [m for m in (user.last_login_at, user.locked_until) if m is not None and m <= now]
    return max(marks) if marks else None


def _refused_until(session: Session, *, limit: int, window: timedelta, since: datetime | None,
                   where: list[ColumnElement[bool]], failed: ColumnElement[bool]) -> datetime | None:
    """When the count of failures (``failed``) matching ``where`` within the window drops below
    ``limit``, or None when it is below already: the ``limit``-th newest failure leaves the window then."""
    now = utc_now()
    start = now - window
    if since is not None and since > start:
        start = since
    oldest_counted = session.scalar(
        select(LoginAttempt.at).where(*where, failed, LoginAttempt.at > start)
        .order_by(LoginAttempt.at.desc(), LoginAttempt.id.desc()).offset(limit - 1).limit(1))
    return None if oldest_counted is None else oldest_counted + window


def _failed(*, in_flight: bool) -> ColumnElement[bool]:
    """Attempts that count as failures: concluded ones, pending ones whose process must have died
    (older than :data:`STALE_PENDING`), and with ``in_flight`` every pending one."""
    concluded = LoginAttempt.outcome.in_(CONCLUDED_FAILURES)
    if in_flight:
        return or_(concluded, LoginAttempt.outcome == "pending")
    return or_(concluded, and_(LoginAttempt.outcome == "pending", LoginAttempt.at < utc_now() - STALE_PENDING))


def throttled_until(session: Session, *, username: str, remote: str | None, user: User | None = None,
                    throttle: Throttle = DEFAULT_THROTTLE, in_flight: bool = True) -> tuple[str, datetime] | None:
    """``(scope, until)`` when a sign-in as ``username`` from ``remote`` must be refused now, else None.

    ``in_flight``: count the attempts whose passwords are being checked now as failures (the limit can
    never be overtaken); False: only what is known to have failed (see :func:`login`)."""
    now = utc_now()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        return "username", user.locked_until
    since = _restart_point(user, now)
    same_remote = LoginAttempt.remote == remote if remote is not None else LoginAttempt.remote.is_(None)
    failed = _failed(in_flight=in_flight)
    checks: list[tuple[str, int, datetime | None, list[ColumnElement[bool]], ColumnElement[bool]]] = [
        ("pair", throttle.per_pair, since, [LoginAttempt.username == username, same_remote], failed),
        ("username", throttle.per_username, since, [LoginAttempt.username == username], failed),
    ]
    if remote is not None:
        # Known failures only: a whole floor signing in at once behind one address is not an attack.
        checks.append(("address", throttle.per_address, None, [same_remote], _failed(in_flight=False)))
    for scope, limit, start, where, counted in checks:
        until = _refused_until(session, limit=limit, window=throttle.window, since=start, where=where, failed=counted)
        if until is not None:
            return scope, until
    return None


@dataclass(frozen=True)
class _Reservation:
    attempt_id: int
    user_id: int | None
    password_hash: str


class _InFlight:
    """Only attempts still being checked make the limit: wait for them to conclude, then ask again."""


def _reserve(session: Session, *, username: str, remote: str | None, throttle: Throttle,
             may_wait: bool) -> _Reservation | AccountLocked | _InFlight:
    """Under the throttle's locks: refuse (recorded) or reserve the attempt as ``pending``; or, when
    only attempts in flight make the limit and ``may_wait``, nothing yet."""
    _serialise_sign_ins(session, username=username, remote=remote)
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    refused = throttled_until(session, username=username, remote=remote, user=user, throttle=throttle)
    if refused is not None and may_wait and throttled_until(session, username=username, remote=remote, user=user,
                                                            throttle=throttle, in_flight=False) is None:
        return _InFlight()
    if refused is not None:
        scope, until = refused
        attempt = _attempt(session, username=username, user=user, outcome="locked", remote=remote)
        record(session, actor="system", action="auth.login_throttled", entity="login_attempt",
               entity_id=str(attempt.id), detail={"username": username, "remote": remote, "scope": scope,
                                                  "until": until})
        return AccountLocked(f"too many failed sign-ins: try again after {until.isoformat()}", until=until)
    attempt = _attempt(session, username=username, user=user, outcome="pending", remote=remote)
    return _Reservation(attempt.id, user.id if user else None, user.password_hash if user else _current()[1])


def _conclude(session: Session, *, reservation: _Reservation, password: str, correct: bool, username: str,
              remote: str | None, throttle: Throttle) -> User | AuthError:
    """Record the outcome of a reserved attempt; lock the account when the username's limit is reached."""
    attempt = session.get(LoginAttempt, reservation.attempt_id)
    assert attempt is not None
    user = session.get(User, reservation.user_id) if reservation.user_id is not None else None
    now = utc_now()
    if user is None:
        attempt.outcome = "unknown_user"
        session.flush()
        record(session, actor="system", action="auth.login_failed", entity="login_attempt", entity_id=str(attempt.id),
               detail={"username": username, "remote": remote})
        return AuthError("wrong username or password")
    if not correct:
        attempt.outcome = "bad_password"
        session.flush()
        record(session, actor=username, action="auth.login_failed", entity="user", entity_id=str(user.id),
               detail={"remote": remote})
        since = _restart_point(user, now)
        until = _refused_until(session, limit=throttle.per_username, window=throttle.window, since=since,
                               where=[LoginAttempt.username == username], failed=_failed(in_flight=False))
        if until is not None and (user.locked_until is None or user.locked_until <= now):
            user.locked_until = now + throttle.window
            session.flush()
            record(session, actor="system", action="auth.locked", entity="user", entity_id=str(user.id),
                   detail={"until": user.locked_until, "limit": throttle.per_username})
        return AuthError("wrong username or password")
    if not user.active:
        attempt.outcome = "inactive"
        session.flush()
        return AuthError("account disabled")
    if needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
    user.last_login_at = now
    attempt.outcome = "ok"
    session.flush()
    record(session, actor=username, action="auth.login", entity="user", entity_id=str(user.id),
           detail={"remote": remote})
    return user


def login(engine: Engine, *, username: str, password: str, remote: str | None = None,
          throttle: Throttle = DEFAULT_THROTTLE) -> User:
    """The user with this username and password, or :class:`AuthError` (:class:`AccountLocked`, 423,
    while throttled). Every attempt is recorded in ``login_attempts`` and the audit log.

    Three short steps, so that sign-ins neither fail nor overtake the limit when many arrive at once:
    (1) in one write transaction holding the throttle's locks, refuse the attempt or reserve it as
    ``pending`` (which counts as a failure); (2) check the password outside any transaction — argon2
    is slow on purpose and must not hold a lock; (3) record the outcome in a second transaction. Every
    path costs one argon2 verification (an unknown username or a refused attempt against a dummy
    hash), and unknown usernames are counted and refused exactly like real ones. When only attempts
    still in flight (pending) make the limit, the sign-in waits for them (at most
    :data:`IN_FLIGHT_WAIT`) rather than refusing a right password for failures that never happened.
    """
    username = username[:64]
    deadline = time.monotonic() + IN_FLIGHT_WAIT.total_seconds()
    while True:
        with transaction(write_first(engine)) as session:
            reserved = _reserve(session, username=username, remote=remote, throttle=throttle,
                                may_wait=time.monotonic() < deadline)
        if not isinstance(reserved, _InFlight):
            break
        time.sleep(0.05)  # the attempts in flight conclude within one argon2 check
    if isinstance(reserved, AccountLocked):
        verify_password(_current()[1], password)
        raise reserved
    correct = verify_password(reserved.password_hash, password) and reserved.user_id is not None
    with transaction(write_first(engine)) as session:
        outcome = _conclude(session, reservation=reserved, password=password, correct=correct, username=username,
                            remote=remote, throttle=throttle)
    if isinstance(outcome, AuthError):
        raise outcome
    return outcome


def unlock(session: Session, *, user: User, actor: str) -> None:
    """End the account's lock now; failures before it no longer count for the username."""
    user.locked_until = utc_now()
    session.flush()
    record(session, actor=actor, action="auth.unlock", entity="user", entity_id=str(user.id), detail={})


def update_user(session: Session, *, user: User, role: str, team: str | None, active: bool, actor: str) -> User:
    """Change a user's role, team (an existing one) and whether they may sign in; audited ``user.update``
    with each changed field's old and new value. Deactivating revokes every session and token
    (:func:`deactivate_user`). Rights are read from the user's row on every request, so a new role or
    team holds from the user's next request."""
    role = check_role(role).value
    team = (team or "").strip() or None
    if role in TEAM_ROLES and not team:
        raise ArrearsError(f"team: a {role} must belong to a team")
    team_row = team_by_code(session, team) if team else None
    old_team = session.get(Team, user.team_id).code if user.team_id else None  # type: ignore[union-attr]
    changes: dict[str, object] = {}
    if user.role != role:
        changes["role"] = [user.role, role]
    if old_team != (team_row.code if team_row else None):
        changes["team"] = [old_team, team_row.code if team_row else None]
    user.role, user.team_id = role, team_row.id if team_row else None
    if changes:
        session.flush()
        record(session, actor=actor, action="user.update", entity="user", entity_id=str(user.id),
               detail={"username": user.username, **changes})
    if user.active and not active:
        deactivate_user(session, user=user, actor=actor)
    elif not user.active and active:
        user.active = True
        session.flush()
        record(session, actor=actor, action="user.reactivate", entity="user", entity_id=str(user.id),
               detail={"username": user.username})
    return user


def deactivate_user(session: Session, *, user: User, actor: str) -> None:
    """The user may no longer sign in: inactive, and every session and API token revoked."""
    if not user.active:
        raise ArrearsError(f"user {user.username!r} is already inactive")
    user.active = False
    session.flush()
    revoked = revoke_user_tokens(session, user=user, actor=actor, reason="deactivated")
    record(session, actor=actor, action="user.deactivate", entity="user", entity_id=str(user.id),
           detail={"username": user.username, "tokens_revoked": revoked})


# --------------------------------------------------------------------------------------------
# Tokens (web sessions and API bearer tokens)


@dataclass(frozen=True)
class IssuedToken:
    """The token itself (shown once, never stored) and the row that stands for it."""

    token: str
    token_id: int
    kind: str
    expires_at: datetime


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session,
    *,
    user: User,
    kind: str = "api",
    ttl: timedelta | None = None,
    label: str | None = None,
    actor: str | None = None,
) -> IssuedToken:
    """A new opaque random token for ``user``: ``kind`` ``session`` (web cookie) or ``api`` (bearer)."""
    if kind not in ("session", "api"):
        raise ArrearsError(f"unknown token kind {kind!r}; kinds are session, api")
    if not user.active:
        raise Forbidden(f"user {user.username!r} is disabled")
    ttl = ttl if ttl is not None else (SESSION_TTL if kind == "session" else API_TOKEN_TTL)
    if ttl <= timedelta(0):
        raise ArrearsError("token lifetime must be positive")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utc_now()
    row = AuthToken(user_id=user.id, kind=kind, token_hash=token_digest(token), label=label, created_at=now,
                    expires_at=now + ttl)
    session.add(row)
    session.flush()
    record(session, actor=actor or user.username, action="token.issue", entity="auth_token", entity_id=str(row.id),
           detail={"user": user.username, "kind": kind, "expires_at": row.expires_at, "label": label})
    return IssuedToken(token=token, token_id=row.id, kind=kind, expires_at=row.expires_at)


def _token_row(session: Session, token: str) -> AuthToken | None:
    return session.scalars(select(AuthToken).where(AuthToken.token_hash == token_digest(token))).one_or_none()


def verify_token(session: Session, *, token: str, kind: str | None = None) -> User:
    """The user a token belongs to, or :class:`AuthError` (unknown, wrong kind, expired, revoked,
    user disabled). Read-only."""
    row = _token_row(session, token) if token else None
    if row is None or (kind is not None and row.kind != kind):
        raise AuthError("invalid token")
    if row.revoked_at is not None:
        raise AuthError("token revoked")
    if row.expires_at <= utc_now():
        raise AuthError("token expired")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise AuthError("account disabled")
    return user


def revoke_token(session: Session, *, token: str, actor: str) -> bool:
    """Revoke a token (logout). False when it was unknown or already revoked."""
    row = _token_row(session, token)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utc_now()
    session.flush()
    record(session, actor=actor, action="token.revoke", entity="auth_token", entity_id=str(row.id),
           detail={"user_id": row.user_id, "kind": row.kind})
    return True


def revoke_user_tokens(session: Session, *, user: User, actor: str, reason: str) -> int:
    now = utc_now()
    rows = session.scalars(select(AuthToken).where(AuthToken.user_id == user.id, AuthToken.revoked_at.is_(None),
                                                   AuthToken.expires_at > now)).all()
    for row in rows:
        row.revoked_at = now
        record(session, actor=actor, action="token.revoke", entity="auth_token", entity_id=str(row.id),
               detail={"user_id": user.id, "kind": row.kind, "reason": reason})
    session.flush()
    return len(rows)


# --------------------------------------------------------------------------------------------
# Data scope and audited reveal


def case_scope(user: Any, team_column: Any = None) -> ColumnElement[bool]:
    """Filter for the cases ``user`` may see: their own team's for agents and team leads, all for
    supervisors, compliance, admin and auditors. ``team_column`` defaults to a column named
    ``team_id`` (pass the mapped column, e.g. ``Case.team_id``, when joins make it ambiguous)."""
    col = team_column if team_column is not None else column("team_id")
    if sees_all_teams(user.role):
        return true()
    if user.team_id is None:
        return false()
    return col == user.team_id


class RevealLimited(ArrearsError):
    """Too many reveals by one user within the window (``ARREARS_REVEAL_LIMIT`` per
    ``ARREARS_REVEAL_WINDOW_SECONDS``). The refusal is an audit record: the entry point commits it and
    answers 429 instead of letting the exception roll the transaction back."""

    status = 429
    code = "reveal_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def recent_actions(session: Session, *, user: User, action: str, since: datetime) -> int:
    """The user's audit records ``action`` since ``since``, counted in the store (so every process sees
    the same count), after taking the user's lock for that action: two at once are counted one after
    the other. SQLite has one writer at a time; PostgreSQL takes a transaction-level advisory lock."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key || CAST(:uid AS text)))"),
                        {"key": f"arrears.{action}:", "uid": user.id})
    return session.scalar(select(func.count()).select_from(AuditRecord).where(
        AuditRecord.actor == user.username, AuditRecord.action == action, AuditRecord.at >= since)) or 0


def reveal(session: Session, *, user: User, kind: str, value: str, subject: str, purpose: str = "view",
           limit: int | None = None, window_seconds: int | None = None) -> str:
    """``value`` unmasked for ``user``, if the policy allows; every reveal is an audit record.

    ``subject`` names whose data it is (e.g. ``customer:C123``); the value itself never goes into
    the audit log. ``purpose="dial"`` hands a phone number to the dialer.

    At most ``limit`` reveals (view and dial together) per user within ``window_seconds`` (default: the
    settings ``reveal_limit`` and ``reveal_window_seconds``; a limit of 0 = none): beyond it
    :class:`RevealLimited`, after an audit record ``pii.reveal_limited`` the caller must commit.
    """
    check_kind(kind)
    if not can_reveal(kind, user.role, purpose):
        raise Forbidden(f"role {user.role} may not unmask {kind} (purpose {purpose})")
    if limit is None or window_seconds is None:
        settings = get_settings()
        limit = settings.reveal_limit if limit is None else limit
        window_seconds = settings.reveal_window_seconds if window_seconds is None else window_seconds
    if limit > 0:
        done = recent_actions(session, user=user, action="pii.reveal",
                              since=utc_now() - timedelta(seconds=window_seconds))
        if done >= limit:
            record(session, actor=user.username, action="pii.reveal_limited", entity="personal_data",
                   entity_id=subject[:64], detail={"kind": kind, "purpose": purpose, "role": user.role,
                                                   "limit": limit, "window_seconds": window_seconds})
            raise RevealLimited(f"too many reveals: at most {limit} within {window_seconds} seconds; try again "
                                "shortly (the refusal is recorded)", retry_after=window_seconds)
    record(session, actor=user.username, action="pii.reveal", entity="personal_data", entity_id=subject[:64],
           detail={"kind": kind, "purpose": purpose, "role": user.role})
    return value
