"""The cardholder's pages under ``/p/<token>`` (docs/self-service.md).

Nothing about the debt is shown before the identity check: the first page is the same for every
token, working or not, and every refusal reads the same. The pages need no JavaScript; forms carry a
double-submit CSRF token (cookie ``arrears_portal_csrf`` and a hidden field); a verified visit is an
HttpOnly, SameSite=Strict cookie scoped to the link's own path.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from arrears.kit.clientaddr import request_client
from arrears.kit.db import transaction, write_first
from arrears.portal.codes import normalise_code, request_identity_code, verify_identity_code
from arrears.portal.model import SESSION_IDLE, normalise_last4
from arrears.portal.service import (
    IdentityRefused,
    TooManyAttempts,
    Verified,
    end_visit,
    note_opened,
    overview,
    portal_key,
    verify_identity,
    visit,
)
from arrears.portal.tables import PortalLink
from arrears.web.i18n import N_
from arrears.web.render import gettext, render, settings_of
from arrears.web.security import new_login_csrf, same

router = APIRouter(include_in_schema=False)

VISIT_COOKIE = "arrears_portal"
CSRF_COOKIE = "arrears_portal_csrf"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _path(token: str) -> str:
    """The link's path as it goes into a cookie, a form or a redirect: percent-encoded (a malformed
    token may hold any character; a real one is ``[0-9a-z]+.[A-Z2-7]+``)."""
    return f"/p/{quote(token[:40], safe='.')}"


def _verify_page(request: Request, token: str, *, status_code: int = 200, error: str | None = None) -> Response:
    csrf = request.cookies.get(CSRF_COOKIE) or new_login_csrf()
    response = render(request, "portal_verify.html", status_code=status_code, token=token, portal_csrf=csrf,
                      error=error, action=_path(token), send_code=f"{_path(token)}/code")
    response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=_secure(request),
                        path=_path(token))
    response.headers["Cache-Control"] = "no-store"
    return response


def _born(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if len(text.strip()) == 10 else None
    except ValueError:
        return None


@router.get("/p/{token}")
def portal_start(request: Request, token: str) -> Response:
    """The identity check: the same page whatever the token."""
    if len(token) <= 40:
        note_opened(request.app.state.engine, token=token, key=portal_key(settings_of(request)))
    return _verify_page(request, token[:40])


@router.post("/p/{token}")
def portal_verify(
    request: Request, token: str,
    id_last4: Annotated[str, Form(max_length=8)] = "",
    birth_date: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if not same(csrf_token, request.cookies.get(CSRF_COOKIE)):
        return _verify_page(request, token[:40], status_code=403,
                            error=gettext(request, N_("The page has expired. Please try again.")))
    try:
        verified = verify_identity(request.app.state.engine, token=token[:40], key=portal_key(settings_of(request)),
                                   last4=normalise_last4(id_last4), born=_born(birth_date),
                                   remote=request_client(request))
    except TooManyAttempts:
        return _verify_page(request, token[:40], status_code=429, error=gettext(
            request, N_("Too many attempts from your network. Please try again in 15 minutes.")))
    except IdentityRefused:
        return _verify_page(request, token[:40], status_code=401, error=gettext(
            request, N_("These details do not match our records, or this link no longer works. Please check "
                        "them and try again, or call us.")))
    return _into_visit(request, token, verified)


def _into_visit(request: Request, token: str, verified: Verified) -> Response:
    response = RedirectResponse(f"{_path(token)}/home", status_code=303)
    response.set_cookie(VISIT_COOKIE, verified.session_token, max_age=int(SESSION_IDLE.total_seconds()),
                        httponly=True, samesite="strict", secure=_secure(request), path=_path(token))
    response.delete_cookie(CSRF_COOKIE, path=_path(token))
    return response


# -- identity by a one-time code (arrears.portal.codes) -----------------------------------------------

def _code_page(request: Request, token: str, *, status_code: int = 200, error: str | None = None) -> Response:
    csrf = request.cookies.get(CSRF_COOKIE) or new_login_csrf()
    response = render(request, "portal_code.html", status_code=status_code, token=token, portal_csrf=csrf,
                      error=error, action=f"{_path(token)}/code/verify", resend=f"{_path(token)}/code",
                      back=_path(token))
    response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=_secure(request),
                        path=_path(token))
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/p/{token}/code")
def portal_send_code(request: Request, token: str, csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """"Send me a code instead": the same answer whether or not the link works (nothing is sent then)."""
    if not csrf_ok(request, csrf_token):
        return expired_page(request, token)
    try:
        request_identity_code(request.app.state.engine, token=token[:40], key=portal_key(settings_of(request)),
                              remote=request_client(request))
    except TooManyAttempts:
        return _verify_page(request, token[:40], status_code=429, error=gettext(
            request, N_("Too many attempts from your network. Please try again in 15 minutes.")))
    return RedirectResponse(f"{_path(token)}/code", status_code=303)


@router.get("/p/{token}/code")
def portal_code_form(request: Request, token: str) -> Response:
    """Where the code is entered: the same page whatever the token (it shows nothing of the number)."""
    return _code_page(request, token[:40])


@router.post("/p/{token}/code/verify")
def portal_verify_code(
    request: Request, token: str, code: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if not csrf_ok(request, csrf_token):
        return _code_page(request, token[:40], status_code=403,
                          error=gettext(request, N_("The page has expired. Please try again.")))
    try:
        verified = verify_identity_code(request.app.state.engine, token=token[:40],
                                        key=portal_key(settings_of(request)), code=normalise_code(code),
                                        remote=request_client(request))
    except TooManyAttempts:
        return _code_page(request, token[:40], status_code=429, error=gettext(
            request, N_("Too many attempts from your network. Please try again in 15 minutes.")))
    except IdentityRefused:
        return _code_page(request, token[:40], status_code=401, error=gettext(
            request, N_("This code is not right, has expired or was already used, or this link no longer works. "
                        "Please try again or ask for a new code.")))
    return _into_visit(request, token, verified)


def csrf_ok(request: Request, csrf_token: str) -> bool:
    """The form's token matches the page's CSRF cookie (double submit)."""
    return same(csrf_token, request.cookies.get(CSRF_COOKIE))


def expired_page(request: Request, token: str) -> Response:
    """The answer to a forged or stale form: back to the identity check, 403."""
    return _verify_page(request, token[:40], status_code=403,
                        error=gettext(request, N_("The page has expired. Please try again.")))


def open_visit(request: Request, session: Session, token: str) -> PortalLink | None:
    """The link of the verified visit this request belongs to, or None (send the visitor back to
    :func:`to_start`). Call inside ``transaction(write_first(engine))``: it updates the visit's
    last-seen time."""
    return visit(session, token=token[:40], key=portal_key(settings_of(request)),
                 session_token=request.cookies.get(VISIT_COOKIE))


def to_start(token: str) -> Response:
    return RedirectResponse(_path(token[:40]), status_code=303)


def link_path(token: str, rest: str = "") -> str:
    """A path under the link (``rest`` starts with ``/``), percent-encoded."""
    return f"{_path(token)}{rest}"


def portal_page(request: Request, template: str, token: str, *, status_code: int = 200, **context: object) -> Response:
    """A page of a verified visit: rendered with the form token (``portal_csrf``), the link's base path
    (``base``), never cached."""
    csrf = request.cookies.get(CSRF_COOKIE) or new_login_csrf()
    response = render(request, template, status_code=status_code, token=token[:40], portal_csrf=csrf,
                      base=_path(token), **context)
    response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=_secure(request),
                        path=_path(token))
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/p/{token}/home")
def portal_home(request: Request, token: str) -> Response:
    settings = settings_of(request)
    with transaction(write_first(request.app.state.engine)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        figures = overview(session, link=link, time_zone=settings.timezone)
        expires_at = link.expires_at
    return portal_page(request, "portal_home.html", token, o=figures, expires_at=expires_at,
                       leave=link_path(token, "/leave"))


@router.post("/p/{token}/leave")
def portal_leave(request: Request, token: str, csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    if not csrf_ok(request, csrf_token):
        return expired_page(request, token)
    with transaction(write_first(request.app.state.engine)) as session:
        end_visit(session, session_token=request.cookies.get(VISIT_COOKIE))
    response = RedirectResponse(_path(token[:40]), status_code=303)
    response.delete_cookie(VISIT_COOKIE, path=_path(token[:40]))
    return response
