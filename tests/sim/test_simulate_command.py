"""``arrears simulate``: runs a strategy file for a few days and rejects bad input."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from arrears.sim.commands import simulate

ROOT = Path(__file__).resolve().parents[2]
EARLY = ROOT / "strategies" / "early-gentle.yaml"
LATE = ROOT / "strategies" / "late-stage.yaml"

app = typer.Typer()
app.command("simulate")(simulate)
app.command("noop")(lambda: None)  # two commands, so "simulate" is a sub-command as in the real CLI
runner = CliRunner()


def test_simulate_runs_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    args = ["simulate", "--strategy", str(EARLY), "--strategy", str(LATE), "--days", "3", "--accounts", "60",
            "--seed", "4", "--start", "2026-04-03", "--json", str(out)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "Simulated 60 accounts for 3 days (2026-04-03 – 2026-04-05)" in r.stdout
    assert "strategies early-gentle v1, late-stage v1, pack cn 2026.2, seed 4" in r.stdout
    for measure in ("recovered", "cure rate", "roll rate", "calls", "messages", "blocked by the gate", "promises",
                    "plans", "escalations"):
        assert measure in r.stdout
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["accounts"] == 60 and report["days"] == 3 and report["seed"] == 4
    assert isinstance(report["recovered"], int) and isinstance(report["rule_blocks"], dict)
    again = runner.invoke(app, args)
    assert json.loads(out.read_text(encoding="utf-8")) == report
    assert again.stdout.splitlines()[:-2] == r.stdout.splitlines()[:-2]  # all but the timing and file lines


def test_simulate_per_arm(tmp_path: Path) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text("experiments:\n  - code: e1\n    salt: e1-salt\n    champion: champ\n    arms:\n"
                   "      - {code: champ, share_bp: 5000, strategy: early-gentle}\n"
                   "      - {code: late, share_bp: 5000, strategy: late-stage}\n", encoding="utf-8")
    r = runner.invoke(app, ["simulate", "--strategy", str(EARLY), "--strategy", str(LATE), "--days", "2",
                            "--accounts", "40", "--experiments", str(exp)])
    assert r.exit_code == 0, r.output
    assert "by experiment arm" in r.stdout and "e1/champ" in r.stdout


def test_simulate_rejects_bad_input(tmp_path: Path) -> None:
    r = runner.invoke(app, ["simulate", "--strategy", str(tmp_path / "missing.yaml"), "--days", "3"])
    assert r.exit_code == 1 and "missing.yaml: no such file" in r.stderr
    r = runner.invoke(app, ["simulate", "--strategy", str(EARLY), "--days", "0"])
    assert r.exit_code == 2 and "--days must be at least 1, got 0" in r.stderr
    r = runner.invoke(app, ["simulate", "--strategy", str(EARLY)])
    assert r.exit_code == 2  # --days is required
    r = runner.invoke(app, ["simulate", "--strategy", str(EARLY), "--days", "2", "--accounts", "5", "--pack", "xx"])
    assert r.exit_code == 1 and "unknown pack 'xx'" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("strategy: {name: s, version: 1}\nsegments:\n  - {code: a, when: dpdd > 3, path: []}\n",
                   encoding="utf-8")
    r = runner.invoke(app, ["simulate", "--strategy", str(bad), "--days", "2"])
    assert r.exit_code == 1 and "unknown column 'dpdd'" in r.stderr
    r = runner.invoke(app, ["simulate", "--strategy", str(EARLY), "--strategy", str(EARLY), "--days", "2"])
    assert r.exit_code == 1 and "same strategy name" in r.stderr
