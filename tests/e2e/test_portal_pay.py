"""The cardholder pays in a real browser at 390×844 (issue 16's acceptance): verify → choose the amount
past due → the QR code and the sandbox's checkout page (as the phone's payment app) → pay → the status
page says paid → the case's agent signs in and sees the payment on the case page. The sandbox
provider runs as its own process with its own keys, its clock stopped at the browser tests' moment
(signatures are checked against the merchant's clock). Screenshot docs/screenshots/portal-pay.png
(retaken only with ARREARS_RETAKE_SCREENSHOTS=1). axe on every pay page: no serious or critical
violation."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import exists, select

from tests.e2e.conftest import SCREENSHOTS, LiveServer, browser_moment
from tests.e2e.test_portal_a11y import _violations
from tests.payments.conftest import free_port, wait_until_up

VIEWPORT = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def sandbox(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The sandbox provider process; the live server pays through it while this module runs."""
    from arrears.payments.settings import Payments, PaymentSettings, provider_from_settings

    keys = tmp_path_factory.mktemp("e2e-paykeys")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "arrears.payments.sandbox", "--port", str(port), "--keys", str(keys),
         "--frozen-at", browser_moment().isoformat()],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    app = live_server.app
    try:
        wait_until_up(f"{url}/sandbox/health", proc)
        settings = PaymentSettings(keys_dir=Path(keys), base_url=url, notify_url=f"{live_server.url}/payments/notify",
                                   sandbox=True)
        app.state.payments = Payments(provider_from_settings(settings), settings, url)
        yield url
    finally:
        if hasattr(app.state, "payments"):
            del app.state.payments  # the other browser tests see the server's own settings again
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass(frozen=True)
class Link:
    token: str
    case_id: int
    account_ref: str
    last4: str
    born: str
    agent_role: str


@pytest.fixture(scope="module")
def link(live_server: LiveServer) -> Iterator[Link]:
    """A link to an account with an open case of the demo agent's team and an amount past due."""
    from arrears.accounts.tables import Account, Customer
    from arrears.auth.tables import Team
    from arrears.cases.tables import Case
    from arrears.config import Settings
    from arrears.delinquency.tables import DelinquencySnapshot
    from arrears.kit.cli import store_engine
    from arrears.kit.clock import frozen_at
    from arrears.kit.db import transaction
    from arrears.portal.service import issue_link, portal_key

    agent, _ = live_server.login_of("agent")
    team = live_server.users[agent][1]
    settings = Settings(database_url=live_server.store_url)
    engine = store_engine(live_server.store_url)
    try:
        with frozen_at(browser_moment()), transaction(engine) as s:
            overdue = exists().where(DelinquencySnapshot.account_id == Account.id,
                                     DelinquencySnapshot.amount_past_due > 0)
            case_id, ref, national_id, born = s.execute(
                select(Case.id, Account.account_ref, Customer.national_id, Customer.birth_date)
                .join(Account, Account.id == Case.account_id).join(Customer, Customer.id == Account.customer_id)
                .join(Team, Team.id == Case.team_id)
                .where(Case.closed_on.is_(None), Team.code == team, overdue)
                .order_by(Case.id).limit(1)).one()
            issued = issue_link(s, account_ref=ref, key=portal_key(settings), settings=settings, actor="e2e-test",
                                ttl=timedelta(days=2))
        yield Link(issued.token, case_id, ref, national_id[-4:], born.isoformat(), "agent")
    finally:
        engine.dispose()


def test_a_cardholder_pays_in_the_sandbox_and_the_agent_sees_it(  # type: ignore[no-untyped-def]
        browser, live_server: LiveServer, sandbox: str, link: Link, page_as) -> None:
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, locale="zh-CN")
    found: list[str] = []
    try:
        page = context.new_page()
        page.goto(f"/p/{link.token}")
        page.fill("#id_last4", link.last4)
        page.fill("#birth_date", link.born)
        with page.expect_navigation():
            page.click("form.p-form button[type=submit]")
        assert page.url.endswith("/home")

        with page.expect_navigation():
            page.click(f"a[href='/p/{link.token}/pay']")
        past_due = page.locator("#choice-past_due")
        assert past_due.count() == 1 and past_due.is_checked()
        found += _violations(page, "choosing the amount")
        page.check("#choice-other")
        page.fill("#amount", "0")
        with page.expect_navigation():
            page.click("form.p-form button[type=submit]")
        assert page.locator(".p-error[role=alert]").count() == 1
        found += _violations(page, "an own amount refused")
        page.check("#choice-past_due")
        with page.expect_navigation():
            page.click("form.p-form button[type=submit]")
        assert f"/p/{link.token}/pay/" in page.url, page.url
        status_url = page.url
        amount = page.locator(".p-amount").inner_text().split("¥")[-1]  # e.g. 2,144.05
        assert page.locator(".p-qrbox svg[role=img]").count() == 1
        assert page.locator(".p-waiting").count() == 1
        page.screenshot(path=str(SCREENSHOTS / "portal-pay.png"), full_page=True)
        found += _violations(page, "waiting for the payment")

        # the payment app: the sandbox's checkout page, then back to the status page
        with page.expect_navigation():
            page.click(f"a[href^='{sandbox}/sandbox/checkout/']")
        assert page.url.startswith(sandbox)
        with page.expect_navigation(url=status_url):
            page.click("form button[type=submit]")
        assert page.locator(".p-paid[role=status]").count() == 1
        assert page.locator(".p-waiting").count() == 0
        found += _violations(page, "paid")
    finally:
        context.close()

    assert not found, "axe found serious or critical violations:\n" + "\n".join(found)
    agent = page_as(link.agent_role)
    agent.goto(f"/case/{link.case_id}")
    row = agent.locator("table.payment-orders tr.payment-pending_confirmation")
    assert row.count() == 1
    assert amount in row.inner_text()
    assert any(words in row.inner_text() for words in ("pending confirmation", "待银行还款文件确认"))
    timeline = agent.locator("ol.timeline").inner_text()
    assert any(words in timeline for words in ("Self-service", "自助服务")), timeline
