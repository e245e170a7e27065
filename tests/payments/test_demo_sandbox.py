"""`make demo`'s payment sandbox: its own process and keys in the demo's folder, the app's payment
settings pointing at it while the demo serves, stopped and the settings restored when it ends."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from arrears.cli import _demo_payments
from arrears.payments.settings import PaymentSettings, provider_from_settings
from tests.payments.conftest import free_port

NAMES = ("ARREARS_PAYMENTS_KEYS_DIR", "ARREARS_PAYMENTS_BASE_URL", "ARREARS_PAYMENTS_NOTIFY_URL",
         "ARREARS_PAYMENTS_SANDBOX")


def test_the_demo_runs_the_sandbox_while_it_serves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    port = free_port()
    with _demo_payments(tmp_path, host="127.0.0.1", port=port):
        settings = PaymentSettings()
        assert settings.sandbox and settings.notify_url == f"http://127.0.0.1:{port}/payments/notify"
        assert settings.keys_dir == (tmp_path / "payments-sandbox").resolve()
        assert httpx.get(f"{settings.base_url}/sandbox/health").json()["ok"] is True
        assert provider_from_settings(settings) is not None  # the keys the sandbox wrote are the merchant's
        sandbox = settings.base_url
    assert not any(os.environ.get(name) for name in NAMES)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{sandbox}/sandbox/health", timeout=2)


def test_configured_payments_are_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARREARS_PAYMENTS_KEYS_DIR", str(tmp_path / "bank-keys"))
    with _demo_payments(tmp_path, host="127.0.0.1", port=free_port()):
        assert os.environ["ARREARS_PAYMENTS_KEYS_DIR"] == str(tmp_path / "bank-keys")
        assert not (tmp_path / "payments-sandbox").exists()
