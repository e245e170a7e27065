"""Plain helpers for channel tests: a case with a contact point and outbox messages, a local SMS
gateway (HTTP, in a thread) and a local SMTP server (aiosmtpd) that both deduplicate on the key."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, ContactPoint, Customer
from arrears.cases.tables import Case
from arrears.channels.outbox import enqueue
from arrears.channels.templates import sample_payload
from arrears.config import Settings
from arrears.kit.clock import frozen_at, utc_now
from tests.cases.support import new_case

#: When test messages are enqueued: 11:00 in Shanghai on Monday 2 March 2026.
ENQUEUED = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
KIND = {"sms": "phone", "email": "email", "letter": "address"}
VALUE = {"sms": "13912345678", "email": "zhang.san@example.cn", "letter": "上海市浦东新区世纪大道100号 200120"}


def case_with_point(engine: Engine, ref: str, channel: str = "sms", *, opted_out: bool = False,
                    tz: str = "Asia/Shanghai", language: str = "zh_CN", owner: str = "debtor") -> tuple[int, int]:
    """A case on account ``ref`` and a verified contact point for ``channel``: (case id, contact point id)."""
    case_id = new_case(engine, ref)
    with engine.begin() as conn:
        customer_id = conn.execute(select(Account.customer_id).join(Case, Case.account_id == Account.id)
                                   .where(Case.id == case_id)).scalar_one()
        conn.execute(update(Customer).where(Customer.id == customer_id).values(time_zone=tz, language=language,
                                                                                name="张三"))
        point_id = conn.execute(insert(ContactPoint).values(
            contact_ref=f"CP-{ref}-{channel}", customer_id=customer_id, kind=KIND[channel], value=VALUE[channel],
            owner=owner, verified=True, opted_out=opted_out, created_at=utc_now()).returning(ContactPoint.id)
        ).scalar_one()
    return case_id, point_id


def add_messages(engine: Engine, case_id: int, point_id: int, n: int = 1, *, channel: str = "sms",
                 template: str = "early.reminder", locale: str = "zh_CN", prefix: str = "msg",
                 payload: dict[str, Any] | None = None, enqueued: datetime = ENQUEUED) -> list[str]:
    """``n`` outbox messages enqueued at ``enqueued``, committed; their idempotency keys."""
    fields = payload if payload is not None else {
        k: v for k, v in sample_payload(template, locale).items()
        if k not in ("customer_name", "masked_card", "bank_name", "service_phone", "tz", "letter_date")}
    keys = [f"{prefix}:{case_id}:{i}" for i in range(n)]
    with frozen_at(enqueued), Session(engine) as session, session.begin():
        for key in keys:
            enqueue(session, idempotency_key=key, channel=channel, template=template, locale=locale,
                    payload=fields, case_id=case_id, contact_point_id=point_id)
    return keys


def settings(**changes: Any) -> Settings:
    base = {"worker_max_attempts": 3, "worker_backoff_seconds": 0.0, "worker_backoff_max_seconds": 0.0,
            "worker_lease_seconds": 60.0}
    return Settings(**(base | changes))


# -- a local SMS gateway ----------------------------------------------------------------------------


@dataclass
class Gateway:
    """Records every request; accepts each Idempotency-Key once (a repeat gets the first answer);
    answers 500 to the first request of each key in ``fail_first`` and ``status`` to keys in ``refuse``."""

    delay: float = 0.0
    fail_first: set[str] = field(default_factory=set)
    refuse: dict[str, int] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    accepted: dict[str, str] = field(default_factory=dict)
    delivered: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    #: called with the number of requests so far, after a request is handled and before it is answered
    on_request: Callable[[int], None] | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/sms"

    def handle(self, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append({"key": key, **body})
            if key in self.refuse:
                return self.refuse[key], {"error": "refused"}
            if key in self.fail_first:
                self.fail_first.discard(key)
                return 500, {"error": "try again"}
            if key not in self.accepted:
                self.accepted[key] = f"gw-{len(self.accepted) + 1}"
                self.delivered.append(key)
            return 200, {"id": self.accepted[key]}

    def per_key(self) -> Counter[str]:
        with self.lock:
            return Counter(self.delivered)

    def start(self) -> Gateway:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                if gateway.delay:
                    time.sleep(gateway.delay)
                status, answer = gateway.handle(self.headers.get("Idempotency-Key", ""), body)
                if gateway.on_request is not None:
                    gateway.on_request(len(gateway.requests))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


# -- a local SMTP server ----------------------------------------------------------------------------


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps each Message-ID once (later copies are counted, not kept)."""

    messages: dict[str, Any] = field(default_factory=dict)
    duplicates: int = 0
    refuse_rcpt: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802, ANN001
        if address in self.refuse_rcpt:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802, ANN001
        from email import message_from_bytes
        from email.policy import default

        message = message_from_bytes(envelope.content, policy=default)
        message_id = str(message["Message-ID"])
        if message_id in self.messages:
            self.duplicates += 1
        else:
            self.messages[message_id] = message
        return "250 Message accepted for delivery"


def wait_for(predicate, timeout: float = 30.0, step: float = 0.02) -> bool:  # noqa: ANN001
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
