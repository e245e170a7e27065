"""The `cn` pack's rules of GB/T 45251—2025 and the China Banking Association's guideline (2026), each at
its boundary: the gate's answer names the rule, its source and the next allowed time."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arrears.contact import Appointment, Attempt, ContactCandidate, gate, load_default_pack
from arrears.contact.config import default_pack_path, load_pack
from arrears.contact.policy import AgencyNotice, AttemptLimit, ConnectedLimit, Decision
from arrears.kit.errors import ConfigError

CN = load_default_pack("cn")
SH = ZoneInfo("Asia/Shanghai")
LA = ZoneInfo("America/Los_Angeles")
GBT = "GB/T 45251—2025"
CBA = "中国银行业协会《金融机构个人消费类贷款催收工作指引（试行）》"


def at(tz: ZoneInfo, d: int, h: int, mi: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, d, h, mi, tzinfo=tz)


def cand(when: datetime, tz: str = "Asia/Shanghai", **kw) -> ContactCandidate:
    base = dict(channel="call", party="debtor", purpose="collection", tz=tz, account_id="A1", recorded=True)
    return ContactCandidate(at=when, **(base | kw))


def only(d: Decision, rule_id: str):
    """The one block, which must be ``rule_id``, cited to the new sources."""
    assert [b.rule_id for b in d.blocks] == [rule_id], d.blocks
    b = d.blocks[0]
    assert GBT in b.source and CBA in b.source
    assert b.message and b.message_zh
    return b


# -- 22:00–08:00 unless agreed with the debtor --------------------------------------------------------


def test_quiet_hours_at_the_minute() -> None:
    assert gate(cand(at(SH, 10, 21, 59)), CN).allowed
    night = gate(cand(at(SH, 10, 22, 0)), CN)
    assert only(night, "quiet_hours").next_allowed_at == at(SH, 11, 8) == night.next_allowed_at
    early = gate(cand(at(SH, 11, 7, 59)), CN)
    assert only(early, "quiet_hours").next_allowed_at == at(SH, 11, 8) == early.next_allowed_at
    assert gate(cand(at(SH, 11, 8, 0)), CN).allowed


def test_an_agreed_appointment_lifts_quiet_hours_only_inside_its_window() -> None:
    agreed = Appointment(at(SH, 10, 22, 0), at(SH, 10, 22, 30), agreed=True)
    assert gate(cand(at(SH, 10, 22, 0), appointment=agreed), CN).allowed
    assert gate(cand(at(SH, 10, 22, 29), appointment=agreed), CN).allowed
    after = gate(cand(at(SH, 10, 22, 30), appointment=agreed), CN)
    assert only(after, "quiet_hours").next_allowed_at == at(SH, 11, 8)
    # before the window opens: the next allowed time is the window's start, not 08:00
    early = Appointment(at(SH, 11, 7, 0), at(SH, 11, 7, 30), agreed=True)
    d = gate(cand(at(SH, 11, 6, 0), appointment=early), CN)
    assert only(d, "quiet_hours").next_allowed_at == at(SH, 11, 7) == d.next_allowed_at
    assert gate(cand(at(SH, 11, 7, 0), appointment=early), CN).allowed
    assert not gate(cand(at(SH, 11, 7, 30), appointment=early), CN).allowed
    # an emergency contact never benefits from the debtor's appointment
    other = gate(cand(at(SH, 10, 22, 0), party="emergency_contact", purpose="reestablish_contact",
                      discloses_debt=False, debtor_numbers=(), appointment=agreed), CN)
    assert "quiet_hours" in {b.rule_id for b in other.blocks}


def test_an_appointment_without_the_debtors_agreement_on_record_does_not_lift_quiet_hours() -> None:
    booked = Appointment(at(SH, 10, 22, 0), at(SH, 10, 22, 30))
    assert not booked.agreed
    d = gate(cand(at(SH, 10, 22, 0), appointment=booked), CN)
    assert only(d, "quiet_hours").next_allowed_at == at(SH, 11, 8) == d.next_allowed_at
    assert only(gate(cand(at(SH, 11, 7, 59), appointment=Appointment(at(SH, 11, 7), at(SH, 11, 8))), CN),
                "quiet_hours")


# -- at most 3 connected conversations a day ----------------------------------------------------------


def talks(*whens: datetime, ref: str = "P1", account: str | None = None) -> tuple[Attempt, ...]:
    return tuple(Attempt(at=w, conversation=True, party_ref=ref, account_id=account) for w in whens)


def test_third_connected_conversation_allowed_fourth_blocked() -> None:
    two = talks(at(SH, 10, 9), at(SH, 10, 10))
    assert gate(cand(at(SH, 10, 11), attempts=two), CN).allowed
    # across numbers and accounts: one person, one budget
    three = two + talks(at(SH, 10, 11), ref="P2", account="A2")
    d = gate(cand(at(SH, 10, 12), attempts=three), CN)
    block = only(d, "daily_connected_limit")
    assert "3" in block.message and "接通" in block.message_zh
    assert block.next_allowed_at == at(SH, 11, 0)  # this rule alone: local midnight
    assert d.next_allowed_at == at(SH, 11, 8)  # with the quiet hours: 08:00 the next day
    assert gate(cand(at(SH, 11, 8), attempts=three), CN).allowed
    # unanswered attempts do not count against it (only against the 6 attempts)
    missed = tuple(Attempt(at=at(SH, 10, 9, m)) for m in (1, 2))
    assert gate(cand(at(SH, 10, 12), attempts=two + missed), CN).allowed


def test_the_conversation_day_rolls_over_in_the_customers_zone() -> None:
    # a cn customer living in Los Angeles: local evening calls fall on the next UTC day
    three = talks(at(LA, 10, 20), at(LA, 10, 20, 30), at(LA, 10, 21))
    assert three[0].at.date() == datetime(2026, 3, 11).date()  # UTC date of the first one
    late = gate(cand(at(LA, 10, 21, 30), tz="America/Los_Angeles", attempts=three), CN)
    assert only(late, "daily_connected_limit").next_allowed_at == at(LA, 11, 0)
    assert late.next_allowed_at == at(LA, 11, 8)
    # 08:00 local the next day is the same UTC day as the calls, yet a new local day: allowed
    nxt = at(LA, 11, 8)
    assert nxt.astimezone(UTC).date() == three[0].at.date()
    assert gate(cand(nxt, tz="America/Los_Angeles", attempts=three), CN).allowed


def test_connected_limit_loads_with_its_parameters() -> None:
    rule = CN.rule("daily_connected_limit")
    assert isinstance(rule, ConnectedLimit) and not isinstance(rule, AttemptLimit)  # "calls n of 6" stays 6
    assert rule.params() == {"max_conversations": 3, "window_days": 1, "rolling": False, "scope": "debtor"}
    assert rule.channels == {"call"} and rule.parties == {"debtor"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 3 * 24 * 60 - 1), st.booleans()), min_size=1, max_size=30,
                unique_by=lambda p: p[0]))
def test_no_local_day_ever_gets_a_fourth_connected_conversation(plan: list[tuple[int, bool]]) -> None:
    """Whatever the agents try, in whatever order and with whatever outcome, the gate lets at most 3
    connected conversations (and 6 attempts) through per customer-local day. (The history is what
    happened strictly before a contact, so two contacts proposed at the very same second are one
    minute apart here.)"""
    start = at(SH, 10, 0)
    made: list[Attempt] = []
    for minute, answered in sorted(plan):
        when = start + timedelta(minutes=minute)
        if gate(cand(when, attempts=tuple(made)), CN).allowed:
            made.append(Attempt(at=when, conversation=answered, party_ref="P1"))
    per_day = Counter(a.at.astimezone(SH).date() for a in made if a.conversation)
    assert max(per_day.values(), default=0) <= 3
    assert max(Counter(a.at.astimezone(SH).date() for a in made).values(), default=0) <= 6
    assert all(8 <= a.at.astimezone(SH).hour < 22 for a in made)


# -- third parties and emergency contacts ----------------------------------------------------------------


def third(when: datetime, **kw) -> ContactCandidate:
    base = dict(party="emergency_contact", purpose="reestablish_contact", discloses_debt=False, party_ref="E1",
                debtor_numbers=("P1", "P2"))
    return cand(when, **(base | kw))


def missed(ref: str, *whens: datetime) -> tuple[Attempt, ...]:
    return tuple(Attempt(at=w, party_ref=ref) for w in whens)


def test_emergency_contact_only_once_every_debtor_number_failed() -> None:
    now = at(SH, 12, 10)
    p1 = missed("P1", at(SH, 10, 9), at(SH, 11, 9), at(SH, 12, 9))
    before = gate(third(now, attempts=p1 + missed("P2", at(SH, 11, 9), at(SH, 12, 9))), CN)
    b = only(before, "third_party_only_when_unreachable")
    assert b.next_allowed_at is None and before.next_allowed_at is None  # more attempts clear it, not waiting
    assert "3" in b.message and "失联" in b.message_zh
    full = p1 + missed("P2", at(SH, 11, 9), at(SH, 12, 9), at(SH, 12, 9, 30))
    assert gate(third(now, attempts=full), CN).allowed
    # a conversation with the debtor in those days: reachable
    talked = full + talks(at(SH, 11, 15))
    assert only(gate(third(now, attempts=talked), CN), "third_party_only_when_unreachable")
    # attempts older than 3 days do not count: on the 13th at 09:00:01 the one of the 10th has aged out
    assert gate(third(at(SH, 13, 9), attempts=full), CN).allowed
    assert only(gate(third(at(SH, 13, 9, 1), attempts=full), CN), "third_party_only_when_unreachable")
    # no valid debtor number left: unreachable at once; numbers not known: never taken as unreachable
    assert gate(third(now, debtor_numbers=()), CN).allowed
    assert only(gate(third(now, debtor_numbers=None, attempts=full), CN), "third_party_only_when_unreachable")


def test_a_contact_who_refused_is_never_contacted_again_and_never_told() -> None:
    now = at(SH, 12, 10)
    refused = gate(third(now, debtor_numbers=(), refused=True), CN)
    b = only(refused, "third_party_refusal")
    assert b.next_allowed_at is None and refused.next_allowed_at is None
    told = gate(third(now, debtor_numbers=(), discloses_debt=True), CN)
    assert [x.rule_id for x in told.blocks] == ["no_third_party_disclosure"]
    assert GBT in told.blocks[0].source and told.next_allowed_at is None
    # a third party (not an emergency contact) is still never contacted, whatever the debtor's state
    other = gate(third(now, party="third_party", debtor_numbers=()), CN)
    assert [x.rule_id for x in other.blocks] == ["debtor_only"] and GBT in other.blocks[0].source


# -- field visits ----------------------------------------------------------------------------------------


def test_field_visit_needs_two_collectors_and_consent_to_enter() -> None:
    now = at(SH, 12, 10)
    one = gate(cand(now, channel="visit", collectors=1), CN)
    b = only(one, "field_visit")
    assert b.next_allowed_at is None and "2" in b.message and "两名" not in b.message_zh and "2 名" in b.message_zh
    assert gate(cand(now, channel="visit", collectors=2), CN).allowed
    entered = gate(cand(now, channel="visit", collectors=2, entered=True), CN)
    assert only(entered, "field_visit").message_zh == "未经同意不得进入住所"
    assert gate(cand(now, channel="visit", collectors=3, entered=True, entry_consent=True), CN).allowed
    # and the hours still hold for a visit
    assert only(gate(cand(at(SH, 12, 22), channel="visit", collectors=2), CN), "quiet_hours")


# -- the agency notice and the pack ------------------------------------------------------------------------


def test_agency_notice_never_blocks_a_contact_and_carries_its_wait() -> None:
    rule = CN.rule("agency_notice")
    assert isinstance(rule, AgencyNotice) and rule.notice_days == 7 and GBT in rule.source
    assert gate(cand(at(SH, 12, 10), channel="letter"), CN).allowed


def test_sources_that_could_not_be_found_are_gone() -> None:
    assert CN.version == "2026.2"
    for rule in CN.rules:
        assert "《信用卡催收工作指引" not in rule.source and "自律公约" not in rule.source, rule.id


def test_a_bad_new_parameter_names_file_line_and_field(tmp_path: Path) -> None:
    text = default_pack_path("cn").read_text(encoding="utf-8")
    bad = text.replace("      max_conversations: 3\n", "      max_conversation: 3\n", 1)
    path = tmp_path / "pack.yaml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_pack(path)
    assert info.value.file == str(path) and info.value.field.endswith(".params.max_conversation")
    assert info.value.line == bad[: bad.index("max_conversation: 3")].count("\n") + 1
