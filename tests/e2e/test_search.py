"""Search by phone in a real browser: an agent types a customer's mobile number, as people write it
(+86, spaces, dashes), into the box in the top bar, finds the case masked (the search is POSTed: no digit of
the number in the URL the browser ends on), and opens it; an old bookmark with the number in its URL searches
nothing; at 1366×768
and on a 390×844 phone, with no axe-core violation of any severity on the search page.

The journey only reads (each search is an audit record): the shared store's cases are left as they were.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from tests.e2e.conftest import LiveServer, axe_violations

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}


@dataclass(frozen=True)
class Found:
    case_id: int
    account_ref: str
    phone: str


@pytest.fixture(scope="module")
def a_case_of_the_agents_team(live_server: LiveServer) -> Found:
    """An open case of the agent's team whose customer has a mobile number of their own, unique in the store."""
    from sqlalchemy import func

    from arrears.accounts.tables import Account, ContactPoint
    from arrears.auth.tables import Team
    from arrears.cases.model import OPEN_STATES
    from arrears.cases.tables import Case
    from arrears.kit.cli import store_engine

    _, (_, team, _) = next((u, v) for u, v in live_server.users.items() if v[0] == "agent")
    engine = store_engine(live_server.store_url)
    try:
        with engine.connect() as conn:
            unique = (select(ContactPoint.value).where(ContactPoint.kind == "phone")
                      .group_by(ContactPoint.value).having(func.count() == 1))
            row = conn.execute(
                select(Case.id, Account.account_ref, ContactPoint.value)
                .join(Account, Account.id == Case.account_id)
                .join(ContactPoint, ContactPoint.customer_id == Account.customer_id)
                .join(Team, Team.id == Case.team_id)
                .where(Team.code == team, Case.status.in_(OPEN_STATES), ContactPoint.kind == "phone",
                       ContactPoint.owner == "debtor", ContactPoint.value.in_(unique),
                       ContactPoint.value.like("1%"), func.length(ContactPoint.value) == 11)
                .order_by(Case.id).limit(1)).one()
    finally:
        engine.dispose()
    return Found(int(row[0]), str(row[1]), str(row[2]))


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_an_agent_finds_a_case_by_phone_and_opens_it(page_as, a_case_of_the_agents_team: Found,  # type: ignore[no-untyped-def]
                                                      viewport: str) -> None:
    from playwright.sync_api import expect

    found = a_case_of_the_agents_team
    p = found.phone
    typed = f"+86 {p[:3]}-{p[3:7]}-{p[7:]}"
    masked = f"{p[:3]}****{p[7:]}"
    page = page_as("agent")
    page.set_viewport_size(VIEWPORTS[viewport])
    page.goto("/queue?lang=en")
    box = page.get_by_role("searchbox", name="Search by account, name, phone or ID number")
    expect(box).to_be_visible()
    box.click()
    box.press("Control+a")
    box.fill(typed)
    with page.expect_navigation():
        box.press("Enter")
    # the search is POSTed: the number is in no URL (so in no access log and no browser history)
    assert page.url.split("?")[0].endswith("/search")
    assert not any(ch.isdigit() for ch in page.url.split("/search", 1)[1]), page.url
    results = page.get_by_role("table", name="Accounts found")
    row = results.locator(f'tr[data-account="{found.account_ref}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text(masked)
    assert p not in results.inner_text()
    # nothing wider than the screen
    wide = page.evaluate("""(w) => Array.from(document.querySelectorAll('body *:not(.scroll *)'))
        .filter(e => e.getBoundingClientRect().right > w)
        .map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""",
                         VIEWPORTS[viewport]["width"])
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[viewport]["width"], wide
    violations = axe_violations(page, f"search page ({viewport}, en)")
    # in Chinese: the language link opens the empty form, searched again from the page's own form
    page.get_by_role("link", name="中文").click()
    page.wait_for_load_state()
    form_box = page.locator("#s-q")
    form_box.click()
    form_box.press("Control+a")
    form_box.fill(typed)
    page.locator("#s-kind").select_option("phone")
    with page.expect_navigation():
        page.locator("#search-form button[type=submit]").click()
    assert not any(ch.isdigit() for ch in page.url.split("/search", 1)[1]), page.url
    expect(page.get_by_role("table", name="查到的账户")).to_be_visible()
    violations += axe_violations(page, f"search page ({viewport}, zh_CN)")
    page.goto(f"/search?q={p}&lang=en")  # an old bookmark: the empty form, nothing searched
    expect(page.locator("#s-results")).to_have_count(0)
    expect(page.locator("#s-q")).to_have_value("")
    violations += axe_violations(page, f"search form ({viewport}, en)")
    assert not violations, "axe found violations on the search page:\n" + "\n".join(violations)
    box = page.get_by_role("searchbox", name="Search by account, name, phone or ID number")
    box.fill(typed)
    with page.expect_navigation():
        box.press("Enter")
    link = page.locator(f'tr[data-account="{found.account_ref}"] a[href="/case/{found.case_id}"]').first
    with page.expect_navigation():
        link.click()
    assert page.url.split("?")[0].endswith(f"/case/{found.case_id}")
    expect(page.get_by_text(found.account_ref).first).to_be_visible()
