"""``arrears contact plan`` and ``arrears contact best-time`` (SQLite store in a temporary folder)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from sqlalchemy import insert, select
from typer.testing import CliRunner

from arrears.accounts.tables import Account, ContactPoint
from arrears.cases.tables import Interaction
from arrears.config import get_settings
from arrears.contact.commands import contact_app
from arrears.kit.clock import utc_now
from arrears.kit.db import make_engine
from arrears.kit.migrate import upgrade
from tests.auth.factories import add_user
from tests.cases.support import new_case

app = typer.Typer()
app.add_typer(contact_app, name="contact")
runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("ARREARS_DATABASE_URL", url)
    monkeypatch.setenv("ARREARS_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    engine = make_engine(url)
    upgrade(engine)
    cases = {}
    for ref in ("ACC-C1", "ACC-C2", "ACC-C3"):
        cases[ref] = new_case(engine, ref)
    with engine.begin() as conn:
        for n, ref in enumerate(("ACC-C1", "ACC-C2")):
            customer = conn.execute(select(Account.customer_id).where(Account.account_ref == ref)).scalar_one()
            point = conn.execute(insert(ContactPoint).values(
                contact_ref=f"CP-{n}", customer_id=customer, kind="phone", value="13900000000", owner="debtor",
                verified=True, opted_out=False, created_at=utc_now()).returning(ContactPoint.id)).scalar_one()
            # reached on Tuesday evenings (19:xx Shanghai), never on Tuesday mornings
            for week in range(4):
                for hour, outcome in ((11, "right_party_contact"), (2, "no_answer")):
                    conn.execute(insert(Interaction).values(
                        case_id=cases[ref], channel="call", direction="outbound", party="debtor",
                        contact_point_id=point, started_at=datetime(2026, 2, 3 + 7 * week, hour, 10, tzinfo=UTC),
                        outcome=outcome, created_at=utc_now()))
    add_user(engine, "li.na")
    add_user(engine, "wang.wei")
    yield tmp_path
    engine.dispose()
    get_settings.cache_clear()


def test_plan_writes_the_dialer_file(store: Path) -> None:
    out = store / "dialer.csv"
    r = runner.invoke(app, ["contact", "plan", "--date", "2026-03-10", "--out", str(out), "--locale", "en"])
    assert r.exit_code == 0, r.output
    assert "3 case(s) due a call, 2 agent shift(s), 12 calls per agent-hour" in r.stdout
    assert "planned 2, left for lack of capacity 0, no allowed hour 1" in r.stdout  # ACC-C3 has no phone
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["account_ref"] for r in rows] == ["ACC-C1", "ACC-C2"]
    for row in rows:
        assert row["scheduled_hour_local"].startswith("2026-03-10T19:00")
        assert row["reason"].startswith("Tuesday 19:00–20:00: reached 4 of 4 times in this hour")
        assert "13900000000" not in ",".join(row.values())


def test_plan_with_a_shifts_file(store: Path) -> None:
    shifts = store / "shifts.yaml"
    shifts.write_text('calls_per_agent_hour: 1\ndefault: {start: "08:00", end: "12:00"}\n'
                      'agents:\n  wang.wei: off\n', encoding="utf-8")
    r = runner.invoke(app, ["contact", "plan", "--date", "2026-03-10", "--shifts", str(shifts)])
    assert r.exit_code == 0, r.output
    assert "1 agent shift(s), 1 calls per agent-hour" in r.stdout
    assert "19:00 0" in r.stdout and "08:00 1" in r.stdout
    default_file = store / "var" / "dialer-2026-03-10.csv"
    rows = list(csv.DictReader(default_file.open(encoding="utf-8")))
    assert len(rows) == 2 and all(int(r["scheduled_hour_local"][11:13]) < 12 for r in rows)
    assert rows[0]["reason"].startswith("周二")


def test_bad_shifts_file_names_the_field(store: Path) -> None:
    shifts = store / "shifts.yaml"
    shifts.write_text('agents:\n  nobody: {start: "08:00", end: "12:00"}\n', encoding="utf-8")
    r = runner.invoke(app, ["contact", "plan", "--date", "2026-03-10", "--shifts", str(shifts)])
    assert r.exit_code == 1
    assert f"{shifts}, field 'agents.nobody': no active agent 'nobody'" in r.stderr
    shifts.write_text('default: {start: "08:30", end: "12:00"}\n', encoding="utf-8")
    r = runner.invoke(app, ["contact", "plan", "--date", "2026-03-10", "--shifts", str(shifts)])
    assert r.exit_code == 1 and "field 'default.start'" in r.stderr


def test_best_time(store: Path) -> None:
    r = runner.invoke(app, ["contact", "best-time", "--account", "ACC-C1", "--top", "2", "--date", "2026-03-10"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == "ACC-C1（Asia/Shanghai）最佳联系时段："
    assert lines[1].startswith("1. 周二 19:00–20:00：本人过去在该时段接通 4/4 次")
    assert len(lines) == 3
    r = runner.invoke(app, ["contact", "best-time", "--account", "NOPE"])
    assert r.exit_code == 1 and "no account 'NOPE'" in r.stderr
