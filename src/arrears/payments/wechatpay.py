"""WeChat Pay API v3, Native (QR code) payments: an adapter that follows the published protocol.

Protocol (https://pay.weixin.qq.com/doc/v3), as implemented here:

- **Requests** carry ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",
  signature="…",timestamp="…",serial_no="…"``. The signature is RSA-SHA256 (PKCS#1 v1.5) with the
  merchant's private key over ``METHOD\\nURL\\ntimestamp\\nnonce\\nbody\\n`` (URL = path and query;
  body empty for GET), base64-encoded; ``serial_no`` names the merchant certificate.
- **Answers and notifications** carry ``Wechatpay-Timestamp``, ``Wechatpay-Nonce``,
  ``Wechatpay-Signature`` and ``Wechatpay-Serial``: RSA-SHA256 with the platform's key over
  ``timestamp\\nnonce\\nbody\\n``. The serial picks the platform public key; an unknown serial is
  refused.
- **Notification resources** are ``AEAD_AES_256_GCM``-encrypted with the APIv3 key (32 bytes, used
  as the AES-256 key as written), the resource's ``nonce`` (12 characters) and
  ``associated_data``; ``ciphertext`` is base64 of the cipher text followed by the 16-byte tag.
- Amounts are integer fen (``amount.total``), currency ``CNY``; times are RFC 3339 with offset.

A notification is rejected (:class:`NotificationRejected`) when a header is missing, the serial is
unknown, the timestamp is more than five minutes from now (a replay or a stale retry — the provider
re-signs each retry with a fresh timestamp), the signature does not verify, or the resource does
not decrypt. Duplicates that pass are harmless: the order model is idempotent on the provider's
transaction id.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from arrears.kit.clock import utc_now
from arrears.payments.model import (
    CURRENCY,
    InvalidOrder,
    Notification,
    NotificationKind,
    Order,
    QueryResult,
    Refund,
)
from arrears.payments.provider import CreatedOrder, NotificationIgnored, NotificationRejected, ProviderError

SCHEME = "WECHATPAY2-SHA256-RSA2048"
PRODUCTION_URL = "https://api.mch.weixin.qq.com"
MAX_SKEW = timedelta(minutes=5)
NOTIFY_HEADERS = ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial")

# -- the protocol's primitives (both sides use them: this adapter and the local sandbox) ----------


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the key is not an RSA private key")
    return key


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the key is not an RSA public key")
    return key


def sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    """RSA-SHA256, PKCS#1 v1.5, base64."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def verify(key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def request_message(method: str, url: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return f"{method}\n{url}\n{timestamp}\n{nonce}\n".encode() + body + b"\n"


def answer_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    return f"{timestamp}\n{nonce}\n".encode() + body + b"\n"


def authorization(*, mchid: str, serial_no: str, key: rsa.RSAPrivateKey, method: str, url: str, body: bytes,
                  timestamp: str, nonce: str) -> str:  # fmt: skip
    signature = sign(key, request_message(method, url, timestamp, nonce, body))
    return (
        f'{SCHEME} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial_no}"'
    )


def parse_authorization(value: str) -> dict[str, str]:
    """The fields of an ``Authorization`` header; ``ValueError`` when it is not one of ours."""
    scheme, _, rest = value.partition(" ")
    if scheme != SCHEME:
        raise ValueError(f"authorization scheme must be {SCHEME}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, eq, quoted = part.strip().partition("=")
        if not eq or len(quoted) < 2 or quoted[0] != '"' or quoted[-1] != '"':
            raise ValueError(f"malformed authorization field {part.strip()!r}")
        fields[name] = quoted[1:-1]
    missing = {"mchid", "nonce_str", "signature", "timestamp", "serial_no"} - fields.keys()
    if missing:
        raise ValueError(f"authorization lacks {', '.join(sorted(missing))}")
    return fields


def encrypt_resource(apiv3_key: bytes, plaintext: bytes, *, associated_data: str, original_type: str) -> dict[str, str]:
    nonce = secrets.token_hex(6)  # 12 characters, as the provider sends
    ciphertext = AESGCM(apiv3_key).encrypt(nonce.encode(), plaintext, associated_data.encode())
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(ciphertext).decode("ascii"),
        "associated_data": associated_data,
        "original_type": original_type,
        "nonce": nonce,
    }


