"""Commission arithmetic, tiers by DPD, recall rules and legal decisions: the pure rules."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arrears.escalation.model import (
    Agency,
    CommissionTier,
    EscalationError,
    RecallRules,
    check_decision,
    commission,
    recall_reason,
)
from arrears.kit.errors import ArrearsError
from tests.escalation.support import agencies

TIERED = Agency(code="a", name="A", term_days=90, tiers=(
    CommissionTier(91, 180, 1500), CommissionTier(181, 360, 2000), CommissionTier(361, None, 2800)))


@pytest.mark.parametrize(("amount", "rate", "expected"), [
    (1_000_000, 1500, 150_000),   # 10,000.00 at 15 % = 1,500.00
    (10, 1500, 2),                # 1.5 fen rounds half up to 2
    (3, 1500, 0),                 # 0.45 fen rounds down
    (7, 1500, 1),                 # 1.05 fen
    (1, 5000, 1),                 # exactly half a fen rounds up
    (1, 4999, 0),
    (12_345, 2800, 3_457),        # 3,456.6 fen
    (5, 0, 0),
    (99, 10_000, 99),
])
def test_commission_examples(amount, rate, expected):
    assert commission(amount, rate) == expected


@given(amount=st.integers(min_value=0, max_value=10**13), rate=st.integers(min_value=0, max_value=10_000))
def test_commission_is_half_up_and_never_exceeds_the_amount(amount, rate):
    fee = commission(amount, rate)
    assert 0 <= fee <= amount
    exact = Decimal(amount) * rate / 10_000
    assert fee == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert abs(Decimal(fee) - exact) <= Decimal("0.5")


@given(dpd=st.integers(min_value=0, max_value=3_000))
def test_tier_is_chosen_by_dpd(dpd):
    tier = TIERED.tier_for(dpd)
    if dpd < 91:
        assert tier is None
    elif dpd <= 180:
        assert tier.rate_bp == 1500
    elif dpd <= 360:
        assert tier.rate_bp == 2000
    else:
        assert tier.rate_bp == 2800


def test_tier_bounds_of_the_example_file():
    huaxia = agencies().get("huaxia")
    assert [(d, huaxia.tier_for(d) and huaxia.tier_for(d).rate_bp) for d in (90, 91, 180, 181, 360, 361, 2000)] == [
        (90, None), (91, 1500), (180, 1500), (181, 2000), (360, 2000), (361, 2800), (2000, 2800)]
    snap = huaxia.terms_snapshot(200)
    assert snap["rate_bp"] == 2000 and snap["term_days"] == 90 and snap["rounding"] == "half_up"
    assert len(snap["tiers"]) == 3


@pytest.mark.parametrize(("amount", "rate"), [(-1, 100), (100, -1), (100, 10_001), (True, 100)])
def test_commission_refuses_bad_input(amount, rate):
    with pytest.raises(ArrearsError):
        commission(amount, rate)


def _reason(rules=RecallRules(), *, on=date(2026, 5, 1), case_status="agency_placement", holds=(), paid=0,
            balance=100_000):
    return recall_reason(rules=rules, on=on, term_end=date(2026, 6, 1), case_status=case_status, hold_kinds=holds,
                         placement_balance=balance, paid_since_placement=paid)


def test_recall_rules_each_and_their_order():
    assert _reason() is None
    assert _reason(on=date(2026, 5, 31)) is None
    assert _reason(on=date(2026, 6, 1)) == "term_expired"
    for kind in ("dispute", "complaint", "deceased", "bankruptcy", "fraud"):
        assert _reason(holds={kind}) == f"hold:{kind}"
    assert _reason(holds={"hardship"}) is None          # not a recall hold by default
    assert _reason(paid=99_999) is None
    assert _reason(paid=100_000) == "paid_in_full"
    assert _reason(case_status="cured") == "case_cured"
    assert _reason(case_status="closed", holds={"fraud"}) == "case_closed"
    # order: hold before paid in full before term expiry
    assert _reason(holds={"fraud"}, paid=100_000, on=date(2026, 7, 1)) == "hold:fraud"
    assert _reason(paid=100_000, on=date(2026, 7, 1)) == "paid_in_full"
    # rules switched off
    off = RecallRules(term_expired=False, paid_in_full=False, holds=("deceased",))
    assert _reason(off, paid=100_000, on=date(2026, 7, 1), holds={"dispute"}) is None
    assert _reason(off, holds={"deceased"}) == "hold:deceased"


def test_legal_decisions():
    assert check_decision("pending", "proceed") == "proceed"
    assert check_decision("pending", "return") == "returned"
    assert check_decision("pending", "withdraw") == "withdrawn"
    assert check_decision("proceed", "withdraw") == "withdrawn"
    for status, decision in (("proceed", "return"), ("proceed", "proceed"), ("returned", "withdraw"),
                             ("withdrawn", "proceed")):
        with pytest.raises(EscalationError, match="cannot be decided"):
            check_decision(status, decision)
    with pytest.raises(EscalationError, match="unknown decision"):
        check_decision("pending", "sue")
