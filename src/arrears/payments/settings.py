"""Payment settings, read from the environment (prefix ``ARREARS_PAYMENTS_``) or a ``.env`` file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from arrears.payments.wechatpay import PRODUCTION_URL, WeChatPayConfig, WeChatPayNative


class PaymentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARREARS_PAYMENTS_", env_file=".env", extra="ignore")

    #: The key folder (``merchant.json``, ``merchant_private_key.pem``, ``platform_public_key.pem``,
    #: ``apiv3_key.txt``); the local sandbox writes this layout. Empty = payments are off.
    keys_dir: Path | None = None
    #: The provider's API: WeChat Pay's production host, or the sandbox's ``http://127.0.0.1:<port>``.
    base_url: str = PRODUCTION_URL
    #: Where the provider POSTs notifications (must be reachable from the provider; HTTPS in production).
    notify_url: str = "http://127.0.0.1:8000/payments/notify"
    #: A paid order the bank's payment file has not confirmed after this many days is reported.
    confirm_within_days: int = Field(default=3, ge=0, le=60)
    #: The provider is the local sandbox (``python -m arrears.payments.sandbox``): the pay page adds a
    #: link that pays at the sandbox, as a phone's payment app would. Never set it in production.
    sandbox: bool = False
    #: How long a customer's order can be paid, in minutes (WeChat Pay allows 1 minute to 30 days).
    order_minutes: int = Field(default=30, ge=1, le=1440)


def provider_from_settings(settings: PaymentSettings | None = None) -> WeChatPayNative | None:
    """The configured provider adapter, or None when payments are not configured."""
    settings = settings or PaymentSettings()
    if settings.keys_dir is None:
        return None
    config = WeChatPayConfig.from_dir(settings.keys_dir, notify_url=settings.notify_url, base_url=settings.base_url)
    return WeChatPayNative(config)


@dataclass(frozen=True)
class Payments:
    """What the application pays with: the adapter (None = payments are off), the settings, and the
    sandbox's address when the provider is the local sandbox (its checkout page is linked)."""

    provider: WeChatPayNative | None
    settings: PaymentSettings
    sandbox_url: str | None = None


def payments_of(state: Any) -> Payments:
    """The application's payments (``app.state.payments``), built from the settings on first use.
    Tests set ``app.state.payments`` (or ``app.state.payment_provider``) themselves."""
    found = getattr(state, "payments", None)
    if isinstance(found, Payments):
        return found
    settings = PaymentSettings()
    if hasattr(state, "payment_provider"):
        made = Payments(state.payment_provider, settings)
    else:
        provider = provider_from_settings(settings)
        sandbox = settings.base_url.rstrip("/") if provider is not None and settings.sandbox else None
        made = Payments(provider, settings, sandbox)
    state.payments = made
    return made
