"""GET /legal/queue (supervisors, compliance and admins) and GET /cases/{id}/legal-bundle (compliance and
admins, with a reason)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

from arrears.cases import service as case_service
from arrears.kit.db import transaction
from tests.escalation.support import audits


def _to_legal_review(engine, case_id: int) -> None:
    with transaction(engine) as session:
        for target in ("contacting", "follow_up", "legal_review"):
            case_service.transition(session, case_id=case_id, to_state=target, actor="user:1", reason=f"to {target}")


def test_legal_queue(api):
    _to_legal_review(api.engine, api.east_case)
    r = api.get("supervisor", "/legal/queue", params={"date": "2026-12-31"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["business_date"] == "2026-12-31"
    assert [(c["case_id"], c["account_ref"], c["referral"]) for c in body["cases"]] == [
        (api.east_case, "ACC-EAST", None)]
    assert isinstance(body["cases"][0]["days_waiting"], int)
    for who in ("agent_east", "lead_east", "auditor"):
        assert api.get(who, "/legal/queue").status_code == 403


def test_legal_bundle(api):
    _to_legal_review(api.engine, api.east_case)
    why = {"reason": "court filing"}
    r = api.get("compliance", f"/cases/{api.east_case}/legal-bundle", params=why)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["x-content-sha256"] == hashlib.sha256(r.content).hexdigest()
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(r.content)).read("manifest.json"))
    assert manifest["case_id"] == api.east_case
    assert api.get("admin", f"/cases/{api.east_case}/legal-bundle", params=why).content == r.content
    assert [a.actor for a in audits(api.engine, "legal.bundle_built")] == ["compliance", "admin"]
    assert api.get("agent_east", f"/cases/{api.east_case}/legal-bundle", params=why).status_code == 403
    assert api.get("compliance", f"/cases/{api.west_case}/legal-bundle", params=why).status_code == 409
    assert api.get("compliance", "/cases/999999/legal-bundle", params=why).status_code == 404
