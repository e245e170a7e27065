"""The agreement from the case page: four-eyes approval by a second person (and the list of agreements
waiting for one), revision of an active agreement and cancellation of one not yet confirmed, the case
header refreshed out of band, and errors that name the form field at fault."""

from __future__ import annotations

import json
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.auth.tables import AuditRecord
from arrears.kit.clock import frozen_at
from arrears.plans.tables import PlanAgreement
from tests.api.conftest import Api
from tests.plans.support import worked_case
from tests.web.support import page_csrf, sign_in
from tests.web.test_script import DAYTIME, HX

REASON = "失业，愿意分期还款"


def _agreements(api: Api, case_id: int) -> list[PlanAgreement]:
    with Session(api.engine, expire_on_commit=False) as session:
        return list(session.scalars(select(PlanAgreement).where(PlanAgreement.case_id == case_id)
                                    .order_by(PlanAgreement.version)))


def _audit(api: Api, action: str) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    with api.engine.connect() as conn:
        return [(a, d) for a, d in conn.execute(select(AuditRecord.actor, AuditRecord.detail)
                                                .where(AuditRecord.action == action).order_by(AuditRecord.seq))]


def _hx(client, case_id: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {**HX, "X-CSRF-Token": page_csrf(client, f"/case/{case_id}")}


def _pending(api: Api, ref: str, *, maker: str = "agent_east", team: str = "east") -> tuple[int, int]:
    """A case of ``team`` with a personalised agreement (always four-eyes: a team lead or above) made
    by ``maker`` through the page; (case id, agreement id)."""
    case_id = worked_case(api.engine, ref, team=team)
    client = sign_in(api, maker)
    r = client.post(f"/case/{case_id}/script/agreement", headers=_hx(client, case_id),
                    data={"option_code": "personalised", "reason": REASON})
    assert r.status_code == 200, r.text
    (agreement,) = _agreements(api, case_id)
    assert (agreement.status, agreement.approval_role) == ("pending_approval", "team_lead")
    return case_id, agreement.id


def _header_oob(html: str) -> str:
    """The out-of-band case header of an HTMX answer: from its opening tag to the next out-of-band part
    (the header holds elements of its own, so its first closing tag is not its end)."""
    found = re.search(r'<div class="head-tags" id="case-head-tags" hx-swap-oob="true">(.*?)(?=hx-swap-oob="true"|\Z)',
                      html, re.S)
    assert found, "no out-of-band case header in the answer"
    return found.group(1)


def test_a_team_lead_approves_from_the_case_page(api: Api) -> None:
    with frozen_at(DAYTIME):
        case_id, agreement_id = _pending(api, "ACC-WEB-APPR1")
        agent = sign_in(api, "agent_east")
        step = agent.get(f"/case/{case_id}/script/agreement", headers=HX).text
        assert "/approve" not in step and "team_lead" in step  # the agent only sees that it waits

        lead = sign_in(api, "lead_east")
        listed = lead.get("/approvals")
        assert listed.status_code == 200 and f'data-agreement="{agreement_id}"' in listed.text
        assert f"/case/{case_id}?step=agreement" in listed.text and 'href="/approvals"' in listed.text
        step = lead.get(f"/case/{case_id}/script/agreement", headers=HX).text
        assert f'hx-post="/case/{case_id}/agreements/{agreement_id}/approve"' in step
        assert 'for="approve-note-' in step

        r = lead.post(f"/case/{case_id}/agreements/{agreement_id}/approve", headers=_hx(lead, case_id),
                      data={"note": "收入证明已核实"})
        assert r.status_code == 200, r.text
        assert 'role="status"' in r.text and "/script/send-code" in r.text  # the customer can confirm it now
        assert _header_oob(r.text)
        (agreement,) = _agreements(api, case_id)
        assert (agreement.status, agreement.approved_by) == ("awaiting_confirmation", api.user_ids["lead_east"])
        ((actor, detail),) = _audit(api, "plan.agreement_approve")
        assert actor == "lead_east" and detail["note"] == "收入证明已核实" and detail["case_id"] == case_id
        assert f'data-agreement="{agreement_id}"' not in lead.get("/approvals").text  # no longer waiting

        # approving again: not pending any more (409), nothing written
        r = lead.post(f"/case/{case_id}/agreements/{agreement_id}/approve", headers=_hx(lead, case_id), data={})
        assert r.status_code == 409
    assert len(_audit(api, "plan.agreement_approve")) == 1


def test_without_htmx_the_approval_redirects_to_the_agreement_step(api: Api) -> None:
    with frozen_at(DAYTIME):
        case_id, agreement_id = _pending(api, "ACC-WEB-APPR2")
        supervisor = sign_in(api, "supervisor")
        r = supervisor.post(f"/case/{case_id}/agreements/{agreement_id}/approve",
                            data={"csrf_token": page_csrf(supervisor, f"/case/{case_id}")})
        assert r.status_code == 303 and r.headers["location"] == f"/case/{case_id}?step=agreement#script"
        assert _agreements(api, case_id)[0].status == "awaiting_confirmation"


def test_the_maker_an_agent_an_auditor_and_another_team_cannot_approve(api: Api) -> None:
    with frozen_at(DAYTIME):
        case_id, agreement_id = _pending(api, "ACC-WEB-APPR3", maker="lead_east")
        url = f"/case/{case_id}/agreements/{agreement_id}/approve"
        lead = sign_in(api, "lead_east")
        step = lead.get(f"/case/{case_id}/script/agreement", headers=HX).text
        assert url not in step  # the maker is told another person must approve it
        assert lead.post(url, headers=_hx(lead, case_id), data={}).status_code == 403
        row = lead.get("/approvals").text.split(f'data-agreement="{agreement_id}"', 1)[1].split("</tr>", 1)[0]
        assert f"/case/{case_id}?step=agreement" not in row.split("</td>", 7)[-1]  # no "Approve" for the maker
        for who in ("agent_east", "auditor", "admin"):
            client = sign_in(api, who)
            assert client.post(url, headers=_hx(client, case_id), data={}).status_code == 403, who
            assert client.get("/approvals").status_code == 403, who
        no_token = sign_in(api, "supervisor")
        assert no_token.post(url, headers=HX, data={}).status_code == 403  # no CSRF token

        west_case, west_agreement = _pending(api, "ACC-WEB-APPR4", maker="agent_west", team="west")
        assert f'data-agreement="{west_agreement}"' not in lead.get("/approvals").text
        assert f'data-agreement="{west_agreement}"' in sign_in(api, "supervisor").get("/approvals").text
        r = lead.post(f"/case/{west_case}/agreements/{west_agreement}/approve", headers=_hx(lead, case_id), data={})
        assert r.status_code == 404
        # an agreement of another case through this case's URL
        r = lead.post(f"/case/{case_id}/agreements/{west_agreement}/approve", headers=_hx(lead, case_id), data={})
        assert r.status_code == 404
    assert [a.status for a in _agreements(api, case_id)] == ["pending_approval"]
    assert [a.status for a in _agreements(api, west_case)] == ["pending_approval"]
    assert _audit(api, "plan.agreement_approve") == []


def _active(api: Api, ref: str) -> tuple[int, int]:
    """A case with an active instalment agreement confirmed through the page; (case id, agreement id)."""
    case_id = worked_case(api.engine, ref)
    agent = sign_in(api, "agent_east")
    h = _hx(agent, case_id)
    assert agent.post(f"/case/{case_id}/script/agreement", headers=h, data={"option_code": "inst_12"}).status_code \
        == 200
    (agreement,) = _agreements(api, case_id)
    r = agent.post(f"/case/{case_id}/script/confirm", headers=h, data={
        "agreement_id": agreement.id, "method": "recorded_call", "reference": "REC-REV-1"})
    assert r.status_code == 200, r.text
    assert "还款计划执行中" in _header_oob(r.text)  # the header shows the case's new status
    return case_id, agreement.id


def test_revising_an_active_agreement_needs_a_reason_and_makes_a_new_version(api: Api) -> None:
    with frozen_at(DAYTIME):
        case_id, old_id = _active(api, "ACC-WEB-REV1")
        agent = sign_in(api, "agent_east")
        step = agent.get(f"/case/{case_id}/script/agreement", headers=HX).text
        url = f"/case/{case_id}/agreements/{old_id}/revise"
        assert f'hx-post="{url}"' in step and 'value="inst_24"' in step and 'for="revise-reason-' in step
        h = _hx(agent, case_id)

        r = agent.post(url, headers=h, data={"option_code": "inst_24", "reason": "  "})
        assert r.status_code == 422 and r.headers["HX-Retarget"] == "#flash"
        assert json.loads(r.headers["HX-Trigger"]) == {"arrears:field-error": {
            "field": "reason", "message": "请说明修改协议的原因"}}
        assert 'data-field="reason"' in r.text
        r = agent.post(url, headers=h, data={"option_code": "", "reason": "收入下降"})
        assert r.status_code == 422 and json.loads(r.headers["HX-Trigger"])["arrears:field-error"]["field"] \
            == "option_code"
        r = agent.post(url, headers=h, data={"option_code": "no_such", "reason": "收入下降"})
        assert r.status_code == 422 and json.loads(r.headers["HX-Trigger"])["arrears:field-error"]["field"] \
            == "option_code"  # the service's PlanFieldError names it
        assert len(_agreements(api, case_id)) == 1  # nothing written by the refusals

        r = agent.post(url, headers=h, data={"option_code": "inst_24", "reason": "收入下降，改为24期"})
        assert r.status_code == 200, r.text
        assert _header_oob(r.text)
        old, new = _agreements(api, case_id)
        assert (old.status, new.status, new.supersedes_id, new.product_code, new.reason) == (
            "active", "awaiting_confirmation", old.id, "inst_24", "收入下降，改为24期")
        ((actor, detail),) = _audit(api, "plan.agreement_create")[1:]
        assert actor == "agent_east" and detail["supersedes_id"] == old.id
        # a second revision while the first waits: the page offers none, the service refuses it (409)
        assert f'hx-post="{url}"' not in r.text
        assert agent.post(url, headers=h, data={"option_code": "inst_36", "reason": "x"}).status_code == 409
        compliance = sign_in(api, "compliance")
        assert compliance.post(url, headers=_hx(compliance, case_id),
                               data={"option_code": "inst_36", "reason": "x"}).status_code == 403
    assert len(_agreements(api, case_id)) == 2


def test_cancelling_an_agreement_not_yet_confirmed_needs_a_reason(api: Api) -> None:
    with frozen_at(DAYTIME):
        case_id, agreement_id = _pending(api, "ACC-WEB-CAN1")
        url = f"/case/{case_id}/agreements/{agreement_id}/cancel"
        agent = sign_in(api, "agent_east")
        assert f'hx-post="{url}"' in agent.get(f"/case/{case_id}/script/agreement", headers=HX).text
        h = _hx(agent, case_id)
        r = agent.post(url, headers=h, data={"reason": ""})
        assert r.status_code == 422 and json.loads(r.headers["HX-Trigger"])["arrears:field-error"]["field"] == "reason"
        assert _agreements(api, case_id)[0].status == "pending_approval"
        for who in ("auditor", "compliance"):
            client = sign_in(api, who)
            assert client.post(url, headers=_hx(client, case_id), data={"reason": "x"}).status_code == 403, who
        west = sign_in(api, "agent_west")
        assert west.post(url, headers={**HX, "X-CSRF-Token": page_csrf(west)}, data={"reason": "x"}).status_code \
            == 404
        r = agent.post(url, headers=h, data={"reason": "客户改选一次结清"})
        assert r.status_code == 200 and _header_oob(r.text)
        (agreement,) = _agreements(api, case_id)
        assert (agreement.status, agreement.end_reason) == ("cancelled", "客户改选一次结清")
        ((actor, detail),) = _audit(api, "plan.agreement_cancel")
        assert actor == "agent_east" and detail["reason"] == "客户改选一次结清"
        # an active agreement is not cancelled (409) and offers no cancel form
        case2, active_id = _active(api, "ACC-WEB-CAN2")
        assert f"/agreements/{active_id}/cancel" not in agent.get(f"/case/{case2}/script/agreement", headers=HX).text
        r = agent.post(f"/case/{case2}/agreements/{active_id}/cancel", headers=_hx(agent, case2),
                       data={"reason": "x"})
        assert r.status_code == 409


def test_the_case_header_follows_the_scripts_writes(api: Api) -> None:
    with frozen_at(DAYTIME):
        case_id = worked_case(api.engine, "ACC-WEB-HEAD")
        agent = sign_in(api, "agent_east")
        page = agent.get(f"/case/{case_id}").text
        assert page.count('id="case-head-tags"') == 1 and "hx-swap-oob" not in page
        head = page.split('id="case-head-tags"', 1)[1]
        assert "协商中" in head.split("</dl>", 1)[1].split("</div>", 1)[0]  # the status tag, after the figures
        assert "hx-swap-oob" not in agent.get(f"/case/{case_id}/script/next", headers=HX).text  # only writes
        r = agent.post(f"/case/{case_id}/script/outcome", headers=_hx(agent, case_id), data={
            "outcome": "no_answer", "party": "nobody", "recording_ref": "REC-H", "next_step": "transition",
            "to_state": "follow_up", "move_reason": "多次失联"})
        assert r.status_code == 200, r.text
        tags = _header_oob(r.text)
        assert "跟进中" in tags and "协商中" not in tags



def test_a_bad_field_is_answered_422_naming_it(api: Api) -> None:
    with frozen_at(DAYTIME):
        agent = sign_in(api, "agent_east", lang="en")
        case_id = api.east_case
        h = _hx(agent, case_id)
        r = agent.post(f"/case/{case_id}/script/investigation", headers=h, data={
            "cause": "job_loss", "monthly_income": "lots", "essential_spending": "0"})
        assert r.status_code == 422 and r.headers["HX-Retarget"] == "#flash"
        event = json.loads(r.headers["HX-Trigger"])["arrears:field-error"]
        assert event == {"field": "monthly_income", "message": "Not an amount: lots"}
        assert 'data-field="monthly_income"' in r.text and 'role="alert"' in r.text
        # in Chinese the header stays ASCII (JSON escapes) and carries the translated message
        zh = sign_in(api, "agent_east")
        r = zh.post(f"/case/{case_id}/script/investigation", headers=_hx(zh, case_id), data={
            "cause": "job_loss", "monthly_income": "100", "essential_spending": "-1"})
        assert r.status_code == 422 and r.headers["HX-Trigger"].isascii()
        assert json.loads(r.headers["HX-Trigger"])["arrears:field-error"] == {
            "field": "essential_spending", "message": "不能小于 0"}
        # a service's refusal of one input names it (the cause is not a known one)
        r = agent.post(f"/case/{case_id}/script/investigation", headers=h, data={
            "cause": "bored", "monthly_income": "100", "essential_spending": "0"})
        assert r.status_code == 422 and json.loads(r.headers["HX-Trigger"])["arrears:field-error"]["field"] == "cause"
        # FastAPI's own validation (loc): a form field out of range
        r = agent.post(f"/case/{case_id}/script/investigation", headers=h, data={
            "cause": "job_loss", "monthly_income": "100", "essential_spending": "0", "dependants": "99"})
        assert r.status_code == 422 and json.loads(r.headers["HX-Trigger"])["arrears:field-error"]["field"] \
            == "dependants"
        # the outcome form: a promise without its date, a move without its state
        base = {"outcome": "promise_to_pay", "party": "debtor", "recording_ref": "REC-F"}
        r = agent.post(f"/case/{case_id}/script/outcome", headers=h, data={
            **base, "next_step": "promise", "promise_amount": "100"})
        assert r.status_code == 422 and json.loads(r.headers["HX-Trigger"])["arrears:field-error"] == {
            "field": "promise_date", "message": "Required for a promise"}
        r = agent.post(f"/case/{case_id}/script/outcome", headers=h, data={**base, "next_step": "transition"})
        assert r.status_code == 422 and json.loads(r.headers["HX-Trigger"])["arrears:field-error"]["field"] \
            == "to_state"
        r = agent.post(f"/case/{case_id}/script/outcome", headers=h, data={**base, "next_step": "promise",
                                                                           "promise_amount": "100",
                                                                           "promise_date": "2026-01-01"})
        assert r.status_code == 422 and json.loads(r.headers["HX-Trigger"])["arrears:field-error"]["field"] \
            == "promise_date"  # before today: the service's refusal, named
        # the agreement form: the service's PlanFieldError (a personalised plan needs its reason)
        worked = worked_case(api.engine, "ACC-WEB-FIELD")
        r = agent.post(f"/case/{worked}/script/agreement", headers=_hx(agent, worked),
                       data={"option_code": "personalised"})
        assert r.status_code == 422 and json.loads(r.headers["HX-Trigger"])["arrears:field-error"]["field"] == "reason"
        # the confirmation form: a recorded call needs its reference
        agent.post(f"/case/{worked}/script/agreement", headers=_hx(agent, worked), data={"option_code": "inst_12"})
        (agreement,) = _agreements(api, worked)
        r = agent.post(f"/case/{worked}/script/confirm", headers=_hx(agent, worked),
                       data={"agreement_id": agreement.id, "method": "recorded_call"})
        assert r.status_code == 422 and json.loads(r.headers["HX-Trigger"])["arrears:field-error"]["field"] \
            == "reference"
        # without HTMX: the whole error page still says it, naming the field, and no HTMX header
        r = agent.post(f"/case/{case_id}/script/investigation", data={
            "csrf_token": page_csrf(agent, f"/case/{case_id}"), "cause": "job_loss", "monthly_income": "lots",
            "essential_spending": "0"})
        assert r.status_code == 422 and "<html" in r.text and "Not an amount" in r.text
        assert "monthly_income" in r.text and "HX-Trigger" not in r.headers
        # an error that is not a field's has no field event
        r = agent.post(f"/case/{case_id}/agreements/999999/cancel", headers=h, data={"reason": "x"})
        assert r.status_code == 404 and "HX-Trigger" not in r.headers
