"""The WeChat Pay v3 adapter driven against the sandbox provider running as its own process."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from arrears.kit.clock import frozen_at, utc_now
from arrears.payments.model import NotificationKind, Order, OrderState, replay
from arrears.payments.provider import NotificationRejected, PaymentProvider, ProviderError
from arrears.payments.sandbox import ensure_keys
from arrears.payments.wechatpay import WeChatPayConfig, WeChatPayNative, authorization, load_private_key


def new_order(fen: int = 12_345) -> Order:
    now = utc_now()
    return Order(
        merchant_order_id=f"T{uuid.uuid4().hex[:20]}",
        account_ref="ACC001",
        amount_fen=fen,
        description="信用卡还款 ACC001",
        created_at=now,
        expires_at=now + timedelta(hours=2),
    )


def pay(sandbox_url: str, order: Order, delivery: str | None = None) -> dict:
    """The customer pays; ``delivery`` overrides the sandbox's current delivery mode."""
    payload = {} if delivery is None else {"delivery": delivery}
    response = httpx.post(f"{sandbox_url}/sandbox/pay/{order.merchant_order_id}", json=payload, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_adapter_is_a_payment_provider(adapter: WeChatPayNative) -> None:
    assert isinstance(adapter, PaymentProvider)


def test_create_query_pay_and_notify_round_trip(adapter, merchant, sandbox_url) -> None:  # type: ignore[no-untyped-def]
    order = new_order()
    created = adapter.create_order(order)
    assert created.qr_code and created.qr_code.startswith("weixin://wxpay/bizpayurl?pr=")
    assert adapter.create_order(order) == created  # creating the same order again is harmless
    before = adapter.query_order(order.merchant_order_id)
    assert (before.trade_state, before.paid, before.amount_fen) == ("NOTPAY", False, 12_345)

    paid = pay(sandbox_url, order)

    assert [d["status_code"] for d in paid["deliveries"]] == [204]
    [note] = merchant.accepted
    assert (note.kind, note.merchant_order_id, note.amount_fen) == (
        NotificationKind.PAID,
        order.merchant_order_id,
        12_345,
    )
    assert note.transaction_id == paid["transaction_id"]
    after = adapter.query_order(order.merchant_order_id)
    assert (after.trade_state, after.paid, after.transaction_id) == ("SUCCESS", True, paid["transaction_id"])
    assert replay(order, merchant.accepted).state(utc_now()) is OrderState.PAID


def test_duplicated_notification_is_accepted_twice_and_counted_once(adapter, merchant, sandbox_url) -> None:  # type: ignore[no-untyped-def]
    order = new_order()
    adapter.create_order(order)
    pay(sandbox_url, order, "twice")
    assert len(merchant.accepted) == 2
    assert merchant.raw[0][1] != merchant.raw[1][1]  # two separately signed deliveries of one event
    status = replay(order, merchant.accepted)
    assert status.paid_fen == order.amount_fen
    assert list(status.payments) == [merchant.accepted[0].transaction_id]


def test_late_and_reordered_notifications_give_the_same_state(adapter, merchant, sandbox_url) -> None:  # type: ignore[no-untyped-def]
    order = new_order(10_000)
    adapter.create_order(order)
    httpx.post(f"{sandbox_url}/sandbox/delivery", json={"mode": "hold"})
    pay(sandbox_url, order)
    first = adapter.refund(
        merchant_order_id=order.merchant_order_id,
        merchant_refund_id="R1" + order.merchant_order_id[:10],
        amount_fen=3_000,
        total_fen=10_000,
    )
    second = adapter.refund(
        merchant_order_id=order.merchant_order_id,
        merchant_refund_id="R2" + order.merchant_order_id[:10],
        amount_fen=7_000,
        total_fen=10_000,
    )
    assert (first.status, second.status) == ("SUCCESS", "SUCCESS")
    assert merchant.raw == []  # all held: the notices are late

    released = httpx.post(f"{sandbox_url}/sandbox/release", json={"order": "reverse"}).json()["deliveries"]

    assert [d["event_type"] for d in released] == ["REFUND.SUCCESS", "REFUND.SUCCESS", "TRANSACTION.SUCCESS"]
    assert [n.kind for n in merchant.accepted] == [
        NotificationKind.REFUNDED,
        NotificationKind.REFUNDED,
        NotificationKind.PAID,
    ]
    status = replay(order, merchant.accepted)
    assert (status.state(utc_now()), status.paid_fen, status.refunded_fen) == (OrderState.REFUNDED, 10_000, 10_000)
    assert {n.transaction_id for n in merchant.accepted if n.kind is NotificationKind.REFUNDED} == {
        first.provider_refund_id,
        second.provider_refund_id,
    }


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("forged", "signature does not verify"),
        ("stale", "more than 5 minutes"),
        ("bad_ciphertext", "does not decrypt"),
    ],
)
def test_forged_stale_and_undecryptable_notifications_are_rejected(
    adapter, merchant, sandbox_url, mode, reason
) -> None:  # type: ignore[no-untyped-def]
    order = new_order()
    adapter.create_order(order)
    result = pay(sandbox_url, order, mode)
    assert [d["status_code"] for d in result["deliveries"]] == [401]
    assert merchant.accepted == []
    [message] = merchant.rejected
    assert reason in message


