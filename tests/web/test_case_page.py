"""The agent's queue, "next case", the case page's masking and audited reveal."""

from __future__ import annotations

from sqlalchemy import select

from arrears.auth.tables import AuditRecord
from arrears.cases.tables import Case
from tests.api.conftest import ADDRESS, PHONE, Api
from tests.web.support import page_csrf, sign_in


def _audits(api: Api, action: str) -> list[tuple[str, str | None, dict]]:
    with api.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(AuditRecord.actor, AuditRecord.entity_id, AuditRecord.detail)
                                               .where(AuditRecord.action == action).order_by(AuditRecord.seq))]


def test_next_case_claims_through_the_queue_and_opens_it(api: Api) -> None:
    client = sign_in(api, "agent_east")
    queue = client.get("/queue")
    assert "ACC-EAST" in queue.text and "ACC-WEST" not in queue.text
    r = client.post("/queue/take", data={"csrf_token": page_csrf(client)})
    assert r.status_code == 303 and r.headers["location"] == f"/case/{api.east_case}"
    with api.engine.connect() as conn:
        assert conn.execute(select(Case.held_by).where(Case.id == api.east_case)).scalar_one() == \
            api.user_ids["agent_east"]
    assert [(a, e) for a, e, _ in _audits(api, "queue.claim")] == [("agent_east", str(api.east_case))]
    assert client.get(r.headers["location"]).status_code == 200
    # nothing else waits for the team: the next claim says so
    again = client.post("/queue/take", data={"csrf_token": page_csrf(client)})
    assert again.headers["location"] == "/queue?notice=empty"
    assert client.get(again.headers["location"]).status_code == 200
    # the case can be given back
    back = client.post(f"/case/{api.east_case}/release", data={"csrf_token": page_csrf(client)})
    assert back.status_code == 303
    with api.engine.connect() as conn:
        assert conn.execute(select(Case.held_by).where(Case.id == api.east_case)).scalar_one() is None


def test_personal_data_is_masked_by_role(api: Api) -> None:
    agent = sign_in(api, "agent_east").get(f"/case/{api.east_case}").text
    supervisor = sign_in(api, "supervisor").get(f"/case/{api.east_case}").text
    auditor = sign_in(api, "auditor").get(f"/case/{api.east_case}").text
    for page in (agent, supervisor, auditor):
        assert PHONE not in page and ADDRESS not in page
        assert "138****5678" in page and "广东省深圳市****" in page
        assert "/reveal" not in page  # these roles may not unmask anything
    with api.engine.connect() as conn:
        name = conn.execute(select(Case.id)).first()  # the factory's customer name is shown plain to agents
    assert name is not None
    compliance = sign_in(api, "compliance").get(f"/case/{api.east_case}").text
    assert PHONE not in compliance and "/reveal" in compliance


def test_a_reveal_is_audited_and_refused_to_roles_the_policy_does_not_allow(api: Api) -> None:
    point = api.contact_points["phone"]
    agent = sign_in(api, "agent_east")
    r = agent.post(f"/case/{api.east_case}/reveal", data={"kind": "phone", "contact_point_id": point},
                   headers={"X-CSRF-Token": page_csrf(agent), "HX-Request": "true"})
    assert r.status_code == 403 and PHONE not in r.text
    compliance = sign_in(api, "compliance")
    token = page_csrf(compliance, f"/case/{api.east_case}")
    assert compliance.post(f"/case/{api.east_case}/reveal", data={"kind": "phone", "contact_point_id": point}
                           ).status_code == 403  # no CSRF token: refused before anything is shown
    assert _audits(api, "pii.reveal") == []
    r = compliance.post(f"/case/{api.east_case}/reveal", data={"kind": "phone", "contact_point_id": point},
                        headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert r.status_code == 200 and PHONE in r.text
    audits = _audits(api, "pii.reveal")
    assert audits == [("compliance", f"contact_point:{point}", {"kind": "phone", "purpose": "view",
                                                                 "role": "compliance"})]
    assert PHONE not in str(audits)


def test_best_hours_come_with_the_reason_and_an_appointment_first(api: Api) -> None:
    from datetime import UTC, datetime

    from arrears.cases.service import schedule_appointment
    from arrears.kit.clock import frozen_at
    from arrears.kit.db import transaction

    with frozen_at(datetime(2026, 2, 2, 2, 0, tzinfo=UTC)):
        agent = sign_in(api, "agent_east")
        r = agent.get(f"/case/{api.east_case}/best-hours")
        assert r.status_code == 200 and r.text.count("<li>") == 3 and "估计接通概率" in r.text
        with transaction(api.engine) as s:  # Saturday 7 February, 10:00-11:00 in Shanghai
            schedule_appointment(s, case_id=api.east_case, owner_id=api.user_ids["agent_east"],
                                 window_start=datetime(2026, 2, 7, 2, tzinfo=UTC),
                                 window_end=datetime(2026, 2, 7, 3, tzinfo=UTC), created_by="test")
        english = sign_in(api, "agent_east", lang="en").get(f"/case/{api.east_case}/best-hours").text
    first = english.split("<li>")[1]
    assert "Appointment" in first and "Saturday 10:00" in first and "asked to be called" in first
