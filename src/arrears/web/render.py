"""Rendering pages: one Jinja2 environment per UI language (its gettext installed through the i18n
extension), the request's language, the navigation by role and the context every page gets."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.auth.model import Role, mask
from arrears.auth.tables import User
from arrears.config import Settings, get_settings
from arrears.web import labels
from arrears.web.i18n import (
    DEFAULT_LOCALE,
    LANG_COOKIE,
    LANGUAGE_NAMES,
    LOCALES,
    N_,
    Formatter,
    check_locale,
    translations,
)
from arrears.web.security import csrf_token, is_htmx

#: Where each role starts (``/`` sends it there) and the pages its navigation shows: (path, label).
START_PAGES: dict[str, str] = {
    Role.AGENT: "/queue",
    Role.TEAM_LEAD: "/team",
    Role.SUPERVISOR: "/supervisor",
    Role.COMPLIANCE: "/compliance",
    Role.ADMIN: "/admin",
    Role.AUDITOR: "/audit",
}
NAVIGATION: dict[str, tuple[tuple[str, str], ...]] = {
    Role.AGENT: (("/queue", N_("My queue")), ("/myday", N_("My day"))),
    Role.TEAM_LEAD: (("/team", N_("Team")), ("/queue", N_("My queue")), ("/myday", N_("My day")),
                     ("/approvals", N_("Approvals")), ("/compliance/complaints", N_("Complaints"))),
    Role.SUPERVISOR: (("/supervisor", N_("Supervision")), ("/team", N_("Team")), ("/approvals", N_("Approvals"))),
    Role.COMPLIANCE: (("/compliance", N_("Compliance")), ("/compliance/complaints", N_("Complaints")),
                      ("/audit", N_("Audit log")), ("/approvals", N_("Approvals"))),
    Role.ADMIN: (("/admin", N_("Administration")), ("/supervisor", N_("Supervision")),
                 ("/compliance", N_("Compliance")), ("/audit", N_("Audit log"))),
    Role.AUDITOR: (("/audit", N_("Audit log")), ("/compliance", N_("Compliance"))),
}
ROLE_NAMES = {
    Role.AGENT: N_("Agent"), Role.TEAM_LEAD: N_("Team lead"), Role.SUPERVISOR: N_("Supervisor"),
    Role.COMPLIANCE: N_("Compliance officer"), Role.ADMIN: N_("Administrator"), Role.AUDITOR: N_("Auditor"),
}


@cache
def environment(locale: str) -> Environment:
    env = Environment(
        loader=PackageLoader("arrears.web", "templates"),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    return env


def request_locale(request: Request) -> str:
    """``?lang=`` first, then the language cookie, then zh_CN."""
    return (check_locale(request.query_params.get("lang")) or check_locale(request.cookies.get(LANG_COOKIE))
            or DEFAULT_LOCALE)


def settings_of(request: Request) -> Settings:
    return getattr(request.app.state, "settings", None) or get_settings()


def formatter(request: Request) -> Formatter:
    return Formatter(request_locale(request), settings_of(request).timezone)


def gettext(request: Request, message: str) -> str:
    """``message`` in the request's language (for text built in Python, e.g. flash messages)."""
    return translations(request_locale(request)).gettext(message)


#: Actors that are the product itself (batch jobs, the demo, the outbox), shown as "System".
_SYSTEM_ACTORS = {"system", "demo", "batch", "cycle", "worker", "outbox", "cli", "test"}


def actor_namer(request: Request) -> Callable[[object], str]:
    """``who(actor)``: an actor as people read it. ``user:<id>`` and usernames → the user's display name
    (else username); ``strategy:<name>/…`` → "Strategy <name>"; the product's own jobs → "System";
    anything else (a source system of the bank's files) as it is. Users are read once per page."""
    names: dict[str, str] = {}

    def load() -> None:
        engine = getattr(request.app.state, "engine", None)
        if engine is None:
            return
        with Session(engine) as session:
            for id_, username, display in session.execute(select(User.id, User.username, User.display_name)):
                names[username] = names[f"user:{id_}"] = display or username
        names.setdefault("", "")

    def who(actor: object) -> str:
        value = "" if actor is None else str(actor)
        if not value:
            return "—"
        if not names:
            load()
        if value in names:
            return names[value]
        if value.startswith("strategy:"):
            return gettext(request, N_("Strategy %(name)s")) % {"name": value.split(":", 1)[1].split("/", 1)[0]}
        if value in _SYSTEM_ACTORS or value.startswith("system"):
            return gettext(request, N_("System"))
        return value

    return who


