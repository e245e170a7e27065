"""``arrears strategy validate`` and ``arrears strategy explain`` (SQLite store in a temporary folder)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from arrears.config import get_settings
from arrears.kit.db import make_engine
from arrears.kit.migrate import upgrade
from arrears.strategy.commands import strategy_app
from tests.strategy.support import build_portfolio

ROOT = Path(__file__).resolve().parents[2]
EARLY = ROOT / "strategies" / "early-gentle.yaml"
LATE = ROOT / "strategies" / "late-stage.yaml"

app = typer.Typer()
app.add_typer(strategy_app, name="strategy")
runner = CliRunner()


def test_validate_ok() -> None:
    r = runner.invoke(app, ["strategy", "validate", str(EARLY), str(LATE)])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        f"OK {EARLY}: early-gentle v1, 6 segment(s), 14 action(s)",
        f"OK {LATE}: late-stage v1, 7 segment(s), 16 action(s)",
    ]


def test_validate_names_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("strategy: {name: s, version: 1}\nsegments:\n  - code: a\n    when: dpdd > 30\n    path: []\n"
                   "  - {code: b, path: []}\n", encoding="utf-8")
    r = runner.invoke(app, ["strategy", "validate", str(EARLY), str(bad)])
    assert r.exit_code == 1
    assert f"OK {EARLY}" in r.stdout
    assert (f"error: {bad}, line 4, field 'segments[0].when': unknown column 'dpdd' (did you mean 'dpd'?)"
            in r.stderr)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("ARREARS_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = make_engine(url)
    upgrade(engine)
    ids = build_portfolio(engine)
    yield ids
    engine.dispose()
    get_settings.cache_clear()


def test_explain_an_account_on_hold(store) -> None:  # type: ignore[no-untyped-def]
    r = runner.invoke(app, ["strategy", "explain", "--account", "ACC-S1", "--file", str(EARLY), "--date", "2026-03-01"])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        f"account ACC-S1 (id {store['ACC-S1']}) on 2026-03-01: strategy early-gentle v1",
        "segment on_hold chosen: hold_active OR hold_review_pending is true "
        "(hold_active = true, hold_review_pending = true)",
        "in segment since 2026-03-01 (day 0)",
        "no treatment: this segment's path is empty",
    ]


def test_explain_by_store_id_with_entry_date(store) -> None:  # type: ignore[no-untyped-def]
    r = runner.invoke(app, ["strategy", "explain", "--account", str(store["ACC-S2"]), "--file", str(LATE),
                            "--date", "2026-03-01", "--since", "2026-02-20"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "segment m4_legal not chosen: balance >= 5000000 is false (balance = 0)" in lines
    assert "segment m4 chosen: dpd > 90 is true (dpd = 95)" in lines
    assert "in segment since 2026-02-20 (day 9)" in lines
    assert "  step 2: day 0, every 3 days: call_queue queue=late_calls priority=3 when NOT open_promise" in lines
    assert lines[-1] == ("  2026-03-06 (day 14) step 3: day 14: review_task queue=late_review when rpc_30d = 0 "
                         "(condition true today)")


@pytest.mark.parametrize(("args", "message"), [
    (["--account", "NOPE"], "no account 'NOPE'"),
    (["--account", "ACC-S1", "--file", "missing.yaml"], "cannot read the rules file"),
])
def test_explain_fails_clearly(store, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    if "--file" not in args:
        args = [*args, "--file", str(EARLY)]
    r = runner.invoke(app, ["strategy", "explain", *args, "--date", "2026-03-01"])
    assert r.exit_code == 1 and message in r.stderr
