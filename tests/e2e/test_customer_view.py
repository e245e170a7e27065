"""The customer, not just the account, in a real browser: a customer of our own with two accounts in
arrears, one worked by the agent's team and one by another team. The agent's case page shows the other
account (its money, its case as another team's, without a link), at 1366×768 and on a 390×844 phone,
with no axe-core violation of any severity.

The two cases are kept out of everyone's "next case" (the agent's has an open promise, the other
belongs to a team no demo user is in), so the other journeys on the shared store never meet them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import func, insert, select

from tests.e2e.conftest import LiveServer, axe_violations

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
OURS, OTHER = "CV-E2E-0001", "CV-E2E-0002"


@dataclass(frozen=True)
class TwoAccounts:
    ours: int
    other: int


@pytest.fixture(scope="module")
def two_accounts(live_server: LiveServer) -> Iterator[TwoAccounts]:
    from arrears.accounts.tables import Account, Customer, Statement
    from arrears.auth.service import get_or_create_team
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
            other_team = get_or_create_team(s, code="cv-elsewhere", actor="e2e").id
            run_id = s.execute(select(func.max(CycleRun.id))).scalar_one()
            customer = s.execute(insert(Customer).values(
                customer_ref="CV-E2E", name="钱多多", national_id="110105198001010030", birth_date=date(1980, 1, 1),
                time_zone="Asia/Shanghai", language="zh_CN", created_at=moment).returning(Customer.id)).scalar_one()
            ids = {}
            for ref, team_of, balance in ((OURS, team_id, 880_000), (OTHER, other_team, 1_234_500)):
                account = s.execute(insert(Account).values(
                    account_ref=ref, customer_id=customer, product="standard", credit_limit=5_000_000,
                    currency="CNY", statement_day=5, due_day=25, status="open", opened_on=date(2024, 1, 1),
                    created_at=moment).returning(Account.id)).scalar_one()
                s.execute(insert(Statement).values(
                    account_id=account, statement_date=today - timedelta(days=20), due_date=today - timedelta(days=5),
                    new_balance=balance, minimum_due=balance // 10, past_due_included=0, created_at=moment))
                ids[ref] = s.execute(insert(Case).values(
                    account_id=account, status="contacting", opened_on=today - timedelta(days=4), open_bucket="M1",
                    bucket="M1", dpd=5, opened_by_run_id=run_id, reopen_count=0, team_id=team_of, balance=0,
                    created_at=moment, updated_at=moment).returning(Case.id)).scalar_one()
            # an open promise keeps the agent's case out of "next case" for the other journeys
            s.execute(insert(Promise).values(
                case_id=ids[OURS], amount=100_000, promised_date=today + timedelta(days=5), created_on=today,
                grace_days=3, tolerance=0, status="open", created_by="e2e", created_at=moment))
        yield TwoAccounts(ids[OURS], ids[OTHER])
    finally:
        engine.dispose()


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_the_case_page_shows_the_customers_other_account(page_as, two_accounts: TwoAccounts,  # type: ignore[no-untyped-def]
                                                         viewport: str) -> None:
    from playwright.sync_api import expect

    page = page_as("agent")
    page.set_viewport_size(VIEWPORTS[viewport])
    page.goto(f"/case/{two_accounts.ours}?lang=en")
    view = page.get_by_role("region", name="The customer's other accounts")
    expect(view).to_be_visible()
    view.scroll_into_view_if_needed()
    expect(view.get_by_role("heading", name=OTHER)).to_be_visible()
    expect(view).to_contain_text("¥12,345.00")  # the other account's balance
    expect(view).to_contain_text("another team")
    expect(view.locator(f'a[href="/case/{two_accounts.other}"]')).to_have_count(0)
    # the section fits the screen: nothing wider than the viewport
    width = page.evaluate("document.getElementById('customer-accounts').getBoundingClientRect().right")
    assert width <= VIEWPORTS[viewport]["width"]
    found = axe_violations(page, f"case page ({viewport}, en)")
    page.goto(f"/case/{two_accounts.ours}?lang=zh_CN")
    expect(page.get_by_role("region", name="该客户名下其他账户")).to_contain_text("其他团队")
    found += axe_violations(page, f"case page ({viewport}, zh_CN)")
    assert not found, "axe found violations on the case page:\n" + "\n".join(found)
