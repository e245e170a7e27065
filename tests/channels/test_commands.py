"""``arrears worker`` (here ``arrears.channels.commands``): adapters from the settings, --once."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arrears.channels.adapters import HttpSmsAdapter, PdfLetterAdapter, PrintFileAdapter, SmtpAdapter
from arrears.channels.commands import app, build_adapters
from arrears.config import Settings, get_settings
from tests.channels.support import add_messages, case_with_point


def test_adapters_follow_the_settings(tmp_path: Path) -> None:
    assert build_adapters(Settings(smtp_host="", sms_gateway_url="", print_dir=None)) == {}
    adapters = build_adapters(Settings(smtp_host="mail.bank", sms_gateway_url="http://gw/sms", print_dir=tmp_path))
    assert isinstance(adapters["email"], SmtpAdapter) and isinstance(adapters["sms"], HttpSmsAdapter)
    assert isinstance(adapters["letter"], PdfLetterAdapter)
    assert isinstance(build_adapters(Settings(print_dir=tmp_path, letter_pdf=False))["letter"], PrintFileAdapter)


@pytest.fixture
def fresh_settings():  # noqa: ANN201
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_worker_without_a_channel_refuses_to_start(monkeypatch: pytest.MonkeyPatch, fresh_settings, tmp_path) -> None:
    for name in ("ARREARS_SMTP_HOST", "ARREARS_SMS_GATEWAY_URL", "ARREARS_PRINT_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["--once"])
    assert result.exit_code == 1 and "no channel is configured" in result.output


def test_worker_once_delivers_letters(engine, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      fresh_settings) -> None:
    case_id, point_id = case_with_point(engine, "ACC-CMD-1", channel="letter")
    [key] = add_messages(engine, case_id, point_id, channel="letter", template="letter.legal_notice",
                         enqueued=datetime.now(UTC))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARREARS_DATABASE_URL", store_url)
    monkeypatch.setenv("ARREARS_PRINT_DIR", str(tmp_path / "print"))
    monkeypatch.setenv("ARREARS_LETTER_PDF", "false")
    result = CliRunner().invoke(app, ["--once"])
    assert result.exit_code == 0, result.output
    assert "1 sent" in result.output
    [batch] = (tmp_path / "print").glob("letters-*.jsonl")
    [line] = batch.read_text(encoding="utf-8").splitlines()
    row = json.loads(line)
    assert row["idempotency_key"] == key and "法律事务告知函" in row["text"]
