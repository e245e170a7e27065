"""Through the API: an outcome that does not fit who answered is refused with 422 naming ``party``,
nothing written; an inbound call is not held to the outbound attempts limit."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api


@pytest.mark.parametrize(("outcome", "party"), [("no_answer", "debtor"), ("busy", "emergency_contact"),
                                                ("promise_to_pay", "nobody"), ("third_party", "debtor")])
def test_an_outcome_that_does_not_fit_the_party_answers_422(api: Api, outcome: str, party: str) -> None:
    body = {"channel": "call", "direction": "outbound", "party": party, "outcome": outcome,
            "started_at": "2026-03-02T10:00:00+08:00", "recording_ref": "REC-1"}
    r = api.post("agent_east", f"/cases/{api.east_case}/interactions", json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == "party" and outcome in error["message"]
    assert api.get("agent_east", f"/cases/{api.east_case}/interactions").json() == []


def test_a_fitting_party_is_recorded(api: Api) -> None:
    body = {"channel": "call", "direction": "outbound", "party": "nobody", "outcome": "no_answer",
            "started_at": "2026-03-02T10:00:00+08:00", "recording_ref": "REC-1"}
    r = api.post("agent_east", f"/cases/{api.east_case}/interactions", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["interaction"]["party"] == "nobody"
