"""The command line end to end, as a new user runs it (SQLite store in a temporary folder)."""

from __future__ import annotations

import csv
import os
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from arrears.cli import app
from arrears.config import get_settings
from arrears.kit.clock import frozen_at


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARREARS_DATABASE_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")
    monkeypatch.setenv("ARREARS_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_demo_generates_ingests_runs_and_prints_the_buckets(workdir: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--no-serve", "--accounts", "600", "--days", "2", "--seed", "3",
                                      "--date", "2026-11-28"])
    assert result.exit_code == 0, result.output
    assert "Buckets on 2026-11-28" in result.output
    export = workdir / "var" / "demo" / "delinquency-2026-11-28.csv"
    rows = list(csv.DictReader(export.open(encoding="utf-8")))
    assert len(rows) == 600
    buckets = {r["bucket"] for r in rows}
    assert "M0" in buckets and len(buckets) >= 3  # a realistic book has arrears in several buckets
    total_line = next(line for line in result.output.splitlines() if "total" in line)
    assert "600" in total_line
    # the demo signs its audit trail with a key of its own and anchors it with a checkpoint
    demo = workdir / "var" / "demo"
    assert (demo / "audit.key").exists() and (demo / "audit-checkpoints.jsonl").read_text().count("\n") == 1
    assert "ARREARS_AUDIT_KEY_FILE" not in os.environ  # the process's settings are as they were
    # and one customer's personal link to try, with the answers its identity check expects
    found = re.search(r"http://127\.0\.0\.1:8000/p/(\S+) — .*ID ending (\w{4}) and date of birth (\S+)\.",
                      " ".join(result.output.split()))
    assert found is not None, result.output


def test_the_demo_built_just_after_the_banks_midnight_anchors_its_audit_trail(workdir: Path) -> None:
    """Between the bank's midnight and its morning batch hour, today's batch must not be stamped in the
    future: the checkpoint written after it (at the real time) would find the chain out of order."""
    just_after_midnight = datetime(2026, 11, 28, 0, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    with frozen_at(just_after_midnight):
        result = CliRunner().invoke(app, ["demo", "--no-serve", "--accounts", "300", "--days", "2", "--seed", "3",
                                          "--date", "2026-11-28"])
    assert result.exit_code == 0, result.output
    assert (workdir / "var" / "demo" / "audit-checkpoints.jsonl").read_text().count("\n") == 1


def test_the_cycle_writes_an_audit_checkpoint_when_a_key_is_configured(workdir: Path, monkeypatch) -> None:
    runner = CliRunner()
    key, checkpoints = workdir / "audit.key", workdir / "checkpoints.jsonl"
    assert runner.invoke(app, ["audit", "keygen", str(key)]).exit_code == 0
    monkeypatch.setenv("ARREARS_AUDIT_KEY_FILE", str(key))
    monkeypatch.setenv("ARREARS_AUDIT_CHECKPOINT_FILE", str(checkpoints))
    get_settings.cache_clear()
    assert runner.invoke(app, ["sim", "portfolio", "--accounts", "50", "--seed", "5", "--out", str(workdir / "f"),
                               "--as-of", "2026-06-30"]).exit_code == 0
    assert runner.invoke(app, ["ingest", str(workdir / "f")]).exit_code == 0
    r = runner.invoke(app, ["cycle", "--date", "2026-06-30"])
    assert r.exit_code == 0, r.output
    assert "Audit checkpoint" in r.output and checkpoints.read_text().count("\n") == 1
    r = runner.invoke(app, ["audit", "verify"])
    assert r.exit_code == 0 and "intact" in r.output, r.output


def test_portfolio_ingest_cycle_export_by_hand(workdir: Path) -> None:
    runner = CliRunner()
    out = workdir / "files"
    r = runner.invoke(app, ["sim", "portfolio", "--accounts", "300", "--seed", "5", "--out", str(out),
                            "--as-of", "2026-06-30"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["ingest", str(out)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["cycle", "--date", "2026-06-30"])
    assert r.exit_code == 0, r.output
    first = r.output
    r = runner.invoke(app, ["cycle", "--date", "2026-06-30"])  # again: nothing new to write
    assert r.exit_code == 0 and "0 snapshots written" in r.output and "opened 0" in r.output, r.output
    assert "snapshots written" in first and "0 snapshots written" not in first
    target = workdir / "export.csv"
    r = runner.invoke(app, ["export", "delinquency", "--date", "2026-06-30", "--out", str(target)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert len(rows) == 300 and set(rows[0]) == {
        "account_id", "business_date", "dpd", "bucket", "cycles_delinquent", "amount_past_due_fen", "charge_off"}


def test_export_of_a_date_never_run_fails_clearly(workdir: Path) -> None:
    r = CliRunner().invoke(app, ["export", "delinquency", "--date", "2026-01-01"])
    assert r.exit_code == 1
    assert "no completed cycle for 2026-01-01" in r.output


def test_a_rejected_file_exits_non_zero_and_names_the_column(workdir: Path) -> None:
    bad = workdir / "payments.csv"
    bad.write_text("payment_id,account_id,amount_fen,value_date\nP1,A1,100,2026-01-01\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["ingest", str(bad)])
    assert r.exit_code == 1
    assert "payments.csv" in r.output and "channel" in r.output
