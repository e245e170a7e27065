"""Pages: login and logout, the home redirect by role, the start pages of the roles that later pages
fill, the agent's queue and "next case"."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from arrears.auth.deps import SESSION_COOKIE, DbSession
from arrears.auth.model import AccountLocked, AuthError, Role
from arrears.auth.service import SESSION_TTL, Throttle, case_scope, issue_token, login, record, revoke_token
from arrears.auth.tables import User
from arrears.cases import queue
from arrears.cases.service import business_date_of
from arrears.cases.tables import Case
from arrears.kit.clientaddr import request_client
from arrears.kit.clock import utc_now
from arrears.kit.db import transaction, write_first
from arrears.web import myday
from arrears.web import repository as repo
from arrears.web.i18n import N_
from arrears.web.inputs import PathId
from arrears.web.render import START_PAGES, gettext, render
from arrears.web.security import (
    LOGIN_CSRF_COOKIE,
    CsrfUser,
    WebUser,
    new_login_csrf,
    page_role,
    safe_next,
    same,
)

router = APIRouter(include_in_schema=False)

#: Roles that work from the queue (the API's ``/queue/next`` roles).
QUEUE_ROLES = (Role.AGENT, Role.TEAM_LEAD)
QueueUser = Annotated[User, Depends(page_role(*QUEUE_ROLES))]


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


# -- login / logout ---------------------------------------------------------------------------------

def _login_page(request: Request, *, next_: str, error: str | None = None, username: str = "",
                status_code: int = 200) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_csrf()
    response = render(request, "login.html", status_code=status_code, login_csrf=token, next=safe_next(next_),
                      error=error, username=username)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="lax", secure=_secure(request),
                        path="/login")
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:  # noqa: A002 - the query parameter's name
    return _login_page(request, next_=next)


@router.post("/login")
def login_submit(
    request: Request,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",  # noqa: A002
) -> Response:
    """Check the password with the auth service (failed attempts count towards the lock even here),
    then issue a web session token into an HttpOnly, SameSite=Lax cookie."""
    if not same(csrf_token, request.cookies.get(LOGIN_CSRF_COOKIE)):
        return _login_page(request, next_=next, username=username, status_code=403,
                           error=gettext(request, N_("The form has expired. Please sign in again.")))
    engine = request.app.state.engine
    settings = request.app.state.settings
    throttle = Throttle(per_pair=settings.login_max_failures_per_pair,
                        per_address=settings.login_max_failures_per_address,
                        per_username=settings.login_max_failures_per_username,
                        window=timedelta(minutes=settings.login_window_minutes))
    try:
        user = login(engine, username=username.strip(), password=password, remote=request_client(request),
                     throttle=throttle)
    except AccountLocked:
        return _login_page(request, next_=next, username=username, status_code=423,
                           error=gettext(request, N_("Too many failed sign-in attempts. Please wait a few minutes and try again.")))
    except AuthError:
        return _login_page(request, next_=next, username=username, status_code=401,
                           error=gettext(request, N_("Wrong username or password.")))
    with transaction(write_first(engine)) as session:
        found = session.get(User, user.id)
        assert found is not None
        issued = issue_token(session, user=found, kind="session", label="web", actor=found.username)
    target = safe_next(next)
    if target == "/":
        target = START_PAGES.get(user.role, "/")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, issued.token, max_age=int(SESSION_TTL.total_seconds()), httponly=True,
                        samesite="lax", secure=_secure(request), path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, session: DbSession, user: CsrfUser) -> Response:
    revoke_token(session, token=request.state.session_token, actor=user.username)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- home and the start pages of each role ------------------------------------------------------------

@router.get("/")
def home(user: WebUser) -> Response:
    return RedirectResponse(START_PAGES.get(user.role, "/queue"), status_code=303)


# -- the agent's queue ---------------------------------------------------------------------------------

@router.get("/queue")
def my_queue(request: Request, session: DbSession, user: QueueUser, notice: str | None = None) -> Response:
    """The cases the user holds and the team's waiting work, with bucket, DPD, amount past due and the
    next action."""
    now = utc_now()
    today = business_date_of(now)
    held = repo.held_rows(session, user=user, now=now, today=today)
    waiting = repo.waiting_rows(session, user=user, scope=case_scope(user, Case.team_id), now=now, today=today)
    notices = {"empty": N_("No case is waiting for you right now."),
               "capacity": N_("You already hold as many cases as you may: finish or release one first."),
               "released": N_("The case was released: it is back in the team's queue.")}
    return render(request, "queue.html", held=held, waiting=waiting, notice=notices.get(notice or ""))


@router.post("/queue/take")
def take_next(request: Request, session: DbSession, user: QueueUser, _: CsrfUser) -> Response:
    """Claim the best case through the work queue (audited like the API's claim) and open it."""
    try:
        found = queue.next_case(session, user=user)
    except queue.AtCapacity:
        return RedirectResponse("/queue?notice=capacity", status_code=303)
    if found is None:
        return RedirectResponse("/queue?notice=empty", status_code=303)
    record(session, actor=user.username, action="queue.claim", entity="case", entity_id=found.id,
           detail={"lease_expires_at": found.lease_expires_at, "source": "web"})
    return RedirectResponse(f"/case/{found.id}", status_code=303)


@router.post("/case/{case_id}/release")
def release(request: Request, case_id: PathId, session: DbSession, user: QueueUser, _: CsrfUser) -> Response:
    from arrears.cases import repository as case_repo

    case = case_repo.case_in_scope(session, case_id, scope=case_scope(user, Case.team_id))
    queue.release(session, case_id=case.id, user=user)
    record(session, actor=user.username, action="queue.release", entity="case", entity_id=case.id,
           detail={"source": "web"})
    return RedirectResponse("/queue?notice=released", status_code=303)


router.include_router(myday.router)  # /myday: the agent's day list, one click from the queue

__all__ = ["router"]
