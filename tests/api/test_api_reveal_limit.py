"""Reveals of personal data are limited per user (``ARREARS_REVEAL_LIMIT`` within
``ARREARS_REVEAL_WINDOW_SECONDS``), counted in the store so every process sees the same count; a refusal
is 429 on the API, a clear message on the case page, and an audit record (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from arrears.app import create_app
from arrears.auth.tables import AuditRecord
from arrears.config import Settings
from arrears.kit.clock import frozen_at
from tests.api.conftest import PHONE, Api
from tests.web.support import page_csrf, sign_in

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def _process(api: Api, limit: int) -> TestClient:
    """Another application process over the same store, with the reveal limit set."""
    app = create_app(Settings(database_url=api.engine.url.render_as_string(hide_password=False), reveal_limit=limit,
                              reveal_window_seconds=60))
    return TestClient(app)


def _dial(client: TestClient, api: Api, who: str):  # type: ignore[no-untyped-def]
    return client.post(f"/cases/{api.east_case}/reveal", headers=api.headers(who),
                       json={"kind": "phone", "contact_point_id": api.contact_points["phone"], "purpose": "dial"})


def _count(api: Api, action: str, actor: str) -> int:
    with api.engine.connect() as conn:
        return len(conn.execute(select(AuditRecord.seq).where(AuditRecord.action == action,
                                                              AuditRecord.actor == actor)).all())


def test_reveals_beyond_the_limit_are_refused_across_processes(api: Api) -> None:
    one, two = _process(api, 3), _process(api, 3)
    with frozen_at(T0), one, two:
        assert [_dial(c, api, "agent_east").status_code for c in (one, two, one)] == [200, 200, 200]
        refused = _dial(two, api, "agent_east")  # the fourth, in the other process
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "reveal_limited" and PHONE not in refused.text
        assert refused.headers["retry-after"] == "60"
        assert _dial(one, api, "agent_east").status_code == 429
        assert _dial(one, api, "lead_east").status_code == 200  # per user
    assert _count(api, "pii.reveal", "agent_east") == 3
    assert _count(api, "pii.reveal_limited", "agent_east") == 2
    with frozen_at(T0 + timedelta(seconds=61)), _process(api, 3) as three:
        assert _dial(three, api, "agent_east").status_code == 200


def test_the_case_page_says_so(api: Api) -> None:
    process = _process(api, 1)
    with process:
        api_page = sign_in(api, "compliance")
        browser = TestClient(process.app, follow_redirects=False, cookies=dict(api_page.cookies))
        token = page_csrf(browser, f"/case/{api.east_case}")
        data = {"kind": "phone", "contact_point_id": api.contact_points["phone"]}
        headers = {"X-CSRF-Token": token, "HX-Request": "true"}
        first = browser.post(f"/case/{api.east_case}/reveal", data=data, headers=headers)
        assert first.status_code == 200 and PHONE in first.text
        second = browser.post(f"/case/{api.east_case}/reveal", data=data, headers=headers)
        assert second.status_code == 429 and PHONE not in second.text
        assert "Too many values shown" in second.text or "过多" in second.text
    assert _count(api, "pii.reveal_limited", "compliance") == 1


def test_the_default_stops_a_burst() -> None:
    settings = Settings()
    assert 0 < settings.reveal_limit <= 100 and settings.reveal_window_seconds >= 60
