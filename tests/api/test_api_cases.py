"""Each endpoint's happy path, masking, audit records, pagination and filters, on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from arrears.auth.tables import AuditRecord
from arrears.kit.clock import utc_now
from tests.api.conftest import ADDRESS, EMAIL, NATIONAL_ID, PHONE, Api, assign
from tests.cases.support import new_case


def audits(api: Api, action: str) -> list[AuditRecord]:
    with api.engine.connect() as conn:
        return list(conn.execute(select(AuditRecord).where(AuditRecord.action == action)
                                 .order_by(AuditRecord.seq)).all())


# -- cases: masking, pagination, filters -------------------------------------------------------

@pytest.mark.parametrize("who", ["agent_east", "lead_east", "supervisor", "compliance", "admin"])
def test_case_masks_personal_data_but_names_for_working_roles(api: Api, who: str) -> None:
    r = api.get(who, f"/cases/{api.east_case}")
    assert r.status_code == 200
    body = r.json()
    assert body["account_ref"] == "ACC-EAST" and body["team"] == "east" and body["status"] == "new"
    customer = body["customer"]
    assert customer["name"] == "测试客户" == body["customer_name"]
    assert customer["national_id"] == "110***********002X" != NATIONAL_ID
    values = {p["kind"]: p["value"] for p in customer["contact_points"]}
    assert values == {"phone": "138****5678", "email": "z****@example.com", "address": "广东省深圳市****"}
    assert PHONE not in r.text and EMAIL not in r.text and ADDRESS not in r.text


def test_auditor_sees_even_the_name_masked(api: Api) -> None:
    body = api.get("auditor", f"/cases/{api.east_case}").json()
    assert body["customer"]["name"] == "测***" == body["customer_name"]
    page = api.get("auditor", "/cases").json()
    assert {c["customer_name"] for c in page["items"]} == {"测***"}


def test_pagination_and_filters(api: Api) -> None:
    more = [new_case(api.engine, f"ACC-E{i}") for i in range(3)]
    for case_id in more:
        assign(api.engine, case_id, "east")
    api.post("supervisor", f"/cases/{more[0]}/transitions", json={"to_state": "contacting", "reason": "called"})
    page = api.get("supervisor", "/cases", params={"limit": 2}).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 0
    first = [c["id"] for c in page["items"]]
    second = [c["id"] for c in api.get("supervisor", "/cases", params={"limit": 2, "offset": 2}).json()["items"]]
    third = [c["id"] for c in api.get("supervisor", "/cases", params={"limit": 2, "offset": 4}).json()["items"]]
    assert len(first) == len(second) == 2 and len(third) == 1
    assert sorted(first + second + third) == first + second + third
    assert set(first + second + third) == {api.east_case, api.west_case, *more}
    assert api.get("supervisor", "/cases", params={"offset": 10}).json()["items"] == []

    team = api.get("supervisor", "/cases", params={"team": "west"}).json()
    assert [c["id"] for c in team["items"]] == [api.west_case] and team["total"] == 1
    state = api.get("supervisor", "/cases", params={"state": "contacting"}).json()
    assert [c["id"] for c in state["items"]] == [more[0]]
    bucket = api.get("supervisor", "/cases", params={"bucket": "M1", "team": "east"}).json()
    assert bucket["total"] == 4
    assert api.get("supervisor", "/cases", params={"bucket": "M7+"}).json()["total"] == 0
    # filters never widen an agent's scope
    assert api.get("agent_east", "/cases", params={"team": "west"}).json()["total"] == 0


# -- transitions --------------------------------------------------------------------------------

def test_transition_is_recorded_and_audited(api: Api) -> None:
    r = api.post("agent_east", f"/cases/{api.east_case}/transitions",
                 json={"to_state": "contacting", "reason": "first call made"})
    assert r.status_code == 201, r.text
    move = r.json()
    assert (move["from_state"], move["to_state"], move["reason"]) == ("new", "contacting", "first call made")
    assert move["actor"] == f"user:{api.user_ids['agent_east']}"
    assert api.get("agent_east", f"/cases/{api.east_case}").json()["status"] == "contacting"
    history = api.get("agent_east", f"/cases/{api.east_case}/transitions").json()
    assert [(h["from_state"], h["to_state"]) for h in history] == [(None, "new"), ("new", "contacting")]
    [entry] = audits(api, "case.transition")
    assert entry.actor == "agent_east" and entry.entity_id == str(api.east_case)
    assert entry.detail["to_state"] == "contacting"


def test_refused_transition_is_409_and_writes_nothing(api: Api) -> None:
    r = api.post("agent_east", f"/cases/{api.east_case}/transitions", json={"to_state": "closed", "reason": "x"})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "invalid_transition" and "cannot move" in r.json()["error"]["message"]
    assert audits(api, "case.transition") == []
    assert api.get("agent_east", f"/cases/{api.east_case}").json()["status"] == "new"


# -- interactions and holds -----------------------------------------------------------------------

def _call(api: Api, outcome: str, who: str = "agent_east", **extra: object):  # type: ignore[no-untyped-def]
    body = {"channel": "call", "direction": "outbound", "party": "debtor",
            "started_at": "2026-03-02T10:00:00+08:00", "ended_at": "2026-03-02T10:05:00+08:00",
            "outcome": outcome, "recording_ref": "REC-20260302-0001", **extra}
    return api.post(who, f"/cases/{api.east_case}/interactions", json=body)


def test_interaction_happy_path(api: Api) -> None:
    r = _call(api, "right_party_contact", contact_point_id=api.contact_points["phone"], notes="will pay Friday")
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["hold_id"] is None and out["review_id"] is None
    assert out["interaction"]["started_at"] == "2026-03-02T02:00:00Z"
    assert out["interaction"]["agent_id"] == api.user_ids["agent_east"]
    listed = api.get("agent_east", f"/cases/{api.east_case}/interactions").json()
    assert [i["id"] for i in listed] == [out["interaction"]["id"]]
    [entry] = audits(api, "interaction.create")
    assert entry.entity_id == str(out["interaction"]["id"]) and entry.detail["case_id"] == api.east_case


def test_interaction_refuses_foreign_contact_point_and_unknown_outcome(api: Api) -> None:
    r = _call(api, "right_party_contact", contact_point_id=10**9)
    assert r.status_code == 422 and r.json()["error"]["field"] == "contact_point_id"
    r = _call(api, "no_such_outcome")
    assert r.status_code == 400 and "unknown interaction outcome" in r.json()["error"]["message"]
    assert audits(api, "interaction.create") == []


def test_dispute_places_hold_and_lead_reviews_it(api: Api) -> None:
    out = _call(api, "dispute").json()
    assert out["hold_id"] is not None and out["review_id"] is not None
    holds = api.get("agent_east", f"/cases/{api.east_case}/holds").json()
    assert [h["id"] for h in holds["holds"]] == [out["hold_id"]] and holds["holds"][0]["kind"] == "dispute"
    assert [(r["id"], r["status"]) for r in holds["reviews"]] == [(out["review_id"], "pending")]
    url = f"/cases/{api.east_case}/hold-reviews/{out['review_id']}"
    assert api.post("agent_east", url, json={"note": "ok"}).status_code == 403
    r = api.post("lead_east", url, json={"note": "dispute confirmed", "lift_hold_on": "2026-03-10"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "reviewed" and r.json()["reviewed_by"] == api.user_ids["lead_east"]
    holds = api.get("agent_east", f"/cases/{api.east_case}/holds").json()
    assert holds["holds"][0]["end_date"] == "2026-03-10"
    [entry] = audits(api, "hold.review")
    assert entry.actor == "lead_east"
    again = api.post("lead_east", url, json={"note": "twice"})
    assert again.status_code == 400 and "already reviewed" in again.json()["error"]["message"]


def test_hold_cannot_be_lifted_before_it_starts(api: Api) -> None:
    out = _call(api, "dispute").json()
    r = api.post("lead_east", f"/cases/{api.east_case}/hold-reviews/{out['review_id']}",
                 json={"note": "x", "lift_hold_on": "2020-01-01"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "lift_hold_on"
    reviews = api.get("lead_east", f"/cases/{api.east_case}/holds").json()["reviews"]
    assert reviews[0]["status"] == "pending"


# -- investigations -------------------------------------------------------------------------------

INVESTIGATION = {"cause": "job_loss", "monthly_income": 800_000, "essential_spending": 300_000,
                 "other_debt_payments": 100_000, "dependants": 1, "willingness": 4}


def test_investigation_versions(api: Api) -> None:
    base = f"/cases/{api.east_case}/investigations"
    assert api.get("agent_east", f"{base}/current").status_code == 404
    v1 = api.post("agent_east", base, json=INVESTIGATION)
    assert v1.status_code == 201, v1.text
    # 8000 - 3000 - 1000 - reserve (1500 + 800) = 1700.00 CNY a month
    assert v1.json()["version"] == 1 and v1.json()["affordable_monthly"] == 170_000
    v2 = api.post("agent_east", base, json={**INVESTIGATION, "monthly_income": 600_000, "notes": "new job"}).json()
    assert v2["version"] == 2 and v2["affordable_monthly"] == 0
    assert api.get("agent_east", f"{base}/current").json()["id"] == v2["id"]
    assert [v["version"] for v in api.get("auditor", base).json()] == [1, 2]
    assert len(audits(api, "investigation.create")) == 2


# -- promises -------------------------------------------------------------------------------------

def test_promise_happy_path(api: Api) -> None:
    promised = (utc_now() + timedelta(days=10)).date().isoformat()
    r = api.post("agent_east", f"/cases/{api.east_case}/promises", json={"amount": 150_000, "promised_date": promised})
    assert r.status_code == 201, r.text
    assert r.json()["amount"] == 150_000 and r.json()["status"] == "open" and r.json()["grace_days"] == 3
    assert [p["id"] for p in api.get("agent_east", f"/cases/{api.east_case}/promises").json()] == [r.json()["id"]]
    [entry] = audits(api, "promise.create")
    assert entry.detail == {"case_id": api.east_case, "amount": 150_000, "promised_date": promised}


def test_promise_refuses_the_past_and_floats(api: Api) -> None:
    url = f"/cases/{api.east_case}/promises"
    past = api.post("agent_east", url, json={"amount": 100, "promised_date": "2020-01-01"})
    assert past.status_code == 400 and "before the day" in past.json()["error"]["message"]
    floaty = api.post("agent_east", url, json={"amount": 100.5, "promised_date": "2030-01-01"})
    assert floaty.status_code == 422 and floaty.json()["error"]["field"] == "amount"
    whole_float = api.post("agent_east", url, json={"amount": 100.0, "promised_date": "2030-01-01"})
    assert whole_float.status_code == 422
    assert audits(api, "promise.create") == []


# -- appointments ---------------------------------------------------------------------------------

def test_appointments_complete_and_cancel(api: Api) -> None:
    base = f"/cases/{api.east_case}/appointments"
    start = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    window = {"window_start": start.isoformat(), "window_end": (start + timedelta(hours=1)).isoformat()}
    a1 = api.post("agent_east", base, json={**window, "notes": "after lunch"})
    assert a1.status_code == 201, a1.text
    assert a1.json()["owner_id"] == api.user_ids["agent_east"] and a1.json()["status"] == "scheduled"
    a2 = api.post("agent_east", base, json=window).json()
    call = _call(api, "right_party_contact").json()["interaction"]
    done = api.post("agent_east", f"{base}/{a1.json()['id']}/complete", json={"interaction_id": call["id"]})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done" and done.json()["interaction_id"] == call["id"]
    cancelled = api.post("agent_east", f"{base}/{a2['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = api.post("agent_east", f"{base}/{a2['id']}/cancel")
    assert again.status_code == 400
    assert [a["status"] for a in api.get("agent_east", base).json()] == ["done", "cancelled"]
    assert len(audits(api, "appointment.create")) == 2
    assert len(audits(api, "appointment.complete")) == len(audits(api, "appointment.cancel")) == 1


def test_appointment_of_another_case_is_404(api: Api) -> None:
    start = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    window = {"window_start": start.isoformat(), "window_end": (start + timedelta(hours=1)).isoformat()}
    west = api.post("agent_west", f"/cases/{api.west_case}/appointments", json=window).json()
    r = api.post("agent_east", f"/cases/{api.east_case}/appointments/{west['id']}/cancel")
    assert r.status_code == 404


def test_appointment_window_must_be_aware_and_ordered(api: Api) -> None:
    base = f"/cases/{api.east_case}/appointments"
    naive = api.post("agent_east", base, json={"window_start": "2026-03-02T11:00:00",
                                               "window_end": "2026-03-02T12:00:00+08:00"})
    assert naive.status_code == 422 and naive.json()["error"]["field"] == "window_start"
    backwards = api.post("agent_east", base, json={"window_start": "2026-03-02T12:00:00Z",
                                                   "window_end": "2026-03-02T11:00:00Z"})
    assert backwards.status_code == 400 and "end after it starts" in backwards.json()["error"]["message"]


# -- work queue -----------------------------------------------------------------------------------

def test_queue_next_and_release(api: Api) -> None:
    r = api.post("agent_east", "/queue/next")
    assert r.status_code == 200, r.text
    case = r.json()["case"]
    assert case["id"] == api.east_case and case["held_by"] == api.user_ids["agent_east"]
    assert case["customer"]["contact_points"][0]["value"] == "138****5678"
    assert api.post("agent_east", "/queue/next").json() == {"case": None}
    assert api.post("lead_east", f"/cases/{api.east_case}/release").status_code == 409
    assert api.post("agent_west", f"/cases/{api.east_case}/release").status_code == 404
    renewed = api.post("agent_east", f"/cases/{api.east_case}/renew")
    assert renewed.status_code == 200
    released = api.post("agent_east", f"/cases/{api.east_case}/release")
    assert released.status_code == 200 and released.json()["held_by"] is None
    assert [a.entity_id for a in audits(api, "queue.claim")] == [str(api.east_case)]
    assert len(audits(api, "queue.release")) == 1


def test_business_date_is_a_date(api: Api) -> None:
    # the case's opening day comes back as an ISO date
    assert date.fromisoformat(api.get("agent_east", f"/cases/{api.east_case}").json()["opened_on"])


@pytest.mark.parametrize("field, url_tail", [("promised_date", "promises"), ("lift_hold_on", None)])
def test_api_dates_are_iso_dates_not_unix_times(api: Api, field: str, url_tail: str | None) -> None:
    """``0`` is not read as 1970-01-01: a date is YYYY-MM-DD, and the error names the field."""
    if url_tail:
        r = api.post("agent_east", f"/cases/{api.east_case}/{url_tail}", json={"amount": 150_000, field: 0})
    else:
        out = _call(api, "dispute").json()
        r = api.post("lead_east", f"/cases/{api.east_case}/hold-reviews/{out['review_id']}",
                     json={"note": "checked", field: 0})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field and "YYYY-MM-DD" in r.json()["error"]["message"]
