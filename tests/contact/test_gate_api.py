"""The compliance gate's API: verdicts, overrides, the compliance log and gated interactions
(SQLite and PostgreSQL)."""

# ruff: noqa: F811 - the `api` fixture is imported from tests/api/conftest.py and taken as each test's argument

from __future__ import annotations

from sqlalchemy import select

from arrears.auth.tables import AuditRecord
from arrears.contact.tables import ContactDecision
from tests.api.conftest import Api, api  # noqa: F401 - imported to register the `api` fixture here
from tests.contact.test_gate_store import add_hold

NIGHT = "2026-03-02T23:00:00+08:00"
DAY = "2026-03-02T10:00:00+08:00"


def _check(api: Api, who: str = "agent_east", case: int | None = None, **params: object):  # type: ignore[no-untyped-def]
    query = {"channel": "call", "party": "debtor", "purpose": "collection", **params}
    return api.get(who, f"/cases/{case or api.east_case}/contact-check", params=query)


def _override(api: Api, who: str, rule_id: str, at: str = DAY, **extra: object):  # type: ignore[no-untyped-def]
    body = {"rule_id": rule_id, "reason": "customer asked for a call about a plan", "channel": "call",
            "party": "debtor", "purpose": "collection", "at": at, **extra}
    return api.post(who, f"/cases/{api.east_case}/contact-overrides", json=body)


def _rows(api: Api) -> list[ContactDecision]:
    with api.engine.connect() as conn:
        return list(conn.execute(select(ContactDecision).order_by(ContactDecision.id)).all())


def _call(api: Api, **extra: object):  # type: ignore[no-untyped-def]
    body = {"channel": "call", "direction": "outbound", "party": "nobody", "started_at": DAY,
            "outcome": "no_answer", **extra}
    return api.post("agent_east", f"/cases/{api.east_case}/interactions", json=body)


def test_verdict_at_23_names_the_rule_source_messages_and_next_time(api: Api) -> None:
    r = _check(api, at=NIGHT)
    assert r.status_code == 200, r.text
    v = r.json()
    assert v["allowed"] is False and v["case_id"] == api.east_case and v["pack"] == "cn"
    assert v["next_allowed_at"] == "2026-03-03T00:00:00Z" and v["decision_id"] is not None
    [block] = v["blocks"]
    assert block["rule_id"] == "quiet_hours" and block["source"] and block["next_allowed_at"] == "2026-03-03T00:00:00Z"
    assert "22:00" in block["message"] and "客户当地时间" in block["message_zh"]
    assert [r.source for r in _rows(api)] == ["api"]


def test_allowed_verdict_is_not_logged(api: Api) -> None:
    v = _check(api, at=DAY).json()
    assert v["allowed"] is True and v["blocks"] == [] and v["decision_id"] is None
    assert v["next_allowed_at"] == "2026-03-02T02:00:00Z"
    assert _rows(api) == []


def test_check_is_scoped_and_validated(api: Api) -> None:
    assert _check(api, case=api.west_case).status_code == 404
    r = _check(api, channel="pigeon")
    assert r.status_code == 422 and r.json()["error"]["field"] == "channel"
    r = _check(api, at="2026-03-02T23:00:00")
    assert r.status_code == 422 and r.json()["error"]["field"] == "at"
    r = _check(api, contact_point_id=10**9)
    assert r.status_code == 422 and r.json()["error"]["field"] == "contact_point_id"


def test_supervisor_override_is_applied_logged_and_audited(api: Api) -> None:
    add_hold(api.engine, api.east_case, "hardship")
    assert [b["rule_id"] for b in _check(api, at=DAY).json()["blocks"]] == ["hold_hardship"]
    r = _override(api, "supervisor", "hold_hardship", requested_by="agent_east")
    assert r.status_code == 201, r.text
    v = r.json()
    assert v["allowed"] is True and [b["rule_id"] for b in v["overridden"]] == ["hold_hardship"]
    [o] = v["overrides"]
    assert (o["approver"], o["approver_role"], o["applied"]) == ("supervisor", "supervisor", True)
    with api.engine.connect() as conn:
        [audit] = conn.execute(select(AuditRecord).where(AuditRecord.action == "contact.override")).all()
    assert audit.actor == "supervisor" and audit.detail["reason"] == "customer asked for a call about a plan"


