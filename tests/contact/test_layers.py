"""State and city layers on top of the federal pack, each rule at its boundary (the count, the minute,
the day), with the rule, the text it comes from and its next allowed time; and how the pack is chosen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from arrears.contact.packchoice import (
    LAYER_NAMES,
    base_pack_name,
    effective_pack,
    layers_for,
    load_layer,
    merge,
    pack_for,
)
from arrears.contact.policy import Attempt, AttemptLimit, ContactCandidate, QuietHours, gate

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
MA = pack_for("card", "US-MA", {})
WA = pack_for("card", "US-WA", {})
NYC = pack_for("card", "US-NY-NYC", {})
#: Washington's layer on the cn base (a product the bank maps to cn): the layer's hours are then the strictest.
WA_ON_CN = pack_for("card", "US-WA", {"card": "cn"})


def cand(when: datetime, tz: ZoneInfo = NY, *, channel: str = "call", account: str = "A1",
         attempts: tuple[Attempt, ...] = ()) -> ContactCandidate:
    return ContactCandidate(at=when, channel=channel, party="debtor", purpose="collection", tz=tz.key,
                            account_id=account, recorded=True, voicemail_limited=True, opt_out_notice=True,
                            attempts=attempts)


def tried(*times: datetime, channel: str = "call", account: str = "A1") -> tuple[Attempt, ...]:
    return tuple(Attempt(at=t, channel=channel, account_id=account) for t in times)


def blocks(decision) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {b.rule_id: b for b in decision.blocks}


# -- choice and merge ------------------------------------------------------------------------------


def test_the_pack_is_the_products_else_the_countrys_and_layers_follow_the_jurisdiction() -> None:
    assert base_pack_name("card", "CN") == "cn" and base_pack_name("card", "US-MA") == "us-reg-f"
    assert base_pack_name("card", None) == "cn"
    assert base_pack_name("card-us", "CN", {"card-us": "us-reg-f"}) == "us-reg-f"
    with pytest.raises(ValueError, match="unknown pack 'xx'"):
        base_pack_name("card", "CN", {"card": "xx"})
    assert layers_for("CN") == () and layers_for("US-NY") == () and layers_for("US-TX") == ()
    assert layers_for("US-MA") == ("us-ma",) and layers_for("US-WA") == ("us-wa",)
    assert layers_for("US-NY-NYC") == ("us-nyc",)
    assert effective_pack("us-reg-f", ("us-ma",)) is MA


def test_a_layer_only_adds_rules_each_with_its_citation() -> None:
    base = effective_pack("us-reg-f")
    for pack, layer in ((MA, "us-ma"), (WA, "us-wa"), (NYC, "us-nyc")):
        added = load_layer(layer).rules
        assert pack.rules == base.rules + added
        assert pack.name == "us-reg-f" and pack.layers == ((layer, "2026.1"),)
        assert all(r.source and r.id.startswith(layer.removeprefix("us-") + ".") for r in added)
    assert sorted(LAYER_NAMES) == ["us-ma", "us-nyc", "us-wa"]
    with pytest.raises(ValueError, match="repeats rule id"):
        merge(base, (base,))


# -- Massachusetts: 940 CMR 7.04(1)(f) ---------------------------------------------------------------

MON = datetime(2026, 4, 6, 10, 0, tzinfo=NY)  # a Monday, 10:00 Boston (EDT)


def test_ma_the_third_call_or_text_in_seven_days_on_one_debt_is_blocked() -> None:
    history = tried(MON) + tried(MON + timedelta(hours=3), channel="sms")
    d = gate(cand(MON + timedelta(days=2), attempts=history), MA)
    b = blocks(d)["ma.phone_7_days"]
    assert "940 CMR 7.04(1)(f)" in b.source and "at most 2" in b.message
    # the first drops out 7 x 24 h after it was made
    assert b.next_allowed_at == MON + timedelta(days=7)
    assert "ma.phone_7_days" not in blocks(gate(cand(MON + timedelta(days=7), attempts=history), MA))
    assert "ma.phone_7_days" in blocks(gate(cand(MON + timedelta(days=7, seconds=-1), attempts=history), MA))
    # a text message is held to the same count
    assert "ma.phone_7_days" in blocks(gate(cand(MON + timedelta(days=2), channel="sms", attempts=history), MA))
    # the second is allowed: the count is two, not one
    assert "ma.phone_7_days" not in blocks(gate(cand(MON + timedelta(days=2), attempts=history[:1]), MA))
    # the federal pack alone allows the third call
    assert "ma.phone_7_days" not in blocks(gate(cand(MON + timedelta(days=2), attempts=history),
                                                effective_pack("us-reg-f")))


def test_ma_counts_per_debt_and_not_e_mail() -> None:
    history = tried(MON, MON + timedelta(hours=3), account="A2")
    assert "ma.phone_7_days" not in blocks(gate(cand(MON + timedelta(days=1), attempts=history), MA))
    assert "ma.phone_7_days" in blocks(gate(cand(MON + timedelta(days=1), account="A2", attempts=history), MA))
    emails = tried(MON, MON + timedelta(hours=3), channel="email")
    assert "ma.phone_7_days" not in blocks(gate(cand(MON + timedelta(days=1), attempts=emails), MA))


def test_ma_across_the_spring_clock_change_the_window_is_seven_days_and_seven_times_24_hours() -> None:
    sat = datetime(2026, 3, 7, 10, 0, tzinfo=NY)  # clocks go forward on Sunday 8 March
    history = tried(sat, sat + timedelta(hours=1))
    d = gate(cand(sat + timedelta(days=3), attempts=history), MA)
    # 7 x 24 h after 10:00 EST is 11:00 EDT on Saturday 14 March
    assert blocks(d)["ma.phone_7_days"].next_allowed_at == datetime(2026, 3, 14, 15, 0, tzinfo=UTC)


# -- Washington: RCW 19.16.250(13) -------------------------------------------------------------------

WMON = datetime(2026, 4, 6, 10, 0, tzinfo=LA)


def test_wa_the_fourth_communication_in_seven_days_in_any_form_is_blocked() -> None:
    history = (tried(WMON) + tried(WMON + timedelta(hours=1), channel="sms")
               + tried(WMON + timedelta(days=1), channel="email", account="A2"))
    d = gate(cand(WMON + timedelta(days=2), tz=LA, channel="email", attempts=history), WA)
    b = blocks(d)["wa.three_a_week"]
    assert "RCW 19.16.250(13)(a)" in b.source and "at most 3" in b.message
    assert b.next_allowed_at == WMON + timedelta(days=7)
    assert "wa.three_a_week" not in blocks(gate(cand(WMON + timedelta(days=7), tz=LA, attempts=history), WA))
    assert "wa.three_a_week" in blocks(gate(cand(WMON + timedelta(days=7, seconds=-1), tz=LA,
                                                 attempts=history), WA))
    assert "wa.three_a_week" not in blocks(gate(cand(WMON + timedelta(days=2), tz=LA, attempts=history[:2]), WA))


def test_wa_residence_hours_end_at_2100_and_begin_at_0730() -> None:
    day = datetime(2026, 4, 7, tzinfo=LA)
    last = gate(cand(day + timedelta(hours=20, minutes=59, seconds=59), tz=LA), WA_ON_CN)
    assert "wa.residence_hours" not in blocks(last) and "quiet_hours" not in blocks(last)
    late = gate(cand(day + timedelta(hours=21), tz=LA), WA_ON_CN)
    b = blocks(late)["wa.residence_hours"]
    assert "quiet_hours" not in blocks(late)  # cn's own hours run to 22:00: the layer is the strictest
    assert "RCW 19.16.250(13)(c)" in b.source and "07:30–21:00" in b.message
    # 07:30 is the layer's opening; the cn base then holds the call until 08:00
    assert b.next_allowed_at == datetime(2026, 4, 8, 7, 30, tzinfo=LA)
    assert late.next_allowed_at == datetime(2026, 4, 8, 8, 0, tzinfo=LA)
    early = gate(cand(datetime(2026, 4, 8, 7, 29, 59, tzinfo=LA), tz=LA), WA)
    assert "wa.residence_hours" in blocks(early) and "inconvenient_time" in blocks(early)
    assert "wa.residence_hours" not in blocks(gate(cand(datetime(2026, 4, 8, 7, 30, tzinfo=LA), tz=LA), WA))
    rule = next(r for r in WA.rules if r.id == "wa.residence_hours")
    assert isinstance(rule, QuietHours) and (rule.allowed_from, rule.allowed_until) == (7 * 3600 + 1800, 21 * 3600)


# -- New York City: 6 RCNY 5-77 -----------------------------------------------------------------------


def test_nyc_the_third_communication_in_seven_days_is_blocked_and_the_federal_hours_still_bind() -> None:
    history = tried(MON) + tried(MON + timedelta(days=1), channel="email", account="A2")
    d = gate(cand(MON + timedelta(days=3), channel="sms", attempts=history), NYC)
    b = blocks(d)["nyc.two_in_7_days"]
    assert "6 RCNY 5-77" in b.source and b.next_allowed_at == MON + timedelta(days=7)
    assert "nyc.two_in_7_days" not in blocks(gate(cand(MON + timedelta(days=7), attempts=history), NYC))
    assert "nyc.two_in_7_days" not in blocks(gate(cand(MON + timedelta(days=3), attempts=history[:1]), NYC))
    night = gate(cand(datetime(2026, 4, 7, 21, 30, tzinfo=NY)), NYC)
    assert "inconvenient_time" in blocks(night) and "nyc.two_in_7_days" not in blocks(night)
    limit = next(r for r in NYC.rules if r.id == "nyc.two_in_7_days")
    assert isinstance(limit, AttemptLimit) and limit.scope == "debtor" and limit.max_attempts == 2


def test_decisions_name_the_pack_and_its_layers() -> None:
    d = gate(cand(MON), NYC)
    assert (d.pack, d.layers) == ("us-reg-f", (("us-nyc", "2026.1"),))
    assert d.to_log_record()["layers"] == [{"pack": "us-nyc", "version": "2026.1"}]


# -- the call plan and the settings ------------------------------------------------------------------


def test_the_call_plan_judges_each_case_by_its_own_pack() -> None:
    from arrears.contact.plan import DueCase, allowed_matrix

    def due(case_id: int, where: str) -> DueCase:
        return DueCase(case_id=case_id, account_ref=f"A{case_id}", customer_id=case_id, time_zone="America/New_York",
                       contact_point_id=case_id, jurisdiction=where)

    hours = [datetime(2026, 4, 7, h, tzinfo=NY) for h in (10, 21)]
    ok = allowed_matrix([due(1, "US-NY"), due(2, "CN")], hours, lambda c: pack_for(c.product, c.jurisdiction, {}))
    # 21:00-21:59 in New York: Regulation F's 21:00 holds the New York customer; cn's 22:00 lets the other through
    assert ok.tolist() == [[True, False], [True, True]]


def test_a_product_mapped_to_an_unknown_pack_is_refused_in_the_settings() -> None:
    from pydantic import ValidationError

    from arrears.config import Settings

    assert Settings(product_packs={"card-us": "us-reg-f"}).product_packs == {"card-us": "us-reg-f"}
    with pytest.raises(ValidationError, match="unknown policy pack for product 'card' -> 'xx'"):
        Settings(product_packs={"card": "xx"})
