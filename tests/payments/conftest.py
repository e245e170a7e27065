"""Payments fixtures: the sandbox provider as a real subprocess, and a merchant notify endpoint
(uvicorn in a thread) that verifies every notification with the real adapter."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from arrears.payments.model import Notification
from arrears.payments.provider import NotificationIgnored, NotificationRejected
from arrears.payments.sandbox import ensure_keys
from arrears.payments.wechatpay import WeChatPayConfig, WeChatPayNative


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"sandbox exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


@pytest.fixture(scope="session")
def pay_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_keys(tmp_path_factory.mktemp("paykeys"))


@pytest.fixture(scope="session")
def sandbox_url(pay_keys: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "arrears.payments.sandbox", "--port", str(port), "--keys", str(pay_keys)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/sandbox/health", proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class Merchant:
    """What the merchant's notify endpoint saw: verified notifications, rejections, raw requests."""

    url: str
    accepted: list[Notification] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    raw: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def clear(self) -> None:
        self.accepted.clear()
        self.rejected.clear()
        self.ignored.clear()
        self.raw.clear()


@pytest.fixture(scope="session")
def merchant_and_adapter(pay_keys: Path, sandbox_url: str) -> Iterator[tuple[Merchant, WeChatPayNative]]:
    port = free_port()
    merchant = Merchant(url=f"http://127.0.0.1:{port}/payments/notify")
    config = WeChatPayConfig.from_dir(pay_keys, notify_url=merchant.url, base_url=sandbox_url)
    adapter = WeChatPayNative(config)
    app = FastAPI()

    @app.post("/payments/notify")
    async def notify(request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        merchant.raw.append((headers, body))
        try:
            merchant.accepted.append(adapter.parse_and_verify_notification(headers, body))
        except NotificationIgnored as exc:
            merchant.ignored.append(exc.message)
        except NotificationRejected as exc:
            merchant.rejected.append(exc.message)
            return JSONResponse({"code": "FAIL", "message": exc.message}, status_code=401)
        return Response(status_code=204)

    @app.get("/health")
    async def health() -> Response:
        return Response(status_code=200)

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until_up(f"http://127.0.0.1:{port}/health")
    yield merchant, adapter
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def merchant(merchant_and_adapter: tuple[Merchant, WeChatPayNative], sandbox_url: str) -> Iterator[Merchant]:
    m = merchant_and_adapter[0]
    m.clear()
    httpx.post(f"{sandbox_url}/sandbox/delivery", json={"mode": "now"})
    yield m
    httpx.post(f"{sandbox_url}/sandbox/release", json={"order": "fifo"})  # nothing held leaks into the next test
    m.clear()


@pytest.fixture
def adapter(merchant_and_adapter: tuple[Merchant, WeChatPayNative]) -> WeChatPayNative:
    return merchant_and_adapter[1]
