"""``arrears complaints escalate`` and ``arrears complaints rates`` on a store, through the command line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from arrears.accounts.tables import Account
from arrears.cli import app
from arrears.complaints import service
from arrears.complaints.tables import Complaint
from arrears.config import get_settings
from arrears.kit.cli import store_engine
from arrears.kit.clock import frozen_at
from tests.cases.support import new_case


def test_escalate_then_again_and_the_rates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("ARREARS_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = store_engine(url)
    new_case(engine, "ACC-CLI")
    with frozen_at(datetime(2026, 3, 1, 2, tzinfo=UTC)), Session(engine) as s, s.begin():
        account = s.scalars(select(Account).where(Account.account_ref == "ACC-CLI")).one()
        service.register(s, account=account, channel="letter", received_at=datetime(2026, 3, 1, 2, tzinfo=UTC),
                         category="other", summary="letter", actor="cli", bank_tz="Asia/Shanghai")
    runner = CliRunner()
    first = runner.invoke(app, ["complaints", "escalate", "--date", "2026-03-17"])
    assert first.exit_code == 0, first.output
    assert "Complaints escalated on 2026-03-17: 1" in first.output
    again = runner.invoke(app, ["complaints", "escalate", "--date", "2026-03-18"])
    assert "Complaints escalated on 2026-03-18: 0" in again.output
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Complaint).where(Complaint.escalated_at.is_not(None))) == 1
    rates = runner.invoke(app, ["complaints", "rates", "--by", "team", "--from", "2026-03-01", "--to", "2026-03-31"])
    assert rates.exit_code == 0 and "(none)" in rates.output
    bad = runner.invoke(app, ["complaints", "rates", "--by", "region"])
    assert bad.exit_code == 1 and "group must be one of" in bad.output
    engine.dispose()
    get_settings.cache_clear()