def decrypt_resource(apiv3_key: bytes, resource: Mapping[str, Any]) -> bytes:
    """Decrypt a notification resource; ``ValueError`` saying why when it cannot be."""
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise ValueError(f"resource algorithm {resource.get('algorithm')!r} is not AEAD_AES_256_GCM")
    try:
        ciphertext = base64.b64decode(str(resource["ciphertext"]), validate=True)
        nonce = str(resource["nonce"]).encode()
        aad = str(resource.get("associated_data") or "").encode()
        return AESGCM(apiv3_key).decrypt(nonce, ciphertext, aad)
    except KeyError as exc:
        raise ValueError(f"resource lacks {exc.args[0]}") from None
    except (InvalidTag, binascii.Error, ValueError):
        raise ValueError("resource does not decrypt with the APIv3 key (tampered, or the wrong key)") from None


def new_nonce() -> str:
    return secrets.token_hex(16).upper()


def rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def parse_time(value: object, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{what} {value!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{what} {value!r} has no UTC offset")
    return moment


# -- the adapter ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeChatPayConfig:
    """A merchant's WeChat Pay v3 credentials. ``platform_public_keys`` maps serial → PEM."""

    mchid: str
    appid: str
    merchant_serial_no: str
    merchant_private_key_pem: bytes = field(repr=False)
    platform_public_keys: Mapping[str, bytes] = field(repr=False)
    apiv3_key: bytes = field(repr=False)
    notify_url: str
    base_url: str = PRODUCTION_URL

    def __post_init__(self) -> None:
        if len(self.apiv3_key) != 32:
            raise ValueError(f"the APIv3 key must be 32 bytes, got {len(self.apiv3_key)}")
        if not self.platform_public_keys:
            raise ValueError("at least one platform public key is needed to verify the provider")

    @classmethod
    def from_dir(cls, folder: Path | str, *, notify_url: str, base_url: str = PRODUCTION_URL) -> WeChatPayConfig:
        """Read a key folder: ``merchant.json`` (mchid, appid, merchant_serial_no, platform_serial_no),
        ``merchant_private_key.pem``, ``platform_public_key.pem`` and ``apiv3_key.txt``.
        The local sandbox writes exactly this layout."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "merchant.json").read_text("utf-8"))
            return cls(
                mchid=meta["mchid"],
                appid=meta["appid"],
                merchant_serial_no=meta["merchant_serial_no"],
                merchant_private_key_pem=(folder / "merchant_private_key.pem").read_bytes(),
                platform_public_keys={meta["platform_serial_no"]: (folder / "platform_public_key.pem").read_bytes()},
                apiv3_key=(folder / "apiv3_key.txt").read_text("ascii").strip().encode("ascii"),
                notify_url=notify_url,
                base_url=base_url,
            )
        except FileNotFoundError as exc:
            raise ValueError(f"{folder}: missing key file {Path(exc.filename).name}") from None
        except KeyError as exc:
            raise ValueError(f"{folder / 'merchant.json'}: missing field {exc.args[0]}") from None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


class WeChatPayNative:
    """:class:`~arrears.payments.provider.PaymentProvider` for WeChat Pay v3 Native payments."""

    name = "wechatpay"

    def __init__(self, config: WeChatPayConfig, *, client: httpx.Client | None = None) -> None:
        self.config = config
        self._key = load_private_key(config.merchant_private_key_pem)
        self._platform = {serial: load_public_key(pem) for serial, pem in config.platform_public_keys.items()}
        self._client = client or httpx.Client(base_url=config.base_url, timeout=10.0)

    # -- signed calls ---------------------------------------------------------------------------

    def _verify_signed(self, headers: Mapping[str, str], body: bytes, *, what: str) -> None:
        values = {name: _header(headers, name) for name in NOTIFY_HEADERS}
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise NotificationRejected(f"{what}: missing header {', '.join(missing)}")
        timestamp, nonce, signature, serial = (values[name] or "" for name in NOTIFY_HEADERS)
        key = self._platform.get(serial)
        if key is None:
            raise NotificationRejected(f"{what}: unknown platform key serial {serial!r}")
        if not timestamp.isdigit():
            raise NotificationRejected(f"{what}: Wechatpay-Timestamp {timestamp!r} is not a Unix time")
        skew = abs(utc_now().timestamp() - int(timestamp))
        if skew > MAX_SKEW.total_seconds():
            raise NotificationRejected(
                f"{what}: Wechatpay-Timestamp is {int(skew)} s from now, more than 5 minutes (a replay?)"
            )
        if not verify(key, answer_message(timestamp, nonce, body), signature):
            raise NotificationRejected(f"{what}: the signature does not verify with the platform key {serial}")

    def _call(self, method: str, path: str, *, query: Mapping[str, str] | None = None,
              payload: Mapping[str, Any] | None = None) -> tuple[int, dict[str, Any]]:  # fmt: skip
        url = path + (f"?{urlencode(query)}" if query else "")
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        auth = authorization(
            mchid=self.config.mchid,
            serial_no=self.config.merchant_serial_no,
            key=self._key,
            method=method,
            url=url,
            body=body,
            timestamp=str(int(utc_now().timestamp())),
            nonce=new_nonce(),
        )
        headers = {"Authorization": auth, "Accept": "application/json", "User-Agent": "arrears-payments"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self._client.request(method, url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderError(f"{method} {path}: provider unreachable ({exc.__class__.__name__}: {exc})") from None
        try:
            self._verify_signed(response.headers, response.content, what=f"{method} {path} answer")
        except NotificationRejected as exc:
            raise ProviderError(exc.message, http_status=response.status_code) from None
        data: dict[str, Any] = {}
        if response.content:
            try:
                data = response.json()
            except ValueError:
                raise ProviderError(
                    f"{method} {path}: the answer is not JSON", http_status=response.status_code
                ) from None
        if response.status_code >= 400:
            code = str(data.get("code", "")) or None
            raise ProviderError(
                f"{method} {path}: provider answered {response.status_code} {code or ''}: {data.get('message', '')}".strip(),
                code=code,
                http_status=response.status_code,
            )
        return response.status_code, data

    # -- the interface --------------------------------------------------------------------------

    def create_order(self, order: Order) -> CreatedOrder:
        payload = {
            "appid": self.config.appid,
            "mchid": self.config.mchid,
            "description": order.description,
            "out_trade_no": order.merchant_order_id,
            "time_expire": rfc3339(order.expires_at),
            "attach": order.account_ref,
            "notify_url": self.config.notify_url,
            "amount": {"total": order.amount_fen, "currency": order.currency},
        }
        _, data = self._call("POST", "/v3/pay/transactions/native", payload=payload)
        code_url = data.get("code_url")
        if not isinstance(code_url, str) or not code_url:
            raise ProviderError("create order: the answer has no code_url")
        return CreatedOrder(order.merchant_order_id, qr_code=code_url)

    def query_order(self, merchant_order_id: str) -> QueryResult:
        path = f"/v3/pay/transactions/out-trade-no/{quote(merchant_order_id, safe='')}"
        _, data = self._call("GET", path, query={"mchid": self.config.mchid})
        try:
            if data["out_trade_no"] != merchant_order_id:
                raise ProviderError(f"query {merchant_order_id}: the answer is about {data['out_trade_no']!r}")
            paid_at = parse_time(data["success_time"], "success_time") if data.get("success_time") else None
            return QueryResult(
                merchant_order_id=merchant_order_id,
                trade_state=str(data["trade_state"]),
                amount_fen=int(data["amount"]["total"]),
                transaction_id=data.get("transaction_id") or None,
                paid_at=paid_at,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderError(f"query {merchant_order_id}: malformed answer ({exc})") from None

    def close_order(self, merchant_order_id: str) -> None:
        path = f"/v3/pay/transactions/out-trade-no/{quote(merchant_order_id, safe='')}/close"
        self._call("POST", path, payload={"mchid": self.config.mchid})

    def refund(
        self,
        *,
        merchant_order_id: str,
        merchant_refund_id: str,
        amount_fen: int,
        total_fen: int,
        reason: str | None = None,
    ) -> Refund:
        Refund(merchant_order_id, merchant_refund_id, amount_fen, total_fen, "NEW")  # validates the amounts
        payload: dict[str, Any] = {
            "out_trade_no": merchant_order_id,
            "out_refund_no": merchant_refund_id,
            "notify_url": self.config.notify_url,
            "amount": {"refund": amount_fen, "total": total_fen, "currency": CURRENCY},
        }
        if reason:
            payload["reason"] = reason
        _, data = self._call("POST", "/v3/refund/domestic/refunds", payload=payload)
        try:
            return Refund(
                merchant_order_id=merchant_order_id,
                merchant_refund_id=str(data["out_refund_no"]),
                amount_fen=int(data["amount"]["refund"]),
                total_fen=int(data["amount"]["total"]),
                status=str(data["status"]),
                provider_refund_id=str(data["refund_id"]),
                transaction_id=data.get("transaction_id"),
                created_at=parse_time(data["create_time"], "create_time") if data.get("create_time") else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderError(f"refund {merchant_refund_id}: malformed answer ({exc})") from None

    def parse_and_verify_notification(self, headers: Mapping[str, str], body: bytes) -> Notification:
        self._verify_signed(headers, body, what="notification")
        try:
            envelope = json.loads(body)
            event_type = envelope["event_type"]
            resource = envelope["resource"]
        except (ValueError, KeyError, TypeError):
            raise NotificationRejected("notification: the body is not a notification envelope") from None
        try:
            plain = json.loads(decrypt_resource(self.config.apiv3_key, resource))
        except ValueError as exc:
            raise NotificationRejected(f"notification {envelope.get('id')}: {exc}") from None
        if plain.get("mchid") != self.config.mchid:
            raise NotificationRejected(f"notification {envelope.get('id')}: for merchant {plain.get('mchid')!r}")
        try:
            if event_type == "TRANSACTION.SUCCESS":
                if plain["trade_state"] != "SUCCESS":
                    raise NotificationIgnored(f"notification {envelope.get('id')}: trade_state {plain['trade_state']}")
                return Notification(
                    merchant_order_id=plain["out_trade_no"],
                    kind=NotificationKind.PAID,
                    transaction_id=plain["transaction_id"],
                    amount_fen=int(plain["amount"]["total"]),
                    occurred_at=parse_time(plain["success_time"], "success_time"),
                    currency=plain["amount"].get("currency", CURRENCY),
                )
            if event_type == "REFUND.SUCCESS":
                return Notification(
                    merchant_order_id=plain["out_trade_no"],
                    kind=NotificationKind.REFUNDED,
                    transaction_id=plain["refund_id"],
                    amount_fen=int(plain["amount"]["refund"]),
                    occurred_at=parse_time(plain["success_time"], "success_time"),
                    payment_transaction_id=plain["transaction_id"],
                    order_total_fen=int(plain["amount"]["total"]),
                )
        except (KeyError, TypeError, ValueError, InvalidOrder) as exc:
            raise NotificationRejected(f"notification {envelope.get('id')}: malformed resource ({exc})") from None
        raise NotificationIgnored(f"notification {envelope.get('id')}: event {event_type} is not acted on")
