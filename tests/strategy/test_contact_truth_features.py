"""The strategy feature ``rpc_30d`` counts conversations with the cardholder only: unanswered calls
written with the cardholder as their party (as old data had them) are not right-party contacts."""

from __future__ import annotations

from sqlalchemy import Engine, update

from arrears.cases.tables import Interaction
from arrears.strategy.features import build_features
from tests.strategy.support import BD, build_portfolio, case_ids, expected_features


def test_unanswered_calls_with_the_cardholder_as_party_are_not_right_party_contacts(engine: Engine) -> None:
    ids = build_portfolio(engine)
    with engine.begin() as conn:  # ACC-S1's no_answer (03-01) and busy (02-22) as the old form stored them
        changed = conn.execute(update(Interaction).where(Interaction.outcome.in_(("no_answer", "busy")))
                               .values(party="debtor")).rowcount
    assert changed >= 2
    rows = {r["account_ref"]: r for r in build_features(engine, BD).to_pylist()}
    expected = {r["account_ref"]: r for r in expected_features(ids, case_ids(engine))}
    assert rows["ACC-S1"]["rpc_30d"] == expected["ACC-S1"]["rpc_30d"] == 2
    assert rows == expected
