"""Unmasking personal data through the API: only the roles the masking policy names, for the
purpose it names; every reveal is an audit record that never holds the value itself."""

from __future__ import annotations

import json

from sqlalchemy import select

from arrears.auth.tables import AuditRecord
from tests.api.conftest import ADDRESS, NATIONAL_ID, PHONE, Api


def _reveals(api: Api) -> list[AuditRecord]:
    with api.engine.connect() as conn:
        return list(conn.execute(select(AuditRecord).where(AuditRecord.action == "pii.reveal")
                                 .order_by(AuditRecord.seq)).all())


def test_compliance_unmasks_the_national_id_and_it_is_audited_without_the_value(api: Api) -> None:
    r = api.post("compliance", f"/cases/{api.east_case}/reveal", json={"kind": "national_id"})
    assert r.status_code == 200, r.text
    assert r.json() == {"kind": "national_id", "contact_point_id": None, "purpose": "view", "value": NATIONAL_ID}
    [row] = _reveals(api)
    assert row.actor == "compliance"
    assert row.detail == {"kind": "national_id", "purpose": "view", "role": "compliance"}
    assert NATIONAL_ID not in json.dumps(row.detail) and NATIONAL_ID not in (row.entity_id or "")


def test_an_agent_may_not_view_an_id_number_but_may_hand_a_phone_to_the_dialer(api: Api) -> None:
    denied = api.post("agent_east", f"/cases/{api.east_case}/reveal", json={"kind": "national_id"})
    assert denied.status_code == 403
    view = api.post("agent_east", f"/cases/{api.east_case}/reveal",
                    json={"kind": "phone", "contact_point_id": api.contact_points["phone"]})
    assert view.status_code == 403
    assert _reveals(api) == []
    dial = api.post("agent_east", f"/cases/{api.east_case}/reveal",
                    json={"kind": "phone", "contact_point_id": api.contact_points["phone"], "purpose": "dial"})
    assert dial.status_code == 200 and dial.json()["value"] == PHONE
    [row] = _reveals(api)
    assert (row.actor, row.entity_id, row.detail["purpose"]) == (
        "agent_east", f"contact_point:{api.contact_points['phone']}", "dial")


def test_scope_roles_and_wrong_references(api: Api) -> None:
    address = {"kind": "address", "contact_point_id": api.contact_points["address"]}
    assert api.post("agent_west", f"/cases/{api.east_case}/reveal", json={**address, "purpose": "dial"}
                    ).status_code == 404
    assert api.post("auditor", f"/cases/{api.east_case}/reveal", json=address).status_code == 403
    ok = api.post("admin", f"/cases/{api.east_case}/reveal", json=address)
    assert ok.status_code == 200 and ok.json()["value"] == ADDRESS
    missing = api.post("admin", f"/cases/{api.east_case}/reveal", json={"kind": "phone"})
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "contact_point_id"
    wrong_kind = api.post("admin", f"/cases/{api.east_case}/reveal",
                          json={"kind": "email", "contact_point_id": api.contact_points["phone"]})
    assert wrong_kind.status_code == 422 and wrong_kind.json()["error"]["field"] == "contact_point_id"
    stray = api.post("admin", f"/cases/{api.east_case}/reveal",
                     json={"kind": "national_id", "contact_point_id": api.contact_points["phone"]})
    assert stray.status_code == 422
    assert len(_reveals(api)) == 1
