"""The provider's notify URL: ``POST /payments/notify``.

The provider is the caller, so there is no user: the notification's own signature is the
authentication. Answers follow WeChat Pay v3: **204** when the notification is taken (applied, a
duplicate, or an event arrears does not act on); otherwise a 4xx with ``{"code": "FAIL",
"message": …}`` — the provider retries those later:

- 401: not believed (bad signature, unknown key, stale timestamp, does not decrypt);
- 404: no such order; 409 / 422: it conflicts with what is stored, or does not fit the order;
- 503: payments are not configured.

The adapter is :func:`~arrears.payments.settings.payments_of` the application (built from
:class:`~arrears.payments.settings.PaymentSettings`). A notification that shows a cardholder's order
paid for the first time also records their payment on the case (:func:`arrears.payments.cardholder.settle`).
The application mounts :data:`router` outside the staff pages: no session, no CSRF token.
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from arrears.auth.deps import DbSession
from arrears.kit.errors import ArrearsError
from arrears.payments.cardholder import settle
from arrears.payments.provider import NotificationIgnored, PaymentProvider
from arrears.payments.settings import payments_of

router = APIRouter(tags=["payments"])


def _fail(status: int, message: str) -> JSONResponse:
    return JSONResponse({"code": "FAIL", "message": message}, status_code=status)


def _provider(request: Request) -> PaymentProvider | None:
    return payments_of(request.app.state).provider


@router.post(
    "/payments/notify",
    summary="Payment provider notifications (signed; WeChat Pay v3)",
    status_code=204,
    responses={401: {"description": "not believed"}, 404: {"description": "no such order"},
               409: {"description": "conflicts with what is stored"}, 503: {"description": "payments off"}},
)  # fmt: skip
async def notify(request: Request, session: DbSession) -> Response:
    provider = _provider(request)
    if provider is None:
        return _fail(503, "payments are not configured")
    body = await request.body()
    headers = dict(request.headers)

    def handle() -> Response:
        try:
            notification = provider.parse_and_verify_notification(headers, body)
            with session.begin_nested():  # a refusal leaves nothing behind, though the request commits
                settle(session, notification=notification, provider=provider.name,
                       actor=f"provider:{provider.name}")  # fmt: skip
        except NotificationIgnored:
            return Response(status_code=204)
        except ArrearsError as exc:
            return _fail(exc.status, exc.message)
        return Response(status_code=204)

    return await anyio.to_thread.run_sync(handle)
