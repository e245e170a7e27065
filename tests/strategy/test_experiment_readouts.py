"""The experiments' cohorts and precomputed read-out sums written by the real strategy step (SQLite and
PostgreSQL): entries keep the arm at entry through share changes and re-runs, the sums of every date
equal the live read-out over the window from the experiment's first day, per team and for the whole
book, and the migration's backfill writes what the step wrote."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, select, text, update
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account
from arrears.auth.service import get_or_create_team
from arrears.cases.tables import Case, CaseTransition
from arrears.kit.clock import utc_now
from arrears.kit.db import transaction
from arrears.reports.experiments import SUM_COLUMNS, store_arm_stats, stored_arm_stats
from arrears.strategy.step import run_strategy_step
from arrears.strategy.tables import ExperimentArmStat, ExperimentEntry, StrategyDecision
from tests.cases.support import new_case
from tests.factories import LedgerLoad, load, migration_module
from tests.strategy.support import _run, _snapshot
from tests.strategy.test_step import STRATEGY

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
REFS = [f"ACC-X{i}" for i in range(8)]


def experiments(tmp_path: Path, a: int, name: str) -> Path:
    path = tmp_path / name
    path.write_text("experiments:\n  - code: e1\n    salt: e1-salt\n    arms:\n"
                    f"      - {{code: a, share_bp: {a}}}\n      - {{code: b, share_bp: {10_000 - a}}}\n", encoding="utf-8")
    return path


@pytest.fixture
def book(engine: Engine, tmp_path: Path) -> dict[str, Any]:
    """Eight accounts with open cases, in arrears on three dates; X0-X3 in team east; outcomes: X0 cured by
    the cycle of D2, X1 and X5 pay on D2, X6 pays on D3 and rolls M1→M2 on D3."""
    from arrears.delinquency.tables import BucketChange

    for ref in REFS:
        new_case(engine, ref)
    load(engine, LedgerLoad(payments=[("PX1", "ACC-X1", D2, 12_345), ("PX5", "ACC-X5", D2, 2_000_000_000_123),
                                      ("PX6", "ACC-X6", D3, 500)]))
    with transaction(engine) as s:
        east = get_or_create_team(s, code="east", actor="test").id
        west = get_or_create_team(s, code="west", actor="test").id
    with engine.begin() as conn:
        ids = dict(conn.execute(select(Account.account_ref, Account.id)).all())
        runs = {d: _run(conn, d) for d in (D1, D2, D3)}
        for i, ref in enumerate(REFS):
            for day in (D1, D2, D3):
                _snapshot(conn, ids[ref], day, dpd=10 + i + (day - D1).days, bucket="M1", cycles=1, past_due=10_000,
                          run_id=runs[day])
        conn.execute(update(Case).where(Case.account_id.in_([ids[r] for r in REFS[:4]])).values(team_id=east))
        case_x0 = conn.execute(select(Case.id).where(Case.account_id == ids["ACC-X0"])).scalar_one()
        conn.execute(insert(CaseTransition).values(case_id=case_x0, from_state="new", to_state="cured", actor="cycle",
                                                   reason="paid", at=utc_now(), cycle_run_id=runs[D2]))
        conn.execute(insert(BucketChange).values(account_id=ids["ACC-X6"], business_date=D3, from_bucket="M1",
                                                 to_bucket="M2", dpd=31, cycle_run_id=runs[D3]))
    strategy = tmp_path / "test-early.yaml"
    strategy.write_text(STRATEGY, encoding="utf-8")
    return {"ids": ids, "east": east, "west": west, "strategy": strategy}


def entries(engine: Engine) -> dict[int, tuple[str, date]]:
    with engine.connect() as conn:
        rows = conn.execute(select(ExperimentEntry.account_id, ExperimentEntry.experiment, ExperimentEntry.arm,
                                   ExperimentEntry.entered_on)).all()
    assert {e for _, e, _, _ in rows} <= {"e1"}
    return {a: (arm, d) for a, _, arm, d in rows}


def stats_rows(engine: Engine) -> set[tuple[Any, ...]]:
    st = ExperimentArmStat
    with engine.connect() as conn:
        rows = conn.execute(select(st.business_date, st.team_id, st.experiment, st.arm, st.started_on,
                                   *(getattr(st, c) for c in SUM_COLUMNS))).all()
    out = {tuple(r) for r in rows}
    assert len(out) == len(rows)
    return out


def decided_arms(engine: Engine, day: date) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(StrategyDecision.account_id, StrategyDecision.arm)
                                 .where(StrategyDecision.business_date == day)).all())


def test_the_step_writes_entries_and_sums_equal_to_the_live_readout(engine: Engine, book: dict[str, Any],
                                                                    tmp_path: Path) -> None:
    half, all_b = experiments(tmp_path, 5_000, "half.yaml"), experiments(tmp_path, 0, "all-b.yaml")
    files = [book["strategy"]]
    first = run_strategy_step(engine, business_date=D1, strategy_files=files, experiments_file=half)
    at_entry = decided_arms(engine, D1)
    assert set(entries(engine)) == set(book["ids"].values()) == set(at_entry) and dict(first.arms)
    assert set(at_entry.values()) == {"a", "b"}, "the salt should split eight accounts"
    # the shares change: every account is now dealt b, but stays in the arm it entered with
    for day in (D2, D3):
        run_strategy_step(engine, business_date=day, strategy_files=files, experiments_file=all_b)
        assert set(decided_arms(engine, day).values()) == {"b"}
    assert entries(engine) == {a: (arm, D1) for a, arm in at_entry.items()}

    with Session(engine) as s:
        for day in (D1, D2, D3):
            for team in (None, book["east"], book["west"]):
                as_of, since, got = stored_arm_stats(s, to_date=day, team_id=team)
                live = store_arm_stats(s, from_date=D1, to_date=day, team_id=team)
                assert (as_of, got) == (day, live), (day, team)
                assert since == ({"e1": D1} if live else {})
        # after the last cycle date the page reads D3's sums
        assert stored_arm_stats(s, to_date=D3 + timedelta(days=30))[0] == D3
        assert stored_arm_stats(s, to_date=D1 - timedelta(days=1)) == (None, {}, {})
        whole = stored_arm_stats(s, to_date=D3)[2]["e1"]
    # hand check of the whole book as of D3: everyone once; X0 cured, X6 rolled; X1 + X5 + X6 paid
    assert sum(a.n for a in whole.values()) == len(REFS)
    assert sum(a.cured for a in whole.values()) == 1 and sum(a.rolled for a in whole.values()) == 1
    assert sum(a.recovered_fen for a in whole.values()) == 12_345 + 2_000_000_000_123 + 500
    assert sum(a.recovered_sq for a in whole.values()) == 12_345**2 + 2_000_000_000_123**2 + 500**2
    ids = book["ids"]
    assert whole[at_entry[ids["ACC-X6"]]].rolled == 1 and whole[at_entry[ids["ACC-X0"]]].cured == 1

    # re-running a date rewrites its sums and adds no entry, whatever arm the new run deals
    before = stats_rows(engine)
    run_strategy_step(engine, business_date=D1, strategy_files=files, experiments_file=all_b)
    assert set(decided_arms(engine, D1).values()) == {"b"}
    assert entries(engine) == {a: (arm, D1) for a, arm in at_entry.items()}
    assert stats_rows(engine) == before


def test_the_migration_backfill_writes_what_the_step_wrote(engine: Engine, book: dict[str, Any],
                                                           tmp_path: Path) -> None:
    half = experiments(tmp_path, 5_000, "half.yaml")
    for day in (D1, D2, D3):
        run_strategy_step(engine, business_date=day, strategy_files=[book["strategy"]], experiments_file=half)
    want_entries, want_stats = entries(engine), stats_rows(engine)
    assert want_entries and want_stats
    migration = migration_module("20261207_0013_experiment_readouts.py")
    with engine.begin() as conn:
        conn.execute(delete(ExperimentArmStat))
        conn.execute(delete(ExperimentEntry))
        conn.execute(text(migration.BACKFILL))
        migration.backfill_stats(conn, "Asia/Shanghai")
    assert entries(engine) == want_entries
    assert stats_rows(engine) == want_stats
