"""The cardholder chooses a plan in a real browser at 390×844 (issue 16's acceptance): verify → enter
their monthly budget → choose an option → confirm with the code sent by SMS (read from the outbox, as
the phone would receive it) → the agreement is active and its PDF link works. Screenshot
docs/screenshots/portal-plan.png (retaken only with ARREARS_RETAKE_SCREENSHOTS=1)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import and_, exists, select

from tests.e2e.conftest import SCREENSHOTS, LiveServer
from tests.e2e.test_portal_a11y import _violations

VIEWPORT = {"width": 390, "height": 844}


@dataclass(frozen=True)
class Link:
    token: str
    link_id: int
    last4: str
    born: str


@pytest.fixture(scope="module")
def link(live_server: LiveServer) -> Iterator[Link]:
    """A link to an account with an open case, a statement, the customer's own mobile on file and no
    agreement going on."""
    from arrears.accounts.tables import Account, ContactPoint, Customer, Statement
    from arrears.cases.tables import Case
    from arrears.config import Settings
    from arrears.kit.cli import store_engine
    from arrears.kit.clock import frozen_at
    from arrears.kit.db import transaction
    from arrears.plans.tables import PlanAgreement
    from arrears.portal.service import issue_link, portal_key
    from tests.e2e.conftest import browser_moment

    settings = Settings(database_url=live_server.store_url)
    engine = store_engine(live_server.store_url)
    try:
        with frozen_at(browser_moment()), transaction(engine) as s:
            mobile = exists().where(ContactPoint.customer_id == Customer.id, ContactPoint.kind == "phone",
                                    ContactPoint.owner == "debtor", ContactPoint.verified.is_(True),
                                    ContactPoint.opted_out.is_(False))
            statement = exists().where(Statement.account_id == Account.id, Statement.new_balance > 100_000)
            busy = exists().where(and_(PlanAgreement.account_id == Account.id, PlanAgreement.status.in_(
                ("pending_approval", "awaiting_confirmation", "active"))))
            ref, national_id, born = s.execute(
                select(Account.account_ref, Customer.national_id, Customer.birth_date)
                .join(Customer, Customer.id == Account.customer_id).join(Case, Case.account_id == Account.id)
                .where(Case.closed_on.is_(None), mobile, statement, ~busy)
                .order_by(Case.id.desc()).limit(1)).one()
            issued = issue_link(s, account_ref=ref, key=portal_key(settings), settings=settings, actor="e2e-test",
                                ttl=timedelta(days=2))
        yield Link(issued.token, issued.link.id, national_id[-4:], born.isoformat())
    finally:
        engine.dispose()


def _code_sent(live_server: LiveServer, link_id: int) -> str:
    """The latest code the link sent, from the outbox (what the customer's phone receives)."""
    from arrears.channels.tables import OutboxMessage
    from arrears.kit.cli import store_engine
    from arrears.kit.db import transaction
    from arrears.portal.tables import PortalCode

    engine = store_engine(live_server.store_url)
    try:
        with transaction(engine) as s:
            payload = s.scalars(select(OutboxMessage.payload).join(PortalCode, PortalCode.outbox_id == OutboxMessage.id)
                                .where(PortalCode.link_id == link_id).order_by(PortalCode.id.desc()).limit(1)).one()
        return str(payload["code"])
    finally:
        engine.dispose()


def test_a_cardholder_chooses_a_plan_and_confirms_it_with_a_code(browser, live_server: LiveServer,  # type: ignore[no-untyped-def]
                                                                 link: Link) -> None:
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, locale="zh-CN")
    found: list[str] = []
    try:
        page = context.new_page()
        page.goto(f"/p/{link.token}/code")  # the page where an identity code is entered (axe only)
        found += _violations(page, "identity code page")
        page.goto(f"/p/{link.token}")
        page.fill("#id_last4", link.last4)
        page.fill("#birth_date", link.born)
        with page.expect_navigation():
            page.click("form.p-form button[type=submit]")
        assert page.url.endswith("/home")

        with page.expect_navigation():
            page.click(f"a[href='/p/{link.token}/plan']")
        page.fill("#monthly_income", "9000")
        page.fill("#essential_spending", "3500")
        page.fill("#other_debt_payments", "800")
        page.fill("#dependants", "1")
        page.select_option("#cause", "job_loss")
        with page.expect_navigation():
            page.click("form.p-form button[type=submit]")
        assert page.url.endswith("/plan/options"), page.url
        options = page.locator("section.p-option")
        assert options.count() >= 1
        assert page.get_by_text("年化利率").count() >= 1  # the disclosed annual rate, side by side
        page.screenshot(path=str(SCREENSHOTS / "portal-plan.png"), full_page=True)
        found += _violations(page, "options page")

        within = page.locator("section.p-option form button:not(.p-secondary)")
        assert within.count() >= 1, "no option within self-service authority"
        with page.expect_navigation():
            within.first.click()
        assert page.url.endswith("/plan/confirm"), page.url
        found += _violations(page, "confirmation page")

        page.fill("#code", _code_sent(live_server, link.link_id))
        with page.expect_navigation():
            page.click("form.p-form button[type=submit]")
        assert "/plan/done" in page.url, page.url
        assert page.locator("[role=status]").count() == 1
        found += _violations(page, "plan agreed page")

        href = page.locator("a[href$='.pdf']").first.get_attribute("href")
        assert href is not None
        pdf = page.request.get(href)
        assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.body().startswith(b"%PDF")
        # the account page lists the agreement with its PDF
        page.goto(f"/p/{link.token}/home")
        assert page.locator(f"a[href='{href}']").count() == 1
    finally:
        context.close()
    assert not found, "axe: serious or critical violations on the plan pages:\n" + "\n".join(found)
