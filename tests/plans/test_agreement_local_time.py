"""The agreement's terms and PDF state the moment of confirmation in the customer's zone, named."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from pypdf import PdfReader
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from arrears.accounts.tables import Customer
from arrears.kit.clock import frozen_at
from arrears.plans import service
from arrears.plans.tables import PlanAgreement
from tests.plans.support import START, users, worked_case

#: 16:30 UTC on 1 February: already 2 February, 00:30, in Shanghai.
MOMENT = datetime(2026, 2, 1, 16, 30, tzinfo=UTC)


def _confirmed(engine: Engine, locale: str, zone: str | None = None) -> PlanAgreement:
    people = users(engine)
    case_id = worked_case(engine)
    if zone is not None:
        with engine.begin() as conn:
            conn.execute(update(Customer).values(time_zone=zone))
    with Session(engine, expire_on_commit=False) as s, s.begin():
        made = service.create_agreement(s, case_id=case_id, user=people["agent_east"], option_code="inst_12",
                                        locale=locale, business_date=START)
    with frozen_at(MOMENT), Session(engine, expire_on_commit=False) as s, s.begin():
        service.confirm_agreement(s, agreement_id=made.id, user=people["agent_east"], method="recorded_call",
                                  reference_="REC-1", business_date=START)
    with Session(engine, expire_on_commit=False) as s:
        return s.get(PlanAgreement, made.id)  # type: ignore[return-value]


def test_the_confirmation_time_is_the_customers_local_time_with_its_zone(engine: Engine) -> None:
    a = _confirmed(engine, "zh_CN")
    assert "确认时间：2026-02-02 00:30:00（Asia/Shanghai，UTC+08:00）" in a.terms_text
    assert "16:30" not in a.terms_text
    pdf_text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(a.pdf)).pages)
    assert "2026-02-02 00:30:00" in pdf_text and "Asia/Shanghai" in pdf_text


def test_a_customer_in_another_zone_reads_their_own_time(engine: Engine) -> None:
    a = _confirmed(engine, "en", "Asia/Urumqi")
    assert "Confirmed at: 2026-02-01 22:30:00 (Asia/Urumqi, UTC+06:00)" in a.terms_text
