"""A local sandbox payment provider that speaks WeChat Pay API v3 (Native), for the demo and tests.

Run it as its own process::

    python -m arrears.payments.sandbox --port 8765 --keys /tmp/paykeys [--frozen-at 2026-01-05T11:00:00+08:00]

At start it generates, into ``--keys`` (created if missing; existing keys are reused), every key
the protocol needs — the merchant's RSA key pair, the platform's RSA key pair and the APIv3 key —
plus ``merchant.json`` (mchid, appid, serials). Nothing is downloaded. The merchant side reads the
same folder with :meth:`arrears.payments.wechatpay.WeChatPayConfig.from_dir`.

The provider's endpoints (requests must carry a valid merchant signature; every answer is signed
with the platform key):

- ``POST /v3/pay/transactions/native`` — create an order, answer ``{"code_url": …}``
- ``GET  /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=…`` — query
- ``POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close`` — close an unpaid order
- ``POST /v3/refund/domestic/refunds`` — refund (succeeds at once and notifies)

The sandbox's own controls (no signature; for tests and the demo):

- ``POST /sandbox/pay/{out_trade_no}`` ``{"delivery": MODE}`` — the customer pays; notify
- ``POST /sandbox/delivery`` ``{"mode": MODE}`` — the mode for later notifications (refunds too)
- ``POST /sandbox/release`` ``{"order": "fifo" | "reverse"}`` — deliver held notifications now
- ``GET  /sandbox/deliveries`` — every delivery made: mode, event, the merchant's status code
- ``GET  /sandbox/checkout/{out_trade_no}?return=URL`` — a page where a person pays the order (as a
  phone's payment app would after scanning its QR code); its button POSTs to the same path, pays,
  notifies in the current mode and goes back to ``return`` (an http(s) address) when given
- ``GET  /sandbox/health``

Delivery modes: ``now`` (once), ``twice`` (two deliveries, each freshly signed, as a provider's
retry), ``hold`` (kept until ``/sandbox/release``: late, and out of order with ``reverse``),
``forged`` (signed with a key that is not the platform's), ``stale`` (correctly signed with a
timestamp ten minutes old, as a replay would be), ``bad_ciphertext`` (correctly signed, resource
encrypted with another APIv3 key). Deliveries are POSTs to the order's ``notify_url``, made before
the control call answers, so tests need no waiting.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio.to_thread
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from arrears.kit.clock import utc_now
from arrears.payments.wechatpay import (
    MAX_SKEW,
    answer_message,
    encrypt_resource,
    load_private_key,
    load_public_key,
    new_nonce,
    parse_authorization,
    request_message,
    rfc3339,
    sign,
    verify,
)

MODES = ("now", "twice", "hold", "forged", "stale", "bad_ciphertext")


def _pem_private(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem_public(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _write_secret(path: Path, data: bytes) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)


def ensure_keys(folder: Path | str) -> Path:
    """Generate the sandbox's keys into ``folder`` unless they are there already."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "merchant.json").exists():
        return folder
    merchant = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    platform = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_secret(folder / "merchant_private_key.pem", _pem_private(merchant))
    (folder / "merchant_public_key.pem").write_bytes(_pem_public(merchant.public_key()))
    _write_secret(folder / "platform_private_key.pem", _pem_private(platform))
    (folder / "platform_public_key.pem").write_bytes(_pem_public(platform.public_key()))
    _write_secret(folder / "apiv3_key.txt", secrets.token_hex(16).encode("ascii"))  # 32 ASCII bytes
    meta = {
        "mchid": "1900000109",
        "appid": "wxsandbox0000001",
        "merchant_serial_no": secrets.token_hex(20).upper(),
        "platform_serial_no": "PUB_KEY_ID_" + secrets.token_hex(12).upper(),
    }
    (folder / "merchant.json").write_text(json.dumps(meta, indent=2), "utf-8")
    return folder


@dataclass
class _Order:
    body: dict[str, Any]
    code_url: str
    state: str = "NOTPAY"
    transaction_id: str | None = None
    success_time: datetime | None = None
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Pending:
    notify_url: str
    event_type: str
    original_type: str
    plain: dict[str, Any]
    out_trade_no: str
    mode: str


