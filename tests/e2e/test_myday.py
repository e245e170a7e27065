"""My day in a real browser: the agent's day list with a call-back due later today and a broken promise
to follow up, on cases of our own, at 1366×768 and on a 390×844 phone, in English and Chinese, with no
axe-core violation of any severity and nothing wider than the screen.

Both cases carry an open promise whose window is still running, so "next case" never hands them to
the other journeys on the shared store.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import func, insert, select

from tests.e2e.conftest import LiveServer, axe_violations

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
CALLBACK, BROKEN = "MD-E2E-0001", "MD-E2E-0002"


@dataclass(frozen=True)
class DayCases:
    callback: int
    broken: int


@pytest.fixture(scope="module")
def day_cases(live_server: LiveServer) -> Iterator[DayCases]:
    from arrears.accounts.tables import Account, Customer
    from arrears.auth.tables import User
    from arrears.cases.tables import Appointment, Case, Promise, Task
    from arrears.delinquency.tables import CycleRun
    from arrears.kit.cli import store_engine
    from arrears.kit.clock import frozen_at
    from arrears.kit.db import transaction
    from tests.e2e.conftest import browser_moment

    username, _ = live_server.login_of("agent")
    engine = store_engine(live_server.store_url)
    moment = browser_moment()  # 11:00 bank time
    today = moment.date()
    try:
        with frozen_at(moment), transaction(engine) as s:
            agent_id, team_id = s.execute(select(User.id, User.team_id).where(User.username == username)).one()
            run_id = s.execute(select(func.max(CycleRun.id))).scalar_one()
            ids = {}
            for n, ref in enumerate((CALLBACK, BROKEN)):
                customer = s.execute(insert(Customer).values(
                    customer_ref=f"{ref}-C", name=("孙小美", "赵大海")[n], national_id=f"11010519800101{n:03d}X",
                    birth_date=date(1980, 1, 1), time_zone="Asia/Shanghai", language="zh_CN",
                    created_at=moment).returning(Customer.id)).scalar_one()
                account = s.execute(insert(Account).values(
                    account_ref=ref, customer_id=customer, product="standard", credit_limit=3_000_000,
                    currency="CNY", statement_day=5, due_day=25, status="open", opened_on=date(2024, 1, 1),
                    created_at=moment).returning(Account.id)).scalar_one()
                ids[ref] = s.execute(insert(Case).values(
                    account_id=account, status="contacting", opened_on=today - timedelta(days=20),
                    open_bucket="M1", bucket="M1", dpd=20, opened_by_run_id=run_id, reopen_count=0,
                    team_id=team_id, balance=0, created_at=moment, updated_at=moment).returning(Case.id)).scalar_one()
                # an open promise keeps the case out of "next case" for the other journeys
                s.execute(insert(Promise).values(
                    case_id=ids[ref], amount=50_000, promised_date=today + timedelta(days=6), created_on=today,
                    grace_days=3, tolerance=0, status="open", created_by="e2e", created_at=moment))
            # the customer asked to be called back at 15:00 today
            s.execute(insert(Appointment).values(
                case_id=ids[CALLBACK], owner_id=agent_id, window_start=moment + timedelta(hours=4),
                window_end=moment + timedelta(hours=4, minutes=30), status="scheduled", created_by=f"user:{agent_id}",
                created_at=moment))
            # a promise the agent took, judged broken by the cycle, its follow-up task open
            broken = s.execute(insert(Promise).values(
                case_id=ids[BROKEN], amount=120_000, promised_date=today - timedelta(days=6),
                created_on=today - timedelta(days=12), grace_days=3, tolerance=0, status="broken", paid=0,
                judged_at=moment, created_by=f"user:{agent_id}", created_at=moment).returning(Promise.id)).scalar_one()
            s.execute(insert(Task).values(
                case_id=ids[BROKEN], kind="broken_promise", due_on=today - timedelta(days=2), status="open",
                promise_id=broken, created_by="cycle", created_at=moment))
        yield DayCases(ids[CALLBACK], ids[BROKEN])
    finally:
        engine.dispose()


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_the_agents_day_list(page_as, day_cases: DayCases, viewport: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = page_as("agent")
    size = VIEWPORTS[viewport]
    page.set_viewport_size(size)
    page.goto("/queue?lang=en")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My day").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My day")
    callback = page.locator(f'#day-list li[data-case="{day_cases.callback}"]')
    broken = page.locator(f'#day-list li[data-case="{day_cases.broken}"]')
    expect(callback).to_contain_text("Call-back")
    expect(callback).to_contain_text("Later today")
    expect(callback).to_contain_text("today 3:00 PM")
    expect(broken).to_contain_text("Broken promise")
    expect(broken).to_contain_text("¥1,200.00")
    # the broken promise comes before the call-back later today
    kinds = page.locator("#day-list li").evaluate_all("els => els.map(e => e.dataset.case)")
    assert kinds.index(str(day_cases.broken)) < kinds.index(str(day_cases.callback))
    broken.get_by_role("link", name=BROKEN).scroll_into_view_if_needed()
    assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]
    found = axe_violations(page, f"my day ({viewport}, en)")
    page.goto("/myday?lang=zh_CN")
    expect(page.get_by_role("heading", level=1)).to_have_text("今日待办")
    expect(page.locator(f'#day-list li[data-case="{day_cases.callback}"]')).to_contain_text("预约回电")
    assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]
    found += axe_violations(page, f"my day ({viewport}, zh_CN)")
    assert not found, "axe found violations on my day:\n" + "\n".join(found)
    # the case link opens the case
    page.locator(f'#day-list li[data-case="{day_cases.broken}"]').get_by_role("link", name=BROKEN).click()
    expect(page).to_have_url(re.compile(rf"/case/{day_cases.broken}$"))
