"""My day (/myday): the agent's call-backs due and overdue, broken promises and open tasks, most
urgent first; the team lead's for the team; nobody else's."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from arrears.cases.tables import Appointment, Interaction, Promise, Task
from arrears.kit.clock import frozen_at
from tests.api.conftest import Api, assign
from tests.cases.support import new_case
from tests.web.support import sign_in

NOW = datetime(2026, 2, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, business date 2026-02-02
TODAY = date(2026, 2, 2)


def _case(api: Api, ref: str, team: str = "east") -> int:
    case_id = new_case(api.engine, ref)
    assign(api.engine, case_id, team)
    return case_id


def _add(api: Api, *rows: object) -> list[int]:
    with Session(api.engine, expire_on_commit=False) as s, s.begin():
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]  # type: ignore[attr-defined]


def _appt(case_id: int, owner: int, start: datetime, minutes: int = 30, status: str = "scheduled") -> Appointment:
    return Appointment(case_id=case_id, owner_id=owner, window_start=start,
                       window_end=start + timedelta(minutes=minutes), status=status, created_by="test", created_at=NOW)


def _task(case_id: int, kind: str, due_on: date, status: str = "open", promise_id: int | None = None) -> Task:
    return Task(case_id=case_id, kind=kind, due_on=due_on, status=status, promise_id=promise_id, created_by="cycle",
                created_at=NOW)


def _promise(case_id: int, status: str, by: str) -> Promise:
    return Promise(case_id=case_id, amount=150_000, promised_date=TODAY - timedelta(days=5),
                   created_on=TODAY - timedelta(days=9), grace_days=3, tolerance=1000, status=status,
                   paid=20_000 if status == "partly_kept" else 0, created_by=by, created_at=NOW)


def _items(html: str) -> list[tuple[str, int, int]]:
    """(kind, case id, urgency) of each item, in the page's order."""
    return [(k, int(c), int(u)) for k, c, u in re.findall(
        r'<li class="day-item[^"]*" data-kind="(\w+)" data-case="(\d+)" data-urgency="(\d)"', html)]


def _world(api: Api) -> dict[str, int]:
    ids = api.user_ids
    me, lead, west = ids["agent_east"], ids["lead_east"], ids["agent_west"]
    c = {name: _case(api, f"ACC-DAY-{name}") for name in
         ("later", "now", "overdue", "orphan", "leads", "broken", "short", "tasks", "kept", "done")}
    c["west"] = _case(api, "ACC-DAY-west", team="west")
    _add(api,
         _appt(c["later"], me, NOW + timedelta(hours=5)),                        # 15:00 today
         _appt(c["now"], me, NOW - timedelta(minutes=10)),                       # window open now
         _appt(c["overdue"], me, NOW - timedelta(hours=20)),                     # yesterday, nobody called
         _appt(c["orphan"], west, NOW + timedelta(hours=1)),                     # owner not in the case's team
         _appt(c["leads"], lead, NOW + timedelta(hours=2)),                      # the lead's own
         _appt(c["done"], me, NOW - timedelta(hours=3)),                         # kept: a call inside the window
         _appt(c["later"], me, NOW + timedelta(days=1)),                         # tomorrow: not today's
         _appt(c["later"], me, NOW + timedelta(hours=1), status="cancelled"),
         _appt(c["west"], west, NOW + timedelta(hours=1)))
    _add(api, Interaction(case_id=c["done"], channel="call", direction="outbound", party="debtor",
                          outcome="promise_to_pay", started_at=NOW - timedelta(hours=3),
                          agent_id=me, created_at=NOW))
    broken, short, kept = _add(api, _promise(c["broken"], "broken", f"user:{me}"),
                               _promise(c["short"], "partly_kept", f"user:{lead}"),
                               _promise(c["kept"], "kept", f"user:{me}"))
    _add(api,
         _task(c["broken"], "broken_promise", TODAY - timedelta(days=1), promise_id=broken),
         _task(c["short"], "promise_short", TODAY - timedelta(days=1), promise_id=short),
         _task(c["tasks"], "review_task", TODAY - timedelta(days=2)),           # overdue
         _task(c["tasks"], "call", TODAY),                                       # due today
         _task(c["tasks"], "legal_review", TODAY + timedelta(days=1)),           # not yet
         _task(c["tasks"], "call", TODAY - timedelta(days=1), status="done"),
         _task(c["west"], "call", TODAY))
    return c


def test_the_agent_sees_their_day_most_urgent_first(api: Api) -> None:
    with frozen_at(NOW):
        c = _world(api)
        page = sign_in(api, "agent_east", lang="en").get("/myday")
    assert page.status_code == 200
    assert _items(page.text) == [
        ("callback", c["now"], 0),
        ("callback", c["overdue"], 1),
        ("broken_promise", c["broken"], 2),
        ("task", c["tasks"], 3),           # due two days ago
        ("task", c["short"], 3),           # a short payment on a promise the lead took: the team's task
        ("callback", c["orphan"], 4),
        ("callback", c["later"], 4),
        ("task", c["tasks"], 5),
    ]
    html = page.text
    assert 'href="/myday" aria-current="page"' in html and f'href="/case/{c["now"]}"' in html
    assert "Call-backs due: 3" in html and "Overdue: 3" in html and "Broken promises: 1" in html
    assert "Review the case" in html and "Broken promise" in html and "Overdue" in html
    assert "ACC-DAY-west" not in html and "ACC-DAY-leads" not in html and "ACC-DAY-kept" not in html
    assert "ACC-DAY-done" not in html


def test_the_team_lead_sees_the_team_and_another_team_sees_none_of_it(api: Api) -> None:
    with frozen_at(NOW):
        c = _world(api)
        lead = sign_in(api, "lead_east", lang="en").get("/myday").text
        west = sign_in(api, "agent_west", lang="en").get("/myday").text
    cases = {case for _, case, _ in _items(lead)}
    assert {c["leads"], c["now"], c["broken"], c["short"], c["orphan"]} <= cases and c["west"] not in cases
    assert ("broken_promise", c["short"], 2) in _items(lead)
    assert {case for _, case, _ in _items(west)} == {c["west"]}
    assert "ACC-DAY" not in west.replace("ACC-DAY-west", "")


def test_in_chinese_and_only_for_the_people_who_work_cases(api: Api) -> None:
    with frozen_at(NOW):
        _world(api)
        agent = sign_in(api, "agent_east")
        html = agent.get("/myday").text
        assert "今日待办" in html and "已超期" in html and 'href="/myday"' in agent.get("/queue").text
        for who in ("supervisor", "compliance", "auditor", "admin"):
            assert sign_in(api, who).get("/myday").status_code == 403, who
    from fastapi.testclient import TestClient
    anonymous = TestClient(api.client.app, follow_redirects=False).get("/myday")
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]


def test_an_empty_day_says_so(api: Api) -> None:
    with frozen_at(NOW):
        html = sign_in(api, "agent_west", lang="en").get("/myday").text
    assert "Nothing is due today" in html and 'id="day-list"' not in html
