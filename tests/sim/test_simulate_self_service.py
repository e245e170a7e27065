"""``arrears simulate`` with the self-service path: the same book and seed without and with the
personal link, side by side; deterministic; the path's own figures; its options and their errors."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from arrears.sim.behaviour import synthetic_customers
from arrears.sim.commands import simulate as simulate_command
from arrears.sim.self_service import Costs, Propensity, compare, parse_open_by_bucket
from arrears.sim.simulate import simulate
from arrears.strategy.config import load_strategy

ROOT = Path(__file__).resolve().parents[2]
EARLY = ROOT / "strategies" / "early-gentle.yaml"
LATE = ROOT / "strategies" / "late-stage.yaml"
START = date(2026, 3, 2)

app = typer.Typer()
app.command("simulate")(simulate_command)
app.command("noop")(lambda: None)  # two commands, so "simulate" is a sub-command as in the real CLI
runner = CliRunner()


@pytest.fixture(scope="module")
def strategies() -> list:  # type: ignore[type-arg]
    return [load_strategy(EARLY), load_strategy(LATE)]


def test_both_arms_run_on_the_same_book_and_the_path_reports_its_own_figures(strategies: list) -> None:  # type: ignore[type-arg]
    customers = synthetic_customers(300, seed=5)
    first = compare(customers, strategies, days=12, start=START, seed=5)
    again = compare(customers, strategies, days=12, start=START, seed=5)
    assert first == again  # same seed, same figures
    a, b = first.without, first.with_path
    assert (a.accounts, a.delinquent_at_start) == (b.accounts, b.delinquent_at_start) == (300, 300)
    assert a.self_service["links"] == 0 and all(v == 0 for v in a.self_service.values())
    ss = b.self_service
    assert ss["links"] > 0
    assert ss["links"] >= ss["opened"] >= ss["verified"] >= ss["acted"] > 0
    assert ss["acted"] == ss["paid"] + ss["promised"] + ss["plans"] + ss["callbacks"]
    assert b.payment_fees == (ss["paid_fen"] * 60 + 5_000) // 10_000 and b.payment_fees > 0
    assert a.payment_fees == 0
    # the arm without the path is exactly the simulation without it
    plain = simulate(customers, strategies, days=12, start=START, seed=5, keep_events=False)
    assert plain.report.total.recovered == a.recovered and plain.resolved == a.resolved
    # costs are what the options say they are
    assert a.message_cost == a.sms * 5 + a.email * 1 + a.letter * 300
    assert b.message_cost == (b.sms + ss["links"] - ss["links_email"]) * 5 + (b.email + ss["links_email"]) + b.letter * 300
    assert a.cost_per_resolved is not None and a.resolved > 0
    assert a.cost_per_resolved == (2 * a.total_cost + a.resolved) // (2 * a.resolved)
    text = first.text()
    assert "cost per resolved case (CNY)" in text and "links sent" in text and "without" in text


def test_nobody_uses_the_link_when_nobody_opens_it(strategies: list) -> None:  # type: ignore[type-arg]
    customers = synthetic_customers(150, seed=2)
    closed = Propensity(open_by_bucket={}, open_other=0.0)
    result = compare(customers, strategies, days=8, start=START, seed=2, propensity=closed)
    ss = result.with_path.self_service
    assert ss["links"] > 0 and ss["opened"] == ss["acted"] == 0
    assert result.with_path.payment_fees == 0
    # eager customers do more themselves
    eager = compare(customers, strategies, days=8, start=START, seed=2,
                    propensity=Propensity(open_by_bucket={}, open_other=1.0, verify=1.0, act=1.0))
    assert eager.with_path.self_service["acted"] > 0


def test_costs_and_propensities_are_checked() -> None:
    with pytest.raises(ValueError, match="verify must be between 0 and 1"):
        Propensity(verify=1.5)
    with pytest.raises(ValueError, match="sms_fen must be a whole number >= 0"):
        Costs(sms_fen=-1)
    assert parse_open_by_bucket("M1=0.5, M2=0") == {"M1": 0.5, "M2": 0.0}
    for bad in ("M1", "M1=x", "M1=2", "=0.3"):
        with pytest.raises(ValueError, match="--link-open"):
            parse_open_by_bucket(bad)


def test_the_command_line_compares_both_arms(tmp_path: Path) -> None:
    out = tmp_path / "self-service.json"
    args = ["simulate", "--strategy", str(EARLY), "--strategy", str(LATE), "--days", "6", "--accounts", "80",
            "--seed", "7", "--self-service", "--sms-fen", "8", "--payment-fee-bp", "100", "--json", str(out)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "Self-service: the same 80 accounts and seed 7, 6 days from 2026-03-02" in r.stdout
    assert "cost per resolved case (CNY)" in r.stdout and "links sent" in r.stdout
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["costs"]["sms_fen"] == 8 and report["costs"]["payment_fee_bp"] == 100
    assert report["propensity"]["open_by_bucket"] == {"M1": 0.45, "M2": 0.35, "M3": 0.25}
    without, with_path = report["without_self_service"], report["with_self_service"]
    assert without["accounts"] == with_path["accounts"] == 80
    assert with_path["self_service"]["links"] > 0 and without["self_service"]["links"] == 0
    assert with_path["message_cost"] >= with_path["sms"] * 8
    again = runner.invoke(app, args)
    assert json.loads(out.read_text(encoding="utf-8")) == report
    assert again.stdout.splitlines()[:-2] == r.stdout.splitlines()[:-2]  # all but the timing and file lines


@pytest.mark.parametrize(("extra", "message"), [
    (["--link-open", "M1=1.5"], "--link-open: 'M1=1.5' is not BUCKET=PROBABILITY"),
    (["--link-verify", "2"], "--link-verify"),
    (["--sms-fen", "-1"], "--sms-fen"),
])
def test_bad_self_service_options_are_refused(extra: list[str], message: str) -> None:
    r = runner.invoke(app, ["simulate", "--strategy", str(EARLY), "--days", "2", "--accounts", "10",
                            "--self-service", *extra])
    assert r.exit_code == 2
    assert message in r.output
