"""The desk's smaller promises: a promise date within limits, a confirmation after a hold review or a
release, the review note on the case, the timeline a keyboard can scroll."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.cases.tables import Interaction, Promise
from arrears.kit.clock import frozen_at
from tests.api.conftest import Api
from tests.web.support import page_csrf, sign_in

#: Monday 2 February 2026, 10:00 in Shanghai: inside the hours a call is allowed.
DAYTIME = datetime(2026, 2, 2, 2, 0, tzinfo=UTC)
HX = {"HX-Request": "true"}


def _promise(client, api: Api, when: str):  # type: ignore[no-untyped-def]
    token = page_csrf(client, f"/case/{api.east_case}")
    return client.post(f"/case/{api.east_case}/script/outcome", headers={**HX, "X-CSRF-Token": token}, data={
        "outcome": "promise_to_pay", "party": "debtor", "recording_ref": "REC-P", "next_step": "promise",
        "promise_amount": "100.00", "promise_date": when})


def _field_error(r) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """The field and the message (in the page's language) an HTMX error answer marks."""
    detail = json.loads(r.headers["HX-Trigger"])["arrears:field-error"]
    return detail["field"], detail["message"]


def test_a_promise_date_is_neither_past_nor_beyond_the_limit(api: Api) -> None:
    with frozen_at(DAYTIME):
        client = sign_in(api, "agent_east", lang="zh_CN")
        past = _promise(client, api, "2026-02-01")
        assert past.status_code == 422 and _field_error(past) == ("promise_date", "承诺还款日期不能早于今天。")
        far = _promise(client, api, "2026-03-05")  # 31 days ahead; the limit is 30
        assert far.status_code == 422
        assert _field_error(far) == ("promise_date", "承诺还款日期过远：最晚可承诺到 2026-03-04。")
        with Session(api.engine) as s:
            assert s.scalars(select(Promise.id)).first() is None and s.scalars(select(Interaction.id)).first() is None
        english = sign_in(api, "agent_east", lang="en")
        assert "at the latest 2026-03-04" in _field_error(_promise(english, api, "2026-03-05"))[1]
        assert _promise(client, api, "2026-03-04").status_code == 200
        # the API has the same limit, on the field
        r = api.post("agent_east", f"/cases/{api.east_case}/promises",
                     json={"amount": 100, "promised_date": "2026-03-05"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "promised_date"
        assert "2026-03-04" in r.json()["error"]["message"]


def test_a_hold_review_is_confirmed_and_its_note_shown_on_the_case(api: Api) -> None:
    from arrears.cases.tables import HoldReview

    with frozen_at(DAYTIME):
        agent = sign_in(api, "agent_east")
        token = page_csrf(agent, f"/case/{api.east_case}")
        r = agent.post(f"/case/{api.east_case}/script/outcome", headers={**HX, "X-CSRF-Token": token}, data={
            "outcome": "dispute", "party": "debtor", "recording_ref": "REC-D", "next_step": "none"})
        assert r.status_code == 200, r.text
        with Session(api.engine) as s:
            review_id = s.scalars(select(HoldReview.id).where(HoldReview.case_id == api.east_case)).one()
        lead = sign_in(api, "lead_east", lang="zh_CN")
        r = lead.post(f"/case/{api.east_case}/hold-reviews/{review_id}", follow_redirects=False,
                      data={"csrf_token": page_csrf(lead, f"/case/{api.east_case}"), "note": "核实有异议，待调查",
                            "lift_hold_on": "2026-02-05"})
        assert r.status_code == 303 and r.headers["location"].endswith("notice=hold_lifted")
        page = lead.get(r.headers["location"]).text
        assert '<p class="notice" role="status">已记录复核：停催将于所选日期结束。</p>' in page
        assert "核实有异议，待调查" in page, page
        assert "lead_east" in page and "2026年2月5日" in page
        # kept without a lifting day: the other notice; an unknown notice shows nothing
        english = sign_in(api, "lead_east", lang="en")
        assert "The review was recorded: the hold stays." in english.get(
            f"/case/{api.east_case}?notice=hold_kept").text
        assert 'class="notice"' not in english.get(f"/case/{api.east_case}?notice=nonsense").text


def test_releasing_a_case_says_so_on_the_queue(api: Api) -> None:
    agent = sign_in(api, "agent_east", lang="zh_CN")
    assert agent.post("/queue/take", data={"csrf_token": page_csrf(agent)}).headers["location"] == \
        f"/case/{api.east_case}"
    r = agent.post(f"/case/{api.east_case}/release", data={"csrf_token": page_csrf(agent)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/queue?notice=released"
    assert '<p class="notice" role="status">已释放该案件，案件已退回团队队列。</p>' in agent.get(r.headers["location"]).text


def test_a_team_lead_marks_a_mobile_number_verified_so_sms_confirmation_works(api: Api) -> None:
    from arrears.accounts.tables import Account, ContactPoint
    from arrears.auth.tables import AuditRecord
    from arrears.cases.tables import Case
    from arrears.plans.repository import debtor_mobiles

    with Session(api.engine) as s, s.begin():
        customer_id = s.execute(select(Account.customer_id).join(Case, Case.account_id == Account.id)
                                .where(Case.id == api.east_case)).scalar_one()
        s.execute(ContactPoint.__table__.update().where(ContactPoint.customer_id == customer_id,
                                                        ContactPoint.kind == "phone").values(verified=False))
        point = s.execute(select(ContactPoint.id).where(ContactPoint.customer_id == customer_id,
                                                        ContactPoint.kind == "phone")).scalar_one()
    url = f"/case/{api.east_case}/contact-points/{point}/verify"
    agent = sign_in(api, "agent_east")
    assert f'action="{url}"' not in agent.get(f"/case/{api.east_case}").text
    assert agent.post(url, data={"csrf_token": page_csrf(agent, f"/case/{api.east_case}"), "note": "x"}
                      ).status_code == 403
    lead = sign_in(api, "lead_east", lang="zh_CN")
    token = page_csrf(lead, f"/case/{api.east_case}")
    assert f'action="{url}"' in lead.get(f"/case/{api.east_case}").text
    assert lead.post(url, data={"csrf_token": "forged", "note": "回拨核实"}).status_code == 403
    r = lead.post(url, data={"csrf_token": token, "note": "回拨该号码，本人核实身份"})
    assert r.status_code == 303 and r.headers["location"] == f"/case/{api.east_case}?notice=point_verified"
    assert "已将该号码标记为已核实" in lead.get(r.headers["location"]).text
    with Session(api.engine) as s:
        assert [p.id for p in debtor_mobiles(s, customer_id)] == [point]
        audit = s.execute(select(AuditRecord.actor, AuditRecord.detail)
                          .where(AuditRecord.action == "contact_point.verify")).one()
    assert audit.actor == "lead_east" and audit.detail["note"] == "回拨该号码，本人核实身份"


def test_the_timeline_scroll_box_takes_keyboard_focus_and_is_named(api: Api) -> None:
    page = sign_in(api, "agent_east", lang="en").get(f"/case/{api.east_case}").text
    [tag] = re.findall(r'<ol class="timeline"[^>]*>', page)
    assert 'tabindex="0"' in tag and 'aria-labelledby="h-timeline"' in tag and 'id="h-timeline"' in page
