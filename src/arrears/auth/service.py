"""Users, passwords, login throttling, tokens, data scopes and audited reveals (the audit chain: ``audit.py``).

Services take the caller's session and ``flush()``; the entry point owns the transaction.
One exception to read carefully: :func:`authenticate` records a failed attempt and then raises,
so the entry point must COMMIT on :class:`AuthError` (not roll back) for throttling to count it;
:func:`login` is the entry point that does exactly that.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import ColumnElement, column, false, func, select, true
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
from arrears.auth.tables import AuthToken, LoginAttempt, Team, User
from arrears.kit.clock import utc_now
from arrears.kit.db import transaction
from arrears.kit.errors import ArrearsError, NotFound

# --------------------------------------------------------------------------------------------
# Settings of the security rules (documented in docs/security.md)

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
SESSION_TTL = timedelta(hours=12)
API_TOKEN_TTL = timedelta(days=90)
TOKEN_BYTES = 32

_hasher = PasswordHasher()
# Verified against when the username is unknown, so both paths cost one argon2 verification.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


# --------------------------------------------------------------------------------------------
# Passwords


def hash_password(password: str) -> str:
    """argon2id hash (PHC string) with the library's current parameters."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ArrearsError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than the current ones."""
    return _hasher.check_needs_rehash(password_hash)


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


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    team: str | None = None,
    display_name: str | None = None,
    actor: str,
) -> User:
    """A new user. Agents and team leads must belong to a team (created if it does not exist)."""
    role = check_role(role).value
    username = username.strip()
    if not username or len(username) > 64:
        raise ArrearsError("username must be 1 to 64 characters")
    if role in TEAM_ROLES and not team:
        raise ArrearsError(f"a {role} must belong to a team (--team)")
    if session.scalars(select(User.id).where(User.username == username)).first() is not None:
        raise ArrearsError(f"user {username!r} already exists")
    team_row = get_or_create_team(session, code=team, actor=actor) if team else None
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
    """New password; every token of the user is revoked."""
    user.password_hash = hash_password(password)
    user.password_changed_at = utc_now()
    revoked = revoke_user_tokens(session, user=user, actor=actor, reason="password changed")
    record(session, actor=actor, action="user.password", entity="user", entity_id=str(user.id),
           detail={"tokens_revoked": revoked})


# --------------------------------------------------------------------------------------------
# Login and throttling


def _attempt(session: Session, *, username: str, user: User | None, outcome: str, remote: str | None) -> None:
    session.add(LoginAttempt(username=username[:64], user_id=user.id if user else None, at=utc_now(),
                             outcome=outcome, remote=remote))
    session.flush()


def recent_failures(session: Session, *, user: User) -> int:
    """Failed passwords that count towards a lock: within the window, after the last lock ended
    and after the last successful login."""
    now = utc_now()
    since = now - FAILURE_WINDOW
    if user.locked_until is not None and user.locked_until > since:
        since = user.locked_until
    if user.last_login_at is not None and user.last_login_at > since:
        since = user.last_login_at
    return session.scalar(
        select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.user_id == user.id, LoginAttempt.outcome == "bad_password", LoginAttempt.at >= since,
        )
    ) or 0


def authenticate(session: Session, *, username: str, password: str, remote: str | None = None) -> User:
    """The user with this username and password, or :class:`AuthError`.

    Every attempt is recorded. After ``MAX_FAILURES`` wrong passwords within ``FAILURE_WINDOW``
    the account is locked for ``LOCKOUT`` (:class:`AccountLocked`); attempts while locked are
    refused without checking the password. The failure is flushed before raising: commit it.
    """
    now = utc_now()
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        verify_password(_DUMMY_HASH, password)
        _attempt(session, username=username, user=None, outcome="unknown_user", remote=remote)
        raise AuthError("wrong username or password")
    if user.locked_until is not None and user.locked_until > now:
        _attempt(session, username=username, user=user, outcome="locked", remote=remote)
        raise AccountLocked(f"account locked until {user.locked_until.isoformat()}", until=user.locked_until)
    if not verify_password(user.password_hash, password):
        _attempt(session, username=username, user=user, outcome="bad_password", remote=remote)
        failures = recent_failures(session, user=user)
        record(session, actor=username, action="auth.login_failed", entity="user", entity_id=str(user.id),
               detail={"remote": remote, "failures": failures})
        if failures >= MAX_FAILURES:
            user.locked_until = now + LOCKOUT
            session.flush()
            record(session, actor="system", action="auth.locked", entity="user", entity_id=str(user.id),
                   detail={"until": user.locked_until, "failures": failures})
            raise AccountLocked(f"too many failed logins: account locked until {user.locked_until.isoformat()}",
                                until=user.locked_until)
        raise AuthError("wrong username or password")
    if not user.active:
        _attempt(session, username=username, user=user, outcome="inactive", remote=remote)
        raise AuthError("account disabled")
    if needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = now
    _attempt(session, username=username, user=user, outcome="ok", remote=remote)
    record(session, actor=username, action="auth.login", entity="user", entity_id=str(user.id),
           detail={"remote": remote})
    return user


def login(engine: Engine, *, username: str, password: str, remote: str | None = None) -> User:
    """Entry point around :func:`authenticate`: its own transaction, committed even when the login
    fails, so failed attempts count towards the lock."""
    with transaction(engine) as session:
        try:
            return authenticate(session, username=username, password=password, remote=remote)
        except AuthError as exc:
            failure = exc
    raise failure


def unlock(session: Session, *, user: User, actor: str) -> None:
    user.locked_until = None
    session.flush()
    record(session, actor=actor, action="auth.unlock", entity="user", entity_id=str(user.id), detail={})


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


def reveal(session: Session, *, user: User, kind: str, value: str, subject: str, purpose: str = "view") -> str:
    """``value`` unmasked for ``user``, if the policy allows; every reveal is an audit record.

    ``subject`` names whose data it is (e.g. ``customer:C123``); the value itself never goes into
    the audit log. ``purpose="dial"`` hands a phone number to the dialer.
    """
    check_kind(kind)
    if not can_reveal(kind, user.role, purpose):
        raise Forbidden(f"role {user.role} may not unmask {kind} (purpose {purpose})")
    record(session, actor=user.username, action="pii.reveal", entity="personal_data", entity_id=subject[:64],
           detail={"kind": kind, "purpose": purpose, "role": user.role})
    return value
