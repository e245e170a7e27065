"""Complaints on the clock in a real browser: a compliance officer registers a complaint, acknowledges it
and answers it before its deadline; another, received 20 days ago, has run past its deadline and is
escalated from the list — on a 390×844 phone, in English, nothing wider than the screen and no axe-core
violation on the complaint pages.

The complaints are on accounts of their own, without a case, so the holds they place never touch the
cases the other journeys work.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import insert

from tests.e2e.conftest import LiveServer, axe_violations, browser_moment

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
ON_TIME, LATE = "CP-E2E-0001", "CP-E2E-0002"


@pytest.fixture(scope="module")
def accounts(live_server: LiveServer) -> Iterator[None]:
    from arrears.accounts.tables import Account, Customer
    from arrears.kit.cli import store_engine
    from arrears.kit.db import transaction

    engine = store_engine(live_server.store_url)
    moment = browser_moment()
    try:
        with transaction(engine) as s:
            for n, ref in enumerate((ON_TIME, LATE)):
                customer = s.execute(insert(Customer).values(
                    customer_ref=f"{ref}-C", name=("钱多多", "李明亮")[n], national_id=f"11010519810101{n:03d}X",
                    birth_date=date(1981, 1, 1), time_zone="Asia/Shanghai", language="zh_CN",
                    created_at=moment).returning(Customer.id)).scalar_one()
                s.execute(insert(Account).values(
                    account_ref=ref, customer_id=customer, product="standard", credit_limit=3_000_000,
                    currency="CNY", statement_day=5, due_day=25, status="open", opened_on=date(2024, 1, 1),
                    created_at=moment))
        yield None
    finally:
        engine.dispose()


def _register(page, account: str, received: date) -> None:  # type: ignore[no-untyped-def]
    page.goto("/compliance/complaints/new?lang=en")
    page.get_by_label("Account number").fill(account)
    page.get_by_label("Received by").select_option("regulator")
    page.get_by_label("The regulator's reference (a forwarded complaint)").fill("12378-E2E")
    page.get_by_label("Received on").fill(received.isoformat())
    page.get_by_label("About").select_option("contact_frequency")
    page.get_by_label("What the customer says").fill("催收电话太多")
    with page.expect_navigation():
        page.get_by_role("button", name="Register the complaint").click()


def test_answered_on_time_and_escalated_when_late(page_as, accounts: None) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = page_as("compliance")
    page.set_viewport_size(PHONE)
    today = browser_moment().date()

    _register(page, ON_TIME, today)
    expect(page.locator("#complaint-status")).to_have_text("Received")
    expect(page.locator("#complaint-deadline")).to_contain_text("15 days left")
    found = axe_violations(page, "complaint page (phone, en)")
    page.locator("#move-acknowledge").click()
    expect(page.locator("#complaint-status")).to_have_text("Acknowledged")
    page.get_by_label("Root cause", exact=True).select_option("agent_conduct")
    page.get_by_label("The answer given to the customer").fill("已致歉，并将来电限制在每日一次")
    page.locator("#move-answer").click()
    expect(page.locator("#complaint-status")).to_have_text("Answered")
    expect(page.locator("#complaint-timeline li")).to_have_count(3)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    _register(page, LATE, today - timedelta(days=20))
    expect(page.locator("#complaint-deadline")).to_contain_text("5 days overdue")
    page.get_by_role("link", name="All complaints").click()
    found += axe_violations(page, "complaints list (phone, en)")
    page.get_by_role("button", name="Escalate overdue complaints now").click()
    row = page.locator("#t-complaint-clocks tr", has_text=LATE)
    expect(row).to_contain_text("Escalated")
    row.locator("a").first.click()
    expect(page.locator("#complaint-status")).to_contain_text("Escalated")
    expect(page.locator("#complaint-timeline")).to_contain_text("Escalated: past the deadline")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert not found, "\n".join(found)
