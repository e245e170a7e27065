"""Compliance's page of outside agencies: read by compliance, auditors and administrators, written by
compliance and administrators (CSRF, audited), refusals naming the field in the reader's language."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from arrears.auth.tables import AuditRecord
from arrears.escalation.tables import CollectionAgency
from arrears.web.i18n import LOCALES
from tests.api.conftest import Api
from tests.web.support import page_csrf, sign_in

GOOD = {"code": "huaxia", "name": "华夏信用管理有限公司", "licence": "91440300MA5EXAMPLE",
        "contract_start": "2026-01-01", "contract_end": "2026-12-31", "last_review": "2026-01-01",
        "next_review": "2026-02-01", "status": "active"}


@pytest.mark.parametrize("locale", LOCALES)
def test_the_register_is_kept_by_compliance_and_read_by_auditors(api: Api, locale: str) -> None:
    words = {"zh_CN": ("委外催收机构", "已逾评估期", "合同到期日", "不能早于"),
             "en": ("Outside agencies", "Review overdue", "Contract until", "cannot end before")}[locale]
    officer = sign_in(api, "compliance", lang=locale)
    token = page_csrf(officer, "/compliance/agencies")
    assert officer.post("/compliance/agencies", data={**GOOD, "csrf_token": "forged"}).status_code == 403
    r = officer.post("/compliance/agencies", data={**GOOD, "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/compliance/agencies?notice=saved"
    page = officer.get("/compliance/agencies?notice=saved")
    assert page.status_code == 200 and words[0] in page.text and "91440300MA5EXAMPLE" in page.text
    assert words[1] in page.text  # the next review (1 February 2026) has passed
    bad = officer.post("/compliance/agencies", data={**GOOD, "contract_end": "2025-01-01", "csrf_token": token})
    assert bad.status_code == 422 and words[2] in bad.text and words[3] in bad.text
    assert 'id="a-contract_end" name="contract_end" value="2025-01-01"' in bad.text
    with api.engine.connect() as conn:
        assert conn.execute(select(CollectionAgency.contract_end)).scalar_one().isoformat() == "2026-12-31"
        actions = conn.execute(select(AuditRecord.action).where(AuditRecord.entity == "agency")).scalars().all()
    assert actions.count("agency.register") == 1
    auditor = sign_in(api, "auditor", lang=locale)
    seen = auditor.get("/compliance/agencies")
    assert seen.status_code == 200 and "华夏信用管理有限公司" in seen.text and 'action="/compliance/agencies"' not in seen.text
    assert auditor.post("/compliance/agencies", data={**GOOD, "csrf_token": page_csrf(auditor, "/compliance/agencies")}
                        ).status_code == 403
    if locale == "en":  # the roles refused the page (once: a refusal does not depend on the language)
        for who in ("agent_east", "supervisor"):
            assert sign_in(api, who, lang=locale).get("/compliance/agencies").status_code == 403
