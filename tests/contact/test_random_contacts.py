"""The acceptance property of the time-and-count rules with the state and city layers: random contacts
across China, New York (state and city), Massachusetts and Washington, each decided by the gate in
time order with what it admitted as history; an independent vectorised reference finds no admitted
contact that an applicable rule forbids. The suite runs a sample; ``arrears policy check-random
--contacts 1000000`` runs the full size (docs/compliance.md, "How the gate is tested")."""

from __future__ import annotations

import pandas as pd
import pytest

from arrears.contact.randomcheck import JURISDICTIONS, check_random, generate, violations

#: Candidates in the suite's sample (the full million runs from the command line).
SAMPLE = 50_000


@pytest.fixture(scope="module")
def outcome():  # type: ignore[no-untyped-def]
    return check_random(SAMPLE, seed=18)


def test_no_admitted_contact_breaks_a_rule(outcome) -> None:  # type: ignore[no-untyped-def]
    assert outcome.candidates == SAMPLE
    assert outcome.violations.empty, outcome.violations.head(20).to_string()


def test_the_sample_reaches_every_jurisdiction_and_every_layer_rule_blocks(outcome) -> None:  # type: ignore[no-untyped-def]
    admitted = outcome.admitted.groupby("jurisdiction").size()
    assert set(admitted.index) == set(JURISDICTIONS) and (admitted > 50).all()
    for rule in ("quiet_hours", "public_holiday", "daily_call_limit", "inconvenient_time", "call_frequency",
                 "after_conversation", "ma.phone_7_days", "wa.three_a_week", "wa.residence_hours",
                 "nyc.two_in_7_days"):
        assert outcome.blocked_by.get(rule, 0) > 0, rule


def test_the_reference_finds_what_the_gate_would_have_refused() -> None:
    # every candidate admitted, as if there were no gate: the reference must object, for each rule
    frame = generate(6_000, seed=3)
    found = violations(frame)
    rules = set(found["rule"])
    assert {"cn quiet hours 08:00-22:00", "Reg F 08:00-21:00", "RCW 19.16.250 07:30-21:00",
            "940 CMR 7.04(1)(f) 2 calls/texts in 7 days per debt", "RCW 19.16.250 3 a week",
            "6 RCNY 5-77 2 in 7 days", "Reg F 7 days after a conversation"} <= rules, rules
    # and nothing for two calls 7 x 24 h apart, in Boston (across the clock change) and in Shanghai
    fine = pd.DataFrame({
        "customer": [1, 1, 2, 2], "jurisdiction": ["US-MA", "US-MA", "CN", "CN"],
        "tz": ["America/New_York", "America/New_York", "Asia/Shanghai", "Asia/Shanghai"],
        "debt": ["C1-A1", "C1-A1", "C2-A1", "C2-A1"], "channel": ["call"] * 4,
        "at": pd.to_datetime(["2026-03-02T17:00Z", "2026-03-09T17:00Z", "2026-03-02T04:00Z", "2026-03-09T04:00Z"]),
        "conversation": [True, False, True, False]})
    assert violations(fine).empty
    # one second earlier the second Boston call is inside the pause after the conversation
    early = fine.assign(at=fine["at"] - pd.to_timedelta([0, 1, 0, 0], unit="s"))
    assert set(violations(early)["rule"]) == {"Reg F 7 days after a conversation"}
