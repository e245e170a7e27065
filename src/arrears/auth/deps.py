"""FastAPI dependencies shared by every domain's endpoints: the request's transaction and its caller.

One transaction per request: :func:`db_session` opens it, commits when the endpoint returns and
rolls it back when the endpoint raises. Services only flush.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from arrears.auth.model import AuthError, Forbidden, check_role
from arrears.auth.service import verify_token
from arrears.auth.tables import User
from arrears.kit.db import write_first

#: Name of the web UI's session cookie.
SESSION_COOKIE = "arrears_session"
#: Header carrying a web session's CSRF token (HTMX sends it on every request of a page).
CSRF_HEADER = "X-CSRF-Token"
#: Methods that change nothing: a session cookie alone is enough for them.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(session_token: str) -> str:
    """The CSRF token of a web session: sha256 over a fixed prefix and the secret session token, so only
    a page served to that session can know it, and nothing needs storing."""
    return hashlib.sha256(f"arrears-web-csrf\n{session_token}".encode()).hexdigest()


class CsrfRefused(Forbidden):
    """A write signed in by the session cookie alone, without the session's CSRF token."""

_bearer = HTTPBearer(auto_error=False, description="API token: `Authorization: Bearer <token>`")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="web session cookie")


def db_session(request: Request) -> Iterator[Session]:
    """The request's one transaction: committed after the endpoint returns, rolled back if it raises.

    Every request may write (an audit record for an unmasked read, a claim after reading the
    caller's token), so on SQLite the transaction takes the write lock when it begins: requests are
    serialised rather than failing to upgrade a read lock. PostgreSQL runs them concurrently."""
    with Session(write_first(request.app.state.engine), expire_on_commit=False) as session, session.begin():
        yield session


DbSession = Annotated[Session, Depends(db_session, scope="function")]


def current_user(
    request: Request,
    session: DbSession,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> User:
    """The caller: an API token (``Authorization: Bearer``) or a web session cookie; 401 otherwise.

    A browser sends the cookie with any request, including one a page of another site makes it send,
    so the cookie alone authenticates reads only: a write (POST, PUT, PATCH, DELETE) signed in by the
    cookie must carry the session's CSRF token in ``X-CSRF-Token`` (403 otherwise)."""
    if bearer is not None:
        if bearer.scheme.lower() != "bearer":
            raise AuthError("use Authorization: Bearer <token>")
        return verify_token(session, token=bearer.credentials, kind="api")
    if cookie:
        user = verify_token(session, token=cookie, kind="session")
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER) or ""
            if not hmac.compare_digest(sent.encode(), csrf_token(cookie).encode()):
                raise CsrfRefused(f"a write signed in by the session cookie needs the session's {CSRF_HEADER} "
                                  "header; other systems use Authorization: Bearer <token>")
        return user
    raise AuthError("authentication required: send Authorization: Bearer <token>")


CurrentUser = Annotated[User, Depends(current_user)]


def require_role(*roles: str) -> Callable[[User], User]:
    """A dependency that lets only ``roles`` through (403 for any other authenticated caller)."""
    allowed = frozenset(check_role(r).value for r in roles)

    def dependency(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise Forbidden(f"role {user.role} may not do this (allowed: {', '.join(sorted(allowed))})")
        return user

    return dependency
