"""A New York customer can be called: the call script's debt-collector disclosure (12 CFR 1006.18(e))
and limited-content voicemail (12 CFR 1006.2(j)) reach the gate from the case page's verdict, the
dialler, the outcome form (the agent confirms the disclosure) and the cases API; the REST check takes
them from the caller and names the fact it was not told (SQLite and PostgreSQL)."""

# ruff: noqa: F811 - the `api` fixture is imported from tests/api/conftest.py and taken as each test's argument

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from arrears.accounts.tables import Account, Customer
from arrears.cases.tables import Case, Interaction
from arrears.contact.regf_tables import ValidationNotice
from arrears.kit.clock import frozen_at
from tests.api.conftest import Api, api  # noqa: F401 - imported to register the `api` fixture here
from tests.contact.test_pack_choice import live_in
from tests.dialler.support import no_dialler
from tests.web.support import page_csrf, sign_in

#: Tuesday 3 March 2026, 10:00 in New York (EST, UTC-5).
NY_10 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
HX = {"HX-Request": "true"}
DISCLOSE_EN = "This is a debt collector attempting to collect a debt, and any information obtained will be used"
DISCLOSE_ZH = "我方是债务催收方，正在催收一笔债务，所获得的任何信息都将用于该目的。"


def _post(api: Api, client, url: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    token = page_csrf(client, f"/case/{api.east_case}")
    return client.post(url, headers={**HX, "X-CSRF-Token": token}, data=data)


def speaks(api: Api, case_id: int, language: str) -> None:
    with api.engine.begin() as conn:
        customer_id = conn.execute(select(Account.customer_id).join(Case, Case.account_id == Account.id)
                                   .where(Case.id == case_id)).scalar_one()
        conn.execute(update(Customer).where(Customer.id == customer_id).values(language=language))


def test_a_new_york_customer_is_called_through_the_page_the_dialler_and_the_outcome_form(api: Api) -> None:
    live_in(api, api.east_case, "America/New_York", "US-NY")
    speaks(api, api.east_case, "en")
    no_dialler(api)
    case = api.east_case
    client = sign_in(api, "agent_east", lang="en")
    with frozen_at(NY_10):
        page = client.get(f"/case/{case}")
        assert page.status_code == 200
        assert "The compliance gate allows a recorded call to the cardholder now." in page.text, page.text
        assert "us-reg-f" in page.text
        greeting = client.get(f"/case/{case}/script/greeting", headers=HX)
        assert DISCLOSE_EN in greeting.text and 'data-disclosure="full"' in greeting.text
        assert "Voicemail: leave only this message" in greeting.text and "400-000-0000" in greeting.text
        # the words are the customer's language's, whatever the page's
        zh = sign_in(api, "agent_east", lang="zh_CN").get(f"/case/{case}/script/greeting", headers=HX)
        assert DISCLOSE_EN in zh.text and "语音信箱" in zh.text and "Please call me back on" in zh.text
        speaks(api, case, "zh_CN")
        zh_customer = client.get(f"/case/{case}/script/greeting", headers=HX)
        assert DISCLOSE_ZH in zh_customer.text and "请回电 400-000-0000" in zh_customer.text
        speaks(api, case, "en")

        dialled = _post(api, client, f"/case/{case}/dial", {"contact_point_id": str(api.contact_points["phone"])})
        assert dialled.status_code == 200, dialled.text[-2000:]
        assert "tel:" in dialled.text

        call = {"outcome": "right_party_contact", "channel": "call", "direction": "outbound", "next_step": "none",
                "contact_point_id": str(api.contact_points["phone"]), "recording_ref": "REC-NY-1"}
        token = page_csrf(client, f"/case/{case}")
        unticked = client.post(f"/case/{case}/script/outcome", data={**call, "csrf_token": token})
        assert unticked.status_code == 422, unticked.text[-2000:]
        assert "Confirm that you gave the debt-collector disclosure" in unticked.text
        assert 'aria-invalid="true">' in unticked.text.split('id="out-disclosure"')[1].split("\n")[0]
        assert 'value="REC-NY-1"' in unticked.text  # the values typed are kept
        saved = _post(api, client, f"/case/{case}/script/outcome", {**call, "disclosure_given": "1"})
        assert saved.status_code in (200, 303), saved.text[-2000:]
    with frozen_at(NY_10 + timedelta(hours=1)):
        # the conversation was the initial communication: the next one only says it is from a debt collector
        later = client.get(f"/case/{case}/script/greeting", headers=HX)
        assert 'data-disclosure="debt_collector"' in later.text and "This call is from a debt collector." in later.text
        page = client.get(f"/case/{case}")
        assert 'data-rule="collector_disclosure"' not in page.text
        assert 'data-rule="limited_content_voicemail"' not in page.text
    with api.engine.connect() as conn:
        assert conn.execute(select(Interaction.outcome, Interaction.recording_ref)).all() == [
            ("right_party_contact", "REC-NY-1")]
        assert conn.execute(select(ValidationNotice.first_communication_at)).scalar_one() == NY_10


def test_the_rest_check_and_the_cases_api_name_the_fact_not_stated(api: Api) -> None:
    live_in(api, api.east_case, "America/New_York", "US-NY")
    url = f"/cases/{api.east_case}/contact-check"
    query = {"channel": "call", "party": "debtor", "at": NY_10.isoformat()}
    v = api.get("agent_east", url, params=query).json()
    assert v["allowed"] is False and v["pack"] == "us-reg-f", v
    facts = {b["rule_id"]: b["fact"] for b in v["blocks"]}
    assert facts == {"collector_disclosure": "collector_disclosure", "limited_content_voicemail": "voicemail_limited"}
    v = api.get("agent_east", url, params=query | {"collector_disclosure": "full", "voicemail_limited": "true"}).json()
    assert v["allowed"] is True, v

    body = {"channel": "call", "direction": "outbound", "party": "debtor", "started_at": NY_10.isoformat(),
            "outcome": "right_party_contact", "recording_ref": "REC-API-1",
            "contact_point_id": api.contact_points["phone"]}
    with frozen_at(NY_10):
        blocked = api.post("agent_east", f"/cases/{api.east_case}/interactions", json=body)
        assert blocked.status_code == 409, blocked.text
        assert set(blocked.json()["error"]["rule_ids"]) == {"collector_disclosure", "limited_content_voicemail"}
        done = api.post("agent_east", f"/cases/{api.east_case}/interactions",
                        json=body | {"collector_disclosure": "full", "voicemail_limited": True})
        assert done.status_code == 201, done.text


def test_a_chinese_customer_sees_no_disclosure_and_needs_no_tick(api: Api) -> None:
    client = sign_in(api, "agent_east", lang="en")
    afternoon = datetime(2026, 2, 2, 7, 0, tzinfo=UTC)  # Monday 15:00 in Shanghai
    with frozen_at(afternoon):
        greeting = client.get(f"/case/{api.east_case}/script/greeting", headers=HX)
        assert "data-disclosure" not in greeting.text and "Voicemail: leave only" not in greeting.text
        nxt = client.get(f"/case/{api.east_case}/script/next", headers=HX)
        assert 'id="out-disclosure"' not in nxt.text
        saved = _post(api, client, f"/case/{api.east_case}/script/outcome",
                      {"outcome": "right_party_contact", "channel": "call", "direction": "outbound",
                       "next_step": "none", "contact_point_id": str(api.contact_points["phone"]),
                       "recording_ref": "REC-CN-1"})
        assert saved.status_code in (200, 303), saved.text[-2000:]