@cache
def _service_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(pattern), msgid) for pattern, msgid in labels.SERVICE_MESSAGES)


def service_message(request: Request, message: str) -> str:
    """A service's refusal (English, as the API gives it) in the reader's language: the catalogue
    message of the first of ``labels.SERVICE_MESSAGES`` it matches, else the message as it is."""
    for pattern, msgid in _service_patterns():
        found = pattern.match(message)
        if found:
            params = {k: gettext(request, labels.SERVICE_MESSAGE_WORDS[k][v])
                      if v in labels.SERVICE_MESSAGE_WORDS.get(k, {}) else v for k, v in found.groupdict().items()}
            text = gettext(request, msgid)
            return text % params if params else text
    return message


def _lang_url(request: Request, locale: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"] + [("lang", locale)]
    return f"{request.url.path}?{urlencode(params)}"


def context(request: Request, **extra: Any) -> dict[str, Any]:
    locale = request_locale(request)
    user = getattr(request.state, "user", None)
    token = getattr(request.state, "session_token", None)
    role = user.role if user is not None else None
    return {
        "request": request,
        "user": user,
        "role": role,
        "role_name": ROLE_NAMES.get(role, "") if role else "",
        "csrf": csrf_token(token) if token else "",
        "locale": locale,
        "html_lang": "zh-CN" if locale == "zh_CN" else "en",
        "fmt": formatter(request),
        "nav": NAVIGATION.get(role, ()) if role else (),
        "languages": [(code, LANGUAGE_NAMES[code], _lang_url(request, code)) for code in LOCALES],
        "path": request.url.path,
        "labels": labels,
        "who": actor_namer(request),
        "mask_name": lambda value: mask("name", value, role) if role else "",
        **extra,
    }


def render(request: Request, template: str, status_code: int = 200, **extra: Any) -> HTMLResponse:
    """The template in the request's language; a ``?lang=`` choice is remembered in a cookie."""
    locale = request_locale(request)
    html = environment(locale).get_template(template).render(context(request, **extra))
    response = HTMLResponse(html, status_code=status_code)
    chosen = check_locale(request.query_params.get("lang"))
    if chosen is not None and chosen != check_locale(request.cookies.get(LANG_COOKIE)):
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 24 * 3600, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https")
    return response


#: The event an HTMX error answer triggers on the form that was sent when one field is wrong
#: (``HX-Trigger``; detail ``{"field": input name, "message": text}``): static/app.js marks the input.
FIELD_ERROR_EVENT = "arrears:field-error"


def error_page(request: Request, status: int, message: str, *, field: str | None = None,
               field_message: str | None = None) -> HTMLResponse:
    """The error as a page, or for HTMX a fragment into ``#flash``. ``field`` names the form input
    at fault: the fragment carries it (``data-field``) and says which it is, and the HTMX answer's
    ``HX-Trigger`` tells the page to mark it (``aria-invalid``, the message next to it, focus)."""
    titles = {403: N_("Not allowed"), 404: N_("Not found"), 409: N_("Not possible now"),
              422: N_("Please check the form")}
    title = titles.get(status, N_("Something went wrong"))
    shown = {"title": title, "message": message, "status": status, "field": field}
    if not is_htmx(request):
        return render(request, "error.html", status_code=status, **shown)
    # An HTMX request: the error goes into the page's message area, and the form stays as it was typed.
    response = render(request, "_error_fragment.html", status_code=status, **shown)
    response.headers["HX-Retarget"] = "#flash"
    response.headers["HX-Reswap"] = "innerHTML"
    if field:
        # JSON's \u escapes keep the header ASCII (headers are Latin-1; messages may be Chinese)
        response.headers["HX-Trigger"] = json.dumps(
            {FIELD_ERROR_EVENT: {"field": field, "message": field_message or message}})
    return response
