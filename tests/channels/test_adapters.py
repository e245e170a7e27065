"""Each adapter against a real local server or folder: sent, idempotent on the key, failures sorted
into transient and permanent."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from arrears.channels.adapters import (
    HttpSmsAdapter,
    OutgoingMessage,
    PdfLetterAdapter,
    PrintFileAdapter,
    Recipient,
    SmtpAdapter,
)
from arrears.channels.templates import render, sample_payload
from arrears.config import Settings
from tests.channels.support import Gateway, Mailbox

CREATED = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
FONT = Settings().pdf_font


def message(key: str = "k-1", channel: str = "sms", template: str = "early.reminder") -> OutgoingMessage:
    return OutgoingMessage(id=7, idempotency_key=key, channel=channel, template=template, locale="zh_CN", case_id=3,
                           created_at=CREATED)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway().start()
    yield gw
    gw.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield mailbox, controller.port
    controller.stop()


# -- SMS ---------------------------------------------------------------------------------------------

SMS = render("early.reminder", "sms", "zh_CN", sample_payload("early.reminder"))
PHONE = Recipient("13912345678", "张三", 1)


def test_sms_is_posted_with_the_idempotency_key(gateway: Gateway) -> None:
    adapter = HttpSmsAdapter(gateway.url, token="secret")
    delivery = adapter.send(message("k-1"), SMS, PHONE)
    assert (delivery.status, delivery.provider_ref) == ("sent", "gw-1")
    request = gateway.requests[0]
    assert request["key"] == "k-1" and request["idempotency_key"] == "k-1"
    assert request["to"] == "13912345678" and request["text"] == SMS.body and request["segments"] == SMS.segments


def test_sms_resent_with_the_same_key_is_delivered_once(gateway: Gateway) -> None:
    adapter = HttpSmsAdapter(gateway.url)
    first = adapter.send(message("k-1"), SMS, PHONE)
    again = adapter.send(message("k-1"), SMS, PHONE)
    assert first == again
    assert len(gateway.requests) == 2 and gateway.per_key() == {"k-1": 1}


def test_sms_5xx_is_transient_4xx_permanent(gateway: Gateway) -> None:
    adapter = HttpSmsAdapter(gateway.url)
    gateway.fail_first.add("k-500")
    gateway.refuse.update({"k-400": 400, "k-422": 422, "k-429": 429})
    assert adapter.send(message("k-500"), SMS, PHONE).status == "transient"
    assert adapter.send(message("k-500"), SMS, PHONE).status == "sent"
    assert adapter.send(message("k-429"), SMS, PHONE).status == "transient"
    refused = adapter.send(message("k-400"), SMS, PHONE)
    assert (refused.status, refused.bad_recipient) == ("permanent", False)
    bad_number = adapter.send(message("k-422"), SMS, PHONE)
    assert (bad_number.status, bad_number.bad_recipient) == ("permanent", True)


def test_sms_gateway_unreachable_or_slow_is_transient(gateway: Gateway) -> None:
    assert HttpSmsAdapter(f"http://127.0.0.1:{free_port()}/sms").send(message(), SMS, PHONE).status == "transient"
    gateway.delay = 0.5
    delivery = HttpSmsAdapter(gateway.url, timeout=0.1).send(message(), SMS, PHONE)
    assert delivery.status == "transient"


# -- e-mail ------------------------------------------------------------------------------------------

EMAIL = render("early.reminder", "email", "zh_CN", sample_payload("early.reminder"))
MAIL = Recipient("zhang.san@example.cn", "张三", 2)


def test_email_is_sent_with_a_message_id_from_the_key(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    adapter = SmtpAdapter("127.0.0.1", port, sender="collections@bank.example")
    delivery = adapter.send(message("k-mail", "email"), EMAIL, MAIL)
    assert delivery.status == "sent"
    assert delivery.provider_ref == adapter.message_id("k-mail")
    got = mailbox.messages[delivery.provider_ref]
    assert got["To"] == "zhang.san@example.cn" and got["Subject"] == EMAIL.subject
    assert got["X-Arrears-Idempotency-Key"] == "k-mail"
    assert got.get_content().strip() == EMAIL.body.strip()


def test_email_resent_with_the_same_key_carries_the_same_message_id(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    adapter = SmtpAdapter("127.0.0.1", port, sender="collections@bank.example")
    first = adapter.send(message("k-mail", "email"), EMAIL, MAIL)
    again = adapter.send(message("k-mail", "email"), EMAIL, MAIL)
    assert first.provider_ref == again.provider_ref
    assert len(mailbox.messages) == 1 and mailbox.duplicates == 1
    other = adapter.send(message("k-other", "email"), EMAIL, MAIL)
    assert other.provider_ref != first.provider_ref and len(mailbox.messages) == 2


def test_email_refused_recipient_is_permanent(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    mailbox.refuse_rcpt.add("gone@example.cn")
    delivery = SmtpAdapter("127.0.0.1", port, sender="c@bank.example").send(
        message("k-gone", "email"), EMAIL, Recipient("gone@example.cn", "张三"))
    assert (delivery.status, delivery.bad_recipient) == ("permanent", True)


def test_email_server_unreachable_is_transient() -> None:
    delivery = SmtpAdapter("127.0.0.1", free_port(), sender="c@bank.example", timeout=2).send(
        message("k", "email"), EMAIL, MAIL)
    assert delivery.status == "transient"


# -- letters -----------------------------------------------------------------------------------------

LETTER = render("letter.demand", "letter", "zh_CN", sample_payload("letter.demand"))
ADDRESS = Recipient("上海市浦东新区世纪大道100号 200120", "张三", 3)


def lines(folder: Path) -> list[dict]:
    return [json.loads(line) for p in sorted(folder.glob("letters-*.jsonl"))
            for line in p.read_text(encoding="utf-8").splitlines()]


def test_print_file_appends_one_line_per_key(tmp_path: Path) -> None:
    adapter = PrintFileAdapter(tmp_path)
    first = adapter.send(message("L-1", "letter", "letter.demand"), LETTER, ADDRESS)
    second = adapter.send(message("L-2", "letter", "letter.demand"), LETTER, ADDRESS)
    again = adapter.send(message("L-1", "letter", "letter.demand"), LETTER, ADDRESS)
    assert first.status == second.status == again.status == "sent"
    assert first.provider_ref.endswith("#1") and second.provider_ref.endswith("#2")
    assert again.provider_ref == first.provider_ref
    rows = lines(tmp_path)
    assert [r["idempotency_key"] for r in rows] == ["L-1", "L-2"]
    assert rows[0]["text"] == LETTER.body and rows[0]["address"] == ADDRESS.address
    assert rows[0]["document"] is None and rows[0]["recipient_name"] == "张三"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".letters")]


def test_print_file_crash_while_writing_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = PrintFileAdapter(tmp_path)
    adapter.send(message("L-1", "letter", "letter.demand"), LETTER, ADDRESS)
    [batch] = adapter.batch_files()
    before = batch.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    delivery = adapter.send(message("L-2", "letter", "letter.demand"), LETTER, ADDRESS)
    assert delivery.status == "transient"
    assert batch.read_bytes() == before  # whole lines only: the new letter is simply not there yet
    monkeypatch.undo()
    assert adapter.send(message("L-2", "letter", "letter.demand"), LETTER, ADDRESS).status == "sent"
    assert [r["idempotency_key"] for r in lines(tmp_path)] == ["L-1", "L-2"]


def test_pdf_letter_is_stored_and_referenced_by_the_print_file(tmp_path: Path) -> None:
    from pypdf import PdfReader

    adapter = PdfLetterAdapter(tmp_path, font=FONT)
    delivery = adapter.send(message("L-pdf", "letter", "letter.demand"), LETTER, ADDRESS)
    assert delivery.status == "sent"
    [row] = lines(tmp_path)
    pdf = tmp_path / row["document"]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    import hashlib

    assert row["document_sha256"] == hashlib.sha256(data).hexdigest() and row["text"] is None
    text = "".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert "催收函" in text and "****1234" in text
    # A retry writes the same bytes and no second line.
    assert adapter.send(message("L-pdf", "letter", "letter.demand"), LETTER, ADDRESS).provider_ref == \
        delivery.provider_ref
    assert pdf.read_bytes() == data and len(lines(tmp_path)) == 1


def test_pdf_letter_without_the_font_is_transient(tmp_path: Path) -> None:
    delivery = PdfLetterAdapter(tmp_path, font=tmp_path / "missing.ttf").send(
        message("L-x", "letter", "letter.demand"), LETTER, ADDRESS)
    assert delivery.status == "transient" and "font" in (delivery.detail or "")
    assert lines(tmp_path) == []
