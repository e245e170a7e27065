"""The FastAPI application: mounts each domain's endpoints and maps errors to HTTP once.

Every error answers ``{"error": {"code", "message", "field"?}}``: an :class:`ArrearsError` with its
own status, a malformed request with 422 naming the field. Nothing a client sends is a 5xx.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from arrears import __version__
from arrears.auth.deps import CurrentUser
from arrears.auth.model import AuthError
from arrears.cases.config import load_default_case_rules
from arrears.cases.endpoints import queue_router
from arrears.cases.endpoints import router as cases_router
from arrears.complaints.endpoints import router as complaints_router
from arrears.config import Settings, get_settings
from arrears.contact.endpoints import router as contact_router
from arrears.dialler.endpoints import router as dialler_router
from arrears.escalation.endpoints import router as escalation_router
from arrears.kit.db import make_engine
from arrears.kit.errors import ArrearsError
from arrears.kit.headers import SecurityHeaders
from arrears.payments.endpoints import router as payments_router
from arrears.plans.endpoints import router as plans_router
from arrears.reports.endpoints import router as reports_router
from arrears.web import pages_mount, static_files
from arrears.web.i18n import N_

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 415: "unsupported_media_type", 422: "validation_error"}


def _code(exc: ArrearsError) -> str:
    explicit = getattr(exc, "code", None)
    if isinstance(explicit, str):
        return explicit
    name = type(exc).__name__
    if name == "ArrearsError":
        return _HTTP_CODES.get(exc.status, "error")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        detail["field"] = field
    return {"error": detail}


def _arrears_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ArrearsError)
    field = getattr(exc, "field", None)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthError) and exc.status == 401 else None
    return JSONResponse(error_body(_code(exc), exc.message, field if isinstance(field, str) else None),
                        status_code=exc.status, headers=headers)


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
    field = _field_of(first.get("loc", ()))
    message = f"{field}: {first.get('msg', 'invalid value')}"
    body = error_body("validation_error", message, field)
    body["error"]["errors"] = [{"field": _field_of(e.get("loc", ())), "message": str(e.get("msg", ""))}
                               for e in errors]
    return JSONResponse(body, status_code=422)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404 and request.method == "GET" and "text/html" in request.headers.get("accept", "") \
            and not request.url.path.startswith(("/api/", "/static/")):
        # a browser's mistyped address: the page in the reader's language, not the API's JSON
        from arrears.web.render import error_page, gettext

        return error_page(request, 404, gettext(request, N_("There is no page at this address.")))
    return JSONResponse(error_body(_HTTP_CODES.get(exc.status_code, "error"), str(exc.detail)),
                        status_code=exc.status_code, headers=getattr(exc, "headers", None))


def _documentation(app: FastAPI) -> None:
    """The OpenAPI document and its interactive page, like every other route, for signed-in callers."""

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(user: CurrentUser) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(user: CurrentUser) -> HTMLResponse:
        page = get_swagger_ui_html(openapi_url="/openapi.json", title="arrears API")
        page.headers["Content-Security-Policy"] = _docs_policy(bytes(page.body).decode())
        return page


def _docs_policy(html: str) -> str:
    """The API documentation page's own policy: Swagger UI from jsDelivr (as FastAPI serves it) and its
    one inline start-up script allowed by its sha256, not by ``'unsafe-inline'``."""
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()}'"
                      for code in re.findall(r"<script>(.*?)</script>", html, flags=re.S))
    cdn = "https://cdn.jsdelivr.net"
    return (f"default-src 'self'; script-src 'self' {cdn} {hashes}; style-src 'self' {cdn}; "
            "img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application over the store ``settings.database_url`` (default: the environment's settings)."""
    settings = settings or get_settings()
    app = FastAPI(
        docs_url=None, redoc_url=None, openapi_url=None,  # served below, to signed-in callers only
        title="arrears",
        version=__version__,
        summary="Collections platform for credit-card arrears",
        description="Cases, interactions, investigations, promises to pay, appointments and holds. "
                    "Authenticate with `Authorization: Bearer <token>` (`arrears users token`). "
                    "Money is integer fen; timestamps are timezone-aware. See docs/api.md.",
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url)
    app.state.case_rules = load_default_case_rules()
    app.add_exception_handler(ArrearsError, _arrears_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(SecurityHeaders)  # CSP, frame-ancestors, no-sniff, referrer policy on every answer
    _documentation(app)
    app.include_router(cases_router)
    app.include_router(queue_router)
    app.include_router(plans_router)
    app.include_router(contact_router)
    app.include_router(escalation_router)
    app.include_router(reports_router)
    app.include_router(complaints_router)
    app.include_router(payments_router)  # the provider's notify URL: signed notifications, no user, no CSRF
    app.include_router(dialler_router)  # the dialler's event URL: HMAC-signed events, no user, no CSRF
    app.mount("/static", static_files(), name="static")
    app.router.routes.append(pages_mount(app))  # the web UI: only the paths its pages match
    return app
