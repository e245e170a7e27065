"""The dialler's event URL: ``POST /dialler/events``.

The dialler is the caller, so there is no user and no CSRF token: the HMAC signature over the body
and its timestamp (``X-Dialler-Signature``, ``X-Dialler-Timestamp``; docs/dialler.md) is the
authentication. Answers: **204** when the event is taken (applied, or a redelivery of one already
applied); 401 not believed (no or bad signature, outside the replay window); 404 no such call; 409
it contradicts the call; 422 not an event; 503 no events secret configured. The dialler retries
anything but a 2xx.
"""

from __future__ import annotations

from datetime import UTC, datetime

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from arrears.auth.deps import DbSession
from arrears.dialler.model import parse_event, verify
from arrears.dialler.service import apply_event
from arrears.dialler.settings import dialling_of
from arrears.kit.errors import ArrearsError

router = APIRouter(tags=["dialler"])


def _fail(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": "dialler_event_refused", "message": message}}, status_code=status)


@router.post(
    "/dialler/events",
    summary="Call events from the dialler (HMAC-signed)",
    status_code=204,
    responses={401: {"description": "not believed"}, 404: {"description": "no such call"},
               409: {"description": "contradicts the call"}, 422: {"description": "not an event"},
               503: {"description": "events are not configured"}},
)  # fmt: skip
async def events(request: Request, session: DbSession) -> Response:
    settings = dialling_of(request.app.state).settings
    if not settings.events_secret:
        return _fail(503, "dialler events are not configured")
    body = await request.body()
    headers = dict(request.headers)

    def handle() -> Response:
        try:
            # the replay window is about delivery, so it is the wall clock's (not the business clock's)
            verify(headers, body, secret=settings.events_secret, now=datetime.now(UTC),
                   window_seconds=settings.replay_window_seconds)
            with session.begin_nested():  # a refusal leaves nothing behind
                apply_event(session, parse_event(body))
        except ArrearsError as exc:
            return _fail(exc.status, exc.message)
        return Response(status_code=204)

    return await anyio.to_thread.run_sync(handle)
