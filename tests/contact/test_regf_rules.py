"""The Regulation F rules of ``us-reg-f`` at their boundaries (the instant, the day, the count): each
block names its rule, its source and the next allowed time (None where waiting never clears it); and
the pure parts of the validation notice and credit-reporting duties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.contact import load_default_pack, load_pack
from arrears.contact.config import default_pack_path
from arrears.contact.policy import ContactCandidate, Duty, gate
from arrears.contact.regf import (
    RegFError,
    ValidationFigures,
    may_furnish,
    notice_due_on,
    notice_state,
    validation_end,
    validation_payload,
)
from arrears.kit.errors import ConfigError

US = load_default_pack("us-reg-f")
CN = load_default_pack("cn")
NY = ZoneInfo("America/New_York")
NOON = datetime(2026, 3, 10, 12, 0, tzinfo=NY)  # a Tuesday
SECOND = timedelta(seconds=1)


def us(when: datetime = NOON, **kw) -> ContactCandidate:
    """A compliant Regulation F contact with the debtor (a call), changed by ``kw``."""
    base = dict(channel="call", party="debtor", purpose="collection", tz="America/New_York", account_id="A1",
                country="US", recorded=True, voicemail_limited=True, opt_out_notice=True,
                collector_disclosure="full", letter_format="sealed", envelope_text="return_address")
    return ContactCandidate(at=when, **(base | kw))


def only(decision, rule_id: str):
    """The one block of ``decision``, which must be ``rule_id``'s."""
    assert [b.rule_id for b in decision.blocks] == [rule_id], decision.blocks
    return decision.blocks[0]


def test_the_compliant_contact_is_allowed_on_every_channel() -> None:
    for channel in ("call", "sms", "email", "letter", "app", "visit"):
        d = gate(us(channel=channel), US)
        assert d.allowed, (channel, d.blocks)


def test_every_regf_rule_is_in_the_pack_with_kind_source_and_scope() -> None:
    kinds = {"cease_communication": "cease_communication", "place_of_employment": "place_of_employment",
             "collector_disclosure": "collector_disclosure", "sealed_envelope": "envelope",
             "time_barred_debt": "time_barred", "validation_notice": "validation_notice",
             "credit_reporting": "credit_reporting", "record_retention": "record_retention"}
    for rule_id, kind in kinds.items():
        rule = US.rule(rule_id)
        assert rule.kind == kind and "CFR 1006" in rule.source and rule.channels and rule.parties
        assert not rule.overridable_by
    assert US.rule("sealed_envelope").channels == {"letter"}
    assert US.rule("collector_disclosure").parties == {"debtor"}


# -- cease communication (1006.6(c)) -------------------------------------------------------------------


def test_cease_request_blocks_from_the_instant_it_is_received() -> None:
    received = NOON
    assert gate(us(received - SECOND, ceased_at=received), US).allowed
    b = only(gate(us(received, ceased_at=received), US), "cease_communication")
    assert "1006.6(c)" in b.source and "1692c(c)" in b.source and b.next_allowed_at is None
    assert "2026-03-10" in b.message
    for channel in ("sms", "email", "letter"):
        assert not gate(us(received + timedelta(days=400), ceased_at=received, channel=channel), US).allowed


def test_after_a_cease_request_only_the_permitted_notices() -> None:
    for exception in ("efforts_terminated", "may_invoke_remedy", "will_invoke_remedy"):
        assert gate(us(ceased_at=NOON - timedelta(days=3), cease_exception=exception, channel="letter"), US).allowed
    with pytest.raises(ValueError, match="unknown cease exception"):
        us(cease_exception="please_pay")


# -- place of employment (1006.6(b)(3), 1006.22(f)(3)) ----------------------------------------------


def test_place_of_employment() -> None:
    b = only(gate(us(employer_forbids=True), US), "place_of_employment")
    assert "1006.6(b)(3)" in b.source and b.next_allowed_at is None and "employer" in b.message
    b = only(gate(us(channel="email", employer_email=True), US), "place_of_employment")
    assert "provided by the consumer's employer" in b.message and "1006.22(f)(3)" in b.source
    # the employer-provided flag is about e-mail only
    assert gate(us(channel="sms", employer_email=True), US).allowed


# -- the debt-collector disclosure (1006.18(e)) --------------------------------------------------------


def test_initial_communication_needs_the_full_disclosure_later_ones_the_short_one() -> None:
    # no communication before: this is the initial one
    b = only(gate(us(collector_disclosure="debt_collector"), US), "collector_disclosure")
    assert "1006.18(e)" in b.source and "attempting to collect a debt" in b.message and b.next_allowed_at is None
    # the first communication at this very instant is this one: still the initial communication
    assert not gate(us(collector_disclosure="debt_collector", first_communication_at=NOON), US).allowed
    # one second earlier: this is a subsequent communication
    assert gate(us(collector_disclosure="debt_collector", first_communication_at=NOON - SECOND), US).allowed
    b = only(gate(us(collector_disclosure="none", first_communication_at=NOON - SECOND), US), "collector_disclosure")
    assert "from a debt collector" in b.message


