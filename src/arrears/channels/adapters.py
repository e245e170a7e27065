"""Channel adapters: how a rendered message leaves the building.

Every adapter has one method, ``send(message, rendered, recipient) -> Delivery``, and must be
idempotent on ``message.idempotency_key``: the worker may call it again with the same key after a
crash (the message was sent but its result not recorded), and the provider must then not deliver a
second copy.

- :class:`SmtpAdapter` — e-mail through an SMTP relay (``smtplib``, optional STARTTLS and login).
  The ``Message-ID`` is derived from the idempotency key, so a resent e-mail carries the same
  Message-ID and the receiving side (relay, archive, mail client) can drop the duplicate.
- :class:`HttpSmsAdapter` — SMS through an HTTP gateway: ``POST`` JSON with an ``Idempotency-Key``
  header; the gateway answers a repeated key with the first result.
- :class:`PrintFileAdapter` — letters as lines of a print-house batch file (JSONL), each file
  rewritten atomically, deduplicated on the key.
- :class:`PdfLetterAdapter` — the letter as a PDF in the CJK font (the same renderer as agreement
  copies, :func:`arrears.plans.documents.render_pdf`), referenced from the print-house file.

A :class:`Delivery` is ``sent``, ``transient`` (try again later) or ``permanent`` (never retried).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from arrears.channels.templates import Rendered
from arrears.kit.clock import utc_now

DeliveryStatus = Literal["sent", "transient", "permanent"]


@dataclass(frozen=True)
class OutgoingMessage:
    """What an adapter knows of the outbox row (plain data: adapters never touch the store)."""

    id: int
    idempotency_key: str
    channel: str
    template: str
    locale: str
    case_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class Recipient:
    """Where the message goes: a mobile number, an e-mail address or a postal address."""

    address: str
    name: str
    contact_point_id: int | None = None


@dataclass(frozen=True)
class Delivery:
    """The result of one send. ``bad_recipient``: the provider says the address itself is wrong."""

    status: DeliveryStatus
    provider_ref: str | None = None
    detail: str | None = None
    bad_recipient: bool = False


class Adapter(Protocol):
    def send(self, message: OutgoingMessage, rendered: Rendered, recipient: Recipient) -> Delivery: ...


def key_digest(key: str) -> str:
    """A short, file- and header-safe name derived from an idempotency key."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


# -- e-mail -----------------------------------------------------------------------------------------


class SmtpAdapter:
    """E-mail through an SMTP relay. 2xx: sent; 4xx replies and connection errors: transient; 5xx:
    permanent (a 5xx refusal of every recipient marks the address bad)."""

    def __init__(self, host: str, port: int = 25, *, sender: str, starttls: bool = False, username: str = "",
                 password: str = "", timeout: float = 10.0) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.starttls, self.username, self.password, self.timeout = starttls, username, password, timeout
        self.domain = sender.rsplit("@", 1)[-1] if "@" in sender else "arrears.invalid"

    def message_id(self, key: str) -> str:
        """The Message-ID of the e-mail with idempotency key ``key``: the same on every retry."""
        return f"<{key_digest(key)}@{self.domain}>"

    def build(self, message: OutgoingMessage, rendered: Rendered, recipient: Recipient) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = recipient.address
        email["Subject"] = rendered.subject or ""
        email["Message-ID"] = self.message_id(message.idempotency_key)
        email["Date"] = format_datetime(message.created_at)
        email["X-Arrears-Idempotency-Key"] = message.idempotency_key
        email.set_content(rendered.body, charset="utf-8")
        return email

    def send(self, message: OutgoingMessage, rendered: Rendered, recipient: Recipient) -> Delivery:
        email = self.build(message, rendered, recipient)
        ref = email["Message-ID"]
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            permanent = bool(codes) and all(code >= 500 for code in codes)
            return Delivery("permanent" if permanent else "transient", ref, f"recipient refused: {exc.recipients}",
                            bad_recipient=permanent)
        except smtplib.SMTPAuthenticationError as exc:
            # A configuration problem, not the message's: retried, so fixing the password lets it through.
            return Delivery("transient", ref, f"SMTP login refused: {exc.smtp_code} {exc.smtp_error!r}")
        except smtplib.SMTPResponseException as exc:
            status: DeliveryStatus = "permanent" if exc.smtp_code >= 500 else "transient"
            return Delivery(status, ref, f"SMTP {exc.smtp_code}: {exc.smtp_error!r}")
        except (smtplib.SMTPException, OSError) as exc:
            return Delivery("transient", ref, f"SMTP connection failed: {exc!r}")
        return Delivery("sent", ref, f"accepted by {self.host}:{self.port}")


# -- SMS ----------------------------------------------------------------------------------------------


