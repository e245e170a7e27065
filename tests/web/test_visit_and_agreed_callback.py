"""The outcome form on the case page records a field visit's collectors and consent (cn · field_visit)
and a call-back the customer asked for as agreed (cn · quiet_hours), in both languages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from arrears.contact.cn_tables import AppointmentAgreement, VisitRecord
from arrears.kit.clock import frozen_at
from arrears.web.i18n import LOCALES
from tests.api.conftest import Api
from tests.plans.support import worked_case
from tests.web.support import page_csrf, sign_in

DAYTIME = datetime(2026, 2, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai


@pytest.mark.parametrize("locale", LOCALES)
def test_a_visit_needs_two_collectors_and_an_agreed_call_back_is_recorded(api: Api, locale: str) -> None:
    words = {"zh_CN": ("外访催收人员人数", "field_visit"), "en": ("Collectors on the visit", "field_visit")}[locale]
    with frozen_at(DAYTIME):
        case_id = worked_case(api.engine, f"ACC-VISIT-{locale}", investigation=False)
        agent = sign_in(api, "agent_east", lang=locale)
        step = agent.get(f"/case/{case_id}/script/next", headers={"HX-Request": "true"})
        assert step.status_code == 200 and words[0] in step.text
        token = page_csrf(agent, f"/case/{case_id}")
        visit = {"outcome": "right_party_contact", "channel": "visit", "next_step": "none", "csrf_token": token,
                 "contact_date": "2026-02-02", "contact_time": "09:30"}
        missing = agent.post(f"/case/{case_id}/script/outcome", data=visit)
        assert missing.status_code == 422 and words[0] in missing.text
        one = agent.post(f"/case/{case_id}/script/outcome", data={**visit, "visit_collectors": "1"})
        assert one.status_code == 409 and words[1] in one.text, one.text[-2000:]  # the gate's block, logged
        two = agent.post(f"/case/{case_id}/script/outcome",
                         data={**visit, "visit_collectors": "2", "next_step": "appointment",
                               "appointment_date": "2026-02-03", "appointment_from": "22:00",
                               "appointment_to": "22:30", "appointment_agreed": "1"})
        assert two.status_code in (200, 303), two.text
    with api.engine.connect() as conn:
        assert conn.execute(select(VisitRecord.collectors)).scalars().all() == [2]
        assert conn.execute(select(AppointmentAgreement.agreed_via)).scalars().all() == ["agent"]
