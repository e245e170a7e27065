"""The case page as the agent's desk: the header carries the money and the pressure, every panel stays
true after a save (out of band), and a refused outcome keeps what the agent typed."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select

from arrears.cases.tables import Interaction, Promise
from arrears.contact.tables import ContactDecision
from arrears.kit.clock import frozen_at
from tests.api.conftest import Api
from tests.plans.support import worked_case
from tests.web.support import page_csrf, sign_in

#: Monday 2 February 2026, 10:00 in Shanghai: inside the hours a call is allowed.
DAYTIME = datetime(2026, 2, 2, 2, 0, tzinfo=UTC)
#: The same day at 23:00 in Shanghai: quiet hours.
NIGHT = datetime(2026, 2, 2, 15, 0, tzinfo=UTC)
HX = {"HX-Request": "true"}


def _head(html: str) -> str:
    """The case header: from its tags to the start of the page's grid."""
    start = html.index('id="case-head-tags"')
    end = html.find('class="case-grid"', start)
    return html[start:end if end > 0 else len(html)]


def _element(html: str, element_id: str) -> str:
    """The element with ``element_id``: its opening tag and content."""
    found = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>', html)
    assert found, f"no #{element_id} in the answer"
    tag, depth, at = found.group(1), 1, found.end()
    for m in re.finditer(rf"<(/?){tag}\b", html[at:]):
        depth += -1 if m.group(1) else 1
        if depth == 0:
            return html[found.start():at + m.start()]
    raise AssertionError(f"#{element_id} is not closed")


def _no_answer(client, case_id: int, token: str, n: int) -> None:  # type: ignore[no-untyped-def]
    r = client.post(f"/case/{case_id}/script/outcome", headers={**HX, "X-CSRF-Token": token}, data={
        "outcome": "no_answer", "recording_ref": f"REC-NA-{n}", "next_step": "none",
        "contact_date": "2026-02-02", "contact_time": f"09:0{n}"})  # minutes before now (10:00)
    assert r.status_code == 200, r.text


def test_the_header_carries_the_money_the_days_and_the_day_s_attempts(api: Api) -> None:
    with frozen_at(DAYTIME):
        case_id = worked_case(api.engine, "ACC-DESK-0001", investigation=False)
        client = sign_in(api, "agent_east", lang="en")
        head = _head(client.get(f"/case/{case_id}").text)
        assert "3,600.00" in head  # amount past due
        assert "12,000.00" in head  # balance
        assert ">95<" in head and "2025-10-28" in head  # days past due, overdue since the oldest unpaid due date
        assert "0 / 6" in head  # attempts today against the pack's daily limit
        assert "Call allowed now" in head
        token = page_csrf(client, f"/case/{case_id}")
        for n in range(6):
            _no_answer(client, case_id, token, n)
        head = _head(client.get(f"/case/{case_id}").text)
        assert "6 / 6" in head
        assert "Call blocked" in head and "Next allowed" in head


def test_an_outcome_s_answer_refreshes_every_panel_out_of_band(api: Api) -> None:
    with frozen_at(DAYTIME):
        case_id = worked_case(api.engine, "ACC-DESK-0002", investigation=False)
        client = sign_in(api, "agent_east", lang="en")
        page = client.get(f"/case/{case_id}").text
        for panel in ("case-timeline", "case-promises", "case-verdict", "case-head-tags"):
            assert f'id="{panel}"' in page, panel
        token = page_csrf(client, f"/case/{case_id}")
        r = client.post(f"/case/{case_id}/script/outcome", headers={**HX, "X-CSRF-Token": token}, data={
            "outcome": "promise_to_pay", "party": "debtor", "recording_ref": "REC-OOB-1", "notes": "会在月底前还款",
            "contact_date": "2026-02-02", "contact_time": "09:50", "next_step": "promise", "promise_amount": "1072.00", "promise_date": "2026-02-28"})
        assert r.status_code == 200, r.text
        timeline = _element(r.text, "case-timeline")
        assert 'hx-swap-oob="true"' in timeline and "Promise to pay" in timeline and "会在月底前还款" in timeline
        promises = _element(r.text, "case-promises")
        assert 'hx-swap-oob="true"' in promises and "1,072.00" in promises
        verdict = _element(r.text, "case-verdict")
        assert 'hx-swap-oob="true"' in verdict
        head = _element(r.text, "case-head-tags")
        assert 'hx-swap-oob="true"' in head and "1 / 6" in head
        # a step read (no write) sends the script alone
        read = client.get(f"/case/{case_id}/script/next", headers=HX).text
        assert 'id="case-timeline"' not in read and "hx-swap-oob" not in read