def test_quiet_hours_override_is_refused_and_logged(api: Api) -> None:
    r = _override(api, "compliance", "quiet_hours", at=NIGHT)
    assert r.status_code == 201, r.text
    v = r.json()
    assert v["allowed"] is False and [b["rule_id"] for b in v["blocks"]] == ["quiet_hours"]
    [o] = v["overrides"]
    assert o["applied"] is False and "never be overridden" in o["refused_because"]
    [row] = _rows(api)
    assert row.overrides[0]["refused_because"] and not row.allowed


def test_agent_and_auditor_cannot_override(api: Api) -> None:
    for who in ("agent_east", "auditor"):
        r = _override(api, who, "hold_hardship")
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert _rows(api) == []


def test_decisions_list_is_scoped_by_role(api: Api) -> None:
    _check(api, at=NIGHT)
    _check(api, who="agent_west", case=api.west_case, at=NIGHT)
    assert api.get("agent_east", "/contact-decisions").status_code == 403
    for who in ("supervisor", "compliance", "auditor", "admin"):
        page = api.get(who, "/contact-decisions").json()
        assert page["total"] == 2 and len(page["items"]) == 2, who
    lead = api.get("lead_east", "/contact-decisions").json()
    assert [i["case_id"] for i in lead["items"]] == [api.east_case]
    page = api.get("auditor", "/contact-decisions", params={"case_id": api.west_case, "limit": 1}).json()
    assert page["total"] == 1 and page["items"][0]["blocks"][0]["rule_id"] == "quiet_hours"
    assert api.get("auditor", "/contact-decisions", params={"allowed": True}).json()["total"] == 0
    r = api.get("auditor", "/contact-decisions", params={"limit": 0})
    assert r.status_code == 422 and r.json()["error"]["field"] == "limit"


def test_outbound_call_without_recording_is_refused_and_logged(api: Api) -> None:
    r = _call(api)
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "contact_blocked" and "call_recording" in err["message"]
    assert err["rule_ids"] == ["call_recording"]
    [row] = _rows(api)
    assert row.source == "interaction" and row.id == err["decision_id"]
    assert api.get("agent_east", f"/cases/{api.east_case}/interactions").json() == []
    r = _call(api, recording_ref="REC-20260302-0001")
    assert r.status_code == 201, r.text


def test_outbound_call_at_night_names_the_next_allowed_time(api: Api) -> None:
    r = _call(api, started_at=NIGHT, recording_ref="REC-1")
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["rule_ids"] == ["quiet_hours"] and err["next_allowed_at"] == "2026-03-03T00:00:00+00:00"


def test_inbound_call_at_night_is_recorded(api: Api) -> None:
    r = _call(api, started_at=NIGHT, direction="inbound", outcome="right_party_contact", party="debtor")
    assert r.status_code == 201, r.text


def test_override_lets_the_agent_record_the_contact(api: Api) -> None:
    add_hold(api.engine, api.east_case, "hardship")
    assert _call(api, recording_ref="REC-1").status_code == 409
    decision = _override(api, "supervisor", "hold_hardship", requested_by="agent_east").json()["decision_id"]
    url = f"/cases/{api.east_case}/interactions?override_decision_id={decision}"
    body = {"channel": "call", "direction": "outbound", "party": "nobody", "started_at": DAY,
            "outcome": "no_answer", "recording_ref": "REC-2"}
    r = api.post("agent_east", url, json=body)
    assert r.status_code == 201, r.text
    row = _rows(api)[-1]
    assert row.source == "interaction" and row.allowed and row.overrides[0]["approver"] == "supervisor"
    r = api.post("agent_east", f"/cases/{api.east_case}/interactions?override_decision_id=999999", json=body)
    assert r.status_code == 422 and r.json()["error"]["field"] == "override_decision_id"
