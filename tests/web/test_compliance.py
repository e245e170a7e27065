"""The compliance pages: gate blocks and overrides, complaints and disputes, the audit log and its
chain verification."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, insert, select, text

from arrears.accounts.tables import Account, Customer, Hold
from arrears.auth.tables import AuditRecord
from arrears.cases.tables import Case
from arrears.contact.tables import ContactDecision
from arrears.kit.clock import frozen_at, utc_now
from arrears.web.i18n import LOCALES
from tests.api.conftest import Api
from tests.auth.conftest import drop_triggers  # noqa: F401 - bypassing the append-only triggers
from tests.web.support import page_csrf, sign_in
from tests.web.test_dashboards import table

NOW = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


def _decision(engine: Engine, case_id: int, *, allowed: bool, rule: str, applied: bool = False,
              at: datetime = NOW) -> None:
    with engine.begin() as conn:
        account = conn.execute(select(Case.account_id).where(Case.id == case_id)).scalar_one()
        conn.execute(insert(ContactDecision).values(
            at=at, case_id=case_id, account_id=account, channel="call", party="debtor", purpose="collection",
            pack="cn", pack_version="2026.1", allowed=allowed,
            blocks=[{"rule_id": rule, "kind": rule, "source": "s", "message": f"{rule} blocks",
                     "message_zh": f"{rule} 拦截", "next_allowed_at": None, "overridden": applied}],
            overrides=[{"rule_id": rule, "reason": "customer asked", "approver": "supervisor", "approver_id": None,
                        "approver_role": "supervisor", "applied": True, "refused_because": None}] if applied else [],
            next_allowed_at=None, actor="user:1", source="interaction", created_at=at))


def _hold(engine: Engine, case_id: int, kind: str, reason: str) -> None:
    with engine.begin() as conn:
        account = conn.execute(select(Case.account_id).where(Case.id == case_id)).scalar_one()
        conn.execute(insert(Hold).values(account_id=account, kind=kind, start_date=date(2026, 3, 1), end_date=None,
                                         pauses_ageing=kind == "dispute", reason=reason, created_by="compliance",
                                         created_at=utc_now()))


@pytest.mark.parametrize("locale", LOCALES)
def test_the_compliance_pages_render_for_their_roles_and_are_refused_to_others(api: Api, locale: str) -> None:
    words = {"zh_CN": ("投诉与争议", "审计日志"), "en": ("Complaints and disputes", "Audit log")}[locale]
    for who in ("compliance", "auditor", "admin"):
        client = sign_in(api, who, lang=locale)
        page = client.get("/compliance")
        assert page.status_code == 200 and words[0] in page.text, who
        log = client.get("/audit")
        assert log.status_code == 200 and words[1] in log.text, who
    for who in ("agent_east", "lead_east", "supervisor"):
        client = sign_in(api, who, lang=locale)
        assert client.get("/compliance").status_code == 403
        assert client.get("/audit").status_code == 403
        r = client.post("/audit/verify", data={"csrf_token": page_csrf(client, f"/case/{api.east_case}")})
        assert r.status_code == 403


def test_blocks_and_overrides_filtered_by_date_rule_and_outcome(api: Api) -> None:
    _decision(api.engine, api.east_case, allowed=False, rule="quiet_hours")
    _decision(api.engine, api.west_case, allowed=True, rule="attempt_limit", applied=True)
    _decision(api.engine, api.east_case, allowed=False, rule="attempt_limit", at=datetime(2026, 1, 5, 4, tzinfo=UTC))
    client = sign_in(api, "compliance", lang="en")
    march = {"from": "2026-03-01", "to": "2026-03-31"}
    rows = table(client.get("/compliance", params=march).text, "t-decisions")
    assert len(rows) == 2
    blocked = table(client.get("/compliance", params={**march, "outcome": "blocked"}).text, "t-decisions")
    assert len(blocked) == 1 and "quiet_hours" in blocked[0][4] and blocked[0][3] == "Blocked"
    overridden = table(client.get("/compliance", params={**march, "outcome": "overridden"}).text, "t-decisions")
    assert len(overridden) == 1 and "attempt_limit" in overridden[0][4] and "supervisor" in overridden[0][5]
    by_rule = table(client.get("/compliance", params={"from": "2026-01-01", "to": "2026-03-31",
                                                      "rule": "attempt_limit"}).text, "t-decisions")
    assert len(by_rule) == 2
    zh = sign_in(api, "compliance").get("/compliance", params=march).text
    assert "quiet_hours 拦截" in zh
    assert client.get("/compliance", params={"outcome": "nonsense"}).status_code == 422
    assert client.get("/compliance", params={"from": "2026-03-05", "to": "2026-03-01"}).status_code == 422
    # the filter forms send empty dates when none is chosen: that means no date, not a bad one
    blank = client.get("/compliance", params={"from": "", "to": "", "rule": "", "outcome": ""})
    assert blank.status_code == 200
    assert table(blank.text, "t-decisions") == table(client.get("/compliance").text, "t-decisions")
    assert client.get("/audit", params={"from": "", "to": ""}).status_code == 200
    assert client.get("/compliance", params={"from": "2026-13-01"}).status_code == 422


def test_complaints_disputes_and_pending_reviews_mask_personal_data_by_role(api: Api) -> None:
    _hold(api.engine, api.east_case, "complaint", "rude call")
    _hold(api.engine, api.west_case, "dispute", "not my card")
    _hold(api.engine, api.west_case, "hardship", "lost job")
    with api.engine.connect() as conn:
        name = conn.execute(select(Customer.name).join(Account, Account.customer_id == Customer.id)
                            .join(Case, Case.account_id == Account.id).where(Case.id == api.east_case)).scalar_one()
    compliance = table(sign_in(api, "compliance", lang="en").get("/compliance").text, "t-complaints")
    assert sorted(r[2] for r in compliance) == ["Complaint", "Dispute"]
    auditor_page = sign_in(api, "auditor", lang="en").get("/compliance").text
    auditor = table(auditor_page, "t-complaints")
    assert len(auditor) == 2 and name not in auditor_page  # names are masked for auditors
    with api.engine.connect() as conn:
        assert conn.execute(select(AuditRecord).where(AuditRecord.action == "pii.reveal")).all() == []


def test_the_audit_log_is_paged_and_filtered(api: Api) -> None:
    client = sign_in(api, "auditor", lang="en")
    page = client.get("/audit").text
    rows = table(page, "t-audit")
    assert rows and int(rows[0][0]) > int(rows[-1][0])  # newest first
    mine = table(client.get("/audit", params={"actor": "auditor", "action": "auth."}).text, "t-audit")
    assert mine and all(r[2] == "auditor" and r[3].startswith("auth.") for r in mine)
    assert table(client.get("/audit", params={"actor": "nobody"}).text, "t-audit")[0][0] == "No record matches."
    with api.engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM audit_records")).scalar_one()
    if total > 50:
        assert 'rel="next"' in page


def test_verify_chain_reports_ok_then_names_a_tampered_row(api: Api, drop_triggers) -> None:  # noqa: F811
    client = sign_in(api, "compliance", lang="en")
    token = page_csrf(client, "/audit")
    assert client.post("/audit/verify").status_code == 403
    ok = client.post("/audit/verify", data={"csrf_token": token})
    assert ok.status_code == 200 and "OK: every record is intact" in ok.text
    with api.engine.connect() as conn:
        detail = conn.execute(select(AuditRecord.detail).where(AuditRecord.action == "audit.verify")).scalar_one()
    assert detail == {"ok": True, "problems": 0, "first": None, "source": "web"}
    with frozen_at(utc_now()), api.engine.begin() as conn:
        drop_triggers(conn)
        conn.execute(text("UPDATE audit_records SET detail = :d WHERE seq = 3"), {"d": json.dumps({"forged": 1})})
    broken = client.post("/audit/verify", data={"csrf_token": token})
    assert broken.status_code == 200 and "The chain is broken" in broken.text
    assert "Record 3" in broken.text and "changed" in broken.text


def test_the_compliance_tables_export_as_csv_with_the_same_filters(api: Api) -> None:
    import csv
    import io

    _decision(api.engine, api.east_case, allowed=False, rule="quiet_hours")
    _decision(api.engine, api.west_case, allowed=True, rule="attempt_limit", applied=True)
    _hold(api.engine, api.east_case, "complaint", "rude call")
    client = sign_in(api, "compliance", lang="en")
    params = {"from": "2026-03-01", "to": "2026-03-31", "outcome": "overridden"}
    page = client.get("/compliance", params=params).text
    assert 'href="/compliance/export/decisions.csv?from=2026-03-01&amp;to=2026-03-31&amp;rule=&amp;outcome=overridden"' \
        in page
    r = client.get("/compliance/export/decisions.csv", params=params)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(table(page, "t-decisions")) == 1
    assert (rows[0]["blocks"], rows[0]["overridden"], rows[0]["overrides"]) == (
        "attempt_limit", "attempt_limit", "attempt_limit:supervisor:applied")
    complaints = list(csv.DictReader(io.StringIO(client.get("/compliance/export/complaints.csv").text)))
    assert [(c["kind"], c["reason"]) for c in complaints] == [("complaint", "rude call")]
    auditor = list(csv.DictReader(io.StringIO(sign_in(api, "auditor").get("/compliance/export/complaints.csv").text)))
    assert auditor[0]["customer"] != complaints[0]["customer"]  # masked for the auditor
    assert sign_in(api, "supervisor").get("/compliance/export/complaints.csv").status_code == 403


def test_verify_says_what_it_could_not_check_without_a_key(api: Api) -> None:
    client = sign_in(api, "compliance", lang="zh_CN")
    r = client.post("/audit/verify", data={"csrf_token": page_csrf(client, "/audit")})
    assert r.status_code == 200 and 'id="verify-notes"' in r.text
    assert "未配置审计密钥" in r.text


def test_verify_names_the_records_after_the_last_checkpoint(api: Api, tmp_path, monkeypatch) -> None:
    from arrears.auth.audit import write_checkpoint, write_key_file
    from arrears.config import Settings, get_settings

    key, checkpoints = tmp_path / "audit.key", tmp_path / "checkpoints.jsonl"
    write_key_file(key)
    monkeypatch.setenv("ARREARS_AUDIT_KEY_FILE", str(key))
    monkeypatch.setenv("ARREARS_AUDIT_CHECKPOINT_FILE", str(checkpoints))
    get_settings.cache_clear()
    try:
        api.client.app.state.settings = Settings(database_url=str(api.engine.url.render_as_string(False)))
        first = write_checkpoint(api.engine, actor="test")
        client = sign_in(api, "compliance", lang="en")  # signs in after the checkpoint: records beyond it
        r = client.post("/audit/verify", data={"csrf_token": page_csrf(client, "/audit")})
        assert r.status_code == 200 and "OK: every record is intact" in r.text
        assert f"Records {first.seq + 1} to " in r.text and "not yet anchored" in r.text
    finally:
        get_settings.cache_clear()
