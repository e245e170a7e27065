"""Accessibility of the cardholder's pages (issue 16, item 7: WCAG 2.1 AA, axe: zero serious or critical).

axe-core (bundled by ``axe-playwright-python``) runs in Debian's chromium on every portal page at the
main viewport, 390×844, in Chinese and in English: the identity page, the same page showing an error,
the page asking for a one-time code instead, the account page, and every page the account page links to under the link (the actions: found from the
page's own links, so a page added there is checked without editing this file).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.e2e.conftest import LiveServer

VIEWPORT = {"width": 390, "height": 844}
#: The impacts that fail the test (axe: minor, moderate, serious, critical).
FAILING = ("serious", "critical")


@dataclass(frozen=True)
class Link:
    token: str
    last4: str
    born: str


@pytest.fixture(scope="module")
def link(live_server: LiveServer) -> Iterator[Link]:
    """A personal link to an account with an open case of the simulated store, with its holder's answers."""
    from arrears.accounts.tables import Account, Customer
    from arrears.cases.tables import Case
    from arrears.config import Settings
    from arrears.kit.cli import store_engine
    from arrears.kit.clock import frozen_at
    from arrears.kit.db import transaction
    from arrears.portal.service import issue_link, portal_key
    from tests.e2e.conftest import browser_moment

    settings = Settings(database_url=live_server.store_url)  # the server's own settings, so its portal key
    engine = store_engine(live_server.store_url)
    try:
        with frozen_at(browser_moment()), transaction(engine) as s:
            ref, national_id, born = s.execute(
                select(Account.account_ref, Customer.national_id, Customer.birth_date)
                .join(Customer, Customer.id == Account.customer_id).join(Case, Case.account_id == Account.id)
                .where(Case.closed_on.is_(None)).order_by(Case.id).limit(1)).one()
            issued = issue_link(s, account_ref=ref, key=portal_key(settings), settings=settings, actor="a11y-test",
                                ttl=timedelta(days=2))
        yield Link(issued.token, national_id[-4:], born.isoformat())
    finally:
        engine.dispose()


def _violations(page, what: str) -> list[str]:  # type: ignore[no-untyped-def]
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    found = []
    for v in results.response["violations"]:
        if v.get("impact") not in FAILING:
            continue
        nodes = "\n".join(f"      {', '.join(map(str, n.get('target', [])))}: "
                          f"{(n.get('failureSummary') or '').replace(chr(10), ' ')}" for n in v["nodes"][:5])
        found.append(f"  {what}: [{v['impact']}] {v['id']} — {v['help']} ({v['helpUrl']})\n{nodes}")
    return found


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_every_portal_page_has_no_serious_or_critical_axe_violation(browser, live_server: LiveServer, link: Link,  # type: ignore[no-untyped-def]
                                                                    lang: str) -> None:
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT,
                                  locale="zh-CN" if lang == "zh_CN" else "en-US")
    found: list[str] = []
    checked: list[str] = []
    try:
        page = context.new_page()

        def check(what: str) -> None:
            checked.append(what)
            found.extend(_violations(page, f"{what} ({lang}, {page.url.split('/p/')[-1].split('/', 1)[-1]})"))

        page.goto(f"/p/{link.token}?lang={lang}")
        check("identity page")

        if page.locator("form.p-alt").count():  # the other way in: a one-time code to the mobile on file
            with page.expect_navigation():
                page.click("form.p-alt button[type=submit]")
            check("identity by a one-time code")
            page.goto(f"/p/{link.token}")

        page.fill("#id_last4", "0000" if link.last4 != "0000" else "1111")
        page.fill("#birth_date", link.born)
        with page.expect_navigation():
            page.click("form.p-form button[type=submit]")
        assert page.locator("[role=alert]").count() == 1, "a wrong answer shows one announced error"
        check("identity page, error shown")

        page.fill("#id_last4", link.last4)
        page.fill("#birth_date", link.born)
        with page.expect_navigation():
            page.click("form.p-form button[type=submit]")
        assert page.url.endswith("/home"), f"the right answers lead to the account page, not {page.url}"
        check("account page")

        base = page.url.rsplit("/home", 1)[0].split("127.0.0.1", 1)[-1].split(":", 1)[-1]
        base = base[base.index("/"):]
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        pages = [h for h in dict.fromkeys(hrefs)
                 if h.startswith(base + "/") and "?" not in h and not h.endswith(("/home", ".pdf"))]
        assert pages, "the account page links to no action page"
        for href in pages:
            answer = page.goto(href)
            assert answer is not None and answer.status == 200, f"{href} answers {answer and answer.status}"
            check(href.removeprefix(base))
    finally:
        context.close()
    assert not found, (f"axe found {len(found)} serious or critical violation(s) on the portal pages ({lang}):\n"
                       + "\n".join(found) + f"\n(pages checked: {', '.join(checked)})")
