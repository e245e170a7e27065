"""The API takes the browser's session cookie only with the session's CSRF token on a write (a page of
another site can make the browser send the cookie, never the token), and every answer — pages, API,
static files, errors — carries the security headers."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from arrears.auth.tables import AuditRecord
from arrears.web.security import csrf_token
from tests.api.conftest import Api
from tests.web.support import page_csrf, sign_in

FOREIGN = {"Origin": "https://evil.example"}


def _browser(api: Api, who: str) -> tuple[TestClient, str]:
    client = sign_in(api, who)
    return client, client.cookies.get("arrears_session") or ""


def _audits(api: Api, action: str) -> int:
    with api.engine.connect() as conn:
        return len(conn.execute(select(AuditRecord.seq).where(AuditRecord.action == action)).all())


def test_queue_next_refuses_the_session_cookie_without_the_csrf_token(api: Api) -> None:
    browser, _ = _browser(api, "agent_east")
    r = browser.post("/queue/next", headers=FOREIGN)
    assert r.status_code == 403, r.text
    assert "X-CSRF-Token" in r.json()["error"]["message"]
    assert _audits(api, "queue.claim") == 0


@pytest.mark.parametrize("action", ["renew", "release"])
def test_case_lease_moves_refuse_the_session_cookie_without_the_csrf_token(api: Api, action: str) -> None:
    taken = api.post("agent_east", "/queue/next")
    assert taken.status_code == 200, taken.text
    browser, _ = _browser(api, "agent_east")
    r = browser.post(f"/cases/{api.east_case}/{action}", headers=FOREIGN)
    assert r.status_code == 403, r.text
    assert _audits(api, f"queue.{action}") == 0


def test_a_wrong_csrf_token_is_refused_and_the_right_one_accepted(api: Api) -> None:
    browser, session_token = _browser(api, "agent_east")
    assert browser.post("/queue/next", headers={"X-CSRF-Token": csrf_token("another session")}).status_code == 403
    r = browser.post("/queue/next", headers={"X-CSRF-Token": csrf_token(session_token)})
    assert r.status_code == 200, r.text
    # the token a page of this session carries is the one the API accepts
    assert page_csrf(browser, f"/case/{api.east_case}") == csrf_token(session_token)
    # reads need no token; a bearer token needs no CSRF token at all
    assert browser.get("/cases").status_code == 200
    assert api.client.post("/queue/next", headers={**api.headers("agent_west"), **FOREIGN}).status_code == 200


HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def _check(headers: dict[str, str], what: str) -> None:
    for name, value in HEADERS.items():
        assert headers.get(name) == value, (what, name, headers.get(name))
    csp = headers.get("content-security-policy", "")
    directives = {d.strip().split(" ", 1)[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", (what, csp)
    assert directives.get("default-src") == "default-src 'self'", (what, csp)
    assert directives.get("object-src") == "object-src 'none'", (what, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, (what, csp)


def test_every_answer_carries_the_security_headers(api: Api) -> None:
    anonymous = TestClient(api.client.app, follow_redirects=False)
    browser, _ = _browser(api, "supervisor")
    answers = {
        "login page": anonymous.get("/login"),
        "redirect to login": anonymous.get("/queue"),
        "static file": anonymous.get("/static/app.js"),
        "api 401": anonymous.get("/cases"),
        "api 404": anonymous.get("/no-such-page"),
        "api json": api.get("agent_east", "/cases"),
        "api 422": api.get("agent_east", "/cases/0"),
        "page": browser.get(f"/case/{api.east_case}"),
        "dashboard": browser.get("/supervisor"),
        "page 404": browser.get("/case/999999"),
    }
    for what, r in answers.items():
        assert r.status_code < 500, (what, r.status_code)
        _check(dict(r.headers), what)


def test_the_api_documentation_runs_under_its_own_policy_without_inline_allowances(api: Api) -> None:
    r = api.get("admin", "/docs")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    for script in re.findall(r"<script>(.*?)</script>", r.text, flags=re.S):
        import base64
        import hashlib

        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
