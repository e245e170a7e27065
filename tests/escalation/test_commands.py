"""The commands: arrears agency / legal / chargeoff / recoveries, end to end on a store."""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arrears.cli import app
from arrears.config import get_settings
from tests.escalation.support import EXAMPLE, escalated, pay, ready_to_place, status, task

runner = CliRunner()


@pytest.fixture
def cli_store(engine, store_url, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ARREARS_DATABASE_URL", store_url)
    monkeypatch.setenv("ARREARS_AGENCIES_FILE", str(EXAMPLE))
    get_settings.cache_clear()
    yield engine
    get_settings.cache_clear()


def _ok(*args: str) -> str:
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, (r.output, r.stderr if r.stderr_bytes is not None else "")
    return r.stdout


def test_agency_commands(cli_store, tmp_path: Path):
    engine = cli_store
    case_id = escalated(engine, "ACC-1", "agency_placement", dpd=120, balance=1_000_000)
    ready_to_place(engine, "huaxia", date(2026, 3, 1))
    out = tmp_path / "placement.csv"
    assert "1 account(s) placed with huaxia" in _ok("agency", "place", "--agency", "huaxia", "--date", "2026-03-01",
                                                  "--out", str(out), "--reason", "monthly placement")
    manifest = json.loads(Path(f"{out}.manifest.json").read_text(encoding="utf-8"))
    assert manifest["file"] == "placement.csv" and manifest["rows"] == 1
    assert manifest["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    placement_id = out.read_text(encoding="utf-8").splitlines()[1].split(",")[0]

    report = tmp_path / "collected.csv"
    report.write_text("collection_ref,placement_id,account_ref,value_date,amount_fen\n"
                      f"HX-1,{placement_id},ACC-1,2026-03-05,100000\n", encoding="utf-8")
    text = _ok("agency", "collections", str(report), "--agency", "huaxia")
    assert "1 loaded, 0 already loaded" in text and "commission 150.00 CNY" in text
    assert "0 loaded, 1 already loaded" in _ok("agency", "collections", str(report), "--agency", "huaxia")

    bad = tmp_path / "bad.csv"
    bad.write_text("collection_ref,placement_id,account_ref,value_date,amount_fen\n"
                   f"HX-2,{placement_id},ACC-1,2026-03-05,1.5\n", encoding="utf-8")
    r = runner.invoke(app, ["agency", "collections", str(bad), "--agency", "huaxia"])
    assert r.exit_code == 1
    assert f"{bad}, row 2, column 'amount_fen': '1.5' is not a whole number" in " ".join(r.stderr.split())

    recall = tmp_path / "recall.csv"
    assert "0 placement(s) recalled" in _ok("agency", "recall", "--date", "2026-05-29", "--out", str(recall))
    assert "1 placement(s) recalled" in _ok("agency", "recall", "--date", "2026-05-30", "--out", str(recall))
    assert recall.read_text(encoding="utf-8").splitlines()[1].endswith(",2026-05-30,term_expired")
    assert status(engine, case_id) == "follow_up"

    r = runner.invoke(app, ["agency", "place", "--agency", "nobody", "--date", "2026-03-01", "--out", str(out),
                                 "--reason", "monthly placement"])
    assert r.exit_code == 1 and "unknown agency 'nobody'" in r.stderr


def test_legal_and_chargeoff_commands(cli_store, tmp_path: Path):
    engine = cli_store
    legal = escalated(engine, "ACC-L", "legal_review", dpd=200, balance=2_000_000)
    assert "ACC-L" in _ok("legal", "queue", "--date", "2026-03-01")
    one, two = tmp_path / "b1.zip", tmp_path / "b2.zip"
    _ok("legal", "bundle", "--case", str(legal), "--out", str(one), "--reason", "court filing")
    _ok("legal", "bundle", "--case", str(legal), "--out", str(two), "--reason", "court filing")
    assert one.read_bytes() == two.read_bytes()
    assert "manifest.json" in zipfile.ZipFile(one).namelist()
    assert "legal referral returned" in _ok("legal", "decide", "--case", str(legal), "--decision", "return",
                                            "--note", "no assets found", "--by", "zhang.lawyer")
    r = runner.invoke(app, ["legal", "decide", "--case", str(legal), "--decision", "return", "--note", "x",
                            "--by", "zhang.lawyer"])
    assert r.exit_code == 1 and "not in legal_review" in r.stderr

    task(engine, legal, "charge_off")
    assert "charged off on 2026-03-31" in _ok("chargeoff", "approve", "--case", str(legal), "--by", "chen",
                                              "--date", "2026-03-31")
    task(engine, legal, "charge_off")
    r = runner.invoke(app, ["chargeoff", "approve", "--case", str(legal), "--by", "chen", "--date", "2026-04-30"])
    assert r.exit_code == 1 and "charged off once" in r.stderr

    pay(engine, "ACC-L", (date(2026, 4, 2), 12_345))
    out = json.loads(_ok("recoveries", "report", "--from", "2026-04-01", "--to", "2026-04-30", "--json"))
    assert out["lines"] == [{"charge_off_month": "2026-03", "channel": "direct", "items": 1, "gross_fen": 12_345,
                             "commission_fen": 0, "net_fen": 12_345}]
    assert out["total"] == {"gross_fen": 12_345, "commission_fen": 0, "net_fen": 12_345}
    assert "2026-03" in _ok("recoveries", "report", "--from", "2026-04-01", "--to", "2026-04-30")
