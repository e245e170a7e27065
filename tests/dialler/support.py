"""A live server over the API fixture's application (uvicorn on a free port), and the dialler simulator
wired to it: the dialler is called over real HTTP and posts its signed events back over real HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from arrears.dialler.provider import HttpDialler
from arrears.dialler.settings import DiallerSettings, Dialling
from arrears.dialler.simulate import DiallerSimulator
from tests.api.conftest import Api

API_KEY = "test-dialler-key"
SECRET = "test-dialler-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(name="live")
def live_fixture(api: Api) -> Iterator[str]:
    """The API fixture's application served by uvicorn; yields its base URL."""
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(api.client.app, host="127.0.0.1", port=port, log_level="warning",
                                        lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=20)


@pytest.fixture(name="simulator")
def simulator_fixture(api: Api, live: str) -> Iterator[DiallerSimulator]:
    """The dialler simulator, and the application configured to dial through it."""
    sim = DiallerSimulator(api_key=API_KEY, secret=SECRET).start()
    settings = DiallerSettings(url=sim.url, api_key=API_KEY, events_secret=SECRET,
                               events_url=f"{live}/dialler/events")
    dialler = HttpDialler(sim.url, api_key=API_KEY)
    api.client.app.state.dialling = Dialling(dialler, settings)
    yield sim
    sim.stop()
    dialler.close()


def no_dialler(api: Api) -> None:
    """No dialler configured: the case page falls back to ``tel:`` links (events still verified)."""
    api.client.app.state.dialling = Dialling(None, DiallerSettings(url=None, events_secret=SECRET))
