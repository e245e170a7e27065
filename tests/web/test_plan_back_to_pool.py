"""From the desk: an agent takes the next case, agrees and confirms a plan, and the case leaves their
hands — not held any more, not in the team's waiting work, not handed out again by "next case" —
while the call's outcome can still be saved on it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.auth.tables import AuditRecord
from arrears.cases.tables import Case
from arrears.kit.clock import frozen_at
from arrears.plans.tables import PlanAgreement
from tests.api.conftest import Api
from tests.plans.support import worked_case
from tests.web.support import page_csrf, sign_in
from tests.web.test_script import DAYTIME, HX


def test_a_confirmed_plan_goes_back_to_the_pool(api: Api) -> None:
    with frozen_at(DAYTIME):
        case_id = worked_case(api.engine, "ACC-POOL-1")
        agent = sign_in(api, "agent_east", lang="en")
        token = page_csrf(agent)
        taken = agent.post("/queue/take", data={"csrf_token": token})
        assert taken.headers["location"] == f"/case/{case_id}"
        assert f'href="/case/{case_id}"' in agent.get("/queue").text.split("My team's waiting work")[0]
        h = {**HX, "X-CSRF-Token": token}
        assert agent.post(f"/case/{case_id}/script/agreement", headers=h,
                          data={"option_code": "inst_12"}).status_code == 200
        with Session(api.engine) as s:
            agreement_id = s.scalars(select(PlanAgreement.id).where(PlanAgreement.case_id == case_id)).one()
        r = agent.post(f"/case/{case_id}/script/confirm", headers=h,
                       data={"agreement_id": agreement_id, "method": "recorded_call", "reference": "REC-POOL-1"})
        assert r.status_code == 200, r.text
        assert f'action="/case/{case_id}/release"' not in r.text  # nothing left to give back
        with Session(api.engine) as s:
            case = s.get(Case, case_id)
            assert case is not None and (case.status, case.held_by) == ("plan_active", None)
            release = s.scalars(select(AuditRecord).where(AuditRecord.action == "queue.release")).one()
        assert release.actor == "agent_east" and release.detail["reason"] == "plan_active"

        queue_page = agent.get("/queue").text
        assert f'href="/case/{case_id}"' not in queue_page  # neither held nor waiting
        # the outcome of the call is still saved on the case
        r = agent.post(f"/case/{case_id}/script/outcome", headers=h, data={
            "outcome": "promise_to_pay", "party": "debtor", "recording_ref": "REC-POOL-1", "next_step": "none"})
        assert r.status_code == 200, r.text
        # and "next case" gives another case (or none), never this one
        again = agent.post("/queue/take", data={"csrf_token": token})
        assert again.headers["location"] != f"/case/{case_id}"
