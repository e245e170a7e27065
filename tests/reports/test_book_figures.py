"""The book figures the dashboards read (``book_figures``), written by the real cycle on SQLite and
PostgreSQL: after every run they equal the same figures grouped from the store's current snapshots and
cases — through late payments that restate the past, and through the assignment of cases to teams."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select, text
from sqlalchemy.orm import Session

from arrears.auth.service import get_or_create_team
from arrears.auth.tables import Team
from arrears.batch.cycle import run_cycle
from arrears.cases.model import OPEN_STATES
from arrears.cases.queue import Skill, assign_cases, set_skills
from arrears.cases.tables import Case
from arrears.delinquency.model import DelinquencyRules
from arrears.delinquency.tables import BookFigure, CycleRun, DelinquencySnapshot
from arrears.kit.db import transaction
from arrears.reports import service
from tests.factories import LedgerLoad, load, migration_module

RULES = DelinquencyRules()


def months(ref: str, n: int, minimum: int, start: date = date(2026, 1, 5)) -> list:
    out = []
    for i in range(n):
        stmt = date(start.year + (start.month - 1 + i) // 12, (start.month - 1 + i) % 12 + 1, start.day)
        out.append((ref, stmt, stmt + timedelta(days=20), minimum, 0))
    return out


def stored(engine: Engine) -> dict[tuple[date, int | None, str], tuple[int, int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(BookFigure.business_date, BookFigure.team_id, BookFigure.bucket,
                                   BookFigure.accounts, BookFigure.amount_past_due, BookFigure.balance)).all()
    out = {(d, t, b): (int(n), int(p), int(bal)) for d, t, b, n, p, bal in rows}
    assert len(out) == len(rows), "one row per date, team and bucket"
    return out


def reference(engine: Engine, dates: list[date] | None = None) -> dict[tuple[date, int | None, str], tuple[int, int, int]]:
    """The definition, in Python over the raw rows: current delinquent snapshots; the team of the
    account's latest case; the balance of its open case."""
    with engine.connect() as conn:
        snaps = conn.execute(select(DelinquencySnapshot.account_id, DelinquencySnapshot.business_date,
                                    DelinquencySnapshot.bucket, DelinquencySnapshot.amount_past_due)
                             .where(DelinquencySnapshot.superseded_by_run_id.is_(None),
                                    DelinquencySnapshot.delinquent)).all()
        cases = conn.execute(select(Case.id, Case.account_id, Case.team_id, Case.status, Case.balance)).all()
    latest: dict[int, tuple[int, int | None]] = {}
    balance: dict[int, int] = {}
    for cid, account, team, status, bal in cases:
        if account not in latest or cid > latest[account][0]:
            latest[account] = (cid, team)
        if status in OPEN_STATES:
            balance[account] = max(balance.get(account, 0), bal)
    out: dict[tuple[date, int | None, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for account, day, bucket, past_due in snaps:
        if dates is not None and day not in dates:
            continue
        row = out[(day, latest.get(account, (0, None))[1], bucket)]
        row[0] += 1
        row[1] += past_due
        row[2] += balance.get(account, 0)
    return {k: (a, p, b) for k, (a, p, b) in out.items()}


ledger_events = st.lists(
    st.tuples(st.sampled_from(["A1", "A2", "A3", "A4"]), st.integers(0, 70), st.integers(1, 90_000),
              st.integers(0, 70)),
    max_size=10,
)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=ledger_events, minimum=st.integers(10_000, 80_000))
def test_the_cycle_keeps_the_book_figures_equal_to_the_snapshots(engine: Engine, events, minimum) -> None:
    """Payments reach the store on arbitrary run days, often backdated, and new cases are given to the
    team of their bucket: after every run the figures of its date and of every date it restated are
    those of the current snapshots, per team; no other date moves."""
    from arrears.kit.models import metadata

    with engine.begin() as conn:  # hypothesis reuses the fixture: start each example empty
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    refs = ["A1", "A2", "A3", "A4"]
    start = date(2026, 1, 20)
    starts = {"A1": (3, date(2026, 1, 5)), "A2": (2, date(2026, 2, 5)), "A3": (5, date(2025, 10, 5)),
              "A4": (4, date(2025, 11, 5))}  # arrears of different ages: different buckets, different teams
    load(engine, LedgerLoad(accounts=refs, statements=[s for r in refs
                                                       for s in months(r, starts[r][0], minimum, starts[r][1])]))
    with transaction(engine) as s:  # two teams by bucket: accounts land in both, and some in none for a while
        for code, skill in (("early", Skill("M1", "M1")), ("late", Skill("M3", "M7+"))):
            team = Team(code=code, name=code)  # not the audited service: the audit log is append-only
            s.add(team)
            s.flush()
            set_skills(s, team_id=team.id, skills=[skill])
    payments = [(f"P{i}", ref, start + timedelta(days=v), amt, start + timedelta(days=arr))
                for i, (ref, v, amt, arr) in enumerate(events)]
    loaded: set[str] = set()
    for d in [start + timedelta(days=9 * i) for i in range(8)]:
        arrived = [(p, r, v, a) for p, r, v, a, arr in payments if arr <= d and p not in loaded]
        if arrived:
            load(engine, LedgerLoad(payments=arrived))
            loaded.update(p for p, *_ in arrived)
        before = stored(engine)
        run_cycle(engine, business_date=d, rules=RULES)
        with transaction(engine) as s:  # as `arrears cycle` does after the run
            assign_cases(s)
        with engine.connect() as conn:
            runs = conn.execute(select(CycleRun.business_date, CycleRun.restated_from)
                                .where(CycleRun.status == "completed").order_by(CycleRun.id)).all()
        restated_from = runs[-1].restated_from
        rewritten = {d} | {day for day, _ in runs if restated_from is not None and day >= restated_from}
        # the dates this run wrote are those of the snapshots and cases as they now stand; the other
        # dates keep the figures (team, balance) they were written with
        assert stored(engine) == {**{k: v for k, v in before.items() if k[0] not in rewritten},
                                  **reference(engine, sorted(rewritten))}


def test_assignment_moves_the_latest_date_into_the_teams_and_the_reports_read_it(engine: Engine) -> None:
    refs = ["A1", "A2", "A3"]
    load(engine, LedgerLoad(accounts=refs, statements=months("A1", 3, 60_000) + months("A2", 3, 40_000)
                            + months("A3", 2, 30_000)))
    d1, d2 = date(2026, 3, 10), date(2026, 3, 11)
    run_cycle(engine, business_date=d1, rules=RULES)
    run_cycle(engine, business_date=d2, rules=RULES)
    before = stored(engine)
    assert before and {t for _, t, _ in before} == {None}  # no case has a team yet
    with transaction(engine) as s:
        east = get_or_create_team(s, code="east", actor="test").id
        set_skills(s, team_id=east, skills=[Skill("M0", "M7+")])
        assert sum(assign_cases(s).values()) == 3
    after = stored(engine)
    assert after == {**{k: v for k, v in before.items() if k[0] == d1},
                     **{k: v for k, v in reference(engine, [d2]).items()}}
    assert {t for d, t, _ in after if d == d2} == {east}
    # the team lead's figures of the latest date are the whole book's, the earlier date's are the team's as then
    with Session(engine) as s:
        book = service.by_bucket(s, business_date=d2)
        team = service.by_bucket(s, business_date=d2, team_id=east)
        assert team == book and sum(r["accounts"] for r in book) == 3
        assert service.by_bucket(s, business_date=d1, team_id=east) == []
        assert sum(r["past_due_fen"] for r in book) == sum(v[1] for k, v in after.items() if k[0] == d2)


def test_the_migration_fills_the_figures_the_cycle_would_write(engine: Engine) -> None:
    """Stores that had snapshots before ``book_figures`` existed: the migration's backfill equals the
    cycle's own refresh."""
    refs = ["A1", "A2", "A3"]
    load(engine, LedgerLoad(accounts=refs, statements=months("A1", 3, 60_000) + months("A2", 2, 40_000),
                            payments=[("P1", "A2", date(2026, 3, 2), 10_000)]))
    for d in (date(2026, 3, 1), date(2026, 3, 5), date(2026, 3, 9)):
        run_cycle(engine, business_date=d, rules=RULES)
    written = stored(engine)
    assert written and written == reference(engine)
    migration = migration_module("20261205_0012_book_figures.py")
    with engine.begin() as conn:
        conn.execute(delete(BookFigure))
        conn.execute(text(migration.BACKFILL))
    assert stored(engine) == written
    with engine.connect() as conn:
        assert conn.execute(select(CycleRun.id)).first() is not None
