"""End to end: the sandbox provider (its own process) notifies ``POST /payments/notify`` served by
uvicorn, which verifies with the real adapter and applies to the store (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from arrears.kit.clock import utc_now
from arrears.kit.db import transaction
from arrears.payments.endpoints import router
from arrears.payments.model import Order
from arrears.payments.service import counted_fen, record_order
from arrears.payments.tables import PaymentEvent
from arrears.payments.wechatpay import WeChatPayConfig, WeChatPayNative
from tests.factories import LedgerLoad, load
from tests.payments.conftest import free_port, wait_until_up


def make_app(engine: Engine, provider: WeChatPayNative | None) -> FastAPI:
    app = FastAPI()
    app.state.engine = engine
    app.state.payment_provider = provider
    app.include_router(router)
    return app


@pytest.fixture
def shop(engine: Engine, pay_keys: Path, sandbox_url: str) -> Iterator[tuple[Engine, WeChatPayNative]]:
    """A store with account ACC1 and the notify endpoint listening; the adapter notifies it."""
    load(engine, LedgerLoad(accounts=["ACC1"]))
    port = free_port()
    config = WeChatPayConfig.from_dir(
        pay_keys, notify_url=f"http://127.0.0.1:{port}/payments/notify", base_url=sandbox_url
    )
    adapter = WeChatPayNative(config)
    app = make_app(engine, adapter)

    @app.get("/health")
    def health() -> dict:
        return {}

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until_up(f"http://127.0.0.1:{port}/health")
    httpx.post(f"{sandbox_url}/sandbox/delivery", json={"mode": "now"})
    yield engine, adapter
    server.should_exit = True
    thread.join(10)


def new_order(engine: Engine, adapter: WeChatPayNative, *, in_store: bool = True) -> Order:
    now = utc_now()
    order = Order(f"E{uuid.uuid4().hex[:20]}", "ACC1", 8_800, "信用卡还款", now, now + timedelta(hours=1))
    if in_store:
        with transaction(engine) as s:
            record_order(s, order=order, provider=adapter.name, actor="portal")
    adapter.create_order(order)
    return order


def pay(sandbox_url: str, order: Order, delivery: str) -> list[int | None]:
    answer = httpx.post(f"{sandbox_url}/sandbox/pay/{order.merchant_order_id}", json={"delivery": delivery}, timeout=30)
    assert answer.status_code == 200, answer.text
    return [d["status_code"] for d in answer.json()["deliveries"]]


def events(engine: Engine) -> int:
    with transaction(engine) as s:
        return s.scalar(select(func.count()).select_from(PaymentEvent)) or 0


def test_a_payment_notified_twice_is_stored_and_counted_once(shop, sandbox_url) -> None:  # type: ignore[no-untyped-def]
    engine, adapter = shop
    order = new_order(engine, adapter)
    assert pay(sandbox_url, order, "twice") == [204, 204]
    assert events(engine) == 1
    with transaction(engine) as s:
        assert counted_fen(s, account_ref="ACC1") == (0, 8_800)


@pytest.mark.parametrize("mode", ["forged", "stale", "bad_ciphertext"])
def test_unbelievable_notifications_are_refused_and_change_nothing(shop, sandbox_url, mode) -> None:  # type: ignore[no-untyped-def]
    engine, adapter = shop
    order = new_order(engine, adapter)
    assert pay(sandbox_url, order, mode) == [401]
    assert events(engine) == 0
    with transaction(engine) as s:
        assert counted_fen(s, account_ref="ACC1") == (0, 0)


def test_a_notification_for_an_order_not_in_the_store_is_refused(shop, sandbox_url) -> None:  # type: ignore[no-untyped-def]
    engine, adapter = shop
    order = new_order(engine, adapter, in_store=False)
    assert pay(sandbox_url, order, "now") == [404]
    assert events(engine) == 0


def test_without_payment_settings_the_endpoint_says_so(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARREARS_PAYMENTS_KEYS_DIR", raising=False)
    with TestClient(make_app(engine, None)) as client:
        answer = client.post("/payments/notify", content=b"{}")
    assert answer.status_code == 503
    assert answer.json() == {"code": "FAIL", "message": "payments are not configured"}
