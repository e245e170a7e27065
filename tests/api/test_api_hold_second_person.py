"""A hold an interaction placed is reviewed by a second person: never by the one who placed it
(API, web page and service, on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.auth.model import Forbidden
from arrears.auth.tables import AuditRecord
from arrears.cases import service
from arrears.cases.config import load_default_case_rules
from arrears.cases.tables import HoldReview
from tests.api.conftest import Api
from tests.web.support import page_csrf, sign_in


def _dispute(api: Api, who: str) -> dict:  # type: ignore[type-arg]
    body = {"channel": "call", "direction": "outbound", "party": "debtor",
            "started_at": "2026-03-02T10:00:00+08:00", "ended_at": "2026-03-02T10:05:00+08:00",
            "outcome": "dispute", "recording_ref": "REC-20260302-0001"}
    r = api.post(who, f"/cases/{api.east_case}/interactions", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _status(api: Api, review_id: int) -> str:
    with Session(api.engine) as session:
        return session.scalars(select(HoldReview.status).where(HoldReview.id == review_id)).one()


def test_the_lead_who_placed_a_hold_cannot_review_it_over_the_api(api: Api) -> None:
    out = _dispute(api, "lead_east")
    url = f"/cases/{api.east_case}/hold-reviews/{out['review_id']}"
    r = api.post("lead_east", url, json={"note": "confirmed by myself"})
    assert r.status_code == 403, r.text
    assert "second person" in r.json()["error"]["message"]
    assert _status(api, out["review_id"]) == "pending"
    r = api.post("supervisor", url, json={"note": "confirmed"})
    assert r.status_code == 200, r.text
    assert r.json()["reviewed_by"] == api.user_ids["supervisor"]


def test_the_lead_who_placed_a_hold_cannot_review_it_on_the_case_page(api: Api) -> None:
    out = _dispute(api, "lead_east")
    lead = sign_in(api, "lead_east")
    page = lead.get(f"/case/{api.east_case}").text
    assert f"/hold-reviews/{out['review_id']}" not in page and "此停催由您发起" in page
    assert f"/hold-reviews/{out['review_id']}" in sign_in(api, "supervisor").get(f"/case/{api.east_case}").text
    r = lead.post(f"/case/{api.east_case}/hold-reviews/{out['review_id']}",
                  data={"csrf_token": page_csrf(lead, f"/case/{api.east_case}"), "note": "mine"})
    assert r.status_code == 403
    assert "此停催由您发起：须由另一人复核" in r.text  # the service's refusal, in the reader's language
    assert _status(api, out["review_id"]) == "pending"
    with api.engine.connect() as conn:
        assert conn.execute(select(AuditRecord).where(AuditRecord.action == "hold.review")).all() == []


def test_review_hold_refuses_the_placer(api: Api) -> None:
    out = _dispute(api, "agent_east")
    with Session(api.engine) as session, session.begin(), pytest.raises(Forbidden, match="second person"):
        service.review_hold(session, review_id=out["review_id"], reviewer_id=api.user_ids["agent_east"],
                            note="mine")
    assert load_default_case_rules().outcome("dispute").stops_contact
