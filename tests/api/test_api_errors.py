"""Malformed input answers 4xx with a message naming the field; never a 5xx."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api


@pytest.mark.parametrize(("url", "params", "field"), [
    ("/cases", {"limit": 0}, "limit"),
    ("/cases", {"limit": 201}, "limit"),
    ("/cases", {"offset": -1}, "offset"),
    ("/cases", {"limit": "ten"}, "limit"),
    ("/cases", {"state": "happy"}, "state"),
    ("/cases", {"bucket": "M1\x00"}, "bucket"),
    ("/cases/abc", {}, "case_id"),
    ("/cases/0", {}, "case_id"),
    (f"/cases/{2**70}", {}, "case_id"),
])
def test_bad_query_and_path(api: Api, url: str, params: dict, field: str) -> None:  # type: ignore[type-arg]
    r = api.get("supervisor", url, params=params)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error" and error["field"] == field and field in error["message"]


@pytest.mark.parametrize(("body", "field"), [
    ({"to_state": "contacting"}, "reason"),
    ({"to_state": "contacting", "reason": "   "}, "reason"),
    ({"to_state": "nowhere", "reason": "x"}, "to_state"),
    ({"to_state": "contacting", "reason": "x", "extra": 1}, "extra"),
    ({"to_state": "contacting", "reason": "a\x00b"}, "reason"),
    ([], "body"),
])
def test_bad_transition_body(api: Api, body: object, field: str) -> None:
    r = api.post("agent_east", f"/cases/{api.east_case}/transitions", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_not_json_at_all(api: Api) -> None:
    r = api.client.post(f"/cases/{api.east_case}/transitions", content=b"{not json",
                        headers={**api.headers("agent_east"), "Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(("patch", "field"), [
    ({"monthly_income": -1}, "monthly_income"),
    ({"monthly_income": 10**20}, "monthly_income"),
    ({"monthly_income": "800000"}, "monthly_income"),
    ({"willingness": 6}, "willingness"),
    ({"cause": "bored"}, "cause"),
    ({"dependants": 1.5}, "dependants"),
])
def test_bad_investigation(api: Api, patch: dict, field: str) -> None:  # type: ignore[type-arg]
    body = {"cause": "job_loss", "monthly_income": 800_000, "essential_spending": 300_000,
            "other_debt_payments": 0, "dependants": 0, "willingness": 3, **patch}
    r = api.post("agent_east", f"/cases/{api.east_case}/investigations", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


@pytest.mark.parametrize(("patch", "field"), [
    ({"started_at": "yesterday"}, "started_at"),
    ({"started_at": "2026-03-02T10:00:00"}, "started_at"),
    ({"started_at": "0001-01-01T00:00:00+14:00"}, "started_at"),
    ({"channel": "pigeon"}, "channel"),
    ({"contact_point_id": 2**64}, "contact_point_id"),
    ({"recording_ref": "x" * 201}, "recording_ref"),
])
def test_bad_interaction(api: Api, patch: dict, field: str) -> None:  # type: ignore[type-arg]
    body = {"channel": "call", "direction": "outbound", "party": "nobody",
            "started_at": "2026-03-02T10:00:00+08:00", "outcome": "no_answer", **patch}
    r = api.post("agent_east", f"/cases/{api.east_case}/interactions", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_interaction_ending_before_it_starts(api: Api) -> None:
    body = {"channel": "call", "direction": "outbound", "party": "nobody", "outcome": "no_answer",
            "started_at": "2026-03-02T10:00:00+08:00", "ended_at": "2026-03-02T09:00:00+08:00"}
    r = api.post("agent_east", f"/cases/{api.east_case}/interactions", json=body)
    assert r.status_code == 400 and "before started_at" in r.json()["error"]["message"]


def test_unknown_route_and_method(api: Api) -> None:
    r = api.get("agent_east", "/nowhere")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = api.client.delete(f"/cases/{api.east_case}", headers=api.headers("agent_east"))
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_complete_with_interaction_of_another_case(api: Api) -> None:
    window = {"window_start": "2026-03-02T11:00:00Z", "window_end": "2026-03-02T12:00:00Z"}
    appt = api.post("agent_east", f"/cases/{api.east_case}/appointments", json=window).json()
    other = api.post("agent_west", f"/cases/{api.west_case}/interactions", json={
        "channel": "sms", "direction": "outbound", "party": "nobody", "outcome": "no_answer",
        "started_at": "2026-03-02T11:30:00Z"}).json()["interaction"]
    r = api.post("agent_east", f"/cases/{api.east_case}/appointments/{appt['id']}/complete",
                 json={"interaction_id": other["id"]})
    assert r.status_code == 400 and "not on the appointment's case" in r.json()["error"]["message"]