def test_the_limited_content_message_needs_no_disclosure_and_third_parties_are_not_told() -> None:
    assert gate(us(collector_disclosure="none", limited_content_only=True), US).allowed
    third = us(party="third_party", purpose="reestablish_contact", discloses_debt=False, collector_disclosure="none")
    assert gate(third, US).allowed
    with pytest.raises(ValueError, match="unknown disclosure"):
        us(collector_disclosure="mini_miranda")


def test_the_cautious_default_is_no_disclosure() -> None:
    c = ContactCandidate(at=NOON, channel="call", party="debtor", purpose="collection", tz="America/New_York",
                         account_id="A1", recorded=True, voicemail_limited=True)
    assert "collector_disclosure" in {b.rule_id for b in gate(c, US).blocks}
    assert gate(c, CN).allowed or "collector_disclosure" not in {b.rule_id for b in gate(c, CN).blocks}


# -- letters: sealed envelope, return address only (1006.22(f)(1), (2)) --------------------------------


def test_letters_go_sealed_with_only_the_return_address() -> None:
    b = only(gate(us(channel="letter", letter_format="postcard"), US), "sealed_envelope")
    assert "postcard" in b.message and "1006.22(f)" in b.source and b.next_allowed_at is None
    b = only(gate(us(channel="letter", envelope_text="other"), US), "sealed_envelope")
    assert "return address" in b.message
    assert only(gate(us(channel="letter", letter_format=None, envelope_text=None), US), "sealed_envelope")
    # other channels have no envelope
    assert gate(us(channel="sms", letter_format=None, envelope_text=None), US).allowed


# -- time-barred debt (1006.26(b)) ----------------------------------------------------------------------


def test_no_threat_of_suit_from_the_limitation_date_on() -> None:
    barred = date(2026, 3, 11)
    last_minute = datetime(2026, 3, 10, 23, 59, 59, tzinfo=NY)
    letter = dict(channel="letter", threatens_suit=True, limitation_date=barred)
    assert gate(us(last_minute, **letter), US).allowed
    b = only(gate(us(last_minute + SECOND, **letter), US), "time_barred_debt")
    assert "1006.26(b)" in b.source and "2026-03-11" in b.message and b.next_allowed_at is None
    # content without a threat of suit may still be sent on a time-barred debt
    assert gate(us(last_minute + SECOND, channel="letter", limitation_date=barred), US).allowed


def test_waiting_into_the_limitation_date_is_never_allowed() -> None:
    # 21:30 on the last day before the debt is time-barred: quiet hours say "08:00 tomorrow", but the
    # debt is time-barred by then, so the contact with its threat of suit is never allowed
    late = datetime(2026, 3, 10, 21, 30, tzinfo=NY)
    d = gate(us(late, channel="sms", threatens_suit=True, limitation_date=date(2026, 3, 11)), US)
    assert [b.rule_id for b in d.blocks] == ["inconvenient_time"]
    assert d.blocks[0].next_allowed_at == datetime(2026, 3, 11, 8, 0, tzinfo=NY)
    assert d.next_allowed_at is None
    # the day after, the same message is allowed at 08:00
    d = gate(us(late, channel="sms", threatens_suit=True, limitation_date=date(2026, 3, 12)), US)
    assert d.next_allowed_at == datetime(2026, 3, 11, 8, 0, tzinfo=NY)


# -- duties: validation notice, credit reporting, records ------------------------------------------------


def test_duties_carry_their_numbers_and_never_block() -> None:
    assert isinstance(US.rule("validation_notice"), Duty) and US.rule("validation_notice").value("within_days") == 5
    assert US.rule("credit_reporting").value("wait_days") == 14
    retention = US.rule("record_retention")
    assert (retention.value("records_years"), retention.value("recordings_years")) == (3, 3)
    assert "1006.100" in retention.source and "1006.34" in US.rule("validation_notice").source


def test_a_duty_without_its_number_names_the_field(tmp_path: Path) -> None:
    text = default_pack_path("us-reg-f").read_text(encoding="utf-8").replace("      within_days: 5\n", "      {}\n")
    path = tmp_path / "pack.yaml"
    path.write_text(text.replace("    params:\n      {}\n", "    params: {}\n"), encoding="utf-8")
    with pytest.raises(ConfigError, match="within_days") as exc:
        load_pack(path)
    assert exc.value.file.endswith("pack.yaml")


def test_validation_notice_due_five_days_after_the_initial_communication() -> None:
    first = datetime(2026, 3, 10, 23, 30, tzinfo=NY)  # 03:30 UTC on the 11th: the local date counts
    due = notice_due_on(first, "America/New_York", 5)
    assert due == date(2026, 3, 15)
    on_time = datetime(2026, 3, 15, 23, 59, 59, tzinfo=NY)
    assert notice_state(due, on_time, "America/New_York", on_time) == "sent"
    assert notice_state(due, on_time + SECOND, "America/New_York", on_time + SECOND) == "sent_late"
    assert notice_state(due, None, "America/New_York", on_time) == "due"
    assert notice_state(due, None, "America/New_York", on_time + SECOND) == "late"


