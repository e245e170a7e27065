"""The case page on a phone (390×844, Chromium): at every step of the call script the page is no wider
than the screen (the options step's table scrolls inside its own focusable region instead of widening
the page), and the script's heading starts on the first screen (the case's secondary panels come
after the script on a narrow screen)."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import LiveServer

PHONE = {"width": 390, "height": 844}
STEPS = ("greeting", "explain", "reason", "investigation", "options", "agreement", "next")


@pytest.fixture
def phone(browser, live_server: LiveServer):  # type: ignore[no-untyped-def]
    username, password = live_server.login_of("agent")
    context = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport=PHONE, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    page.goto("/login?lang=zh_CN")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    with page.expect_navigation():
        page.click('form[action="/login"] button[type="submit"]')
    try:
        yield page
    finally:
        context.close()


def test_the_case_page_fits_a_phone_at_every_step_and_the_script_is_on_the_first_screen(phone) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = phone
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"], "the queue is wider"
    page.get_by_role("button", name="下一个案件").first.click()
    expect(page).to_have_url(re.compile(r"/case/\d+"))
    case_id = int(re.search(r"/case/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    problems = []
    for step in STEPS:
        page.goto(f"/case/{case_id}?step={step}")
        expect(page.locator("#h-script")).to_be_visible()
        width = page.evaluate("document.scrollingElement.scrollWidth")
        if width > PHONE["width"]:
            wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > innerWidth + 1 && !e.closest('.scroll'))
                .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")
            problems.append(f"{step}: the page is {width}px wide ({wide})")
        top = page.evaluate("document.querySelector('#h-script').getBoundingClientRect().top + scrollY")
        if top > PHONE["height"]:
            problems.append(f"{step}: the script's heading starts at {top:.0f}px")
    # the options' table scrolls in a region the keyboard can reach and a screen reader can name
    page.goto(f"/case/{case_id}?step=options")
    region = page.locator("#script .scroll").first
    expect(region).to_have_attribute("tabindex", "0")
    expect(region).to_have_attribute("role", "region")
    assert problems == [], "\n".join(problems)
