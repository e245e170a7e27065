"""Authentication and authorisation: every route needs a caller; scopes and roles are enforced."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from arrears.app import create_app
from arrears.auth.service import issue_token
from arrears.auth.tables import AuditRecord, User
from arrears.config import Settings
from arrears.kit.db import transaction
from tests.api.conftest import Api


def _api_routes(routes: list) -> list[APIRoute]:  # type: ignore[type-arg]
    """Every API route, also inside included routers (which newer FastAPI versions wrap)."""
    out: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif hasattr(route, "original_router"):
            out.extend(_api_routes(route.original_router.routes))
    return out


def _routes() -> list[tuple[str, str]]:
    app = create_app(Settings(database_url="sqlite://"))
    out = [(method, route.path) for route in _api_routes(app.routes) for method in route.methods]
    app.state.engine.dispose()
    return sorted(out)


#: Routes whose caller is no user: the payment provider's notify URL, authenticated by the
#: notification's own signature (tested below and in tests/payments, tests/portal/test_pay.py), and the
#: dialler's event URL, authenticated by its HMAC signature (below and in tests/dialler).
SIGNED = {("POST", "/payments/notify"), ("POST", "/dialler/events")}
ROUTES = [r for r in _routes() if r not in SIGNED]
WRITES = [(m, p) for m, p in ROUTES if m == "POST" and not p.startswith("/queue")
          and not p.endswith(("/release", "/renew"))]


def _url(path: str, case_id: int) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(case_id if m.group(1) == "case_id" else 1), path)


def test_every_case_route_is_listed() -> None:
    paths = {p for _, p in ROUTES}
    assert {"/cases", "/cases/{case_id}", "/cases/{case_id}/transitions", "/cases/{case_id}/interactions",
            "/cases/{case_id}/investigations", "/cases/{case_id}/promises", "/cases/{case_id}/appointments",
            "/cases/{case_id}/holds", "/queue/next", "/cases/{case_id}/release"} <= paths


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_no_token_is_401(api: Api, method: str, path: str) -> None:
    r = api.client.request(method, _url(path, api.east_case), json={})
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "auth_error"
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer ", "Basic dXNlcjpwYXNz", "token"])
def test_bad_credentials_are_401(api: Api, header: str) -> None:
    r = api.client.get("/cases", headers={"Authorization": header})
    assert r.status_code == 401


def test_revoked_and_disabled_are_401(api: Api) -> None:
    with transaction(api.engine) as s:
        s.execute(User.__table__.update().where(User.id == api.user_ids["agent_west"]).values(active=False))
    assert api.get("agent_west", "/cases").status_code == 401
    assert api.get("agent_east", "/cases").status_code == 200


def test_session_cookie_is_accepted_but_not_as_bearer(api: Api) -> None:
    with transaction(api.engine) as s:
        user = s.get(User, api.user_ids["agent_east"])
        session_token = issue_token(s, user=user, kind="session", actor="test").token
    api.client.cookies.set("arrears_session", session_token)
    r = api.client.get("/cases")
    assert r.status_code == 200 and r.json()["total"] == 1
    api.client.cookies.clear()
    assert api.client.get("/cases", headers={"Authorization": f"Bearer {session_token}"}).status_code == 401
    # an API token is not a web session
    api.client.cookies.set("arrears_session", api.tokens["agent_east"])
    assert api.client.get("/cases").status_code == 401
    api.client.cookies.clear()


def test_agent_sees_only_their_team(api: Api) -> None:
    page = api.get("agent_east", "/cases").json()
    assert [c["id"] for c in page["items"]] == [api.east_case] and page["total"] == 1
    assert api.get("agent_east", f"/cases/{api.east_case}").status_code == 200
    hidden = api.get("agent_east", f"/cases/{api.west_case}")
    missing = api.get("agent_east", "/cases/999999")
    # outside the scope looks exactly like not existing
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    assert api.get("agent_west", f"/cases/{api.east_case}").status_code == 404
    assert api.get("supervisor", "/cases").json()["total"] == 2


@pytest.mark.parametrize("sub", ["transitions", "interactions", "investigations", "promises", "appointments",
                                 "holds"])
def test_agent_cannot_read_other_team_case_parts(api: Api, sub: str) -> None:
    assert api.get("agent_east", f"/cases/{api.west_case}/{sub}").status_code == 404


def test_agent_cannot_write_other_team_case(api: Api) -> None:
    r = api.post("agent_east", f"/cases/{api.west_case}/transitions", json={"to_state": "contacting", "reason": "x"})
    assert r.status_code == 404
    r = api.post("agent_west", f"/cases/{api.west_case}/transitions", json={"to_state": "contacting", "reason": "x"})
    assert r.status_code == 201


@pytest.mark.parametrize(("method", "path"), WRITES, ids=[f"{m} {p}" for m, p in WRITES])
def test_auditor_cannot_write(api: Api, method: str, path: str) -> None:
    with api.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(AuditRecord)).scalar_one()
    r = api.client.request(method, _url(path, api.east_case), headers=api.headers("auditor"), json={})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "forbidden"
    with api.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AuditRecord)).scalar_one() == before


def test_auditor_reads(api: Api) -> None:
    assert api.get("auditor", f"/cases/{api.east_case}").status_code == 200
    assert api.get("auditor", f"/cases/{api.west_case}/interactions").status_code == 200


def test_queue_is_for_team_roles(api: Api) -> None:
    assert api.post("supervisor", "/queue/next").status_code == 403
    assert api.post("auditor", "/queue/next").status_code == 403


def test_the_api_document_and_its_page_are_for_signed_in_callers_only(api: Api) -> None:
    for url in ("/openapi.json", "/docs"):
        anonymous = api.client.get(url)
        assert anonymous.status_code == 401, url
        assert anonymous.json()["error"]["code"] == "auth_error"
    document = api.get("auditor", "/openapi.json")
    assert document.status_code == 200 and "/queue/next" in document.json()["paths"]
    page = api.get("agent_east", "/docs")
    assert page.status_code == 200 and "/openapi.json" in page.text
    assert api.client.get("/redoc").status_code == 404


def test_the_notify_url_believes_a_signature_not_a_user(api: Api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from arrears.payments.sandbox import ensure_keys
    from arrears.payments.settings import Payments, PaymentSettings, provider_from_settings
    from arrears.payments.tables import PaymentEvent

    settings = PaymentSettings(keys_dir=ensure_keys(tmp_path / "keys"))
    api.client.app.state.payments = Payments(provider_from_settings(settings), settings)
    for headers in ({}, api.headers("admin"), api.headers("auditor")):
        r = api.client.post("/payments/notify", json={"event_type": "TRANSACTION.SUCCESS"}, headers=headers)
        assert r.status_code == 401 and r.json()["code"] == "FAIL", r.text
    with api.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(PaymentEvent)).scalar_one() == 0


def test_the_dialler_event_url_believes_a_signature_not_a_user(api: Api) -> None:
    from arrears.dialler.settings import DiallerSettings, Dialling
    from arrears.dialler.tables import DiallerEvent

    api.client.app.state.dialling = Dialling(None, DiallerSettings(url=None, events_secret="a shared secret"))
    event = {"event_id": "e1", "call_id": "c1", "type": "ringing", "occurred_at": "2026-12-07T10:00:00+00:00"}
    for headers in ({}, api.headers("admin"), api.headers("agent_east")):
        r = api.client.post("/dialler/events", json=event, headers=headers)
        assert r.status_code == 401, r.text
    with api.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(DiallerEvent)).scalar_one() == 0
