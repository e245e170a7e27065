"""One cycle at a time per store, and new cases get their teams in the run's own transaction
(SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from arrears.auth.service import get_or_create_team
from arrears.batch.cycle import run_cycle
from arrears.cases.model import OPEN_STATES
from arrears.cases.queue import Skill, set_skills
from arrears.cases.tables import Case
from arrears.cli import app
from arrears.config import get_settings
from arrears.delinquency.model import DelinquencyRules
from arrears.delinquency.tables import CycleRun
from arrears.kit.db import transaction
from tests.factories import LedgerLoad, load
from tests.reports.test_book_figures import months

RULES = DelinquencyRules()
DAY = date(2026, 4, 20)


@pytest.fixture
def book(engine: Engine) -> Engine:
    load(engine, LedgerLoad(accounts=["A1", "A2", "A3"],
                            statements=months("A1", 3, 60_000) + months("A2", 3, 40_000) + months("A3", 2, 30_000)))
    return engine


def test_a_second_cycle_while_one_runs_stops_with_a_plain_message(book, store_url, monkeypatch):
    monkeypatch.setenv("ARREARS_DATABASE_URL", store_url)
    get_settings.cache_clear()
    writing, release = threading.Event(), threading.Event()

    def first_tick(step: str, done: int, _total: int) -> None:
        if step == "write" and done == 0 and not writing.is_set():
            writing.set()
            release.wait(60)  # the first run stays in the middle of its work

    outcome: list[object] = []
    first = threading.Thread(target=lambda: outcome.append(run_cycle(book, business_date=DAY, rules=RULES,
                                                                     progress=first_tick)))
    first.start()
    try:
        assert writing.wait(60)
        second = CliRunner().invoke(app, ["cycle", "--date", DAY.isoformat()])
    finally:
        release.set()
        first.join(120)
        get_settings.cache_clear()
    assert second.exit_code == 1, second.output
    assert f"another cycle for {DAY.isoformat()} is running" in second.output
    assert second.exception is None or isinstance(second.exception, SystemExit)
    assert "Traceback" not in second.output
    assert len(outcome) == 1  # the first run finished its work
    with book.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(CycleRun)) == 1
    # and once it is done, the next cycle runs
    assert run_cycle(book, business_date=DAY, rules=RULES).business_date == DAY


def test_new_cases_are_given_to_teams_in_the_runs_transaction(book):
    with transaction(book) as s:
        east = get_or_create_team(s, code="east", actor="test").id
        set_skills(s, team_id=east, skills=[Skill("M0", "M7+")])
    result = run_cycle(book, business_date=DAY, rules=RULES)
    # nothing else ran: no open case is left without its team once the run has committed
    with book.connect() as conn:
        teams = conn.execute(select(Case.team_id).where(Case.status.in_(OPEN_STATES))).scalars().all()
    assert teams and set(teams) == {east}
    assert result.cases_assigned == len(teams)


def test_a_run_whose_assignment_fails_leaves_the_store_as_it_was(book, monkeypatch):
    import arrears.batch.cycle as cycle_module

    with transaction(book) as s:
        east = get_or_create_team(s, code="east", actor="test").id
        set_skills(s, team_id=east, skills=[Skill("M0", "M7+")])

    def killed(*_args, **_kwargs):
        raise RuntimeError("killed between the cases and their teams")

    monkeypatch.setattr(cycle_module, "assign_cases", killed)
    with pytest.raises(RuntimeError):
        run_cycle(book, business_date=DAY, rules=RULES)
    with book.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(CycleRun)) == 0
        assert conn.scalar(select(func.count()).select_from(Case)) == 0
