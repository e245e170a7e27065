"""The complaint pages and API: compliance registers and works a complaint to its close; an agent
registers one from the case page and sees no more; a team lead sees their own team's complaints only;
auditors read and do not act; a forged CSRF token is refused; both languages; the REST register and
list, scoped."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import func, select

from arrears.accounts.tables import Hold
from arrears.auth.tables import AuditRecord
from arrears.complaints.tables import Complaint
from arrears.kit.clock import frozen_at
from tests.api.conftest import Api
from tests.web.support import page_csrf, sign_in

NOW = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, 20 March
BASE = "/compliance/complaints"


def _register(client, csrf: str, account: str, **extra: str):  # type: ignore[no-untyped-def]
    data = {"csrf_token": csrf, "account_ref": account, "channel": "phone", "category": "contact_frequency",
            "summary": "三天打了二十次电话", "received_on": "2026-03-19", "received_time": "16:30", **extra}
    return client.post(BASE, data=data)


def _id(location: str) -> int:
    found = re.search(r"/compliance/complaints/(\d+)", location)
    assert found, location
    return int(found.group(1))


def test_compliance_registers_and_works_a_complaint_to_its_close(api: Api) -> None:
    with frozen_at(NOW):
        officer = sign_in(api, "compliance", lang="en")
        csrf = page_csrf(officer, f"{BASE}/new")
        r = _register(officer, csrf, "ACC-EAST")
        assert r.status_code == 303, r.text
        cid = _id(r.headers["location"])
        page = officer.get(f"{BASE}/{cid}").text
        assert "Apr 3, 2026" in page and "14 days left" in page and "until the complaint is closed" in page
        listing = officer.get(BASE).text
        assert f'href="{BASE}/{cid}"' in listing and "<td>1 days</td>" in listing
        for move in ("acknowledge", "investigate"):
            assert officer.post(f"{BASE}/{cid}/move", data={"csrf_token": csrf, "move": move}).status_code == 303
        refused = officer.post(f"{BASE}/{cid}/move", data={"csrf_token": csrf, "move": "answer", "root_cause": "x",
                                                           "answer": "ok"})
        assert refused.status_code == 422
        done = officer.post(f"{BASE}/{cid}/move", data={"csrf_token": csrf, "move": "answer",
                                                        "root_cause": "agent_conduct", "answer": "道歉并停止来电",
                                                        "root_cause_text": "dialler misconfigured"})
        assert done.status_code == 303
        assert officer.post(f"{BASE}/{cid}/move", data={"csrf_token": csrf, "move": "close"}).status_code == 303
        page = officer.get(f"{BASE}/{cid}").text
        assert "Closed" in page and "A collector's conduct: dialler misconfigured" in page
    with api.engine.connect() as conn:
        hold = conn.execute(select(Hold.end_date).join(Complaint, Complaint.hold_id == Hold.id)
                            .where(Complaint.id == cid)).scalar_one()
        assert str(hold) == "2026-03-20"
        actions = conn.execute(select(AuditRecord.action).where(AuditRecord.entity == "complaint")
                               .order_by(AuditRecord.seq)).scalars().all()
        assert actions == ["complaint.received", "complaint.acknowledged", "complaint.investigating",
                           "complaint.answered", "complaint.closed"]


def test_an_agent_registers_from_the_case_page_and_sees_no_more(api: Api) -> None:
    with frozen_at(NOW):
        agent = sign_in(api, "agent_east", lang="en")
        case_page = agent.get(f"/case/{api.east_case}").text
        assert f'href="{BASE}/new?case_id={api.east_case}"' in case_page
        form = agent.get(f"{BASE}/new?case_id={api.east_case}")
        assert form.status_code == 200 and 'value="ACC-EAST"' in form.text and 'name="handler"' not in form.text
        csrf = page_csrf(agent, f"{BASE}/new")
        r = _register(agent, csrf, "ACC-EAST")
        assert r.status_code == 303 and r.headers["location"] == f"/case/{api.east_case}?notice=complaint_registered"
        assert "collection contact with the customer is held" in agent.get(r.headers["location"]).text
        assert agent.get(BASE).status_code == 403
        assert _register(agent, csrf, "ACC-WEST").status_code == 422  # not an account of the agent's team
        forged = _register(agent, "forged", "ACC-EAST")
        assert forged.status_code == 403
    with api.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Complaint)).scalar_one() == 1


def test_team_leads_see_their_team_and_auditors_read_only(api: Api) -> None:
    with frozen_at(NOW):
        officer = sign_in(api, "compliance", lang="en")
        csrf = page_csrf(officer, f"{BASE}/new")
        east = _id(_register(officer, csrf, "ACC-EAST").headers["location"])
        west = _id(_register(officer, csrf, "ACC-WEST", channel="regulator",
                             regulator_ref="12378-0001").headers["location"])
        lead = sign_in(api, "lead_east", lang="en")
        listing = lead.get(BASE).text
        assert f"{BASE}/{east}" in listing and f"{BASE}/{west}\"" not in listing
        assert lead.get(f"{BASE}/{west}").status_code == 404
        lead_csrf = page_csrf(lead, BASE)
        assert lead.post(f"{BASE}/{east}/move", data={"csrf_token": lead_csrf, "move": "acknowledge"}).status_code == 303
        assert lead.post(f"{BASE}/escalate", data={"csrf_token": lead_csrf}).status_code == 403
        assert lead.post(f"{BASE}/{east}/handler", data={"csrf_token": lead_csrf,
                                                          "handler": api.user_ids["lead_east"]}).status_code == 303
        assert lead.post(f"{BASE}/{east}/handler", data={"csrf_token": lead_csrf,
                                                          "handler": api.user_ids["agent_east"]}).status_code == 422
        assert "lead_east" in lead.get(f"{BASE}/{east}").text
        auditor = sign_in(api, "auditor", lang="en")
        assert auditor.get(f"{BASE}/{west}").status_code == 200
        assert auditor.post(f"{BASE}/{west}/move", data={"csrf_token": page_csrf(auditor, BASE),
                                                          "move": "acknowledge"}).status_code == 403
        # the customer's name is masked by role (an auditor sees its first character)
        assert "测***" in auditor.get(BASE).text and "测试客户" not in auditor.get(BASE).text


def test_extension_and_escalation_from_the_pages(api: Api) -> None:
    with frozen_at(NOW):
        officer = sign_in(api, "compliance", lang="en")
        csrf = page_csrf(officer, f"{BASE}/new")
        late = _id(_register(officer, csrf, "ACC-EAST", received_on="2026-03-01").headers["location"])
        fresh = _id(_register(officer, csrf, "ACC-WEST").headers["location"])
        assert officer.post(f"{BASE}/{late}/extend", data={"csrf_token": csrf, "reason": "late"}).status_code == 409
        assert officer.post(f"{BASE}/{fresh}/extend", data={"csrf_token": csrf, "reason": ""}).status_code == 422
        assert officer.post(f"{BASE}/{fresh}/extend", data={"csrf_token": csrf,
                                                            "reason": "needs recordings"}).status_code == 303
        assert "Apr 18, 2026" in officer.get(f"{BASE}/{fresh}").text
        listing = officer.get(BASE).text
        assert listing.index(f"{BASE}/{late}") < listing.index(f"{BASE}/{fresh}")  # overdue first
        assert "4 days overdue" in listing
        for _ in range(2):
            assert officer.post(f"{BASE}/escalate", data={"csrf_token": csrf}).status_code == 303
        assert "Escalated" in officer.get(f"{BASE}/{late}").text
        zh = sign_in(api, "compliance", lang="zh_CN").get(BASE).text
        assert "已超期 4 天" in zh and "已升级" in zh and "每千户投诉量" in zh
        rates = officer.get(f"{BASE}/export/rates.csv", params={"group": "team", "from": "2026-03-01",
                                                                 "to": "2026-03-31"})
        assert rates.status_code == 200 and "east,1,1,1000.0" in rates.text
    with api.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AuditRecord)
                            .where(AuditRecord.action == "complaint.escalated")).scalar_one() == 1


def test_rest_register_and_list_scoped(api: Api) -> None:
    with frozen_at(NOW):
        body = {"account_ref": "ACC-EAST", "channel": "email", "category": "fees_interest", "summary": "fee"}
        r = api.post("agent_east", "/complaints", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["deadline"] == "2026-04-04" and r.json()["hold_id"]
        assert api.post("agent_west", "/complaints", json=body).status_code == 404
        assert api.post("auditor", "/complaints", json=body).status_code == 403
        assert api.post("compliance", "/complaints", json={**body, "channel": "pigeon"}).status_code == 422
        west = api.post("compliance", "/complaints", json={**body, "account_ref": "ACC-WEST"})
        assert west.status_code == 201
        assert [c["account_ref"] for c in api.get("lead_east", "/complaints").json()["complaints"]] == ["ACC-EAST"]
        assert len(api.get("compliance", "/complaints").json()["complaints"]) == 2
        assert api.get("agent_east", "/complaints").status_code == 403


def test_the_contact_gate_holds_the_customer_while_the_complaint_is_open(api: Api) -> None:
    def rules(at: str) -> list[str]:
        r = api.get("agent_east", f"/cases/{api.east_case}/contact-check",
                    params={"channel": "call", "at": at, "contact_point_id": api.contact_points["phone"]})
        assert r.status_code == 200, r.text
        return [b["rule_id"] for b in r.json()["blocks"]]

    with frozen_at(NOW):
        assert "hold_dispute" not in rules("2026-03-20T03:00:00+00:00")
        cid = api.post("compliance", "/complaints", json={
            "account_ref": "ACC-EAST", "channel": "phone", "category": "contact_time", "summary": "late calls"}
        ).json()["id"]
        assert "hold_dispute" in rules("2026-03-20T03:00:00+00:00")
        officer = sign_in(api, "compliance", lang="en")
        csrf = page_csrf(officer, BASE)
        for move, extra in (("answer", {"root_cause": "process", "answer": "fixed"}), ("close", {})):
            assert officer.post(f"{BASE}/{cid}/move", data={"csrf_token": csrf, "move": move, **extra}).status_code == 303
        assert "hold_dispute" in rules("2026-03-20T06:00:00+00:00")  # the hold ends with the day it was closed
        assert "hold_dispute" not in rules("2026-03-21T03:00:00+00:00")
