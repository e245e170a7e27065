"""Every rule of both packs at its exact boundaries, with next-allowed times checked."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from arrears.cases.model import HOLD_KINDS as CASE_HOLD_KINDS
from arrears.contact import (
    HOLD_KINDS,
    Appointment,
    Attempt,
    ContactCandidate,
    Hold,
    Override,
    gate,
    load_default_pack,
)
from arrears.contact.policy import is_public_holiday, local_instant

CN = load_default_pack("cn")
US = load_default_pack("us-reg-f")
SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")


def at(tz: ZoneInfo, y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, fold: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=tz, fold=fold)


def cand(when: datetime, tz: str = "Asia/Shanghai", **kw) -> ContactCandidate:
    base = dict(channel="call", party="debtor", purpose="collection", tz=tz, account_id="A1", recorded=True,
                voicemail_limited=True, opt_out_notice=True)
    base.update(kw)
    return ContactCandidate(at=when, **base)


def us(when: datetime, **kw) -> ContactCandidate:
    # the Regulation F content facts of a compliant contact, unless a test says otherwise
    kw = {"collector_disclosure": "full", "letter_format": "sealed", "envelope_text": "return_address"} | kw
    return cand(when, tz="America/New_York", country="US", **kw)


def rules(decision) -> set[str]:
    return {b.rule_id for b in decision.blocks}


def block(decision, rule_id: str):
    return next(b for b in decision.blocks if b.rule_id == rule_id)


def test_hold_kinds_match_the_case_process() -> None:
    assert HOLD_KINDS == CASE_HOLD_KINDS


# -- cn: quiet hours -----------------------------------------------------------------------------


def test_cn_quiet_hours_boundaries() -> None:
    assert gate(cand(at(SH, 2026, 3, 10, 21, 59, 59)), CN).allowed
    late = gate(cand(at(SH, 2026, 3, 10, 22)), CN)
    assert not late.allowed and rules(late) == {"quiet_hours"}
    assert block(late, "quiet_hours").next_allowed_at == at(SH, 2026, 3, 11, 8)
    assert late.next_allowed_at == at(SH, 2026, 3, 11, 8)
    early = gate(cand(at(SH, 2026, 3, 11, 7, 59, 59)), CN)
    assert rules(early) == {"quiet_hours"} and early.next_allowed_at == at(SH, 2026, 3, 11, 8)
    assert gate(cand(at(SH, 2026, 3, 11, 8)), CN).allowed


def test_cn_quiet_hours_read_the_customers_own_zone() -> None:
    # 09:30 in Beijing is 07:30 in Urumqi (UTC+6): blocked for a customer there.
    when = at(SH, 2026, 3, 10, 9, 30)
    d = gate(cand(when, tz="Asia/Urumqi"), CN)
    assert rules(d) == {"quiet_hours"}
    assert d.next_allowed_at == at(ZoneInfo("Asia/Urumqi"), 2026, 3, 10, 8)
    assert gate(cand(when), CN).allowed


def test_cn_quiet_hours_apply_to_sms_but_not_letters() -> None:
    night = at(SH, 2026, 3, 10, 23)
    assert rules(gate(cand(night, channel="sms"), CN)) == {"quiet_hours"}
    assert gate(cand(night, channel="letter"), CN).allowed


def test_cn_quiet_hours_are_absolute_even_with_an_appointment() -> None:
    appt = Appointment(at(SH, 2026, 3, 10, 22), at(SH, 2026, 3, 10, 23))
    d = gate(cand(at(SH, 2026, 3, 10, 22, 30), appointment=appt), CN)
    assert rules(d) == {"quiet_hours"}
    refused = gate(cand(at(SH, 2026, 3, 10, 22, 30)), CN, [Override("quiet_hours", "asked", "li", "compliance")])
    assert not refused.allowed and refused.refused_overrides[0][1] == "this rule may never be overridden"


# -- cn: public holidays ---------------------------------------------------------------------------


def test_holiday_calendar_is_the_holidays_package() -> None:
    assert is_public_holiday("CN", None, date(2026, 2, 17))  # Spring Festival
    assert is_public_holiday("CN", None, date(2026, 10, 1))  # National Day
    assert is_public_holiday("CN", None, date(2026, 10, 7))  # substituted day off
    assert not is_public_holiday("CN", None, date(2026, 10, 8))


def test_cn_spring_festival_restricts_hours() -> None:
    before = gate(cand(at(SH, 2026, 2, 17, 8, 59, 59)), CN)
    assert rules(before) == {"public_holiday"}
    assert before.next_allowed_at == at(SH, 2026, 2, 17, 9)
    assert gate(cand(at(SH, 2026, 2, 17, 9)), CN).allowed
    assert gate(cand(at(SH, 2026, 2, 17, 19, 59, 59)), CN).allowed
    evening = gate(cand(at(SH, 2026, 2, 17, 20)), CN)
    assert rules(evening) == {"public_holiday"}
    # the 18th is a holiday too: 09:00 that day
    assert block(evening, "public_holiday").next_allowed_at == at(SH, 2026, 2, 18, 9)
    assert evening.next_allowed_at == at(SH, 2026, 2, 18, 9)
    assert "public holiday" in block(evening, "public_holiday").message
    assert "法定节假日" in block(evening, "public_holiday").message_zh


def test_cn_last_day_of_national_day_holiday_then_quiet_hours() -> None:
    d = gate(cand(at(SH, 2026, 10, 7, 20, 30)), CN)
    assert rules(d) == {"public_holiday"}
    # the holiday rule alone clears at midnight; the quiet hours then hold the contact until 08:00
    assert block(d, "public_holiday").next_allowed_at == at(SH, 2026, 10, 8, 0)
    assert d.next_allowed_at == at(SH, 2026, 10, 8, 8)


def test_cn_holiday_hours_do_not_apply_to_service_contacts_or_other_countries() -> None:
    assert gate(cand(at(SH, 2026, 10, 1, 8, 30), purpose="service"), CN).allowed
    # a customer whose calendar is the US one: 1 October is a working day there
    assert gate(cand(at(SH, 2026, 10, 1, 8, 30), country="US"), CN).allowed


def test_cn_holiday_restriction_lifted_by_appointment_or_supervisor() -> None:
    when = at(SH, 2026, 10, 1, 8, 30)
    appt = Appointment(at(SH, 2026, 10, 1, 8), at(SH, 2026, 10, 1, 9))
    assert gate(cand(when, appointment=appt), CN).allowed
    ok = gate(cand(when), CN, [Override("public_holiday", "customer asked by SMS", "wang", "supervisor")])
    assert ok.allowed and [b.rule_id for b in ok.overridden] == ["public_holiday"]
    assert ok.overrides[0].approver == "wang"
    agent = gate(cand(when), CN, [Override("public_holiday", "asked", "zhao", "agent")])
    assert not agent.allowed and "may not override" in agent.refused_overrides[0][1]


# -- cn: daily call limit ---------------------------------------------------------------------------


def _calls(times, **kw) -> tuple[Attempt, ...]:
    return tuple(Attempt(at=t, **kw) for t in times)


def test_cn_sixth_call_allowed_seventh_blocked() -> None:
    today = [at(SH, 2026, 3, 10, 8 + i) for i in range(6)]
    when = at(SH, 2026, 3, 10, 15)
    assert gate(cand(when, attempts=_calls(today[:5])), CN).allowed
    d = gate(cand(when, attempts=_calls(today)), CN)
    assert rules(d) == {"daily_call_limit"}
    assert block(d, "daily_call_limit").next_allowed_at == at(SH, 2026, 3, 11, 0)
    assert d.next_allowed_at == at(SH, 2026, 3, 11, 8)


def test_cn_daily_limit_counts_only_calls_to_the_debtor_today() -> None:
    when = at(SH, 2026, 3, 10, 15)
    yesterday = _calls([at(SH, 2026, 3, 9, 8 + i) for i in range(6)])
    sms = _calls([at(SH, 2026, 3, 10, 8, i) for i in range(6)], channel="sms")
    contacts = _calls([at(SH, 2026, 3, 10, 9, i) for i in range(6)], party="emergency_contact")
    assert gate(cand(when, attempts=yesterday + sms + contacts), CN).allowed
    # counted over all the person's accounts
    other = _calls([at(SH, 2026, 3, 10, 9, i) for i in range(6)], account_id="A2")
    assert rules(gate(cand(when, attempts=other), CN)) == {"daily_call_limit"}
    # an SMS is not a call: not limited
    assert gate(cand(when, channel="sms", attempts=other), CN).allowed


# -- cn: parties -------------------------------------------------------------------------------------


def test_cn_emergency_contact_only_to_reestablish_contact_never_told() -> None:
    # the debtor cannot be reached (no valid number left): tests/contact/test_cn_rules.py has the rest
    when = at(SH, 2026, 3, 10, 10)
    d = gate(cand(when, party="emergency_contact", purpose="collection", discloses_debt=False, debtor_numbers=()), CN)
    assert rules(d) == {"debtor_only"} and d.next_allowed_at is None
    assert block(d, "debtor_only").next_allowed_at is None
    assert gate(cand(when, party="emergency_contact", purpose="reestablish_contact", discloses_debt=False,
                     debtor_numbers=()), CN).allowed
    told = gate(cand(when, party="emergency_contact", purpose="reestablish_contact", debtor_numbers=()), CN)
    assert rules(told) == {"no_third_party_disclosure"}
    other = gate(cand(when, party="third_party", purpose="reestablish_contact", discloses_debt=False,
                      debtor_numbers=()), CN)
    assert rules(other) == {"debtor_only"}


# -- holds (both packs) ----------------------------------------------------------------------------------


def test_hold_blocks_until_it_ends_and_open_ended_cannot_be_known() -> None:
    when = at(SH, 2026, 3, 10, 10)
    end = at(SH, 2026, 3, 12, 9, 30)
    d = gate(cand(when, holds=(Hold("dispute", at(SH, 2026, 3, 1), end),)), CN)
    assert rules(d) == {"hold_dispute"}
    assert block(d, "hold_dispute").next_allowed_at == end and d.next_allowed_at == end
    assert gate(cand(end, holds=(Hold("dispute", at(SH, 2026, 3, 1), end),)), CN).allowed
    open_ended = gate(cand(when, holds=(Hold("deceased", at(SH, 2026, 3, 1)),)), CN)
    assert rules(open_ended) == {"hold_protected"} and open_ended.next_allowed_at is None
    # a hold that has not started yet does not block
    assert gate(cand(when, holds=(Hold("legal", at(SH, 2026, 3, 11)),)), CN).allowed


def test_chained_holds_and_quiet_hours_give_the_fixpoint() -> None:
    when = at(SH, 2026, 3, 10, 10)
    holds = (Hold("hardship", at(SH, 2026, 3, 1), at(SH, 2026, 3, 12, 23)),
             Hold("complaint", at(SH, 2026, 3, 12, 22), at(SH, 2026, 3, 13, 6)))
    d = gate(cand(when, holds=holds), CN)
    assert rules(d) == {"hold_hardship"}
    assert block(d, "hold_hardship").next_allowed_at == at(SH, 2026, 3, 12, 23)
    assert d.next_allowed_at == at(SH, 2026, 3, 13, 8)


def test_hold_overrides_by_role() -> None:
    when = at(SH, 2026, 3, 10, 10)
    hardship = (Hold("hardship", at(SH, 2026, 3, 1), None),)
    ok = gate(cand(when, holds=hardship), CN, [Override("hold_hardship", "customer called back", "wu", "supervisor")])
    assert ok.allowed
    bankrupt = (Hold("bankruptcy", at(SH, 2026, 3, 1), None),)
    no = gate(cand(when, holds=bankrupt), CN, [Override("hold_protected", "x", "wu", "compliance")])
    assert not no.allowed and no.refused_overrides[0][1] == "this rule may never be overridden"
    empty_reason = gate(cand(when, holds=hardship), CN, [Override("hold_hardship", " ", "wu", "supervisor")])
    assert not empty_reason.allowed


def test_us_holds() -> None:
    when = at(NY, 2026, 3, 10, 10)
    d = gate(us(when, holds=(Hold("bankruptcy", at(NY, 2026, 1, 1)),)), US)
    assert rules(d) == {"hold_protected"} and d.next_allowed_at is None


# -- cn: recording -------------------------------------------------------------------------------------------


def test_cn_every_call_needs_a_recording_reference() -> None:
    when = at(SH, 2026, 3, 10, 10)
    d = gate(cand(when, recorded=False), CN)
    assert rules(d) == {"call_recording"} and d.next_allowed_at is None
    assert gate(cand(when, recorded=False, channel="sms"), CN).allowed
    assert CN.rule("call_recording").params() == {"retention_days": 731}


# -- us-reg-f: inconvenient times and DST ----------------------------------------------------------------


def test_us_time_boundaries() -> None:
    assert gate(us(at(NY, 2026, 3, 10, 20, 59)), US).allowed
    assert gate(us(at(NY, 2026, 3, 10, 20, 59, 59)), US).allowed
    d = gate(us(at(NY, 2026, 3, 10, 21)), US)
    assert rules(d) == {"inconvenient_time"} and d.next_allowed_at == at(NY, 2026, 3, 11, 8)
    assert rules(gate(us(at(NY, 2026, 3, 11, 7, 59)), US)) == {"inconvenient_time"}
    assert gate(us(at(NY, 2026, 3, 11, 8)), US).allowed


def test_us_spring_forward_day() -> None:
    # 8 March 2026: 02:00 EST -> 03:00 EDT; 08:00 local is 12:00 UTC, 21:00 local is 01:00 UTC next day.
    d = gate(us(datetime(2026, 3, 8, 6, 30, tzinfo=UTC)), US)  # 01:30 EST
    assert d.next_allowed_at == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    assert not gate(us(datetime(2026, 3, 8, 11, 59, tzinfo=UTC)), US).allowed
    assert gate(us(datetime(2026, 3, 8, 12, 0, tzinfo=UTC)), US).allowed
    assert gate(us(datetime(2026, 3, 9, 0, 59, tzinfo=UTC)), US).allowed  # 20:59 EDT
    assert not gate(us(datetime(2026, 3, 9, 1, 0, tzinfo=UTC)), US).allowed  # 21:00 EDT


def test_us_fall_back_day() -> None:
    # 1 November 2026: 02:00 EDT -> 01:00 EST; 01:30 happens twice.
    first = gate(us(at(NY, 2026, 11, 1, 1, 30, fold=0)), US)
    second = gate(us(at(NY, 2026, 11, 1, 1, 30, fold=1)), US)
    assert first.next_allowed_at == second.next_allowed_at == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)
    assert not gate(us(datetime(2026, 11, 1, 12, 59, tzinfo=UTC)), US).allowed
    assert gate(us(datetime(2026, 11, 2, 1, 59, tzinfo=UTC)), US).allowed  # 20:59 EST
    assert not gate(us(datetime(2026, 11, 2, 2, 0, tzinfo=UTC)), US).allowed  # 21:00 EST


def test_us_customer_request_allows_an_otherwise_inconvenient_time() -> None:
    appt = Appointment(at(NY, 2026, 3, 10, 21), at(NY, 2026, 3, 10, 22))
    assert gate(us(at(NY, 2026, 3, 10, 21, 30), appointment=appt), US).allowed
    assert not gate(us(at(NY, 2026, 3, 10, 22), appointment=appt), US).allowed
    # before the window: the appointment's start is the next allowed time
    d = gate(us(at(NY, 2026, 3, 10, 7), appointment=Appointment(at(NY, 2026, 3, 10, 7, 30), at(NY, 2026, 3, 10, 7, 45))), US)
    assert d.next_allowed_at == at(NY, 2026, 3, 10, 7, 30)
    # an appointment made by the debtor does not cover a third party
    third = gate(us(at(NY, 2026, 3, 10, 21, 30), appointment=appt, party="third_party",
                    purpose="reestablish_contact", discloses_debt=False), US)
    assert "inconvenient_time" in rules(third)


# -- us-reg-f: 7 in 7 and the conversation pause ----------------------------------------------------------


def test_us_seventh_call_in_seven_days_allowed_eighth_blocked() -> None:
    calls = [at(NY, 2026, 4, 3 + i, 10) for i in range(7)]  # 3..9 April, 10:00
    when = at(NY, 2026, 4, 9, 15)
    assert gate(us(when, attempts=_calls(calls[:6])), US).allowed
    d = gate(us(when, attempts=_calls(calls)), US)
    assert rules(d) == {"call_frequency"}
    # the 3 April call stops counting on 10 April at 10:00 (seven days and seven calendar days later)
    assert block(d, "call_frequency").next_allowed_at == at(NY, 2026, 4, 10, 10)
    assert d.next_allowed_at == at(NY, 2026, 4, 10, 10)
    assert not gate(us(at(NY, 2026, 4, 10, 9, 59), attempts=_calls(calls)), US).allowed


def test_us_call_frequency_is_per_debt() -> None:
    calls = _calls([at(NY, 2026, 4, 3 + i, 10) for i in range(7)], account_id="OTHER")
    assert gate(us(at(NY, 2026, 4, 9, 15), attempts=calls), US).allowed


def test_us_call_frequency_across_dst() -> None:
    # seven calls 2..8 March; on the 8th clocks spring forward. The 2 March 10:00 EST call leaves the
    # calendar window at midnight on 9 March, but 7 x 24 h after it is 9 March 11:00 EDT (the wall clock
    # lost an hour): the stricter (later) reading applies.
    calls = [at(NY, 2026, 3, 2 + i, 10) for i in range(7)]
    d = gate(us(at(NY, 2026, 3, 8, 18), attempts=_calls(calls)), US)
    assert block(d, "call_frequency").next_allowed_at == at(NY, 2026, 3, 9, 11)


def test_us_no_call_within_seven_days_after_a_conversation() -> None:
    talk = Attempt(at(NY, 2026, 4, 2, 10), conversation=True)
    blocked = gate(us(talk.at + timedelta(days=6, hours=23), attempts=(talk,)), US)
    assert rules(blocked) == {"after_conversation"}
    assert blocked.next_allowed_at == at(NY, 2026, 4, 9, 10)
    assert gate(us(at(NY, 2026, 4, 9, 10), attempts=(talk,)), US).allowed
    # e-mail is not a call; a conversation on another debt does not pause this one
    assert gate(us(at(NY, 2026, 4, 5, 10), channel="email", attempts=(talk,)), US).allowed
    other = Attempt(at(NY, 2026, 4, 2, 10), conversation=True, account_id="A2")
    assert gate(us(at(NY, 2026, 4, 5, 10), attempts=(other,)), US).allowed


def test_us_conversation_late_evening_the_calendar_day_counts() -> None:
    # a conversation at 20:30 on day 1: day 8 starts at midnight, but 7 x 24 h ends at 20:30 on day 8
    talk = Attempt(at(NY, 2026, 4, 1, 20, 30), conversation=True)
    d = gate(us(at(NY, 2026, 4, 8, 9), attempts=(talk,)), US)
    assert d.next_allowed_at == at(NY, 2026, 4, 8, 20, 30)


# -- us-reg-f: electronic messages, voicemail, third parties -----------------------------------------------


def test_us_opt_outs_and_notices() -> None:
    when = at(NY, 2026, 3, 10, 10)
    d = gate(us(when, channel="email", opted_out=True), US)
    assert rules(d) == {"medium_opt_out"} and d.next_allowed_at is None
    assert rules(gate(us(when, channel="sms", opt_out_notice=False), US)) == {"opt_out_notice"}
    assert gate(us(when, channel="letter", opt_out_notice=False), US).allowed
    assert rules(gate(us(when, voicemail_limited=False), US)) == {"limited_content_voicemail"}


def test_us_third_parties_location_only_once_never_told() -> None:
    when = at(NY, 2026, 3, 10, 10)
    kw = dict(party="third_party", purpose="reestablish_contact", discloses_debt=False, party_ref="P1")
    assert gate(us(when, **kw), US).allowed
    assert rules(gate(us(when, **{**kw, "purpose": "collection"}), US)) == {"third_parties_location_only"}
    assert rules(gate(us(when, **{**kw, "discloses_debt": True}), US)) == {"no_third_party_disclosure"}
    before = Attempt(at(NY, 2026, 3, 1, 10), party="third_party", party_ref="P1")
    assert rules(gate(us(when, attempts=(before,), **kw), US)) == {"location_contact_once"}
    assert gate(us(when, attempts=(before,), **{**kw, "party_ref": "P2"}), US).allowed
    unknown = Attempt(at(NY, 2026, 3, 1, 10), party="emergency_contact")
    assert rules(gate(us(when, attempts=(unknown,), **kw), US)) == {"location_contact_once"}
    asked = gate(us(when, attempts=(before,), **kw), US,
                 [Override("location_contact_once", "P1 asked us to call back", "ann", "compliance")])
    assert asked.allowed


def test_us_public_holidays_not_restricted_by_default() -> None:
    assert gate(us(at(NY, 2026, 7, 4, 8, 30)), US).allowed  # Independence Day


# -- decisions and logging ------------------------------------------------------------------------------


def test_decision_log_record_is_json_and_complete() -> None:
    when = at(SH, 2026, 10, 1, 8, 30)
    d = gate(cand(when, recorded=False), CN,
             [Override("public_holiday", "customer asked", "wang", "supervisor"), Override("nope", "x", "y", "admin")])
    record = d.to_log_record()
    json.dumps(record, ensure_ascii=False)
    assert record["allowed"] is False and record["pack"] == "cn" and record["pack_version"] == "2026.2"
    assert [b["rule_id"] for b in record["blocks"]] == ["call_recording"]
    assert record["blocks"][0]["source"].startswith("《商业银行信用卡业务监督管理办法》")
    assert [b["rule_id"] for b in record["overridden"]] == ["public_holiday"]
    assert record["overrides"] == [{"rule_id": "public_holiday", "reason": "customer asked", "approver": "wang",
                                    "approver_role": "supervisor"}]
    assert record["refused_overrides"][0]["rule_id"] == "nope"
    assert record["next_allowed_at"] is None


def test_unused_override_is_recorded_as_refused() -> None:
    d = gate(cand(at(SH, 2026, 3, 10, 10)), CN, [Override("hold_hardship", "x", "wu", "supervisor")])
    assert d.allowed and d.refused_overrides[0][1] == "the rule did not block this contact"


def test_candidate_validation() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cand(datetime(2026, 3, 10, 10))
    with pytest.raises(ValueError, match="unknown channel"):
        cand(at(SH, 2026, 3, 10), channel="fax")
    with pytest.raises(ValueError, match="unknown time zone"):
        cand(at(SH, 2026, 3, 10), tz="Mars/Olympus")
    with pytest.raises(ValueError, match="unknown hold kind"):
        Hold("vacation", at(SH, 2026, 3, 10))


def test_local_instant_in_gaps_and_overlaps() -> None:
    assert local_instant(NY, date(2026, 3, 8), 2 * 3600 + 1800) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert local_instant(NY, date(2026, 11, 1), 3600 + 1800) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    havana = ZoneInfo("America/Havana")  # midnight does not exist on 8 March 2026
    assert local_instant(havana, date(2026, 3, 8)) == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)
