"""Login, logout, the session cookie, redirects when not signed in, CSRF and role scoping."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from arrears.auth.tables import AuditRecord, AuthToken
from tests.api.conftest import Api
from tests.web.support import PASSWORD, csrf_of, page_csrf, sign_in


def test_login_sets_a_session_cookie_and_logout_revokes_it(api: Api) -> None:
    client = TestClient(api.client.app, follow_redirects=False)
    page = client.get("/login")
    assert page.status_code == 200 and 'for="username"' in page.text
    token = csrf_of(page.text)
    wrong = client.post("/login", data={"username": "agent_east", "password": "not the password", "csrf_token": token})
    assert wrong.status_code == 401 and "arrears_session" not in wrong.headers.get("set-cookie", "")
    r = client.post("/login", data={"username": "agent_east", "password": PASSWORD, "csrf_token": token,
                                    "next": "/"})
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("arrears_session="))
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert client.get("/queue").status_code == 200
    with api.engine.connect() as conn:
        assert conn.execute(select(AuthToken.kind).where(AuthToken.label == "web")).scalars().all() == ["session"]
        actions = conn.execute(select(AuditRecord.action).where(AuditRecord.actor == "agent_east")).scalars().all()
    assert {"auth.login", "auth.login_failed", "token.issue"} <= set(actions)
    out = client.post("/logout", data={"csrf_token": page_csrf(client)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    stale = TestClient(api.client.app, follow_redirects=False, cookies={"arrears_session": cookie.split(";")[0]
                                                                        .split("=", 1)[1]})
    assert stale.get("/queue").status_code == 303  # the token was revoked, not just forgotten
    with api.engine.connect() as conn:
        assert conn.execute(select(AuthToken.revoked_at).where(AuthToken.label == "web")).scalar_one() is not None


def test_login_returns_to_the_page_asked_for(api: Api) -> None:
    client = TestClient(api.client.app, follow_redirects=False)
    page = client.get("/login", params={"next": f"/case/{api.east_case}"})
    r = client.post("/login", data={"username": "agent_east", "password": PASSWORD, "csrf_token": csrf_of(page.text),
                                    "next": f"/case/{api.east_case}"})
    assert r.headers["location"] == f"/case/{api.east_case}"
    page = client.get("/login")
    r = client.post("/login", data={"username": "agent_east", "password": PASSWORD, "csrf_token": csrf_of(page.text),
                                    "next": "//evil.example/"})
    assert r.headers["location"] == "/queue"


def test_every_page_needs_a_session(api: Api) -> None:
    client = TestClient(api.client.app, follow_redirects=False)
    for url in ("/", "/queue", f"/case/{api.east_case}", f"/case/{api.east_case}/script/options", "/team", "/admin"):
        r = client.get(url)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), url
    r = client.get(f"/case/{api.east_case}/script/explain", headers={"HX-Request": "true"})
    assert r.status_code == 401 and r.headers["HX-Redirect"].startswith("/login?next=")
    assert client.post("/queue/take").status_code == 303
    bearer = TestClient(api.client.app, follow_redirects=False, headers=api.headers("agent_east"))
    assert bearer.get("/queue").status_code == 303  # an API token is not a web session


def test_posts_without_the_csrf_token_are_refused(api: Api) -> None:
    client = sign_in(api, "agent_east")
    assert client.post("/queue/take").status_code == 403
    assert client.post("/queue/take", data={"csrf_token": "forged"}).status_code == 403
    assert client.post("/queue/take", headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.post("/logout").status_code == 403
    assert client.get("/queue").status_code == 200  # still signed in
    other = sign_in(api, "agent_west")
    assert client.post("/queue/take", data={"csrf_token": page_csrf(other)}).status_code == 403  # another session's
    ok = client.post("/queue/take", headers={"X-CSRF-Token": page_csrf(client)})
    assert ok.status_code == 303
    login = TestClient(api.client.app, follow_redirects=False)
    assert login.post("/login", data={"username": "agent_east", "password": PASSWORD}).status_code == 403


def test_home_sends_each_role_to_its_start_page(api: Api) -> None:
    starts = {"agent_east": "/queue", "lead_east": "/team", "supervisor": "/supervisor", "compliance": "/compliance",
              "admin": "/admin", "auditor": "/audit"}
    for who, start in starts.items():
        client = sign_in(api, who)
        assert client.get("/").headers["location"] == start
        assert client.get(start).status_code == 200, who
    agent = sign_in(api, "agent_east")
    assert agent.get("/admin").status_code == 403
    assert sign_in(api, "supervisor").get("/queue").status_code == 403


def test_an_agent_never_sees_another_teams_case(api: Api) -> None:
    client = sign_in(api, "agent_east")
    assert client.get(f"/case/{api.east_case}").status_code == 200
    for url in (f"/case/{api.west_case}", f"/case/{api.west_case}/script/options", f"/case/{api.west_case}/best-hours",
                "/case/999999"):
        assert client.get(url).status_code == 404, url
    token = page_csrf(client)
    r = client.post(f"/case/{api.west_case}/script/outcome", data={"csrf_token": token, "outcome": "no_answer"})
    assert r.status_code == 404
    assert "ACC-WEST" not in client.get("/queue").text
    assert sign_in(api, "supervisor").get(f"/case/{api.west_case}").status_code == 200


def test_the_pages_leave_the_api_alone(api: Api) -> None:
    client = TestClient(api.client.app, follow_redirects=False)
    r = client.get("/no-such-page")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.get("/queue/next")  # the API's route, another method
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    assert client.get(f"/cases/{api.east_case}").status_code == 401  # the API, not a page
    assert client.get("/static/vendor/htmx.min.js").status_code == 200
    assert client.get("/static/vendor/echarts.min.js").status_code == 200
    paths = api.get("admin", "/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(("/login", "/case/")) or p in ("/queue", "/queue/take")]
    assert "/queue/next" in paths


def _web_posts() -> list[str]:
    from fastapi.routing import APIRoute

    from arrears.app import create_app
    from arrears.config import Settings
    from arrears.web import application

    app = create_app(Settings(database_url="sqlite://"))
    out: list[str] = []

    def walk(routes: list) -> None:  # type: ignore[type-arg]
        for route in routes:
            if isinstance(route, APIRoute) and "POST" in route.methods:
                out.append(route.path)
            elif hasattr(route, "original_router"):
                walk(route.original_router.routes)

    walk(application(app).routes)
    app.state.engine.dispose()
    return sorted(out)


def test_every_post_checks_the_csrf_token(api: Api) -> None:
    import re

    posts = _web_posts()
    assert len(posts) >= 11 and "/login" in posts
    client = sign_in(api, "agent_east")
    for path in posts:
        if path == "/login":
            continue  # double-submit cookie: test_posts_without_the_csrf_token_are_refused
        url = re.sub(r"\{(\w+)\}", lambda m: str(api.east_case if m.group(1) == "case_id" else 1), path)
        r = client.post(url, data={"csrf_token": "forged", "kind": "phone", "outcome": "no_answer"})
        assert r.status_code == 403, (path, r.status_code)
