"""The plans API over HTTP (SQLite and PostgreSQL): options, the agreement lifecycle, scope, roles,
the wrong-code counter, the PDF, and an audit record for every write."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from arrears.auth.tables import AuditRecord
from arrears.channels.tables import OutboxMessage
from tests.api.conftest import Api
from tests.plans.support import MOBILE, worked_case


@pytest.fixture
def case_id(api: Api) -> int:
    return worked_case(api.engine, "ACC-PLAN-API1")


def _audits(api: Api) -> list[tuple[str, str]]:
    with api.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(AuditRecord.action, AuditRecord.actor)
                                               .where(AuditRecord.action.like("plan.%")).order_by(AuditRecord.seq))]


def test_options_side_by_side(api: Api, case_id: int) -> None:
    r = api.get("agent_east", f"/cases/{case_id}/plan-options")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["inputs"]["balance"] == 1_200_000 and body["inputs"]["balance_yuan"] == "12000.00"
    by = {o["code"]: o for o in body["options"]}
    assert (by["inst_12"]["total"], by["inst_12"]["total_yuan"], by["inst_12"]["annual_rate"]) == (
        1_286_400, "12864.00", "13.03")
    assert by["inst_12"]["schedule"][0]["amount"] == 107_200 and by["settle_20"]["annual_rate"] is None
    assert (by["personalised"]["months"], by["personalised"]["needs_approval"]) == (8, True)
    r = api.get("agent_east", f"/cases/{case_id}/plan-options", params={"affordable": 100_000})
    assert {o["code"]: o for o in r.json()["options"]}["personalised"]["months"] == 12
    assert api.get("agent_west", f"/cases/{case_id}/plan-options").status_code == 404
    r = api.get("agent_east", f"/cases/{case_id}/plan-options", params={"affordable": -1})
    assert r.status_code == 422 and r.json()["error"]["field"] == "affordable"


def test_the_whole_lifecycle_with_four_eyes_and_an_sms_code(api: Api, case_id: int) -> None:
    r = api.post("agent_east", f"/cases/{case_id}/agreements", json={"option_code": "personalised"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason", r.text
    r = api.post("agent_east", f"/cases/{case_id}/agreements",
                 json={"option_code": "personalised", "reason": "失业，愿意分期还款"})
    assert r.status_code == 201, r.text
    a = r.json()
    assert (a["status"], a["total"], a["total_yuan"], a["version"], len(a["instalments"])) == (
        "pending_approval", 1_200_000, "12000.00", 1, 8)
    aid = a["id"]
    assert api.post("agent_east", f"/agreements/{aid}/approve", json={}).status_code == 403  # role
    assert api.post("lead_east", f"/agreements/{aid}/approve", json={}).json()["status"] == "awaiting_confirmation"
    sent = api.post("agent_east", f"/agreements/{aid}/send-code", json={})
    assert sent.status_code == 200, sent.text
    assert sent.json()["masked_phone"] == "139****5678" and MOBILE not in sent.text
    with api.engine.connect() as conn:
        code = conn.execute(select(OutboxMessage.payload)).scalar_one()["code"]
    assert code not in api.get("agent_east", f"/agreements/{aid}").text
    wrong = "000000" if code != "000000" else "111111"
    r = api.post("agent_east", f"/agreements/{aid}/confirm", json={"method": "sms_code", "code": wrong})
    assert r.status_code == 400 and r.json()["error"]["code"] == "wrong_code"
    assert api.get("agent_east", f"/agreements/{aid}").json()["code_attempts"] == 1  # committed
    r = api.post("agent_east", f"/agreements/{aid}/confirm", json={"method": "sms_code", "code": code})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["confirmation_method"]) == ("active", "sms_code")
    assert api.get("agent_east", f"/cases/{case_id}").json()["status"] == "plan_active"
    listed = api.get("supervisor", f"/cases/{case_id}/agreements").json()
    assert [x["id"] for x in listed] == [aid]
    assert _audits(api) == [
        ("plan.agreement_create", "agent_east"), ("plan.agreement_approve", "lead_east"),
        ("plan.code_sent", "agent_east"), ("plan.code_rejected", "agent_east"),
        ("plan.agreement_confirm", "agent_east")]


def test_revise_cancel_pdf_and_read_only_roles(api: Api, case_id: int) -> None:
    aid = api.post("agent_east", f"/cases/{case_id}/agreements", json={"option_code": "inst_12"}).json()["id"]
    for who in ("auditor", "compliance"):
        r = api.post(who, f"/agreements/{aid}/confirm", json={"method": "recorded_call", "reference": "R"})
        assert r.status_code == 403, who
    assert api.post("agent_west", f"/agreements/{aid}/cancel", json={"reason": "x"}).status_code == 404
    assert api.get("agent_west", f"/agreements/{aid}").status_code == 404
    r = api.post("agent_east", f"/agreements/{aid}/confirm", json={"method": "recorded_call",
                                                                   "reference": "REC-77"})
    assert r.status_code == 200, r.text
    r = api.post("agent_east", f"/agreements/{aid}/cancel", json={"reason": "changed"})
    assert r.status_code == 409
    v2 = api.post("agent_east", f"/agreements/{aid}/revise", json={"option_code": "inst_24"})
    assert v2.status_code == 201, v2.text
    assert (v2.json()["version"], v2.json()["supersedes_id"], v2.json()["total"]) == (2, aid, 1_351_200)
    r = api.post("agent_east", f"/agreements/{v2.json()['id']}/cancel", json={"reason": "customer hesitates"})
    assert r.json()["status"] == "cancelled"
    assert api.get("agent_east", f"/agreements/{aid}").json()["status"] == "active"

    pdf = api.get("lead_east", f"/agreements/{aid}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "还款计划协议" in text and "1,072.00" in text and "年化利率：13.03%" in text
    assert api.get("auditor", f"/agreements/{aid}/pdf").status_code == 403
    assert api.get("auditor", f"/agreements/{aid}").json()["terms_text"] is None
    assert ("plan.pdf_read", "lead_east") in _audits(api)
    assert [a for a, _ in _audits(api)] == [
        "plan.agreement_create", "plan.agreement_confirm", "plan.agreement_create", "plan.agreement_cancel",
        "plan.pdf_read"]