class Sandbox:
    """The provider's state and its notifier. One lock: the sandbox is small and must be exact."""

    def __init__(self, keys: Path | str, *, client: httpx.Client | None = None) -> None:
        folder = ensure_keys(keys)
        meta = json.loads((folder / "merchant.json").read_text("utf-8"))
        self.mchid: str = meta["mchid"]
        self.appid: str = meta["appid"]
        self.merchant_serial: str = meta["merchant_serial_no"]
        self.platform_serial: str = meta["platform_serial_no"]
        self.merchant_public = load_public_key((folder / "merchant_public_key.pem").read_bytes())
        self.platform_key = load_private_key((folder / "platform_private_key.pem").read_bytes())
        self.apiv3_key = (folder / "apiv3_key.txt").read_text("ascii").strip().encode("ascii")
        self.orders: dict[str, _Order] = {}
        self.held: list[_Pending] = []
        self.deliveries: list[dict[str, Any]] = []
        self.mode = "now"
        self.lock = threading.RLock()
        self.client = client or httpx.Client(timeout=10.0)
        self._forger: rsa.RSAPrivateKey | None = None

    # -- signing -------------------------------------------------------------------------------

    def signed_headers(
        self, body: bytes, *, key: rsa.RSAPrivateKey | None = None, age: timedelta = timedelta()
    ) -> dict[str, str]:
        timestamp = str(int((utc_now() - age).timestamp()))
        nonce = new_nonce()
        signature = sign(key or self.platform_key, answer_message(timestamp, nonce, body))
        return {
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": self.platform_serial,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }

    def answer(self, status: int, payload: dict[str, Any] | None = None) -> Response:
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        media = "application/json" if payload is not None else None
        return Response(content=body, status_code=status, headers=self.signed_headers(body), media_type=media)

    def error(self, status: int, code: str, message: str) -> Response:
        return self.answer(status, {"code": code, "message": message})

    def check_request(self, request: Request, body: bytes) -> str | None:
        """Why the request's signature is not acceptable, or None."""
        try:
            fields = parse_authorization(request.headers.get("authorization", ""))
        except ValueError as exc:
            return str(exc)
        if fields["mchid"] != self.mchid:
            return f"unknown mchid {fields['mchid']}"
        if fields["serial_no"] != self.merchant_serial:
            return f"unknown merchant certificate serial {fields['serial_no']}"
        if (
            not fields["timestamp"].isdigit()
            or abs(utc_now().timestamp() - int(fields["timestamp"])) > MAX_SKEW.total_seconds()
        ):
            return "timestamp is more than 5 minutes from now"
        url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        message = request_message(request.method, url, fields["timestamp"], fields["nonce_str"], body)
        if not verify(self.merchant_public, message, fields["signature"]):
            return "signature does not verify with the merchant's key"
        return None

    # -- notifier ------------------------------------------------------------------------------

    def notify(self, pending: _Pending) -> list[dict[str, Any]]:
        if pending.mode == "hold":
            self.held.append(pending)
            return [{"mode": "hold", "event_type": pending.event_type, "out_trade_no": pending.out_trade_no}]
        times = 2 if pending.mode == "twice" else 1
        return [self._deliver(pending) for _ in range(times)]

    def _deliver(self, pending: _Pending) -> dict[str, Any]:
        apiv3 = secrets.token_hex(16).encode() if pending.mode == "bad_ciphertext" else self.apiv3_key
        resource = encrypt_resource(
            apiv3,
            json.dumps(pending.plain, ensure_ascii=False).encode(),
            associated_data=pending.original_type,
            original_type=pending.original_type,
        )
        envelope = {
            "id": str(uuid.uuid4()),
            "create_time": rfc3339(utc_now()),
            "resource_type": "encrypt-resource",
            "event_type": pending.event_type,
            "summary": "支付成功" if pending.event_type == "TRANSACTION.SUCCESS" else "退款成功",
            "resource": resource,
        }
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        key = None
        if pending.mode == "forged":
            self._forger = self._forger or rsa.generate_private_key(public_exponent=65537, key_size=2048)
            key = self._forger
        age = timedelta(minutes=10) if pending.mode == "stale" else timedelta()
        headers = {**self.signed_headers(body, key=key, age=age), "Content-Type": "application/json"}
        record: dict[str, Any] = {
            "mode": pending.mode,
            "event_type": pending.event_type,
            "out_trade_no": pending.out_trade_no,
        }
        try:
            response = self.client.post(pending.notify_url, content=body, headers=headers)
            record["status_code"] = response.status_code
        except httpx.HTTPError as exc:
            record["status_code"] = None
            record["error"] = f"{exc.__class__.__name__}: {exc}"
        self.deliveries.append(record)
        return record

    def release(self, order: str) -> list[dict[str, Any]]:
        held, self.held = self.held, []
        if order == "reverse":
            held.reverse()
        results = []
        for pending in held:
            pending.mode = "now"
            results.append(self._deliver(pending))
        return results

    # -- the provider's actions ----------------------------------------------------------------

    def transaction(self, order: _Order) -> dict[str, Any]:
        body = order.body
        data: dict[str, Any] = {
            "appid": self.appid,
            "mchid": self.mchid,
            "out_trade_no": body["out_trade_no"],
            "trade_type": "NATIVE",
            "trade_state": order.state,
            "trade_state_desc": {"NOTPAY": "未支付", "SUCCESS": "支付成功", "CLOSED": "已关闭", "REFUND": "转入退款"}[
                order.state
            ],
            "attach": body.get("attach", ""),
            "amount": {"total": body["amount"]["total"], "currency": "CNY"},
        }
        if order.transaction_id:
            data["transaction_id"] = order.transaction_id
            data["success_time"] = rfc3339(order.success_time or utc_now())
            data["bank_type"] = "OTHERS"
            data["payer"] = {"openid": "o-sandbox-payer"}
            data["amount"].update(payer_total=body["amount"]["total"], payer_currency="CNY")
        return data


def create_app(keys: Path | str, *, client: httpx.Client | None = None) -> FastAPI:
    sandbox = Sandbox(keys, client=client)
    app = FastAPI(title="arrears payment sandbox (WeChat Pay v3 Native)", docs_url=None, redoc_url=None)
    app.state.sandbox = sandbox

    async def signed_body(request: Request) -> tuple[bytes, Response | None]:
        body = await request.body()
        problem = sandbox.check_request(request, body)
        if problem:
            return body, sandbox.error(401, "SIGN_ERROR", problem)
        return body, None

    def json_body(body: bytes) -> dict[str, Any] | None:
        try:
            data = json.loads(body)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    @app.post("/v3/pay/transactions/native")
    async def create_native(request: Request) -> Response:
        body, refused = await signed_body(request)
        if refused:
            return refused
        data = json_body(body)
        if data is None:
            return sandbox.error(400, "PARAM_ERROR", "body is not a JSON object")
        for name in ("appid", "mchid", "description", "out_trade_no", "notify_url", "amount"):
            if not data.get(name):
                return sandbox.error(400, "PARAM_ERROR", f"missing {name}")
        if data["mchid"] != sandbox.mchid or data["appid"] != sandbox.appid:
            return sandbox.error(400, "PARAM_ERROR", "mchid and appid do not match")
        total = data["amount"].get("total") if isinstance(data["amount"], dict) else None
        if isinstance(total, bool) or not isinstance(total, int) or total <= 0:
            return sandbox.error(400, "PARAM_ERROR", "amount.total must be a positive integer of fen")
        if data["amount"].get("currency", "CNY") != "CNY":
            return sandbox.error(400, "PARAM_ERROR", "amount.currency must be CNY")
        with sandbox.lock:
            existing = sandbox.orders.get(data["out_trade_no"])
            if existing is not None:
                if existing.body != data:
                    return sandbox.error(400, "INVALID_REQUEST", "out_trade_no already used with other parameters")
                if existing.state != "NOTPAY":
                    return sandbox.error(
                        400, "ORDERPAID" if existing.transaction_id else "ORDERCLOSED", "order not payable"
                    )
                return sandbox.answer(200, {"code_url": existing.code_url})
            code_url = f"weixin://wxpay/bizpayurl?pr={secrets.token_urlsafe(6)}"
            sandbox.orders[data["out_trade_no"]] = _Order(body=data, code_url=code_url)
        return sandbox.answer(200, {"code_url": code_url})

    @app.get("/v3/pay/transactions/out-trade-no/{out_trade_no}")
    async def query(out_trade_no: str, request: Request) -> Response:
        _, refused = await signed_body(request)
        if refused:
            return refused
        if request.query_params.get("mchid") != sandbox.mchid:
            return sandbox.error(400, "PARAM_ERROR", "mchid is missing or wrong")
        with sandbox.lock:
            order = sandbox.orders.get(out_trade_no)
            if order is None:
                return sandbox.error(404, "ORDER_NOT_EXIST", "no such order")
            return sandbox.answer(200, sandbox.transaction(order))

    @app.post("/v3/pay/transactions/out-trade-no/{out_trade_no}/close")
    async def close(out_trade_no: str, request: Request) -> Response:
        _, refused = await signed_body(request)
        if refused:
            return refused
        with sandbox.lock:
            order = sandbox.orders.get(out_trade_no)
            if order is None:
                return sandbox.error(404, "ORDER_NOT_EXIST", "no such order")
            if order.transaction_id:
                return sandbox.error(400, "ORDERPAID", "order is paid; refund it instead")
            order.state = "CLOSED"
        return sandbox.answer(204)

    @app.post("/v3/refund/domestic/refunds")
    async def refund(request: Request) -> Response:
        body, refused = await signed_body(request)
        if refused:
            return refused
        # The notifier POSTs synchronously: run it off the event loop.
        return await anyio.to_thread.run_sync(_refund, body)

    def _refund(body: bytes) -> Response:
        data = json_body(body)
        if data is None:
            return sandbox.error(400, "PARAM_ERROR", "body is not a JSON object")
        amount = data.get("amount") if isinstance(data.get("amount"), dict) else {}
        out_trade_no, out_refund_no = data.get("out_trade_no"), data.get("out_refund_no")
        if not out_trade_no or not out_refund_no:
            return sandbox.error(400, "PARAM_ERROR", "out_trade_no and out_refund_no are required")
        fen, total = amount.get("refund"), amount.get("total")
        if any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in (fen, total)):
            return sandbox.error(400, "PARAM_ERROR", "amount.refund and amount.total must be positive integers of fen")
        with sandbox.lock:
            order = sandbox.orders.get(out_trade_no)
            if order is None:
                return sandbox.error(404, "RESOURCE_NOT_EXISTS", "no such order")
            if not order.transaction_id:
                return sandbox.error(400, "INVALID_REQUEST", "order is not paid")
            if total != order.body["amount"]["total"]:
                return sandbox.error(400, "PARAM_ERROR", "amount.total is not the order's total")
            if out_refund_no in order.refunds:
                return sandbox.answer(200, order.refunds[out_refund_no])
            refunded = sum(r["amount"]["refund"] for r in order.refunds.values())
            if refunded + fen > total:
                return sandbox.error(400, "NOT_ENOUGH", "refunds would exceed the amount paid")
            now = utc_now()
            record = {
                "refund_id": f"50{secrets.randbelow(10**26):026d}",
                "out_refund_no": out_refund_no,
                "transaction_id": order.transaction_id,
                "out_trade_no": out_trade_no,
                "channel": "ORIGINAL",
                "user_received_account": "支付用户零钱",
                "success_time": rfc3339(now),
                "create_time": rfc3339(now),
                "status": "SUCCESS",
                "amount": {"total": total, "refund": fen, "payer_total": total, "payer_refund": fen, "currency": "CNY"},
            }
            order.refunds[out_refund_no] = record
            order.state = "REFUND"
            plain = {
                "mchid": sandbox.mchid,
                "out_trade_no": out_trade_no,
                "transaction_id": order.transaction_id,
                "out_refund_no": out_refund_no,
                "refund_id": record["refund_id"],
                "refund_status": "SUCCESS",
                "success_time": record["success_time"],
                "user_received_account": record["user_received_account"],
                "amount": {"total": total, "refund": fen, "payer_total": total, "payer_refund": fen},
            }
            notify_url = data.get("notify_url") or order.body["notify_url"]
            pending = _Pending(notify_url, "REFUND.SUCCESS", "refund", plain, out_trade_no, sandbox.mode)
        sandbox.notify(pending)
        return sandbox.answer(200, record)

    # -- sandbox controls ----------------------------------------------------------------------

    def _mode(data: dict[str, Any] | None, key: str) -> str | None:
        mode = (data or {}).get(key, sandbox.mode)
        return mode if mode in MODES else None

    def _pay(out_trade_no: str, body: bytes) -> Response:
        data = json_body(body) if body else {}
        mode = _mode(data, "delivery")
        if mode is None:
            return JSONResponse({"detail": f"delivery must be one of {', '.join(MODES)}"}, status_code=422)
        with sandbox.lock:
            order = sandbox.orders.get(out_trade_no)
            if order is None:
                return JSONResponse({"detail": f"no order {out_trade_no}"}, status_code=404)
            if order.state != "NOTPAY":
                return JSONResponse({"detail": f"order {out_trade_no} is {order.state}, not payable"}, status_code=409)
            expire = order.body.get("time_expire")
            if expire and datetime.fromisoformat(expire) <= utc_now():
                return JSONResponse({"detail": f"order {out_trade_no} expired at {expire}"}, status_code=409)
            order.state = "SUCCESS"
            order.transaction_id = f"42{secrets.randbelow(10**26):026d}"
            order.success_time = utc_now()
            pending = _Pending(
                order.body["notify_url"],
                "TRANSACTION.SUCCESS",
                "transaction",
                sandbox.transaction(order),
                out_trade_no,
                mode,
            )
        deliveries = sandbox.notify(pending)
        return JSONResponse({"transaction_id": order.transaction_id, "deliveries": deliveries})

    @app.post("/sandbox/pay/{out_trade_no}")
    async def pay(out_trade_no: str, request: Request) -> Response:
        return await anyio.to_thread.run_sync(_pay, out_trade_no, await request.body())

    def _checkout_page(title: str, body: str, status: int = 200) -> HTMLResponse:
        page = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
                f'</head><body style="font-family:sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem">'
                f'<h1>{escape(title)}</h1>{body}</body></html>')
        return HTMLResponse(page, status_code=status)

    def _return_to(value: str | None) -> str | None:
        return value if value and value.startswith(("http://", "https://")) and len(value) <= 2000 else None

    @app.get("/sandbox/checkout/{out_trade_no}")
    async def checkout(out_trade_no: str, request: Request) -> Response:
        back = _return_to(request.query_params.get("return"))
        with sandbox.lock:
            order = sandbox.orders.get(out_trade_no)
            if order is None:
                return _checkout_page("没有这笔订单", f"<p>{escape(out_trade_no)}</p>", 404)
            total, state = order.body["amount"]["total"], order.state
            description = str(order.body.get("description", ""))
        amount = f"¥{total // 100:,}.{total % 100:02d}"
        if state != "NOTPAY":
            done = f'<p><a href="{escape(back)}">返回商户</a></p>' if back else ""
            return _checkout_page("支付沙箱", f"<p>订单 {escape(out_trade_no)}：{escape(state)}</p>{done}")
        hidden = f'<input type="hidden" name="return" value="{escape(back)}">' if back else ""
        return _checkout_page("支付沙箱", (
            f"<p>测试环境，不会真的扣款。</p><p>{escape(description)}</p><p><strong>{amount}</strong></p>"
            f'<form method="post"><input type="hidden" name="out_trade_no" value="{escape(out_trade_no)}">'
            f'{hidden}<button type="submit" style="font-size:1.2rem;padding:.6rem 1.2rem">确认支付 {amount}</button>'
            f"</form>"))

    @app.post("/sandbox/checkout/{out_trade_no}")
    async def checkout_pay(out_trade_no: str, request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        back = _return_to((form.get("return") or [None])[0])
        answer = await anyio.to_thread.run_sync(_pay, out_trade_no, b"")
        if answer.status_code != 200:
            return _checkout_page("无法支付", f"<p>{escape(bytes(answer.body).decode())}</p>", answer.status_code)
        if back:
            return RedirectResponse(back, status_code=303)
        return _checkout_page("支付成功", f"<p>订单 {escape(out_trade_no)} 已支付。</p>")

    @app.post("/sandbox/delivery")
    async def set_mode(request: Request) -> Response:
        mode = _mode(json_body(await request.body()), "mode")
        if mode is None:
            return JSONResponse({"detail": f"mode must be one of {', '.join(MODES)}"}, status_code=422)
        sandbox.mode = mode
        return JSONResponse({"mode": mode})

    @app.post("/sandbox/release")
    async def release(request: Request) -> Response:
        body = await request.body()
        order = (json_body(body) or {}).get("order", "fifo") if body else "fifo"
        if order not in ("fifo", "reverse"):
            return JSONResponse({"detail": "order must be fifo or reverse"}, status_code=422)

        def run() -> list[dict[str, Any]]:
            with sandbox.lock:
                return sandbox.release(order)

        return JSONResponse({"deliveries": await anyio.to_thread.run_sync(run)})

    @app.get("/sandbox/deliveries")
    async def deliveries() -> Response:
        return JSONResponse({"deliveries": sandbox.deliveries, "held": len(sandbox.held)})

    @app.get("/sandbox/health")
    async def health() -> Response:
        return JSONResponse({"ok": True, "mchid": sandbox.mchid})

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m arrears.payments.sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--keys", type=Path, required=True, help="folder for the generated keys (created if missing)")
    parser.add_argument("--frozen-at", type=datetime.fromisoformat, default=None, metavar="TIME",
                        help="run with the clock stopped at this timezone-aware time (for a merchant whose own "
                             "clock a test has frozen: signatures are checked against it)")
    args = parser.parse_args(argv)
    import uvicorn

    from arrears.kit.clock import frozen_at

    app = create_app(args.keys)
    print(f"payment sandbox on http://{args.host}:{args.port}, keys in {args.keys}", flush=True)
    with frozen_at(args.frozen_at) if args.frozen_at else contextlib.nullcontext():
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
