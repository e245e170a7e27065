"""Sign-ins as a busy morning and an attacker make them, on SQLite and PostgreSQL.

Through a real server (uvicorn on a free local port, requests from many threads at once): zero 5xx,
every attempt recorded, and the throttle's limit never exceeded however the requests interleave.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from arrears.app import create_app
from arrears.auth.service import DEFAULT_THROTTLE, get_or_create_team, hash_password
from arrears.auth.tables import AuditRecord, LoginAttempt, User
from arrears.config import Settings
from arrears.kit.db import transaction

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(engine: Engine, store_url: str, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The whole application served by uvicorn over the test's store; yields its base URL."""
    app = create_app(Settings(database_url=store_url, data_dir=tmp_path))
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                        limit_concurrency=200, backlog=256))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=20)
    app.state.engine.dispose()


def _users(engine: Engine, names: list[str]) -> None:
    digest = hash_password(PASSWORD)
    with transaction(engine) as s:
        team = get_or_create_team(s, code="east", actor="test")
        for name in names:
            s.add(User(username=name, password_hash=digest, role="agent" if name != "admin" else "admin",
                       team_id=team.id if name != "admin" else None, active=True))


def _sign_in(base: str, username: str, password: str) -> int:
    with httpx.Client(base_url=base, follow_redirects=False, timeout=120) as client:
        page = client.get("/login")
        assert page.status_code == 200
        token = _CSRF.search(page.text)
        assert token is not None
        r = client.post("/login", data={"username": username, "password": password,
                                         "csrf_token": token.group(1), "next": "/"})
        return r.status_code


def test_fifty_parallel_sign_ins_no_5xx_every_attempt_recorded_limit_kept(engine, server):
    agents = [f"agent{i:02d}" for i in range(12)]
    _users(engine, [*agents, "admin"])
    # 30 right passwords of 12 agents, 20 wrong ones against the admin: all at once.
    jobs = [(agents[i % 12], PASSWORD) for i in range(30)] + [("admin", f"guess number {i}") for i in range(20)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(lambda job: (job[0], _sign_in(server, *job)), jobs))

    assert [s for _, s in statuses if s >= 500] == []
    right = Counter(s for name, s in statuses if name != "admin")
    assert right == {303: 30}, right
    wrong = Counter(s for name, s in statuses if name == "admin")
    assert set(wrong) <= {401, 423} and wrong[401] <= DEFAULT_THROTTLE.per_pair, wrong
    with transaction(engine) as s:
        outcomes = Counter(s.scalars(select(LoginAttempt.outcome)).all())
        admin_checked = s.scalar(select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.username == "admin", LoginAttempt.outcome.in_(("bad_password", "pending"))))
        failed_audits = s.scalar(select(func.count()).select_from(AuditRecord).where(
            AuditRecord.action.in_(("auth.login_failed", "auth.login_throttled"))))
        logins = s.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "auth.login"))
    assert sum(outcomes.values()) == 50, outcomes  # every attempt recorded
    assert outcomes["ok"] == 30 and outcomes["pending"] == 0
    # The limit is never exceeded: at most five of the twenty guesses had their password checked.
    assert admin_checked <= DEFAULT_THROTTLE.per_pair
    assert outcomes["bad_password"] + outcomes["locked"] == 20
    assert failed_audits == 20 and logins == 30


def test_right_passwords_in_flight_together_are_never_refused_for_failures_that_did_not_happen(engine, server):
    """Ten sign-ins of one user at once (tabs, a double click): the five-failure limit counts attempts
    still being checked, so the sixth waits for them to conclude instead of being refused."""
    _users(engine, ["agent00"])
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda _: _sign_in(server, "agent00", PASSWORD), range(10)))
    assert statuses == [303] * 10
    with transaction(engine) as s:
        assert Counter(s.scalars(select(LoginAttempt.outcome)).all()) == {"ok": 10}