def test_a_captured_notification_replayed_later_or_tampered_is_rejected(adapter, merchant, sandbox_url) -> None:  # type: ignore[no-untyped-def]
    order = new_order()
    adapter.create_order(order)
    pay(sandbox_url, order)
    [(headers, body)] = merchant.raw
    assert adapter.parse_and_verify_notification(headers, body).amount_fen == order.amount_fen  # genuine now

    with frozen_at(utc_now() + timedelta(minutes=6)), pytest.raises(NotificationRejected, match="more than 5 minutes"):
        adapter.parse_and_verify_notification(headers, body)
    tampered = body.replace(b'"TRANSACTION.SUCCESS"', b'"TRANSACTION.SUCCESS" ')
    with pytest.raises(NotificationRejected, match="signature does not verify"):
        adapter.parse_and_verify_notification(headers, tampered)
    without = {k: v for k, v in headers.items() if k.lower() != "wechatpay-signature"}
    with pytest.raises(NotificationRejected, match="missing header Wechatpay-Signature"):
        adapter.parse_and_verify_notification(without, body)
    other_serial = {**headers, "wechatpay-serial": "PUB_KEY_ID_UNKNOWN"}
    with pytest.raises(NotificationRejected, match="unknown platform key serial"):
        adapter.parse_and_verify_notification(other_serial, body)


def test_close_refund_limits_and_unknown_orders(adapter, merchant, sandbox_url) -> None:  # type: ignore[no-untyped-def]
    order = new_order()
    adapter.create_order(order)
    adapter.close_order(order.merchant_order_id)
    assert adapter.query_order(order.merchant_order_id).trade_state == "CLOSED"
    assert httpx.post(f"{sandbox_url}/sandbox/pay/{order.merchant_order_id}", json={}).status_code == 409

    with pytest.raises(ProviderError, match="ORDER_NOT_EXIST") as missing:
        adapter.query_order("NO-SUCH-ORDER-1")
    assert missing.value.http_status == 404

    paid = new_order(500)
    adapter.create_order(paid)
    pay(sandbox_url, paid)
    with pytest.raises(ProviderError, match="ORDERPAID"):
        adapter.close_order(paid.merchant_order_id)
    adapter.refund(
        merchant_order_id=paid.merchant_order_id,
        merchant_refund_id="RA" + paid.merchant_order_id[:10],
        amount_fen=400,
        total_fen=500,
    )
    with pytest.raises(ProviderError, match="NOT_ENOUGH"):
        adapter.refund(
            merchant_order_id=paid.merchant_order_id,
            merchant_refund_id="RB" + paid.merchant_order_id[:10],
            amount_fen=101,
            total_fen=500,
        )


def test_sandbox_refuses_a_request_signed_with_the_wrong_merchant_key(
    pay_keys: Path, sandbox_url: str, tmp_path: Path
) -> None:
    stranger = ensure_keys(tmp_path / "stranger")
    config = WeChatPayConfig.from_dir(pay_keys, notify_url="http://127.0.0.1:9/n", base_url=sandbox_url)
    impostor = WeChatPayNative(
        replace(config, merchant_private_key_pem=(stranger / "merchant_private_key.pem").read_bytes())
    )
    with pytest.raises(ProviderError, match="SIGN_ERROR") as refused:
        impostor.create_order(new_order())
    assert refused.value.http_status == 401


def test_adapter_refuses_an_answer_not_signed_by_the_platform_key(
    pay_keys: Path, sandbox_url: str, tmp_path: Path
) -> None:
    stranger = ensure_keys(tmp_path / "stranger")
    config = WeChatPayConfig.from_dir(pay_keys, notify_url="http://127.0.0.1:9/n", base_url=sandbox_url)
    serial = next(iter(config.platform_public_keys))
    fooled = WeChatPayNative(
        replace(config, platform_public_keys={serial: (stranger / "platform_public_key.pem").read_bytes()})
    )
    with pytest.raises(ProviderError, match="signature does not verify"):
        fooled.create_order(new_order())


def test_authorization_header_follows_the_published_format(pay_keys: Path) -> None:
    key = load_private_key((pay_keys / "merchant_private_key.pem").read_bytes())
    value = authorization(
        mchid="1900000109",
        serial_no="ABC",
        key=key,
        method="GET",
        url="/v3/x?a=1",
        body=b"",
        timestamp="1700000000",
        nonce="N1",
    )
    assert value.startswith('WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="N1",signature="')
    assert value.endswith('",timestamp="1700000000",serial_no="ABC"')


def test_a_key_folder_missing_a_file_is_named(tmp_path: Path) -> None:
    folder = ensure_keys(tmp_path / "keys")
    (folder / "apiv3_key.txt").unlink()
    with pytest.raises(ValueError, match="missing key file apiv3_key.txt"):
        WeChatPayConfig.from_dir(folder, notify_url="http://x/n")


def test_settings_build_the_adapter_from_the_environment(pay_keys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from arrears.payments.settings import PaymentSettings, provider_from_settings

    monkeypatch.delenv("ARREARS_PAYMENTS_KEYS_DIR", raising=False)
    assert provider_from_settings(PaymentSettings(_env_file=None)) is None
    monkeypatch.setenv("ARREARS_PAYMENTS_KEYS_DIR", str(pay_keys))
    monkeypatch.setenv("ARREARS_PAYMENTS_BASE_URL", "http://127.0.0.1:9")
    adapter = provider_from_settings(PaymentSettings(_env_file=None))
    assert adapter is not None and adapter.config.base_url == "http://127.0.0.1:9"
    assert adapter.config.mchid == "1900000109"
