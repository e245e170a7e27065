"""An approved compliance override lifts its rules for one contact, within a bounded time: the contact
it lets through consumes it, a second use — sequential or concurrent, from another process — is refused
(SQLite and PostgreSQL)."""
# ruff: noqa: F811 - the `api` fixture is imported from tests/api/conftest.py and taken as each test's argument

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from arrears.auth.tables import AuditRecord
from arrears.cases import service as case_service
from arrears.cases.config import load_default_case_rules
from arrears.cases.tables import Interaction
from arrears.contact.service import OverrideUsed
from arrears.kit.clock import frozen_at
from arrears.kit.db import transaction, write_first
from tests.api.conftest import Api, api  # noqa: F401 - imported to register the `api` fixture here
from tests.contact.test_gate_api import DAY, _override
from tests.contact.test_gate_store import add_hold

BODY = {"channel": "call", "direction": "outbound", "party": "nobody", "started_at": DAY, "outcome": "no_answer"}
#: When the supervisor approves the override in the timed tests.
APPROVED = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


def _approved(api: Api) -> int:
    add_hold(api.engine, api.east_case, "hardship")
    r = _override(api, "supervisor", "hold_hardship", requested_by="agent_east")
    assert r.status_code in (200, 201), r.text
    return int(r.json()["decision_id"])


def _use(api: Api, decision: int, n: int):  # type: ignore[no-untyped-def]
    return api.post("agent_east", f"/cases/{api.east_case}/interactions?override_decision_id={decision}",
                    json={**BODY, "recording_ref": f"REC-{n}"})


def _interactions(api: Api) -> int:
    with api.engine.connect() as conn:
        return len(conn.execute(select(Interaction.id)).all())


def test_an_override_is_used_once(api: Api) -> None:
    decision = _approved(api)
    answers = [_use(api, decision, n) for n in range(6)]
    assert answers[0].status_code == 201, answers[0].text
    for r in answers[1:]:
        assert r.status_code == 409, r.text
        err = r.json()["error"]
        assert err["code"] == "override_used" and err["field"] == "override_decision_id"
        assert "already used" in err["message"]
    assert _interactions(api) == 1
    with api.engine.connect() as conn:
        used = conn.execute(select(AuditRecord.entity_id).where(AuditRecord.action == "contact.override_used")).all()
    assert [u.entity_id for u in used] == [str(decision)]


def test_an_override_expires(api: Api) -> None:
    with frozen_at(APPROVED):
        decision = _approved(api)
    with frozen_at(APPROVED + timedelta(minutes=61)):
        r = _use(api, decision, 1)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "override_decision_id" and "expired" in r.json()["error"]["message"]
    with frozen_at(APPROVED + timedelta(minutes=59)):
        assert _use(api, decision, 2).status_code == 201


def test_a_blocked_contact_does_not_consume_the_override(api: Api) -> None:
    decision = _approved(api)
    r = api.post(  # no recording: still blocked by call_recording
        "agent_east", f"/cases/{api.east_case}/interactions?override_decision_id={decision}", json=BODY)
    assert r.status_code == 409 and r.json()["error"]["code"] == "contact_blocked"
    assert _use(api, decision, 2).status_code == 201


def test_concurrent_uses_of_one_override_let_one_contact_through(api: Api) -> None:
    decision = _approved(api)
    rules = load_default_case_rules()
    agent = api.user_ids["agent_east"]
    started = datetime.fromisoformat(DAY)
    workers = 4
    barrier = threading.Barrier(workers)
    outcomes: list[str] = []

    def use(n: int) -> None:
        barrier.wait()
        try:
            with transaction(write_first(api.engine)) as session:
                case_service.record_interaction(
                    session, case_id=api.east_case, channel="call", direction="outbound", party="nobody",
                    started_at=started, outcome="no_answer", rules=rules, agent_id=agent,
                    recording_ref=f"REC-C{n}", override_decision_id=decision)
            outcomes.append("recorded")
        except OverrideUsed:
            outcomes.append("refused")
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            outcomes.append(repr(exc))

    threads = [threading.Thread(target=use, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["recorded"] + ["refused"] * (workers - 1)
    assert _interactions(api) == 1


@pytest.mark.parametrize("minutes", [0, 10_081])
def test_the_validity_setting_is_bounded(minutes: int) -> None:
    from pydantic import ValidationError

    from arrears.config import Settings

    with pytest.raises(ValidationError, match="override_valid_minutes"):
        Settings(override_valid_minutes=minutes)
