"""The login page in a real browser (Debian's chromium through Playwright), and signing in through it."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import SCREENSHOTS

pytestmark = pytest.mark.browser



def test_login_form_has_labelled_inputs(browser, live_server) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        response = page.goto("/login")
        assert response is not None and response.status == 200
        form = page.locator('form[action="/login"]')
        assert form.count() == 1
        for name in ("username", "password"):
            field = form.locator(f'input[name="{name}"]')
            assert field.count() == 1, name
            # a <label> is attached to the input (for=id or wrapping) and says something
            labels = field.evaluate("el => Array.from(el.labels || []).map(l => l.textContent.trim())")
            assert labels and all(labels), (name, labels)
            assert field.is_visible()
        assert form.locator('input[name="password"]').get_attribute("type") == "password"
        assert form.locator('button[type="submit"]').is_visible()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "login.png"), full_page=True)
    finally:
        context.close()


def test_every_demo_role_signs_in_through_the_form(page_as, live_server) -> None:  # type: ignore[no-untyped-def]
    for role in ("agent", "team_lead", "supervisor", "compliance", "admin", "auditor"):
        page = page_as(role)
        assert "/login" not in page.url, role
        assert page.context.cookies(), role
