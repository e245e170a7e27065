"""axe-core on every page, zero violations of any severity (minor, moderate, serious, critical): every
staff page of each role (its navigation's pages, found from the page itself, the admin's sections, the
audit log and a case page at each step of the call script) and the cardholder's identity and account
pages, at the desk (1366×768) and on a phone (390×844), in Chinese and in English.

Two sweeps cover both sizes and both languages: English at the desk and Chinese on a phone (the
language changes the words, the size the layout; a sweep costs most of a minute, so not all four)."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import LiveServer
from tests.e2e.test_portal_a11y import Link, link  # noqa: F401 - the fixture of a personal link

SIZES = {"desk": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
STEPS = ("greeting", "explain", "reason", "investigation", "options", "agreement", "next")
ROLES = ("agent", "team_lead", "supervisor", "compliance", "auditor", "admin")


def _violations(page, what: str) -> list[str]:  # type: ignore[no-untyped-def]
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    found = []
    for v in results.response["violations"]:
        nodes = "\n".join(f"      {', '.join(map(str, n.get('target', [])))}: "
                          f"{(n.get('failureSummary') or '').replace(chr(10), ' ')}" for n in v["nodes"][:4])
        found.append(f"  {what}: [{v.get('impact')}] {v['id']} — {v['help']}\n{nodes}")
    return found


def _open_case(live_server: LiveServer) -> int:
    from sqlalchemy import select

    from arrears.cases.tables import Case
    from arrears.kit.cli import store_engine

    engine = store_engine(live_server.store_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(Case.id).where(Case.closed_on.is_(None)).order_by(Case.id)
                                    .limit(1)).scalar_one())
    finally:
        engine.dispose()


def _sign_in(context, live_server: LiveServer, role: str, lang: str):  # type: ignore[no-untyped-def]
    username, password = live_server.login_of(role)
    page = context.new_page()
    page.goto(f"/login?lang={lang}")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    with page.expect_navigation():
        page.click('form[action="/login"] button[type="submit"]')
    return page


@pytest.mark.parametrize(("lang", "size"), [("en", "desk"), ("zh_CN", "phone")])
def test_no_axe_violation_on_any_page(browser, live_server: LiveServer, link: Link, lang: str, size: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    case_id = _open_case(live_server)
    found: list[str] = []
    checked: list[str] = []
    locale = "zh-CN" if lang == "zh_CN" else "en-US"

    def check(page, what: str) -> None:  # type: ignore[no-untyped-def]
        checked.append(what)
        found.extend(_violations(page, f"{what} ({lang}, {size})"))

    anonymous = browser.new_context(base_url=live_server.url, viewport=SIZES[size], locale=locale)
    try:
        page = anonymous.new_page()
        page.goto(f"/login?lang={lang}")
        check(page, "/login")
        page.goto(f"/p/{link.token}?lang={lang}")
        check(page, "portal identity")
        page.fill("#id_last4", link.last4)
        page.fill("#birth_date", link.born)
        with page.expect_navigation():
            page.click("form.p-form button[type=submit]")
        check(page, "portal account")
    finally:
        anonymous.close()

    for role in ROLES:
        context = browser.new_context(base_url=live_server.url, viewport=SIZES[size], locale=locale)
        try:
            page = _sign_in(context, live_server, role, lang)
            menu = page.eval_on_selector_all('header nav a[href^="/"]', "els => els.map(e => e.getAttribute('href'))")
            urls = list(dict.fromkeys([page.url.split(live_server.url, 1)[-1], *menu]))
            if role == "admin":
                urls += ["/admin/strategies", "/admin/packs", "/admin/templates"]
            if role == "supervisor":
                urls += [f"/case/{case_id}?step={s}" for s in STEPS]
            if role == "compliance":
                urls += ["/compliance/complaints/new"]
            for url in urls:
                answer = page.goto(url)
                assert answer is not None and answer.status == 200, f"{role} {url}: {answer and answer.status}"
                check(page, f"{role} {re.sub(r'[?&]lang=[a-zA-Z_]+', '', url)}")
        finally:
            context.close()
    assert not found, (f"axe found {len(found)} violation(s):\n" + "\n".join(found)
                       + f"\n(pages checked: {', '.join(checked)})")
