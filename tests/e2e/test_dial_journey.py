"""Dial from the case in a real browser, through the local dialler over real HTTP: the agent dials a
customer of our own at 1366×768, the dialler rings and ends the call with a recording, and the outcome
form takes the recording reference from the call (read-only); no axe-core violation of any severity.

The customer, account and case are this journey's own (the case has an open promise, which keeps it out
of everyone's "next case"), and the dialler is configured only while the journey runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import func, insert, select

from tests.e2e.conftest import LiveServer, axe_violations

pytestmark = pytest.mark.browser

REF, PHONE = "DIAL-E2E-0001", "13900001111"


@pytest.fixture(scope="module")
def dial_case(live_server: LiveServer) -> Iterator[int]:
    from arrears.accounts.tables import Account, ContactPoint, Customer, Statement
    from arrears.auth.tables import Team
    from arrears.cases.tables import Case, Promise
    from arrears.delinquency.tables import CycleRun
    from arrears.kit.cli import store_engine
    from arrears.kit.clock import frozen_at
    from arrears.kit.db import transaction
    from tests.e2e.conftest import browser_moment

    _, (_, team, _) = next((u, v) for u, v in live_server.users.items() if v[0] == "agent")
    engine = store_engine(live_server.store_url)
    moment = browser_moment()
    today = moment.date()
    try:
        with frozen_at(moment), transaction(engine) as s:
            team_id = s.execute(select(Team.id).where(Team.code == team)).scalar_one()
            run_id = s.execute(select(func.max(CycleRun.id))).scalar_one()
            customer = s.execute(insert(Customer).values(
                customer_ref="DIAL-E2E", name="孙拨号", national_id="110105198001010046", birth_date=date(1980, 1, 1),
                time_zone="Asia/Shanghai", language="zh_CN", created_at=moment).returning(Customer.id)).scalar_one()
            s.execute(insert(ContactPoint).values(
                contact_ref="DIAL-E2E-P", customer_id=customer, kind="phone", value=PHONE, owner="debtor",
                relation=None, verified=True, opted_out=False, created_at=moment))
            account = s.execute(insert(Account).values(
                account_ref=REF, customer_id=customer, product="standard", credit_limit=5_000_000, currency="CNY",
                statement_day=5, due_day=25, status="open", opened_on=date(2024, 1, 1),
                created_at=moment).returning(Account.id)).scalar_one()
            s.execute(insert(Statement).values(
                account_id=account, statement_date=today - timedelta(days=20), due_date=today - timedelta(days=5),
                new_balance=500_000, minimum_due=50_000, past_due_included=0, created_at=moment))
            case = s.execute(insert(Case).values(
                account_id=account, status="contacting", opened_on=today - timedelta(days=4), open_bucket="M1",
                bucket="M1", dpd=5, opened_by_run_id=run_id, reopen_count=0, team_id=team_id, balance=0,
                created_at=moment, updated_at=moment).returning(Case.id)).scalar_one()
            s.execute(insert(Promise).values(
                case_id=case, amount=100_000, promised_date=today + timedelta(days=5), created_on=today,
                grace_days=3, tolerance=0, status="open", created_by="e2e", created_at=moment))
        yield case
    finally:
        engine.dispose()


def test_the_agent_dials_and_the_call_fills_in_the_recording(page_as, live_server: LiveServer,  # type: ignore[no-untyped-def]
                                                             dial_case: int) -> None:
    from playwright.sync_api import expect

    from arrears.dialler.provider import HttpDialler
    from arrears.dialler.settings import DiallerSettings, Dialling
    from arrears.dialler.simulate import DiallerSimulator

    app = live_server.app
    before = getattr(app.state, "dialling", None)
    sim = DiallerSimulator(api_key="e2e-key", secret="e2e-secret").start()
    dialler = HttpDialler(sim.url, api_key="e2e-key")
    app.state.dialling = Dialling(dialler, DiallerSettings(url=sim.url, api_key="e2e-key", events_secret="e2e-secret",
                                                           events_url=f"{live_server.url}/dialler/events"))
    try:
        page = page_as("agent")
        page.set_viewport_size({"width": 1366, "height": 768})
        page.goto(f"/case/{dial_case}?step=next&lang=en")
        panel = page.get_by_role("region", name="Call the customer")
        expect(panel).to_contain_text("139****1111")  # masked for the agent
        found = axe_violations(page, "case page, dial panel")
        panel.get_by_role("button", name="Dial").click()
        expect(page.get_by_role("region", name="Call the customer")).to_contain_text("The dialler is calling")
        sim.wait()
        assert sim.requests[0]["destination"] == PHONE
        page.get_by_role("link", name="Refresh the call").click()
        expect(page.get_by_role("region", name="Call the customer")).to_contain_text("Call ended")
        recording = page.locator("#script").get_by_label("Recording reference")
        expect(recording).to_have_value(f"REC-{_provider_call_id(live_server)}")
        expect(recording).to_have_attribute("readonly", "")
        found += axe_violations(page, "case page, call ended")
        script = page.locator("#script")
        script.get_by_label("Outcome", exact=True).select_option("right_party_contact")
        script.get_by_role("button", name="Save the outcome").click()
        expect(script.get_by_role("status").first).to_contain_text("Outcome saved.")
        assert not found, "axe found violations:\n" + "\n".join(found)
    finally:
        if before is None:
            del app.state.dialling  # built again from the settings on first use
        else:
            app.state.dialling = before
        sim.stop()
        dialler.close()


def _provider_call_id(live_server: LiveServer) -> str:
    from arrears.dialler.tables import DiallerCall
    from arrears.kit.cli import store_engine

    engine = store_engine(live_server.store_url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(select(DiallerCall.provider_call_id).order_by(DiallerCall.id.desc())
                                    .limit(1)).scalar_one())
    finally:
        engine.dispose()