def test_a_blocked_call_keeps_what_the_agent_typed(api: Api) -> None:
    with frozen_at(NIGHT):
        client = sign_in(api, "agent_east", lang="en")
        token = page_csrf(client, f"/case/{api.east_case}")
        r = client.post(f"/case/{api.east_case}/script/outcome", headers={**HX, "X-CSRF-Token": token}, data={
            "outcome": "promise_to_pay", "party": "debtor", "direction": "outbound", "channel": "call",
            "contact_point_id": str(api.contact_points["phone"]), "recording_ref": "REC-BLOCKED-7",
            "notes": "客户说晚上方便，答应月底还款", "next_step": "promise", "promise_amount": "250.50",
            "promise_date": "2026-02-20"})
        assert r.status_code == 409 and 'role="alert"' in r.text
        form = r.text
        assert "客户说晚上方便，答应月底还款</textarea>" in form
        assert 'value="REC-BLOCKED-7"' in form
        assert re.search(r'<option value="promise_to_pay"[^>]*selected', form)
        assert re.search(r'<option value="debtor"[^>]*selected', form)
        assert re.search(rf'<option value="{api.contact_points["phone"]}"[^>]*selected', form)
        assert re.search(r'id="next-promise"[^>]*checked', form)
        assert 'value="250.50"' in form and 'value="2026-02-20"' in form
        # the block is explained and the panels are refreshed with it
        assert "quiet" in form.lower() or "22:00" in form
        assert 'id="case-verdict"' in form
    with api.engine.connect() as conn:
        assert conn.execute(select(Interaction.id)).first() is None
        assert conn.execute(select(Promise.id)).first() is None
        assert conn.execute(select(ContactDecision.allowed)).scalar_one() is False


def test_a_refused_outcome_form_keeps_its_values_with_and_without_javascript(api: Api) -> None:
    with frozen_at(DAYTIME):
        client = sign_in(api, "agent_east", lang="en")
        token = page_csrf(client, f"/case/{api.east_case}")
        data = {"outcome": "promise_to_pay", "party": "debtor", "recording_ref": "REC-422",
                "notes": "承诺下周五还一部分", "next_step": "promise", "promise_amount": "-5",
                "promise_date": "2026-02-10", "csrf_token": token}
        # without JavaScript: the case page at the outcome step, the field marked, the values typed kept
        r = client.post(f"/case/{api.east_case}/script/outcome", data=data)
        assert r.status_code == 422, r.text
        assert "<html" in r.text and 'role="alert"' in r.text
        assert "承诺下周五还一部分</textarea>" in r.text
        assert 'value="-5"' in r.text and 'value="REC-422"' in r.text
        assert re.search(r'<input[^>]*id="pr-amount"[^>]*aria-invalid="true"', r.text)
        # with HTMX: the message goes to the page's message area and the form (as typed) stays
        r = client.post(f"/case/{api.east_case}/script/outcome", data=data, headers={**HX, "X-CSRF-Token": token})
        assert r.status_code == 422 and r.headers["HX-Retarget"] == "#flash"
        assert "promise_amount" in r.headers["HX-Trigger"]
    with api.engine.connect() as conn:  # nothing of the refused form was written
        assert conn.execute(select(Interaction.id)).first() is None
        assert conn.execute(select(Promise.id)).first() is None