def test_validation_period_end_skips_weekends_and_federal_holidays() -> None:
    # sent Tuesday 10 March 2026: received (assumed) Tuesday 17 March; the period ends 30 days later
    assert validation_end(date(2026, 3, 10)) == date(2026, 4, 16)
    # sent Thursday 2 July 2026: Friday 3 July is Independence Day (observed), then the weekend;
    # Mon 6 .. Fri 10 July are the five days; the period ends 9 August
    assert validation_end(date(2026, 7, 2)) == date(2026, 8, 9)


def test_payload_money_is_integer_cents() -> None:
    figures = ValidationFigures(date(2026, 1, 31), 250_000, interest=4_512, fees=3_900, payments_credits=10_000)
    payload = validation_payload(figures, sent_on=date(2026, 3, 10), collector_name="C", collector_address="A",
                                 consumer_address="B", creditor_itemization="X", creditor_current="Y")
    assert payload["amount_current"] == 248_412 and isinstance(payload["amount_current"], int)
    assert payload["itemization_date"] == "2026-01-31" and payload["validation_end"] == "2026-04-16"
    with pytest.raises(RegFError, match="fees must be a whole number of cents"):
        ValidationFigures(date(2026, 1, 31), 100, fees=1.5)  # type: ignore[arg-type]


def test_credit_reporting_waits_for_a_conversation_or_fourteen_days_after_the_notice() -> None:
    sent = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    ready = sent + timedelta(days=14)
    f = may_furnish(now=ready - SECOND, spoke_at=None, notice_sent_at=sent, notice_returned=False)
    assert not f.allowed and f.next_allowed_at == ready and f.rule_id == "credit_reporting"
    assert "1006.30(a)" in f.source
    assert may_furnish(now=ready, spoke_at=None, notice_sent_at=sent, notice_returned=False).allowed
    returned = may_furnish(now=ready + timedelta(days=30), spoke_at=None, notice_sent_at=sent, notice_returned=True)
    assert not returned.allowed and returned.next_allowed_at is None
    assert not may_furnish(now=ready, spoke_at=None, notice_sent_at=None, notice_returned=False).allowed
    assert may_furnish(now=sent, spoke_at=sent, notice_sent_at=None, notice_returned=False).allowed
    assert not may_furnish(now=sent, spoke_at=sent + SECOND, notice_sent_at=None, notice_returned=False).allowed


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 40 * 86400), st.booleans(), st.booleans())
def test_furnishing_is_never_allowed_before_both_paths_are_closed(offset: int, returned: bool, spoke: bool) -> None:
    sent = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    now = sent + timedelta(seconds=offset)
    f = may_furnish(now=now, spoke_at=sent if spoke else None, notice_sent_at=sent, notice_returned=returned)
    assert f.allowed == (spoke or (not returned and offset >= 14 * 86400))
    if not f.allowed and f.next_allowed_at is not None:
        assert may_furnish(now=f.next_allowed_at, spoke_at=None, notice_sent_at=sent, notice_returned=returned).allowed


# -- the limited-content voicemail (1006.2(j)) -------------------------------------------------------------


def test_limited_content_voicemail_is_described_as_the_regulation_defines_it() -> None:
    rule = US.rule("limited_content_voicemail")
    assert "does not indicate debt collection" in rule.title_en and "nothing else" in rule.title_en
    assert "name of a person" in rule.title_en and "telephone number" in rule.title_en
    assert "consumer's name" not in rule.title_en
    b = only(gate(us(voicemail_limited=False), US), "limited_content_voicemail")
    assert "1006.2(j)" in b.source and b.next_allowed_at is None


# -- the validation notice's template, in both languages ------------------------------------------------------


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_validation_notice_renders_the_content_of_1006_34(locale: str) -> None:
    from arrears.channels.templates import render, sample_payload, spec

    payload = sample_payload("regf.validation_notice", locale)
    letter = render("regf.validation_notice", "letter", locale, payload).body
    email = render("regf.validation_notice", "email", locale, payload)
    words = {"en": ("is a debt collector", "We will use any information you give us to help collect the debt",
                    "31 January 2026", "$ 2,500.00", "+ $ 45.12", "+ $ 39.00", "- $ 100.00", "$ 2,484.12",
                    "10 April 2026", "original creditor", "www.cfpb.gov/debt-collection", "This is not my debt."),
             "zh_CN": ("是债务催收方", "都将用于催收该笔债务", "2026年1月31日", "美元 2,500.00", "+ 美元 45.12",
                       "+ 美元 39.00", "- 美元 100.00", "美元 2,484.12", "2026年4月10日", "原债权人",
                       "www.cfpb.gov/debt-collection", "随函附英文版本")}[locale]
    for word in words:
        assert word in letter, word
    assert payload["collector_name"] in letter and payload["collector_address"] in letter
    assert letter.strip() in email.body and email.subject and ("unsubscribe" in email.body or "退订" in email.body)
    facts = dict(spec("regf.validation_notice").content)
    assert facts == {"collector_disclosure": "full", "letter_format": "sealed", "envelope_text": "return_address"}
    assert dict(spec("letter.legal_notice").content) == {"threatens_suit": True}
