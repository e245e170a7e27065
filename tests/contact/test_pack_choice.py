"""Which pack judges a contact: the customer's jurisdiction (and the product's mapping) chooses the
base pack and its state/city layers, everywhere the gate runs (SQLite and PostgreSQL)."""

# ruff: noqa: F811 - the `api` fixture is imported from tests/api/conftest.py and taken as each test's argument

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, update

from arrears.accounts.tables import Account, Customer
from arrears.cases.tables import Case, Interaction
from arrears.contact.tables import ContactDecision
from arrears.kit.clock import frozen_at
from tests.api.conftest import Api, api  # noqa: F401 - imported to register the `api` fixture here
from tests.web.support import sign_in

#: 21:30 in New York on 2 March 2026 (EST, UTC-5): after Regulation F's 21:00, before cn's 22:00.
NY_2130 = datetime(2026, 3, 3, 2, 30, tzinfo=UTC)


def live_in(api: Api, case_id: int, tz: str, jurisdiction: str) -> None:
    with api.engine.begin() as conn:
        customer_id = conn.execute(select(Account.customer_id).join(Case, Case.account_id == Account.id)
                                   .where(Case.id == case_id)).scalar_one()
        conn.execute(update(Customer).where(Customer.id == customer_id)
                     .values(time_zone=tz, jurisdiction=jurisdiction))


def test_a_new_york_customer_is_not_called_at_2130_local(api: Api) -> None:
    live_in(api, api.east_case, "America/New_York", "US-NY")
    r = api.get("agent_east", f"/cases/{api.east_case}/contact-check",
                params={"channel": "call", "party": "debtor", "at": NY_2130.isoformat()})
    assert r.status_code == 200, r.text
    v = r.json()
    assert v["pack"] == "us-reg-f" and v["layers"] == [] and v["allowed"] is False, v
    [late] = [b for b in v["blocks"] if b["rule_id"] == "inconvenient_time"]
    assert late["next_allowed_at"] == "2026-03-03T13:00:00Z"  # 08:00 New York the next morning
    assert "21:00" in late["message"] and "12 CFR 1006.6(b)(1)(i)" in late["source"]

    client = sign_in(api, "agent_east", lang="en")
    with frozen_at(NY_2130):
        page = client.get(f"/case/{api.east_case}")
    assert page.status_code == 200
    assert "The compliance gate blocks a call now." in page.text
    assert 'data-rule="inconvenient_time"' in page.text
    assert 'data-layer' not in page.text and "us-reg-f 2026.2" in page.text


def _record_call(api: Api, at: datetime) -> None:
    """A call the dialler made (unanswered), in the case's history."""
    with api.engine.begin() as conn:
        conn.execute(insert(Interaction).values(case_id=api.east_case, channel="call", direction="outbound",
                                                party="nobody", started_at=at, outcome="no_answer",
                                                recording_ref="R", created_at=at))


def test_a_massachusetts_customer_gets_the_state_layer_in_the_check_the_page_and_the_log(api: Api) -> None:
    live_in(api, api.east_case, "America/New_York", "US-MA")
    monday = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 10:00 Boston
    _record_call(api, monday)
    _record_call(api, monday + timedelta(hours=2))
    third = monday + timedelta(days=1)
    r = api.get("agent_east", f"/cases/{api.east_case}/contact-check",
                params={"channel": "call", "party": "debtor", "at": third.isoformat()})
    v = r.json()
    assert v["pack"] == "us-reg-f" and v["layers"] == [{"pack": "us-ma", "version": "2026.1"}], v
    [block] = [b for b in v["blocks"] if b["rule_id"] == "ma.phone_7_days"]
    assert "940 CMR 7.04(1)(f)" in block["source"] and "at most 2" in block["message"]
    # the first call drops out 7 x 24 h after it was made (and after the local day 7 has ended)
    assert block["next_allowed_at"] == "2026-03-09T15:00:00Z"
    with api.engine.connect() as conn:
        logged = conn.execute(select(ContactDecision.pack, ContactDecision.layers)
                              .where(ContactDecision.id == v["decision_id"])).one()
    assert tuple(logged) == ("us-reg-f", [{"pack": "us-ma", "version": "2026.1"}])

    client = sign_in(api, "agent_east", lang="en")
    with frozen_at(third):
        page = client.get(f"/case/{api.east_case}")
    assert 'data-layer="us-ma"' in page.text and 'data-rule="ma.phone_7_days"' in page.text


def test_the_product_mapping_chooses_the_base_pack(api: Api) -> None:
    from arrears.contact.packchoice import pack_for

    assert pack_for("card-us", "CN", {"card-us": "us-reg-f"}).name == "us-reg-f"
    assert pack_for("card", "US-NY-NYC", {}).layers == (("us-nyc", "2026.1"),)
    assert pack_for("card", "US-NY-NYC", {}) is pack_for("card", "US-NY-NYC", {})


def test_the_policy_packs_page_lists_the_layers_with_their_sources(api: Api) -> None:
    page = sign_in(api, "admin", lang="en").get("/admin/packs")
    assert page.status_code == 200
    for layer, rule, source in (("us-ma", "ma.phone_7_days", "940 CMR 7.04(1)(f)"),
                                ("us-wa", "wa.residence_hours", "RCW 19.16.250(13)(c)"),
                                ("us-nyc", "nyc.two_in_7_days", "6 RCNY 5-77(b)")):
        assert f'id="t-pack-{layer}"' in page.text and rule in page.text and source in page.text
