"""An interaction's outcome and its party agree by rule (``party`` of each outcome in outcomes.yaml):
an outcome that means nobody answered has party ``nobody``, a right-party outcome needs the
cardholder, a third-party outcome someone else. Checked in the service, so every path obeys it;
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from arrears.cases import service
from arrears.cases.config import load_case_rules, load_default_case_rules
from arrears.cases.model import PARTIES
from arrears.cases.tables import Interaction
from arrears.kit.errors import ArrearsError, ConfigError
from tests.cases.support import new_case

RULES = load_default_case_rules()
T0 = datetime(2026, 3, 2, 2, 30, tzinfo=UTC)
UNANSWERED = ("no_answer", "busy")
RIGHT_PARTY = ("right_party_contact", "promise_to_pay", "refused", "dispute", "hardship", "callback_requested",
               "complaint", "payment_made", "plan_chosen", "preferences_changed")


def test_the_shipped_outcomes_say_who_was_reached() -> None:
    assert {c: RULES.outcome(c).party for c in UNANSWERED} == dict.fromkeys(UNANSWERED, "nobody")
    assert {c: RULES.outcome(c).party for c in RIGHT_PARTY} == dict.fromkeys(RIGHT_PARTY, "debtor")
    assert RULES.outcome("third_party").party == "third_party"
    assert set(RULES.right_party_outcomes()) == set(RIGHT_PARTY)
    assert set(RULES.unanswered_outcomes()) == set(UNANSWERED)


def _record(engine: Engine, case_id: int, outcome: str, party: str) -> None:
    with Session(engine) as session, session.begin():
        service.record_interaction(session, case_id=case_id, channel="call", direction="outbound", party=party,
                                   started_at=T0, ended_at=T0 + timedelta(minutes=1), outcome=outcome, rules=RULES)


@pytest.mark.parametrize(("outcome", "party"), [
    ("no_answer", "debtor"), ("busy", "debtor"), ("no_answer", "emergency_contact"), ("busy", "other"),
    ("promise_to_pay", "nobody"), ("right_party_contact", "emergency_contact"), ("refused", "other"),
    ("dispute", "nobody"), ("third_party", "debtor"), ("third_party", "nobody"),
])
def test_an_outcome_that_does_not_fit_the_party_is_refused_and_nothing_is_written(
        engine: Engine, outcome: str, party: str) -> None:
    case_id = new_case(engine, "A1")
    with pytest.raises(ArrearsError, match=r"^party must be") as refused:
        _record(engine, case_id, outcome, party)
    assert refused.value.status == 422 and getattr(refused.value, "field", None) == "party"
    assert outcome in refused.value.message
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Interaction)).scalar_one() == 0


# refused_contact is recorded against the contact point reached (tests/contact/test_cn_records.py)
@pytest.mark.parametrize("outcome", sorted(set(RULES.outcomes) - {"refused_contact"}))
def test_every_outcome_takes_exactly_its_parties(engine: Engine, outcome: str) -> None:
    case_id = new_case(engine, "A1")
    rule = RULES.outcome(outcome)
    fits = {"nobody": {"nobody"}, "debtor": {"debtor"}, "third_party": {"emergency_contact", "other"},
            "any": set(PARTIES)}[rule.party]
    for party in PARTIES:
        if party in fits:
            _record(engine, case_id, outcome, party)
        else:
            with pytest.raises(ArrearsError, match="party"):
                _record(engine, case_id, outcome, party)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Interaction)).scalar_one() == len(fits)


def test_the_config_loader_refuses_an_unknown_party_naming_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "outcomes.yaml"
    path.write_text("outcomes:\n  - {code: busy, labels: {zh_CN: 占线, en: Busy}, party: nobody}\n"
                    "  - code: chat\n    labels: {zh_CN: 聊天, en: Chat}\n    party: somebody\n", encoding="utf-8")
    with pytest.raises(ConfigError) as bad:
        load_case_rules(path)
    assert bad.value.line == 5 and bad.value.field == "outcomes[1].party" and "somebody" in bad.value.message
    path.write_text("outcomes:\n  - {code: busy, labels: {zh_CN: 占线, en: Busy}}\n", encoding="utf-8")
    assert load_case_rules(path).outcome("busy").party == "any"  # default: any party


def test_the_best_time_model_counts_as_contacts_only_right_party_outcomes() -> None:
    from arrears.contact.besttime import RPC_OUTCOMES

    assert RPC_OUTCOMES <= set(RULES.right_party_outcomes())
