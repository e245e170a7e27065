"""The customer's contact preferences bind the compliance gate wherever it runs: the pure gate (a
stopped channel and the preferred hours and days, each with its own rule id; a window the debtor
booked lifts the hours), and over the store on SQLite and PostgreSQL — an agent's recorded call, the
REST check, the outbox worker and the daily call plan."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account
from arrears.cases.tables import Appointment, Case
from arrears.channels.adapters import HttpSmsAdapter
from arrears.channels.tables import OutboxMessage
from arrears.channels.worker import run_worker
from arrears.contact.config import DEFAULT_PACK, load_default_pack
from arrears.contact.history import read_due_cases
from arrears.contact.plan import allowed_matrix, hour_starts
from arrears.contact.policy import ContactCandidate, PolicyPack, Wishes, gate
from arrears.contact.tables import ContactDecision, ContactPreference
from arrears.kit.clock import frozen_at
from arrears.kit.db import transaction
from tests.api.conftest import Api, api  # noqa: F401
from tests.channels.support import Gateway, add_messages, case_with_point
from tests.channels.support import settings as channel_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: A Monday, not a public holiday, 11:00 in Shanghai.
MONDAY = datetime(2026, 3, 2, 11, 0, tzinfo=SHANGHAI)
EMPTY = PolicyPack(name="empty", version="1", title_en="no rules", title_zh="无规则", rules=())
CN = load_default_pack(DEFAULT_PACK)


def _call(at: datetime, wishes: Wishes | None, *, channel: str = "call", party: str = "debtor",
          appointment: tuple[datetime, datetime] | None = None) -> ContactCandidate:
    from arrears.contact.policy import Appointment as GateAppointment
    return ContactCandidate(at=at, channel=channel, party=party,
                            purpose="collection" if party == "debtor" else "reestablish_contact",
                            tz="Asia/Shanghai", account_id="A1", recorded=True, opt_out_notice=True,
                            discloses_debt=party == "debtor", wishes=wishes,
                            debtor_numbers=None if party == "debtor" else (),  # others: the debtor is unreachable
                            appointment=GateAppointment(*appointment) if appointment else None)


# -- the pure gate -----------------------------------------------------------------------------------------

def test_a_stopped_channel_is_blocked_by_its_own_rule_and_not_by_waiting() -> None:
    wishes = Wishes(stopped=frozenset({"sms"}))
    sms = gate(_call(MONDAY, wishes, channel="sms"), CN)
    assert not sms.allowed and [b.rule_id for b in sms.blocks] == ["customer_stop"]
    assert sms.next_allowed_at is None and "stop" in sms.blocks[0].message
    assert gate(_call(MONDAY, wishes), CN).allowed  # calls were not stopped
    # a one-time code the customer has just asked for (purpose service) still reaches them
    code = ContactCandidate(at=MONDAY, channel="sms", party="debtor", purpose="service", tz="Asia/Shanghai",
                            account_id="A1", opt_out_notice=True, wishes=wishes)
    assert gate(code, CN).allowed
    # the customer's wishes are about contacting them, not their emergency contacts
    assert gate(_call(MONDAY, Wishes(stopped=frozenset({"call"})), party="emergency_contact"), CN).allowed


def test_outside_the_preferred_hours_and_days_is_blocked_until_they_open() -> None:
    wishes = Wishes(window=(18 * 3600, 21 * 3600), days=frozenset({0, 1, 2, 3, 4}))
    d = gate(_call(MONDAY, wishes), CN)
    assert [b.rule_id for b in d.blocks] == ["customer_hours"]
    assert d.next_allowed_at == datetime(2026, 3, 2, 18, 0, tzinfo=SHANGHAI)
    assert gate(_call(MONDAY.replace(hour=19), wishes), CN).allowed
    friday_night = datetime(2026, 3, 6, 21, 30, tzinfo=SHANGHAI)
    assert gate(_call(friday_night, wishes), CN).next_allowed_at == datetime(2026, 3, 9, 18, 0, tzinfo=SHANGHAI)


def test_a_window_the_debtor_booked_lifts_their_preferred_hours_but_not_the_packs() -> None:
    wishes = Wishes(window=(18 * 3600, 21 * 3600))
    booked = (MONDAY, MONDAY + timedelta(minutes=30))
    assert gate(_call(MONDAY + timedelta(minutes=5), wishes, appointment=booked), CN).allowed
    late = (MONDAY.replace(hour=23), MONDAY.replace(hour=23, minute=30))
    d = gate(_call(late[0] + timedelta(minutes=5), wishes, appointment=late), CN)
    assert [b.rule_id for b in d.blocks] == ["quiet_hours"]  # the pack's hours are absolute


def _plain_in_hours(w: Wishes, local: datetime) -> bool:
    seconds = local.hour * 3600 + local.minute * 60 + local.second
    day = local.date()
    if w.window is not None:
        lo, hi = w.window
        if lo < hi:
            if not lo <= seconds < hi:
                return False
        elif hi <= seconds < lo:
            return False
        elif seconds < hi:
            day -= timedelta(days=1)
    return w.days is None or day.weekday() in w.days


_wishes = st.builds(
    Wishes,
    stopped=st.frozensets(st.sampled_from(["call", "sms", "email"])),
    window=st.none() | st.tuples(st.integers(0, 47).map(lambda h: h * 1800),
                                 st.integers(0, 47).map(lambda h: h * 1800)).filter(lambda w: w[0] != w[1]),
    days=st.none() | st.frozensets(st.integers(0, 6), min_size=1))


@settings(max_examples=300, deadline=None)
@given(wishes=_wishes, minute=st.integers(0, 14 * 24 * 60), channel=st.sampled_from(["call", "sms", "email"]))
def test_the_gate_reads_the_wishes_as_plainly_stated(wishes: Wishes, minute: int, channel: str) -> None:
    """Property (no pack rules): allowed exactly when the channel is not stopped and the local time is
    inside the preferred hours and days; when only the hours block, the next allowed time is allowed
    and the minute before it is not."""
    at = MONDAY + timedelta(minutes=minute)
    d = gate(_call(at, wishes, channel=channel), EMPTY)
    stopped = channel in wishes.stopped
    inside = _plain_in_hours(wishes, at.astimezone(SHANGHAI))
    assert d.allowed == (not stopped and inside)
    assert ("customer_stop" in [b.rule_id for b in d.blocks]) == stopped
    assert ("customer_hours" in [b.rule_id for b in d.blocks]) == (not inside)
    if not stopped and not inside:
        nxt = d.next_allowed_at
        assert nxt is not None and nxt > at
        assert _plain_in_hours(wishes, nxt.astimezone(SHANGHAI))
        assert not _plain_in_hours(wishes, (nxt - timedelta(minutes=1)).astimezone(SHANGHAI))


# -- over the store ----------------------------------------------------------------------------------------

def _prefer(engine: Engine, case_id: int, **values: object) -> None:
    with transaction(engine) as s:
        customer_id = s.scalars(select(Account.customer_id).join(Case, Case.account_id == Account.id)
                                .where(Case.id == case_id)).one()
        s.add(ContactPreference(customer_id=customer_id, updated_by="cardholder", **values))


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway().start()
    yield gw
    gw.stop()


def test_a_stopped_sms_holds_back_the_outbox_worker(engine: Engine, gateway: Gateway) -> None:
    case_id, point_id = case_with_point(engine, "ACC-PREF-1")
    other_case, other_point = case_with_point(engine, "ACC-PREF-2")
    add_messages(engine, case_id, point_id)
    add_messages(engine, other_case, other_point, prefix="other")
    _prefer(engine, case_id, stopped_channels="sms")
    stats = run_worker(engine, adapters={"sms": HttpSmsAdapter(gateway.url)}, once=True,
                       now=lambda: MONDAY.astimezone(UTC), settings=channel_settings())
    assert stats.sent == 1  # the other customer's message
    with Session(engine) as s:
        mine = s.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case_id)).one()
        logged = s.scalars(select(ContactDecision).where(ContactDecision.case_id == case_id)).one()
    assert mine.status == "dead" and mine.sent_at is None and "customer_stop" in (mine.last_error or "")
    assert (logged.source, logged.allowed, [b["rule_id"] for b in logged.blocks]) == \
        ("worker", False, ["customer_stop"])
    assert [r["key"] for r in gateway.requests] == ["other:" + str(other_case) + ":0"]


def test_an_agents_call_and_the_rest_check_obey_the_stop_and_the_hours(api: Api) -> None:  # noqa: F811
    _prefer(api.engine, api.east_case, stopped_channels="call", window_start=time(18), window_end=time(21))
    with frozen_at(MONDAY):
        r = api.post("agent_east", f"/cases/{api.east_case}/interactions", json={
            "channel": "call", "direction": "outbound", "party": "nobody", "outcome": "no_answer",
            "started_at": MONDAY.isoformat(), "contact_point_id": api.contact_points["phone"],
            "recording_ref": "rec-1"})
        assert r.status_code == 409 and "customer_stop" in r.json()["error"]["rule_ids"], r.text
        check = api.get("agent_east", f"/cases/{api.east_case}/contact-check", params={"channel": "sms"})
    assert check.status_code == 200
    body = check.json()
    assert not body["allowed"] and [b["rule_id"] for b in body["blocks"]] == ["customer_hours"]
    assert datetime.fromisoformat(body["next_allowed_at"]) == datetime(2026, 3, 2, 18, 0, tzinfo=SHANGHAI)


def test_a_call_back_the_debtor_booked_lifts_their_hours_for_the_agent(api: Api) -> None:  # noqa: F811
    _prefer(api.engine, api.east_case, window_start=time(18), window_end=time(21))
    with transaction(api.engine) as s:
        s.add(Appointment(case_id=api.east_case, owner_id=api.user_ids["agent_east"], window_start=MONDAY,
                          window_end=MONDAY + timedelta(minutes=30), status="scheduled", created_by="cardholder"))
    with frozen_at(MONDAY + timedelta(minutes=10)):
        r = api.get("agent_east", f"/cases/{api.east_case}/contact-check", params={"channel": "call"})
    assert r.status_code == 200 and r.json()["allowed"], r.text


def test_the_daily_call_plan_leaves_out_what_the_customer_asked(api: Api) -> None:  # noqa: F811
    day = date(2026, 3, 2)
    _prefer(api.engine, api.east_case, window_start=time(18), window_end=time(20))
    starts = hour_starts(day, "Asia/Shanghai")
    cases = {c.case_id: c for c in read_due_cases(api.engine, day=day, bank_tz="Asia/Shanghai")}
    east = cases[api.east_case]
    assert east.wishes is not None and east.wishes.window == (18 * 3600, 20 * 3600)
    allowed = allowed_matrix([east], starts, CN)[0]
    assert [h.astimezone(SHANGHAI).hour for h, ok in zip(starts, allowed, strict=True) if ok] == [18, 19]
    with transaction(api.engine) as s:
        row = s.scalars(select(ContactPreference)).one()
        row.stopped_channels = "call"
    east = {c.case_id: c for c in read_due_cases(api.engine, day=day, bank_tz="Asia/Shanghai")}[api.east_case]
    assert not allowed_matrix([east], starts, CN).any()
