"""The strategy step of the daily cycle on a hand-built store (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from arrears.accounts.tables import Account, ContactPoint
from arrears.cases.tables import Case, Task
from arrears.channels.tables import OutboxMessage
from arrears.contact.plan import idempotency_key
from arrears.kit.clock import utc_now
from arrears.strategy import repository as repo
from arrears.strategy.features import build_features
from arrears.strategy.step import run_strategy_step
from arrears.strategy.tables import BehaviourScore, StrategyAssignment, StrategyDecision, StrategyTask
from tests.cases.support import new_case
from tests.strategy.support import _run, _snapshot

BD = date(2026, 3, 1)

STRATEGY = """\
strategy:
  name: test-early
  version: 3
otherwise: no_treatment
segments:
  - code: low
    when: dpd BETWEEN 1 AND 30
    path:
      - {day: 0, action: sms, template: early.reminder}
      - {day: 0, action: review_task, queue: early_review, note: check the phone}
  - code: high
    when: dpd > 30
    path:
      - {day: 0, action: call_queue, queue: early_calls, priority: 2}
      - {day: 1, action: sms, template: early.second_reminder}
"""


@pytest.fixture
def strategy_file(tmp_path: Path) -> Path:
    path = tmp_path / "test-early.yaml"
    path.write_text(STRATEGY, encoding="utf-8")
    return path


def _store(engine: Engine) -> dict[str, int]:
    """A (DPD 10, verified phone) and B (DPD 45, no phone), each with an open case; returns account ids."""
    new_case(engine, "ACC-A")
    new_case(engine, "ACC-B")
    with engine.begin() as conn:
        ids = dict(conn.execute(select(Account.account_ref, Account.id)).all())
        run = _run(conn, BD)
        _snapshot(conn, ids["ACC-A"], BD, dpd=10, bucket="M1", cycles=1, past_due=10_000, run_id=run)
        _snapshot(conn, ids["ACC-B"], BD, dpd=45, bucket="M2", cycles=2, past_due=90_000, run_id=run)
        cust = conn.execute(select(Account.customer_id).where(Account.id == ids["ACC-A"])).scalar_one()
        conn.execute(insert(ContactPoint).values(contact_ref="CP-A", customer_id=cust, kind="phone",
                                                 value="13800000000", owner="debtor", verified=True,
                                                 opted_out=False, created_at=utc_now()))
    return ids


def _counts(engine: Engine) -> tuple[int, int, int, int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()  # type: ignore[return-value]
                     for t in (StrategyAssignment, StrategyDecision, StrategyTask, Task, OutboxMessage))


def test_the_step_is_idempotent_and_records_version_and_segment(engine: Engine, strategy_file: Path) -> None:
    ids = _store(engine)
    first = run_strategy_step(engine, business_date=BD, strategy_files=[strategy_file])
    assert dict(first.segments) == {("test-early", "low"): 1, ("test-early", "high"): 1}
    assert (first.messages_enqueued, first.tasks_created) == (1, 2)
    counts = _counts(engine)
    assert counts == (2, 2, 2, 2, 1)
    again = run_strategy_step(engine, business_date=BD, strategy_files=[strategy_file])
    assert _counts(engine) == counts
    assert (again.messages_enqueued, again.messages_already, again.tasks_created, again.tasks_already) == (0, 1, 0, 2)
    with Session(engine) as session:
        rows = {d.account_id: d for d in repo.decisions(session, business_date=BD)}
        assert {a: (d.strategy, d.strategy_version, d.segment, d.segment_since) for a, d in rows.items()} == {
            ids["ACC-A"]: ("test-early", 3, "low", BD), ids["ACC-B"]: ("test-early", 3, "high", BD)}
        kinds = [(a["kind"], a["step"]) for a in rows[ids["ACC-A"]].actions]
        assert kinds == [("sms", 1), ("review_task", 2)]
        assert rows[ids["ACC-A"]].actions[1]["result"].startswith("task ")


def test_an_sms_action_is_one_outbox_message_with_the_idempotency_key(engine: Engine, strategy_file: Path) -> None:
    ids = _store(engine)
    run_strategy_step(engine, business_date=BD, strategy_files=[strategy_file])
    run_strategy_step(engine, business_date=BD, strategy_files=[strategy_file])
    with Session(engine) as session:
        (msg,) = session.execute(select(OutboxMessage)).scalars().all()
        case_a = session.execute(select(Case.id).where(Case.account_id == ids["ACC-A"])).scalar_one()
        point = session.execute(select(ContactPoint.id)).scalar_one()
    assert msg.idempotency_key == idempotency_key(BD, "ACC-A", "test-early", 3, "low", 1)
    assert (msg.channel, msg.template, msg.case_id, msg.contact_point_id) == ("sms", "early.reminder", case_a, point)
    assert (msg.payload["strategy"], msg.payload["strategy_version"], msg.payload["segment"]) == ("test-early", 3, "low")
    # the payload carries what the template states, so the worker can render it
    from arrears.channels.templates import render

    features = build_features(engine, BD, account_ids=[ids["ACC-A"]]).to_pylist()[0]
    assert (msg.payload["amount_due"], msg.payload["dpd"]) == (features["amount_past_due"], features["dpd"])
    worker_adds = {"customer_name": "张三", "masked_card": "****1234", "bank_name": "示例银行",
                   "service_phone": "400-000-0000", "tz": "Asia/Shanghai", "letter_date": BD.isoformat()}
    text = render(msg.template, msg.channel, msg.locale, {**worker_adds, **msg.payload}).body
    assert f"{features['amount_past_due'] // 100:,}" in text


def test_review_and_call_actions_become_tasks_linked_to_their_rule(engine: Engine, strategy_file: Path) -> None:
    ids = _store(engine)
    run_strategy_step(engine, business_date=BD, strategy_files=[strategy_file])
    with Session(engine) as session:
        links = {(t.account_id, t.action): t for t in repo.strategy_tasks(session, business_date=BD)}
        tasks = {t.id: t for t in session.execute(select(Task)).scalars()}
    review = links[(ids["ACC-A"], "review_task")]
    call = links[(ids["ACC-B"], "call_queue")]
    assert (review.strategy, review.strategy_version, review.segment, review.step, review.queue, review.note) == (
        "test-early", 3, "low", 2, "early_review", "check the phone")
    assert (call.queue, call.priority, call.segment) == ("early_calls", 2, "high")
    assert (tasks[review.task_id].kind, tasks[review.task_id].status, tasks[review.task_id].due_on) == (
        "review_task", "open", BD)
    assert tasks[call.task_id].kind == "call" and tasks[call.task_id].created_by == "strategy:test-early v3"


def test_a_segment_change_resets_since_and_an_unchanged_segment_keeps_it(engine: Engine, strategy_file: Path) -> None:
    ids = _store(engine)
    run_strategy_step(engine, business_date=BD, strategy_files=[strategy_file])
    day2 = BD + timedelta(days=1)
    with engine.begin() as conn:
        run = _run(conn, day2)
        _snapshot(conn, ids["ACC-A"], day2, dpd=40, bucket="M2", cycles=2, past_due=20_000, run_id=run)
        _snapshot(conn, ids["ACC-B"], day2, dpd=46, bucket="M2", cycles=2, past_due=90_000, run_id=run)
    result = run_strategy_step(engine, business_date=day2, strategy_files=[strategy_file])
    with Session(engine) as session:
        current = {a.account_id: (a.segment, a.since, a.updated_on)
                   for a in session.execute(select(StrategyAssignment)).scalars()}
        day2_rows = {d.account_id: (d.days_in_segment, [a["kind"] for a in d.actions])
                     for d in repo.decisions(session, business_date=day2)}
    assert current == {ids["ACC-A"]: ("high", day2, day2), ids["ACC-B"]: ("high", BD, day2)}
    assert day2_rows == {ids["ACC-A"]: (0, ["call_queue"]), ids["ACC-B"]: (1, ["sms"])}
    # B has no phone: its day-1 SMS is reported, not sent; A's new call waits behind nothing (its first call task)
    assert [s[:2] for s in result.messages_skipped] == [("ACC-B", 2)]
    assert result.tasks_created == 1


def test_an_account_that_leaves_every_strategy_loses_its_assignment(engine: Engine, strategy_file: Path) -> None:
    ids = _store(engine)
    run_strategy_step(engine, business_date=BD, strategy_files=[strategy_file])
    day2 = BD + timedelta(days=1)
    with engine.begin() as conn:
        run = _run(conn, day2)
        _snapshot(conn, ids["ACC-B"], day2, dpd=46, bucket="M2", cycles=2, past_due=90_000, run_id=run)
        conn.execute(update(Case).where(Case.account_id == ids["ACC-A"]).values(status="cured"))
    run_strategy_step(engine, business_date=day2, strategy_files=[strategy_file])
    with engine.connect() as conn:
        assert conn.execute(select(StrategyAssignment.account_id)).scalars().all() == [ids["ACC-B"]]


def test_legal_review_moves_the_case_only_where_the_lifecycle_allows(engine: Engine, tmp_path: Path) -> None:
    from tests.cases.support import case_in

    path = tmp_path / "late.yaml"
    path.write_text("strategy: {name: late, version: 1}\nsegments:\n  - code: all\n    path:\n"
                    "      - {day: 0, action: legal_review, queue: legal}\n", encoding="utf-8")
    follow = case_in(engine, "ACC-F", "follow_up")
    fresh = new_case(engine, "ACC-N")
    result = run_strategy_step(engine, business_date=BD, strategy_files=[path])
    assert (result.tasks_created, result.cases_moved) == (2, 1)
    with engine.connect() as conn:
        states = dict(conn.execute(select(Case.id, Case.status)).all())
        moved = dict(conn.execute(select(StrategyTask.case_id, StrategyTask.moved_to)).all())
    assert states == {follow: "legal_review", fresh: "new"}
    assert moved == {follow: "legal_review", fresh: None}


def test_scores_are_written_and_read_back_as_the_behaviour_score_feature(engine: Engine, strategy_file: Path,
                                                                       tmp_path: Path) -> None:
    from arrears.score.model import save_model
    from arrears.score.training import TrainingConfig, train
    from arrears.sim.score_history import score_history

    model, _ = train(score_history(600, 8, seed=3), name="behaviour", version="t1",
                     config=TrainingConfig(num_threads=1, num_boost_round=20))
    model_dir = save_model(model, tmp_path / "models")
    ids = _store(engine)
    result = run_strategy_step(engine, business_date=BD, strategy_files=[strategy_file], model_dir=model_dir)
    assert (result.scored, result.model) == (2, "behaviour t1")
    run_strategy_step(engine, business_date=BD, strategy_files=[strategy_file], model_dir=model_dir)
    with Session(engine) as session:
        stored = repo.scores(session, business_date=BD)
        meta = set(session.execute(select(BehaviourScore.model_name, BehaviourScore.model_version)))
        total = session.execute(select(func.count()).select_from(BehaviourScore)).scalar_one()
    assert set(stored) == {ids["ACC-A"], ids["ACC-B"]} and total == 2 and meta == {("behaviour", "t1")}
    assert all(0 <= s <= 10_000 for s in stored.values())
    feature = dict(zip(*build_features(engine, BD).select(["account_id", "behaviour_score"]).to_pydict().values()))
    assert feature == stored


def test_an_experiment_arm_runs_its_strategy_and_is_recorded(engine: Engine, strategy_file: Path,
                                                           tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("strategy: {name: challenger, version: 1}\nsegments:\n  - code: quiet\n    path:\n"
                     "      - {day: 0, action: review_task, queue: q}\n", encoding="utf-8")
    exp = tmp_path / "experiments.yaml"
    exp.write_text("experiments:\n  - code: e1\n    salt: e1-salt\n    arms:\n"
                   "      - {code: champ, share_bp: 0, strategy: test-early}\n"
                   "      - {code: chal, share_bp: 10000, strategy: challenger}\n", encoding="utf-8")
    ids = _store(engine)
    result = run_strategy_step(engine, business_date=BD, strategy_files=[strategy_file, other], experiments_file=exp)
    assert dict(result.arms) == {("e1", "chal"): 2}
    with Session(engine) as session:
        rows = {d.account_id: (d.strategy, d.segment, d.experiment, d.arm)
                for d in repo.decisions(session, business_date=BD)}
        arms = {t.arm for t in repo.strategy_tasks(session)}
    assert rows == {i: ("challenger", "quiet", "e1", "chal") for i in ids.values()}
    assert arms == {"chal"} and result.messages_enqueued == 0


def test_cli_cycle_with_a_strategy_prints_the_step_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from arrears.cli import app
    from arrears.config import get_settings

    strategy = Path(__file__).resolve().parents[2] / "strategies" / "early-gentle.yaml"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARREARS_DATABASE_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")
    monkeypatch.setenv("ARREARS_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = tmp_path / "files"
        r = runner.invoke(app, ["sim", "portfolio", "--accounts", "200", "--seed", "5", "--out", str(out),
                                "--as-of", "2026-06-30"])
        assert r.exit_code == 0, r.output
        assert runner.invoke(app, ["ingest", str(out)]).exit_code == 0
        r = runner.invoke(app, ["cycle", "--date", "2026-06-30", "--strategy", str(strategy)])
        assert r.exit_code == 0, r.output
        assert "Strategy:" in r.output and "early-gentle/" in r.output, r.output
        first = r.output
        r = runner.invoke(app, ["cycle", "--date", "2026-06-30", "--strategy", str(strategy)])
        assert r.exit_code == 0, r.output
        assert " 0 messages enqueued" in r.output and " 0 tasks created" in r.output, (first, r.output)
        r = runner.invoke(app, ["cycle", "--date", "2026-06-30", "--model", str(tmp_path)])
        assert r.exit_code == 2 and "need at least one --strategy" in r.output
    finally:
        get_settings.cache_clear()
