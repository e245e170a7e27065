"""The web UI: server-rendered pages (Jinja2 + HTMX) over the same services as the REST API.

The pages are a FastAPI application of their own (:func:`application`), with HTML error pages in the
caller's language, mounted at the site's root by :func:`pages_mount` so that it only takes the paths
its own routes match: everything else (the API, its 404 and 405 answers) stays the API's.
:func:`static_files` serves ``static/`` (own CSS and JS, vendored HTMX and ECharts) under
``/static``. See docs/web.md.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from arrears.contact.service import ContactFieldError
from arrears.kit.errors import ArrearsError
from arrears.kit.inputs import InputError
from arrears.plans.service import PlanFieldError
from arrears.portal import actions as portal_actions
from arrears.portal import pages as portal_pages
from arrears.portal import pay as portal_pay
from arrears.portal import plan as portal_plan
from arrears.web import admin, approvals, casepage, compliance, dashboards, pages, search
from arrears.web import agencies as agency_pages
from arrears.web import complaints as complaint_pages
from arrears.web.i18n import N_
from arrears.web.inputs import refuse_control_characters
from arrears.web.security import LoginRequired, login_redirect


def static_files() -> StaticFiles:
    """The package's ``static/`` directory (installed with the package, no CDN)."""
    return StaticFiles(packages=[("arrears.web", "static")])


def _login_required(request: Request, exc: Exception) -> Response:
    return login_redirect(request)


#: Errors that name the form field they refuse (``.field``: the input's name), so the page can mark it.
FIELD_ERRORS: tuple[type[ArrearsError], ...] = (casepage.FormError, PlanFieldError, ContactFieldError, InputError)


def _arrears_error(request: Request, exc: Exception) -> Response:
    from arrears.web.render import error_page, service_message

    assert isinstance(exc, ArrearsError)
    if isinstance(exc, casepage.FormError):
        return error_page(request, exc.status, exc.translated(request), field=exc.field,
                          field_message=exc.translated(request))
    if isinstance(exc, FIELD_ERRORS) and getattr(exc, "field", None):
        return error_page(request, exc.status, service_message(request, exc.message),
                          field=exc.field,  # type: ignore[attr-defined]
                          field_message=service_message(request, exc.message))
    return error_page(request, exc.status, service_message(request, exc.message))


def _validation_error(request: Request, exc: Exception) -> Response:
    from arrears.web import labels
    from arrears.web.render import error_page, gettext

    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    loc = [str(p) for p in first.get("loc", ())]
    field = ".".join(loc[1:])
    # the validator's refusal in the reader's language (its English text is never shown on a page)
    words = gettext(request, labels.VALIDATION.get(str(first.get("type", "")), N_("Not a valid value")))
    context = {k: v for k, v in (first.get("ctx") or {}).items() if isinstance(v, int | str)}
    try:
        msg = words % context if "%(" in words else words
    except (KeyError, TypeError, ValueError):
        msg = gettext(request, N_("Not a valid value"))
    # a form or query field (not the path: a wrong path is no field to correct)
    named = field if loc[:1] in (["body"], ["query"]) and field else None
    label = labels.FIELDS.get(field) if named else None
    return error_page(request, 422, f"{gettext(request, label)}: {msg}" if label else msg, field=named,
                      field_message=msg)


def _http_error(request: Request, exc: Exception) -> Response:
    from arrears.web.render import error_page

    assert isinstance(exc, StarletteHTTPException)
    return error_page(request, exc.status_code, str(exc.detail))


def application(parent: FastAPI) -> FastAPI:
    """The pages, sharing ``parent``'s state (engine, settings, case rules).

    Errors become HTML pages (or fragments for HTMX) here. They are handled after the request's
    transaction has ended, so a failed write is rolled back like in the API; answers that must keep
    a write (a logged gate block, a counted wrong SMS code) are returned, not raised."""
    # every path, query and form value of every page is checked for control characters first
    web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, title="arrears web",
                  dependencies=[Depends(refuse_control_characters)])
    web.state = parent.state
    web.include_router(pages.router)
    web.include_router(casepage.router)
    web.include_router(approvals.router)
    web.include_router(search.router)
    web.include_router(dashboards.router)
    web.include_router(compliance.router)
    web.include_router(agency_pages.router)
    web.include_router(complaint_pages.router)
    web.include_router(admin.router)
    web.include_router(portal_pages.router)
    web.include_router(portal_actions.router)
    web.include_router(portal_pay.router)
    web.include_router(portal_plan.router)
    web.add_exception_handler(LoginRequired, _login_required)
    web.add_exception_handler(ArrearsError, _arrears_error)
    web.add_exception_handler(RequestValidationError, _validation_error)
    web.add_exception_handler(StarletteHTTPException, _http_error)
    return web


class PagesMount(Mount):
    """A mount at the root that matches only the paths its application's routes match, so that it
    does not shadow the API's routes, or the API's answers for paths nobody serves."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is Match.NONE:
            return match, child
        inner = {**scope, **child}
        best = Match.NONE
        for route in self.routes:
            found, _ = route.matches(inner)
            if found is Match.FULL:
                return Match.FULL, child
            if found is Match.PARTIAL:
                best = Match.PARTIAL
        return best, child


def pages_mount(parent: FastAPI) -> PagesMount:
    """The web UI for ``parent``: ``parent.router.routes.append(pages_mount(parent))``, after the API."""
    return PagesMount("", app=application(parent), name="web")


__all__ = ["application", "pages_mount", "static_files"]
