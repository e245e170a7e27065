"""Sessions, CSRF and the page route class of the web UI.

- **Session**: after a successful login (:func:`arrears.auth.service.login`, lockouts as they are) a
  token of kind ``session`` is issued (:func:`arrears.auth.service.issue_token`) and set in the
  ``arrears_session`` cookie: HttpOnly, SameSite=Lax, Secure over HTTPS. Every page checks it with
  :func:`arrears.auth.service.verify_token`; logout revokes it.
- **CSRF**: every POST carries the session's CSRF token, in the ``csrf_token`` form field or the
  ``X-CSRF-Token`` header (HTMX sends it from ``<body hx-headers>``). The token is derived from the
  session token (sha256 over a fixed prefix and the secret session token): only a page served to the
  session can know it, and nothing needs storing. The login form, before any session, uses a
  double-submit cookie (``arrears_login_csrf``).
- **Not signed in**: a page answers 303 to ``/login?next=…``; an HTMX request 401 with ``HX-Redirect``.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse

from arrears.auth.deps import SESSION_COOKIE, DbSession, csrf_token
from arrears.auth.model import AuthError, check_role
from arrears.auth.service import verify_token
from arrears.auth.tables import User
from arrears.kit.errors import ArrearsError

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"  # the same as arrears.auth.deps.CSRF_HEADER, which the API checks
#: Double-submit cookie of the login form (there is no session yet to bind a token to).
LOGIN_CSRF_COOKIE = "arrears_login_csrf"


class LoginRequired(ArrearsError):
    """No valid web session: the caller is sent to the login page."""

    status = 401


class CsrfRefused(ArrearsError):
    """A POST without the session's CSRF token."""

    status = 403


class PageForbidden(ArrearsError):
    """Signed in, but the role may not open this page."""

    status = 403


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def safe_next(target: str | None) -> str:
    """A local path to return to after login (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_redirect(request: Request) -> Response:
    # Back to the page after signing in; a form post cannot be replayed, so it returns home.
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "") \
        if request.method == "GET" else "/"
    url = f"/login?next={quote(safe_next(target), safe='')}"
    if is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


@dataclass(frozen=True)
class Viewer:
    """Who is signed in, as plain values: what pages show of the user, usable after the request's
    transaction ended (an error page is rendered after the rollback)."""

    id: int
    username: str
    display_name: str | None
    role: str


def web_user(request: Request, session: DbSession) -> User:
    """The signed-in user of a page request (the ``arrears_session`` cookie), else :class:`LoginRequired`."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired("sign in first")
    try:
        user = verify_token(session, token=token, kind="session")
    except AuthError as exc:
        raise LoginRequired(exc.message) from None
    request.state.session_token = token
    request.state.user = Viewer(user.id, user.username, user.display_name, user.role)
    return user


WebUser = Annotated[User, Depends(web_user)]


def page_role(*roles: str) -> Callable[[User], User]:
    """A dependency letting only ``roles`` open the page (403 page for other signed-in users)."""
    allowed = frozenset(check_role(r).value for r in roles)

    def dependency(user: WebUser) -> User:
        if user.role not in allowed:
            raise PageForbidden(f"role {user.role} may not open this page")
        return user

    return dependency


async def check_csrf(request: Request, user: WebUser) -> User:
    """POST guard: the form field or header must carry this session's CSRF token (403 otherwise)."""
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not same(sent, csrf_token(request.state.session_token)):
        raise CsrfRefused("the form has expired or did not come from this site: reload the page and try again")
    return user


#: The signed-in user of a POST whose CSRF token was checked.
CsrfUser = Annotated[User, Depends(check_csrf)]
