"""The bulk suppression rule used by the daily call plan agrees with the per-case contact status."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from arrears.cases import repository, service
from arrears.cases.config import load_default_case_rules
from arrears.cases.tables import Promise
from arrears.kit.clock import utc_now
from tests.cases.support import new_case

DAY = date(2026, 3, 10)


def test_bulk_suppression_equals_contact_status_case_by_case(engine: Engine) -> None:
    rnd = random.Random(7)
    rules = load_default_case_rules()
    cases = [new_case(engine, f"ACC-S{i}") for i in range(24)]
    with Session(engine) as s, s.begin():
        for case_id in cases:
            for _ in range(rnd.randint(0, 2)):  # promises whose windows end before, on and after the day
                promised = DAY + timedelta(days=rnd.randint(-6, 3))
                s.execute(insert(Promise).values(
                    case_id=case_id, amount=10_000, promised_date=promised, created_on=promised - timedelta(days=5),
                    grace_days=rnd.choice([0, 1, 3]), tolerance=0, status=rnd.choice(["open", "open", "kept", "broken"]),
                    created_by="t", created_at=utc_now()))
            if rnd.random() < 0.25:  # an inbound dispute opens a review that stops contact
                service.record_interaction(s, case_id=case_id, channel="call", direction="inbound", party="debtor",
                                           started_at=datetime(2026, 3, 9, 2, tzinfo=UTC), outcome="dispute",
                                           rules=rules)
    with Session(engine) as s:
        expected = {c for c in cases if not service.contact_status(s, case_id=c, on=DAY).allowed}
        assert repository.contact_suppressed_cases(s, cases, on=DAY, chunk=5) == expected
        assert 0 < len(expected) < len(cases)  # both kinds of case are present, so the check means something
