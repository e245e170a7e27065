"""``POST /dialler/events`` over real HTTP (SQLite and PostgreSQL): only signed events within the replay
window are believed, a redelivered event changes nothing, and a late event never undoes a call's end."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from arrears.dialler.model import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from arrears.dialler.tables import DiallerCall, DiallerEvent
from arrears.kit.db import transaction
from tests.api.conftest import Api
from tests.dialler.support import SECRET, live_fixture, no_dialler  # noqa: F401 - the fixture `live`

STARTED = datetime(2026, 2, 2, 7, 0, tzinfo=UTC)


@pytest.fixture
def call(api: Api) -> str:
    """A call dialled from the east case by its agent (as the dial route records it)."""
    no_dialler(api)
    with transaction(api.engine) as s:
        row = DiallerCall(call_id=uuid.uuid4().hex, case_id=api.east_case, agent_id=api.user_ids["agent_east"],
                          contact_point_id=api.contact_points["phone"], provider="http", provider_call_id="P-1",
                          status="requested", requested_at=STARTED)
        s.add(row)
        s.flush()
        return row.call_id


def _event(call_id: str, kind: str, **more: object) -> dict[str, object]:
    return {"event_id": uuid.uuid4().hex, "call_id": call_id, "provider_call_id": "P-1", "type": kind,
            "occurred_at": datetime.now(UTC).isoformat(), **more}


def _post(live: str, event: dict[str, object], *, secret: str = SECRET, stamp: int | None = None,
          headers: dict[str, str] | None = None) -> httpx.Response:
    body = json.dumps(event).encode()
    stamp = int(time.time()) if stamp is None else stamp
    sent = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: sign(secret, stamp, body)} if headers is None else headers
    return httpx.post(f"{live}/dialler/events", content=body, headers=sent, timeout=30)


def _state(api: Api) -> tuple:  # type: ignore[type-arg]
    with api.engine.connect() as conn:
        call = conn.execute(select(DiallerCall.status, DiallerCall.disposition, DiallerCall.duration_seconds,
                                   DiallerCall.recording_ref)).one()
        return (*call, conn.execute(select(func.count()).select_from(DiallerEvent)).scalar_one())


def test_events_without_a_good_signature_are_refused_and_change_nothing(api: Api, live: str, call: str) -> None:
    event = _event(call, "ended", disposition="answered", duration_seconds=30, recording_ref="R-1")
    assert _post(live, event, secret="not the secret").status_code == 401
    assert _post(live, event, headers={"Content-Type": "application/json"}).status_code == 401
    assert _post(live, event, stamp=int(time.time()) - 3600).status_code == 401  # a replay an hour later
    assert _state(api) == ("requested", None, None, None, 0)


def test_an_event_is_applied_once_however_often_it_is_delivered(api: Api, live: str, call: str) -> None:
    ended = _event(call, "ended", disposition="answered", duration_seconds=95, recording_ref="REC-9")
    assert _post(live, _event(call, "answered")).status_code == 204
    assert _post(live, ended).status_code == 204
    assert _post(live, ended).status_code == 204  # the dialler retries: taken, not applied again
    assert _post(live, _event(call, "ringing")).status_code == 204  # late: the call stays ended
    assert _state(api) == ("ended", "answered", 95, "REC-9", 3)


def test_an_event_that_does_not_fit_is_answered_with_what_is_wrong(api: Api, live: str, call: str) -> None:
    assert _post(live, _event("f" * 32, "ringing")).status_code == 404
    assert _post(live, {**_event(call, "ringing"), "provider_call_id": "P-OTHER"}).status_code == 409
    r = _post(live, _event(call, "ended", disposition="hung_up"))
    assert r.status_code == 422 and "disposition" in r.json()["error"]["message"]
    assert _state(api) == ("requested", None, None, None, 0)


def test_without_a_secret_events_are_off(api: Api, live: str, call: str) -> None:
    from arrears.dialler.settings import DiallerSettings, Dialling

    api.client.app.state.dialling = Dialling(None, DiallerSettings(url=None, events_secret=""))
    assert _post(live, _event(call, "ringing")).status_code == 503
