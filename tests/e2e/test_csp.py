"""The pages run in real Chromium under the content security policy with nothing refused: htmx, the
vendored ECharts (charts drawn, tooltips shown on hover) and the application's own script and styles
(a refused script or style would be a ``securitypolicyviolation`` event)."""

from __future__ import annotations

from playwright.sync_api import expect

COLLECT = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI + " " + (e.sample || ""));
});
"""


def _hover_charts(page) -> int:  # type: ignore[no-untyped-def]
    charts = page.locator("[data-chart]")
    for i in range(charts.count()):
        canvas = charts.nth(i).locator("canvas").first
        expect(canvas).to_be_attached()
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        if box:
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=8)
            page.wait_for_timeout(300)
    return charts.count()


def test_pages_and_charts_run_under_the_policy(page_as, live_server) -> None:  # type: ignore[no-untyped-def]
    refused: dict[str, list[str]] = {}
    page = page_as("supervisor")
    page.context.add_init_script(COLLECT)
    response = page.goto("/supervisor")
    assert response is not None and "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert _hover_charts(page) >= 3
    refused["/supervisor"] = page.evaluate("window.__csp")
    agent = page_as("agent")
    agent.context.add_init_script(COLLECT)
    agent.goto("/queue")
    refused["/queue"] = agent.evaluate("window.__csp")
    agent.goto(agent.locator('a[href^="/case/"]').first.get_attribute("href"))
    _hover_charts(agent)
    refused["/case"] = agent.evaluate("window.__csp")
    assert refused == {"/supervisor": [], "/queue": [], "/case": []}
