"""One policy decides every file that carries personal data unmasked (the legal bundle, the agency
placement file): the roles the masking policy lets unmask every kind of data in it, with a reason,
which the audit record keeps — the same answer as ``POST /cases/{id}/reveal`` (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest

from arrears.auth.model import ROLES, UNMASKED_OUTPUTS, Forbidden, can_reveal, may_unmask_output
from arrears.escalation import service
from arrears.kit.db import transaction
from arrears.kit.errors import ArrearsError
from tests.escalation.support import agencies, audits, escalated, ready_to_place
from tests.escalation.test_api import _to_legal_review

WHY = {"reason": "court filing 2026-114"}


@pytest.mark.parametrize("who", ["agent_east", "lead_east", "supervisor", "compliance", "admin", "auditor"])
def test_the_bundle_follows_the_reveal_policy(api, who: str) -> None:
    _to_legal_review(api.engine, api.east_case)
    reveal = api.post(who, f"/cases/{api.east_case}/reveal", json={"kind": "national_id"})
    bundle = api.get(who, f"/cases/{api.east_case}/legal-bundle", params=WHY)
    assert (bundle.status_code == 200) == (reveal.status_code == 200), (reveal.text, bundle.text)
    assert bundle.status_code in (200, 403)
    built = audits(api.engine, "legal.bundle_built")
    if bundle.status_code == 200:
        [entry] = built
        assert entry.detail["reason"] == WHY["reason"] and entry.detail["role"] == api_role(who)
    else:
        assert built == []


def api_role(who: str) -> str:
    from tests.api.conftest import ROLES as USERS

    return USERS[who][0]


def test_the_supervisor_gets_no_bundle(api) -> None:
    _to_legal_review(api.engine, api.east_case)
    r = api.get("supervisor", f"/cases/{api.east_case}/legal-bundle", params=WHY)
    assert r.status_code == 403, r.text
    assert "supervisor" in r.json()["error"]["message"]


@pytest.mark.parametrize("reason", [None, "", "   ", "\u200b"])
def test_the_bundle_needs_a_reason(api, reason: str | None) -> None:
    _to_legal_review(api.engine, api.east_case)
    params = {} if reason is None else {"reason": reason}
    r = api.get("compliance", f"/cases/{api.east_case}/legal-bundle", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "reason"
    assert audits(api.engine, "legal.bundle_built") == []


def test_the_placement_file_follows_the_same_policy(engine) -> None:
    escalated(engine, "ACC-1", "agency_placement", dpd=120, balance=1_000_000, address="广东省深圳市南山区科技园路1号")
    for role in ("supervisor", "team_lead", "agent", "auditor"):
        with pytest.raises(Forbidden, match=role), transaction(engine) as session:
            service.place_accounts(session, agency=agencies().get("huaxia"), on=date(2026, 3, 1), actor="t",
                                   role=role, reason="monthly placement")
    with pytest.raises(ArrearsError, match="reason"), transaction(engine) as session:
        service.place_accounts(session, agency=agencies().get("huaxia"), on=date(2026, 3, 1), actor="t",
                               role="compliance", reason=" ")
    assert audits(engine, "agency.placement_file") == []
    ready_to_place(engine, "huaxia", date(2026, 3, 1))
    with transaction(engine) as session:
        out = service.place_accounts(session, agency=agencies().get("huaxia"), on=date(2026, 3, 1), actor="t",
                                     role="compliance", reason="monthly placement")
    assert out.rows == 1
    [entry] = audits(engine, "agency.placement_file")
    assert entry.detail["reason"] == "monthly placement" and entry.detail["role"] == "compliance"


@pytest.mark.parametrize("output", sorted(UNMASKED_OUTPUTS))
@pytest.mark.parametrize("role", ROLES)
def test_a_file_is_for_roles_that_may_unmask_everything_in_it(output: str, role: str) -> None:
    assert may_unmask_output(output, role) == all(can_reveal(kind, role) for kind in UNMASKED_OUTPUTS[output])
    assert not may_unmask_output(output, "supervisor")
