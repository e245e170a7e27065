"""``arrears plans`` on the command line (SQLite store in a temporary folder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arrears.cli import app
from arrears.config import get_settings
from arrears.kit.db import make_engine
from arrears.kit.migrate import upgrade
from tests.plans.support import worked_case


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("ARREARS_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = make_engine(url)
    upgrade(engine)
    worked_case(engine, "ACC-PLAN-CLI1")
    yield engine
    engine.dispose()
    get_settings.cache_clear()


def test_options_as_json(store) -> None:  # type: ignore[no-untyped-def]
    r = CliRunner().invoke(app, ["plans", "options", "--account", "ACC-PLAN-CLI1", "--date", "2026-01-31"])
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert body["inputs"] == {
        "business_date": "2026-01-31", "balance": 1_200_000, "balance_yuan": "12000.00", "overdue": 360_000,
        "overdue_yuan": "3600.00", "minimum_due": 360_000, "minimum_due_yuan": "3600.00", "dpd": 95,
        "affordable": 150_000, "affordable_yuan": "1500.00", "willingness": 4, "cause": "job_loss", "role": "agent"}
    by = {o["code"]: o for o in body["options"]}
    assert (by["inst_60"]["total"], by["inst_60"]["annual_rate"], by["inst_60"]["interest_yuan"]) == (
        1_494_585, "9.00", "2945.85")
    assert by["inst_12"]["schedule"][11] == {
        "number": 12, "due_date": "2027-01-31", "principal": 100_000, "fee": 7_200, "fee_waived": 0,
        "interest": 0, "amount": 107_200, "amount_yuan": "1072.00"}
    assert (by["settle_20"]["needs_approval"], by["settle_20"]["approval_role"]) == (True, "team_lead")
    r = CliRunner().invoke(app, ["plans", "options", "--account", "ACC-PLAN-CLI1", "--date", "2026-01-31",
                                 "--affordable", "1000", "--role", "team_lead"])
    by = {o["code"]: o for o in json.loads(r.stdout)["options"]}
    assert by["personalised"]["months"] == 12 and by["settle_20"]["needs_approval"] is False


@pytest.mark.parametrize(("args", "message"), [
    (["--account", "NOPE"], "no account 'NOPE'"),
    (["--account", "ACC-PLAN-CLI1", "--affordable", "12.345"], "at most 2 decimals"),
    (["--account", "ACC-PLAN-CLI1", "--affordable", "abc"], "is not an amount"),
    (["--account", "ACC-PLAN-CLI1", "--role", "boss"], "unknown role 'boss'"),
])
def test_bad_input_fails_clearly(store, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    r = CliRunner().invoke(app, ["plans", "options", *args])
    assert r.exit_code == 1 and message in r.output


def test_monitor_and_show(store) -> None:  # type: ignore[no-untyped-def]
    r = CliRunner().invoke(app, ["plans", "monitor", "--date", "2026-02-25"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["agreements"] == 0
    r = CliRunner().invoke(app, ["plans", "show", "--agreement", "99"])
    assert r.exit_code == 1 and "no agreement 99" in r.output
