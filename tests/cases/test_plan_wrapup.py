"""A confirmed plan ends the agent's hold on the case: the lease goes back (audited), the case stays
out of "next case" while the plan runs, and the tasks the plan made moot are closed (audited)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from arrears.auth.tables import AuditRecord, User
from arrears.cases import queue
from arrears.cases import service as case_service
from arrears.cases.tables import Appointment, Case, Task
from arrears.kit.clock import frozen_at
from arrears.kit.db import transaction
from arrears.plans import service as plans
from tests.plans.support import START, users, worked_case

NOW = datetime(2026, 1, 31, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai on the worked customer's agreement date


def _claim(engine: Engine, user: User) -> int | None:
    with transaction(engine) as s:
        got = queue.next_case(s, user=user, now=NOW)
        return got.id if got is not None else None


def _confirm(engine: Engine, case_id: int, user: User) -> int:
    with transaction(engine) as s:
        agreement = plans.create_agreement(s, case_id=case_id, user=user, option_code="inst_12", business_date=START)
        plans.confirm_agreement(s, agreement_id=agreement.id, user=user, method="recorded_call",
                                reference_="REC-WRAP-1", business_date=START)
        return agreement.id


def _tasks(engine: Engine, case_id: int, *kinds: str) -> dict[str, int]:
    with transaction(engine) as s:
        out = {}
        for kind in kinds:
            task = Task(case_id=case_id, kind=kind, due_on=START, status="open", created_by="cycle", created_at=NOW)
            s.add(task)
            s.flush()
            out[kind] = task.id
        return out


def _audit(engine: Engine, action: str) -> list[AuditRecord]:
    with Session(engine) as s:
        return list(s.scalars(select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq)))


def test_confirming_the_plan_releases_the_lease_and_closes_moot_tasks(engine: Engine) -> None:
    people = users(engine)
    agent = people["agent_east"]
    case_id = worked_case(engine, "ACC-WRAP-1")
    task_ids = _tasks(engine, case_id, "call", "broken_promise", "promise_short", "missed_instalment",
                      "review_task", "legal_review")
    with frozen_at(NOW):
        assert _claim(engine, agent) == case_id
        agreement_id = _confirm(engine, case_id, agent)
    with Session(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None and case.status == "plan_active"
        assert (case.held_by, case.lease_expires_at) == (None, None)
        status = {t.kind: t.status for t in s.scalars(select(Task).where(Task.case_id == case_id))}
    assert status == {"call": "cancelled", "broken_promise": "cancelled", "promise_short": "cancelled",
                      "missed_instalment": "cancelled", "review_task": "open", "legal_review": "open"}
    (release,) = _audit(engine, "queue.release")
    assert (release.actor, release.entity, release.entity_id) == ("agent_east", "case", str(case_id))
    assert release.detail["reason"] == "plan_active" and release.detail["agreement_id"] == agreement_id
    assert release.detail["held_by"] == agent.id
    closed = {int(r.entity_id): r.detail for r in _audit(engine, "task.cancel")}
    assert set(closed) == {task_ids[k] for k in ("call", "broken_promise", "promise_short", "missed_instalment")}
    assert all(d["case_id"] == case_id and d["agreement_id"] == agreement_id for d in closed.values())


def test_a_case_nobody_holds_is_confirmed_without_a_release(engine: Engine) -> None:
    agent = users(engine)["agent_east"]
    case_id = worked_case(engine, "ACC-WRAP-2")
    with frozen_at(NOW):
        _confirm(engine, case_id, agent)
    assert _audit(engine, "queue.release") == [] and _audit(engine, "task.cancel") == []


def test_a_running_plan_waits_for_its_next_event_before_next_case_serves_it(engine: Engine) -> None:
    people = users(engine)
    agent, lead = people["agent_east"], people["lead_east"]
    case_id = worked_case(engine, "ACC-WRAP-3")
    with frozen_at(NOW):
        assert _claim(engine, agent) == case_id
        _confirm(engine, case_id, agent)
        assert _claim(engine, agent) is None and _claim(engine, lead) is None
        # a call-back the customer asked for, due now, still brings it to its owner
        with transaction(engine) as s:
            appt = case_service.schedule_appointment(s, case_id=case_id, owner_id=agent.id,
                                                     window_start=NOW - timedelta(minutes=5),
                                                     window_end=NOW + timedelta(minutes=30), created_by="user:1")
            appt_id = appt.id
        assert _claim(engine, lead) is None
        assert _claim(engine, agent) == case_id
        with transaction(engine) as s:
            queue.release(s, case_id=case_id, user=s.get(User, agent.id))
            s.get(Appointment, appt_id).status = "cancelled"  # type: ignore[union-attr]
        assert _claim(engine, agent) is None
        # the plan's next event (a missed instalment) moves the case to follow-up: it is queue work again
        with transaction(engine) as s:
            case_service.transition(s, case_id=case_id, to_state="follow_up", actor="plan-monitor",
                                    reason="instalment 1 missed")
        assert _claim(engine, lead) == case_id