class HttpSmsAdapter:
    """SMS through an HTTP gateway.

    Request: ``POST <url>`` with headers ``Content-Type: application/json``, ``Idempotency-Key: <key>``
    and (when a token is set) ``Authorization: Bearer <token>``; body
    ``{"to": "<mobile>", "text": "<message>", "segments": n, "idempotency_key": "<key>", "reference": "<message id>"}``.

    Answers: 2xx sent (the provider reference is the JSON ``id``, else ``message_id``); 409 (the key
    was already accepted) sent; 408, 425, 429, 5xx, timeouts and connection errors transient; any
    other 4xx permanent (422: the number itself is refused).
    """

    TRANSIENT_4XX = frozenset({408, 425, 429})

    def __init__(self, url: str, *, token: str = "", timeout: float = 10.0) -> None:
        self.url, self.token, self.timeout = url, token, timeout

    def send(self, message: OutgoingMessage, rendered: Rendered, recipient: Recipient) -> Delivery:
        body = json.dumps({"to": recipient.address, "text": rendered.body, "segments": rendered.segments,
                           "idempotency_key": message.idempotency_key, "reference": str(message.id)},
                          ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": message.idempotency_key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return Delivery("sent", _provider_ref(response.read()), f"HTTP {response.status}")
        except urllib.error.HTTPError as exc:
            text = exc.read()[:500].decode("utf-8", "replace")
            if exc.code == 409:
                return Delivery("sent", _provider_ref(text.encode()), f"HTTP 409 (already accepted): {text}")
            if exc.code >= 500 or exc.code in self.TRANSIENT_4XX:
                return Delivery("transient", None, f"HTTP {exc.code}: {text}")
            return Delivery("permanent", None, f"HTTP {exc.code}: {text}", bad_recipient=exc.code == 422)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            return Delivery("transient", None, f"SMS gateway unreachable: {exc!r}")


def _provider_ref(raw: bytes) -> str | None:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    ref = data.get("id", data.get("message_id"))
    return None if ref is None else str(ref)[:200]


# -- letters ------------------------------------------------------------------------------------------


def _atomic_write(path: Path, data: bytes) -> None:
    """``path`` holds ``data`` entirely or keeps what it held: write a temporary file, fsync, rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class PrintFileAdapter:
    """Letters for the print house, as JSON Lines batch files in ``folder``.

    One batch file per UTC day, ``letters-YYYYMMDD.jsonl``: UTF-8, one JSON object per line, keys
    ``idempotency_key``, ``message_id``, ``case_id``, ``template``, ``locale``, ``recipient_name``,
    ``address``, ``document`` (path of the PDF relative to ``folder``, or null), ``document_sha256``,
    ``text`` (the letter text when there is no PDF, else null) and ``queued_at`` (ISO 8601 UTC).

    Adding a letter rewrites the day's file through a temporary file and a rename (under a lock
    file, so several workers can share the folder), so a crash leaves either the old file or the new
    one, never half a line. A key already present in any batch file still in the folder is not added
    again: the existing line's reference is returned.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def batch_files(self) -> list[Path]:
        return sorted(self.folder.glob("letters-*.jsonl"))

    def find(self, key: str) -> str | None:
        """The reference (``file#line``) of the letter with ``key``, if a batch file holds it."""
        for path in self.batch_files():
            with open(path, encoding="utf-8") as fh:
                for number, line in enumerate(fh, start=1):
                    if line.strip() and json.loads(line).get("idempotency_key") == key:
                        return f"{path.name}#{number}"
        return None

    def append(self, record: dict[str, Any]) -> tuple[str, bool]:
        """Add ``record`` (which has an ``idempotency_key``) to today's batch: its reference, and
        whether it was added now (False: it was already there)."""
        with self._locked():
            found = self.find(record["idempotency_key"])
            if found is not None:
                return found, False
            path = self.folder / f"letters-{utc_now():%Y%m%d}.jsonl"
            old = path.read_bytes() if path.exists() else b""
            if old and not old.endswith(b"\n"):  # pragma: no cover - only a file edited by hand
                old += b"\n"
            line = json.dumps(record, ensure_ascii=False, sort_keys=True).encode() + b"\n"
            _atomic_write(path, old + line)
            number = old.count(b"\n") + 1
            return f"{path.name}#{number}", True

    def record(self, message: OutgoingMessage, recipient: Recipient, *, text: str | None,
               document: str | None = None, document_sha256: str | None = None) -> dict[str, Any]:
        return {
            "idempotency_key": message.idempotency_key, "message_id": message.id, "case_id": message.case_id,
            "template": message.template, "locale": message.locale, "recipient_name": recipient.name,
            "address": recipient.address, "document": document, "document_sha256": document_sha256, "text": text,
            "queued_at": utc_now().isoformat(),
        }

    def send(self, message: OutgoingMessage, rendered: Rendered, recipient: Recipient) -> Delivery:
        try:
            ref, added = self.append(self.record(message, recipient, text=rendered.body))
        except OSError as exc:
            return Delivery("transient", None, f"print file not written: {exc!r}")
        return Delivery("sent", ref, "added to the print batch" if added else "already in the print batch")


class PdfLetterAdapter:
    """The letter as a PDF (``pdf/<key digest>.pdf`` under the print folder, CJK ``font``), then a
    line in the print-house file that references it. The PDF is dated with the message's creation
    time, so a retry writes the same bytes."""

    def __init__(self, folder: Path, *, font: Path) -> None:
        self.print_file = PrintFileAdapter(folder)
        self.font = Path(font)

    def send(self, message: OutgoingMessage, rendered: Rendered, recipient: Recipient) -> Delivery:
        from arrears.kit.errors import ArrearsError
        from arrears.plans.documents import render_pdf

        try:
            pdf = render_pdf(rendered.body, font=self.font, title=f"{message.template} {message.idempotency_key}",
                             made_at=message.created_at)
        except ArrearsError as exc:  # the font is missing: a configuration problem, retried
            return Delivery("transient", None, exc.message)
        relative = f"pdf/{key_digest(message.idempotency_key)}.pdf"
        path = self.print_file.folder / relative
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(path, pdf)
            ref, added = self.print_file.append(self.print_file.record(
                message, recipient, text=None, document=relative, document_sha256=hashlib.sha256(pdf).hexdigest()))
        except OSError as exc:
            return Delivery("transient", None, f"letter not written: {exc!r}")
        return Delivery("sent", ref, f"{relative} " + ("added to the print batch" if added else "already in the batch"))


__all__ = [
    "Adapter", "Delivery", "HttpSmsAdapter", "OutgoingMessage", "PdfLetterAdapter", "PrintFileAdapter", "Recipient",
    "SmtpAdapter", "key_digest",
]
