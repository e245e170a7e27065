"""Many agents calling the API at once on the embedded store (SQLite): every request reads the
caller's token before it writes, so each must take the write lock first or fail under load."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, func, select, update

from arrears.auth.service import get_or_create_team, issue_token
from arrears.auth.tables import User
from arrears.cases.tables import Case
from arrears.kit.db import transaction
from tests.api.conftest import _HASH, Api
from tests.cases.support import new_case

AGENTS = 8
ROUNDS = 15


def _crowd(engine: Engine) -> list[str]:
    tokens, case_ids = [], []
    with transaction(engine) as s:
        team = get_or_create_team(s, code="east", actor="test")
        for i in range(AGENTS):
            user = User(username=f"crowd{i}", password_hash=_HASH, role="agent", team_id=team.id, active=True)
            s.add(user)
            s.flush()
            tokens.append(issue_token(s, user=user, kind="api", actor="test").token)
    for i in range(AGENTS // 2):
        case_ids.append(new_case(engine, f"ACC-CROWD-{i}"))
    with transaction(engine) as s:
        team_id = get_or_create_team(s, code="east", actor="test").id
        s.execute(update(Case).where(Case.id.in_(case_ids)).values(team_id=team_id))
    return tokens


def test_concurrent_claims_through_the_api_never_fail_or_overlap(api: Api) -> None:
    if api.engine.dialect.name != "sqlite":
        pytest.skip("the serialised path is SQLite's; PostgreSQL has its own concurrency test")
    tokens = _crowd(api.engine)
    statuses: list[int] = []
    claims: list[int] = []
    held_now: dict[int, int] = {}
    overlaps: list[tuple[int, int, int]] = []
    lock = threading.Lock()
    start = threading.Barrier(AGENTS)

    errors: list[str] = []

    def agent(i: int) -> None:
        try:
            work(i)
        except Exception as exc:  # a server error surfaces here (TestClient re-raises it)
            with lock:
                errors.append(repr(exc))

    def work(i: int) -> None:
        headers = {"Authorization": f"Bearer {tokens[i]}"}
        start.wait()
        for _ in range(ROUNDS):
            r = api.client.post("/queue/next", headers=headers)
            case = r.json().get("case") if r.status_code == 200 else None
            with lock:
                statuses.append(r.status_code)
                if case is not None:
                    claims.append(case["id"])
                    if case["id"] in held_now:
                        overlaps.append((case["id"], held_now[case["id"]], i))
                    held_now[case["id"]] = i
            if case is None:
                continue
            with lock:  # still held: forget it just before giving it back
                held_now.pop(case["id"], None)
            r = api.client.post(f"/cases/{case['id']}/release", headers=headers)
            with lock:
                statuses.append(r.status_code)

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(AGENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert overlaps == []
    assert set(statuses) == {200}, sorted(set(statuses))
    with transaction(api.engine) as s:
        counted = s.scalar(select(func.sum(Case.claims)))  # the fixture's east case is in the queue too
    assert counted == len(claims) > AGENTS  # every claim the API answered is in the store, none lost
