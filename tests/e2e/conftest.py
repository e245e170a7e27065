"""Browser tests: the app under uvicorn in a background thread over a small simulated store, driven by
Debian's chromium through Playwright (the browser is the system package installed by
``scripts/ensure-system-packages``; Playwright never downloads one).

Fixtures:

- ``live_server`` (session): the base URL of the app, serving a SQLite store holding 10 days of
  simulated history on 300 accounts (:func:`arrears.sim.history.build_history`) and today's cycle,
  with one demo user per role (``live_server.users``: username → (role, team, password)).
- ``browser`` (session): headless chromium.
- ``page_as`` : ``page_as("agent")`` → a new page signed in through the login form as that role's
  demo user (each call is a fresh browser context, so its own cookies).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

ACCOUNTS, DAYS, SEED = 300, 10, 11

#: Screenshots for docs/ are retaken only by ``make screenshots`` (ARREARS_RETAKE_SCREENSHOTS=1);
#: an ordinary test run takes them into a temporary folder and leaves the working tree as it was.
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SCREENSHOTS = DOCS_SCREENSHOTS if os.environ.get("ARREARS_RETAKE_SCREENSHOTS") == "1" \
    else Path(tempfile.mkdtemp(prefix="arrears-screenshots-"))


def browser_moment() -> datetime:
    """11:00 bank time on the store's business date: the moment every browser test runs at."""
    from arrears.cases.service import business_date_of

    today = business_date_of(datetime.now(UTC), "Asia/Shanghai")
    return datetime.combine(today, dtime(11, 0), tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module", autouse=True)
def _browser_clock() -> Iterator[None]:
    """Every browser test runs with the clock (shared with the server thread) at :func:`browser_moment`:
    the compliance gate's quiet hours never block a call whenever the suite runs, and the audit
    trail's times never run backwards from one test to the next. Module-wide, so that a module's own
    fixtures (set up before any of its tests) write at that moment too: one writing at the real time
    put records out of order whenever the suite ran between 16:00 and 03:00 UTC (the moment, 11:00 in
    Shanghai, is then still ahead of the real time)."""
    from arrears.kit.clock import frozen_at

    with frozen_at(browser_moment()):
        yield


@dataclass(frozen=True)
class LiveServer:
    url: str
    #: username → (role, team, password)
    users: dict[str, tuple[str, str | None, str]]
    store_url: str
    #: the application object the server runs (tests may set ``app.state``, e.g. its payments)
    app: Any = None

    def login_of(self, role: str) -> tuple[str, str]:
        for username, (r, _team, password) in self.users.items():
            if r == role:
                return username, password
        raise KeyError(f"no demo user with role {role!r}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("Debian's chromium is not installed: run scripts/ensure-system-packages (never `playwright "
                    "install`)", pytrace=False)
    return path


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    import uvicorn

    from arrears.app import create_app
    from arrears.cases.service import business_date_of
    from arrears.config import Settings
    from arrears.kit.cli import store_engine
    from arrears.kit.clock import utc_now
    from arrears.sim.history import build_history, run_daily_batch

    folder = tmp_path_factory.mktemp("browser-store")
    url = f"sqlite:///{folder / 'arrears.sqlite'}"
    engine = store_engine(url)
    today = business_date_of(utc_now(), "Asia/Shanghai")
    history = build_history(engine, folder / "files", accounts=ACCOUNTS, days=DAYS, end_date=today, seed=SEED)
    run_daily_batch(engine, today)
    engine.dispose()

    app = create_app(Settings(database_url=url))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the app did not start under uvicorn", pytrace=False)
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", history.users, url, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page_as(browser, live_server: LiveServer) -> Iterator[Callable[[str], object]]:  # type: ignore[no-untyped-def]
    """``page_as(role)``: a fresh page signed in as the demo user of ``role`` through the login form."""
    contexts = []

    def sign_in(role: str):  # type: ignore[no-untyped-def]
        username, password = live_server.login_of(role)
        context = browser.new_context(base_url=live_server.url, locale="en-US")
        contexts.append(context)
        page = context.new_page()
        page.goto("/login")
        page.fill('input[name="username"]', username)
        page.fill('input[name="password"]', password)
        with page.expect_navigation():
            page.click('form[action="/login"] button[type="submit"]')
        if page.url.split("?")[0].endswith("/login"):
            pytest.fail(f"signing in as {username} ({role}) failed: still on {page.url}", pytrace=False)
        return page

    yield sign_in
    for context in contexts:
        context.close()



def axe_violations(page, what: str) -> list[str]:  # type: ignore[no-untyped-def]
    """axe-core's violations of any severity on the page as it is now, one line each (impact, rule,
    help, the first five elements), prefixed with ``what``; an empty list when there are none."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"  {what}: [{v.get('impact')}] {v['id']} — {v['help']}: "
            + "; ".join(", ".join(map(str, n.get("target", []))) for n in v["nodes"][:5])
            for v in results.response["violations"]]
