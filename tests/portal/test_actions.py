"""What a verified cardholder does on their page, over HTTP, on SQLite and PostgreSQL: promise a date,
book a call-back (only in windows the gate allows and the owner has room for; it then leads the
owner's queue at its time), tell us (the same holds and reviews as the agents' outcomes) and set
their contact preferences (shown on the agent's case page). Each is an inbound ``self_service``
interaction with an audit record; nothing is written without a verified visit or with a forged form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, Hold
from arrears.auth.tables import AuditRecord
from arrears.cases.tables import Appointment, Case, HoldReview, Interaction, Promise
from arrears.config import Settings
from arrears.contact.config import DEFAULT_PACK, load_default_pack
from arrears.contact.policy import gate
from arrears.contact.service import candidate_for_case
from arrears.contact.tables import ContactPreference
from arrears.kit.clock import frozen_at
from arrears.kit.db import transaction
from arrears.portal.actions import Slot, callback_owner, offered_slots
from tests.api.conftest import Api, assign
from tests.cases.support import new_case
from tests.portal.test_links_and_identity import RIGHT, _answer, _link, _visitor, figures  # noqa: F401
from tests.web.support import csrf_of, sign_in

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: Every test here runs at 10:07 on Tuesday 8 December 2026 in Shanghai (not a public holiday).
MOMENT = datetime(2026, 12, 8, 10, 7, tzinfo=SHANGHAI)
_SLOT = re.compile(r'name="slot" value="([0-9TZ]+)"')


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    with frozen_at(MOMENT):
        yield


def _verified(api: Api) -> tuple[TestClient, str]:
    token = _link(api)
    browser = _visitor(api)
    assert _answer(browser, token, RIGHT).status_code == 303
    return browser, token


def _form(browser: TestClient, token: str, page: str) -> tuple[str, str]:
    r = browser.get(f"/p/{token}/{page}")
    assert r.status_code == 200, r.text
    return r.text, csrf_of(r.text)


def _self_service(api: Api) -> list[tuple[str, str, str, str | None]]:
    with Session(api.engine) as s:
        return [tuple(r) for r in s.execute(  # type: ignore[misc]
            select(Interaction.channel, Interaction.direction, Interaction.outcome, Interaction.notes)
            .where(Interaction.case_id == api.east_case, Interaction.channel == "self_service")
            .order_by(Interaction.id)).all()]


def _audits(api: Api, action: str) -> list[dict]:  # type: ignore[type-arg]
    with Session(api.engine) as s:
        return [(a.actor, a.detail) for a in s.scalars(  # type: ignore[misc]
            select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq))]


# -- promise a date --------------------------------------------------------------------------------------

def test_a_promise_is_recorded_on_the_case_and_shown_on_the_home_page(figures: Api) -> None:  # noqa: F811
    api = figures
    browser, token = _verified(api)
    page, csrf = _form(browser, token, "promise")
    assert 'value="1234.56"' in page  # the amount past due, editable
    day = MOMENT.date() + timedelta(days=10)
    r = browser.post(f"/p/{token}/promise", data={"amount": "600.50", "promised_date": day.isoformat(),
                                                   "csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == f"/p/{token}/promise?saved=1"
    assert "¥600.50" in browser.get(r.headers["location"]).text
    assert _self_service(api) == [("self_service", "inbound", "promise_to_pay", None)]
    with Session(api.engine) as s:
        promise = s.scalars(select(Promise)).one()
        interaction_id = s.scalars(select(Interaction.id).where(Interaction.channel == "self_service")).one()
    assert (promise.amount, promise.promised_date, promise.created_by, promise.interaction_id, promise.status) == \
        (60_050, day, "cardholder", interaction_id, "open")
    [(actor, detail)] = _audits(api, "portal.promise")
    assert actor == "cardholder" and detail["amount"] == 60_050 and detail["promised_date"] == day.isoformat()
    assert "¥600.50" in browser.get(f"/p/{token}/home").text


@pytest.mark.parametrize(("amount", "day", "field_text"), [
    ("", 3, "Amount"), ("abc", 3, "Amount"), ("-5", 3, "Amount"), ("0", 3, "Amount"), ("1.234", 3, "Amount"),
    ("100", -1, "Date"), ("100", 31, "Date"), ("100", None, "Date"),
])
def test_a_promise_with_a_wrong_amount_or_date_is_refused_and_nothing_is_written(
        figures: Api, amount: str, day: int | None, field_text: str) -> None:  # noqa: F811
    api = figures
    browser, token = _verified(api)
    _, csrf = _form(browser, token, "promise")
    when = "" if day is None else (MOMENT.date() + timedelta(days=day)).isoformat()
    r = browser.post(f"/p/{token}/promise", data={"amount": amount, "promised_date": when, "csrf_token": csrf},
                     cookies={"arrears_lang": "en"})
    assert r.status_code == 422
    assert 'role="alert"' in r.text and f"{field_text}:" in r.text
    assert _self_service(api) == [] and _audits(api, "portal.promise") == []
    with Session(api.engine) as s:
        assert s.scalars(select(Promise)).all() == []


# -- tell us ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "hold"), [("dispute", "dispute"), ("complaint", "complaint"), ("hardship", None)])
def test_telling_us_records_the_agents_outcome_with_its_hold(api: Api, kind: str, hold: str | None) -> None:
    browser, token = _verified(api)
    _, csrf = _form(browser, token, "tell")
    r = browser.post(f"/p/{token}/tell", data={"kind": kind, "text": "账单上的 3 月消费不是我刷的。\r\n请核实。",
                                                "csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == f"/p/{token}/tell?sent={kind}"
    done = browser.get(r.headers["location"], cookies={"arrears_lang": "en"})
    assert "what happens next" not in done.text  # the page says it in words, not a heading
    if hold:
        assert "we will not contact you to collect this debt" in done.text
    assert _self_service(api) == [("self_service", "inbound", kind, "账单上的 3 月消费不是我刷的。\n请核实。")]
    with Session(api.engine) as s:
        holds = s.execute(select(Hold.kind, Hold.created_by).join(Account, Account.id == Hold.account_id)
                          .where(Account.account_ref == "ACC-EAST")).all()
        reviews = s.scalars(select(HoldReview.status).where(HoldReview.case_id == api.east_case)).all()
    assert holds == ([(hold, "system")] if hold else [])
    assert reviews == (["pending"] if hold else [])
    [(actor, detail)] = _audits(api, "portal.tell")
    assert actor == "cardholder" and detail["kind"] == kind


def test_a_dispute_stops_calls_at_the_gate(api: Api) -> None:
    browser, token = _verified(api)
    _, csrf = _form(browser, token, "tell")
    browser.post(f"/p/{token}/tell", data={"kind": "dispute", "text": "not mine", "csrf_token": csrf})
    r = api.get("agent_east", f"/cases/{api.east_case}/contact-check", params={"channel": "call"})
    assert r.status_code == 200 and not r.json()["allowed"]
    assert "hold_dispute" in [b["rule_id"] for b in r.json()["blocks"]]


@pytest.mark.parametrize(("data", "field_text"), [
    ({"kind": "dispute", "text": "   "}, "Your message"),
    ({"kind": "dispute", "text": "x" * 1001}, "Your message"),
    ({"kind": "other", "text": "hello"}, "What it is about"),
    ({"kind": "", "text": "hello"}, "What it is about"),
])
def test_telling_us_needs_a_kind_and_a_bounded_message(api: Api, data: dict[str, str], field_text: str) -> None:
    browser, token = _verified(api)
    _, csrf = _form(browser, token, "tell")
    r = browser.post(f"/p/{token}/tell", data={**data, "csrf_token": csrf}, cookies={"arrears_lang": "en"})
    assert r.status_code == 422 and f"{field_text}:" in r.text and 'role="alert"' in r.text
    assert _self_service(api) == [] and _audits(api, "portal.tell") == []


# -- book a call-back ---------------------------------------------------------------------------------

def _slots_on_page(html: str) -> list[str]:
    return _SLOT.findall(html)


def _all_slots(browser: TestClient, token: str, first_page: str) -> list[str]:
    """Every window offered: the page lists one day at a time, with a link to each other day."""
    keys = _slots_on_page(first_page)
    for day in re.findall(r'/callback\?day=([0-9-]{10})"', first_page):
        page = browser.get(f"/p/{token}/callback?day={day}")
        assert page.status_code == 200
        keys += _slots_on_page(page.text)
    return keys


def _slot_start(key: str) -> datetime:
    return datetime.strptime(key, "%Y%m%dT%H%MZ").replace(tzinfo=UTC)


def test_a_booked_call_back_leads_the_owners_queue_at_its_time(api: Api) -> None:
    # a richer case in the same team: the queue would serve it first but for the appointment
    other = new_case(api.engine, "ACC-EAST-2")
    assign(api.engine, other, "east")
    with transaction(api.engine) as s:
        s.execute(update(Case).where(Case.id == other).values(balance=10**12))
        s.execute(update(Case).where(Case.id == api.east_case).values(balance=100))
    browser, token = _verified(api)
    page, csrf = _form(browser, token, "callback")
    keys = _all_slots(browser, token, page)
    assert keys, page
    # today from 10:30, six whole days, and the morning of the eighth day up to the hour of the visit
    assert len(set(keys)) == len(keys) and len({_slot_start(k).astimezone(SHANGHAI).date() for k in keys}) == 8
    starts = [_slot_start(k) for k in keys]
    # from the next half hour on, inside 08:00-22:00 Shanghai, for 7 days
    assert starts[0] == datetime(2026, 12, 8, 10, 30, tzinfo=SHANGHAI)
    local = [s.astimezone(SHANGHAI) for s in starts]
    assert all(time(8) <= t.time() <= time(21, 30) for t in local)
    assert max(starts) < MOMENT + timedelta(days=7)
    chosen = datetime(2026, 12, 9, 19, 0, tzinfo=SHANGHAI)
    key = chosen.astimezone(UTC).strftime("%Y%m%dT%H%MZ")
    assert key in keys
    r = browser.post(f"/p/{token}/callback", data={"slot": key, "csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == f"/p/{token}/callback?saved=1"
    assert "19:00" in browser.get(r.headers["location"]).text
    with Session(api.engine) as s:
        appt = s.scalars(select(Appointment)).one()
    # nobody holds the case and no agent has worked it: the team lead of its team takes the call
    assert (appt.case_id, appt.owner_id, appt.status, appt.created_by) == \
        (api.east_case, api.user_ids["lead_east"], "scheduled", "cardholder")
    assert (appt.window_start, appt.window_end) == (chosen, chosen + timedelta(minutes=30))
    assert _self_service(api) == [("self_service", "inbound", "callback_requested", None)]
    [(actor, detail)] = _audits(api, "portal.callback")
    assert actor == "cardholder" and detail["appointment_id"] == appt.id
    # before the window, the owner's next case is the richer one; inside it, the call-back
    with frozen_at(chosen - timedelta(hours=2)):
        r = api.post("lead_east", "/queue/next")
        assert r.status_code == 200 and r.json()["case"]["id"] == other, r.text
        assert api.post("lead_east", f"/cases/{other}/release").status_code == 200
    with frozen_at(chosen + timedelta(minutes=5)):
        r = api.post("lead_east", "/queue/next")
        assert r.status_code == 200 and r.json()["case"]["id"] == api.east_case, r.text


def test_the_call_back_goes_to_the_agent_who_last_worked_the_case(api: Api) -> None:
    r = api.post("agent_east", f"/cases/{api.east_case}/interactions", json={
        "channel": "call", "direction": "outbound", "party": "nobody", "outcome": "no_answer",
        "started_at": (MOMENT - timedelta(hours=1)).isoformat(), "contact_point_id": api.contact_points["phone"],
        "recording_ref": "rec-1"})
    assert r.status_code in (200, 201), r.text
    with Session(api.engine) as s:
        case = s.get_one(Case, api.east_case)
        owner = callback_owner(s, case, now=MOMENT)
    assert owner is not None and owner.username == "agent_east"


def test_a_full_window_is_not_offered_and_cannot_be_booked(api: Api) -> None:
    settings_ = api.client.app.state.settings
    first = datetime(2026, 12, 8, 10, 30, tzinfo=SHANGHAI)
    with transaction(api.engine) as s:
        for _ in range(settings_.portal_callbacks_per_slot):
            s.add(Appointment(case_id=api.west_case, owner_id=api.user_ids["lead_east"], window_start=first,
                              window_end=first + timedelta(minutes=30), status="scheduled", created_by="test"))
    browser, token = _verified(api)
    page, csrf = _form(browser, token, "callback")
    key = first.astimezone(UTC).strftime("%Y%m%dT%H%MZ")
    assert key not in _slots_on_page(page) and _slots_on_page(page)
    r = browser.post(f"/p/{token}/callback", data={"slot": key, "csrf_token": csrf}, cookies={"arrears_lang": "en"})
    assert r.status_code == 422 and "Time:" in r.text and 'role="alert"' in r.text
    with Session(api.engine) as s:
        assert s.scalars(select(Appointment).where(Appointment.case_id == api.east_case)).all() == []
    assert _self_service(api) == []


def test_no_window_is_offered_while_calls_are_stopped(api: Api) -> None:
    browser, token = _verified(api)
    _, csrf = _form(browser, token, "preferences")
    browser.post(f"/p/{token}/preferences", data={"stop": ["call"], "csrf_token": csrf})
    page = browser.get(f"/p/{token}/callback", cookies={"arrears_lang": "en"}).text
    assert _slots_on_page(page) == [] and "There is no free time to offer" in page


@st.composite
def _situations(draw: st.DrawFn) -> dict:  # type: ignore[type-arg]
    window = draw(st.none() | st.tuples(st.integers(0, 47), st.integers(0, 47)).filter(lambda w: w[0] != w[1]))
    days = draw(st.none() | st.sets(st.integers(0, 6), min_size=1, max_size=6))
    booked = draw(st.lists(st.tuples(st.integers(0, 7 * 48), st.integers(1, 4)), max_size=12))
    minute = draw(st.integers(0, 7 * 24 * 60))
    return {"window": window, "days": days, "booked": booked, "minute": minute}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(situation=_situations())
def test_no_offered_window_is_one_the_gate_would_block_or_beyond_capacity(api: Api, situation: dict) -> None:  # type: ignore[type-arg]
    """Property: whatever the customer's preferred hours and days, the owner's bookings and the time
    of the visit, every window offered passes the gate (every rule and the preferences) at its first
    and last second, and the owner has room in it."""
    cfg = Settings(database_url="sqlite://")
    pack = load_default_pack(DEFAULT_PACK)
    now = (MOMENT + timedelta(minutes=situation["minute"])).astimezone(UTC)
    owner = api.user_ids["lead_east"]
    with Session(api.engine) as s:
        case = s.get_one(Case, api.east_case)
        customer_id = s.scalars(select(Account.customer_id).where(Account.id == case.account_id)).one()
        w = situation["window"]
        s.add(ContactPreference(
            customer_id=customer_id, updated_by="test",
            window_start=None if w is None else time(w[0] // 2, 30 * (w[0] % 2)),
            window_end=None if w is None else time(w[1] // 2, 30 * (w[1] % 2)),
            days=None if situation["days"] is None else "".join("1" if i in situation["days"] else "0"
                                                                 for i in range(7))))
        base = MOMENT.replace(minute=0)
        for half_hours, length in situation["booked"]:
            start = base + timedelta(minutes=30 * half_hours)
            s.add(Appointment(case_id=api.west_case, owner_id=owner, window_start=start,
                              window_end=start + timedelta(minutes=30 * length), status="scheduled",
                              created_by="test"))
        s.flush()
        slots: list[Slot] = offered_slots(s, case=case, owner_id=owner, now=now, settings=cfg, pack=pack)
        booked = [(a.window_start, a.window_end) for a in s.scalars(
            select(Appointment).where(Appointment.owner_id == owner, Appointment.status == "scheduled"))]
        for slot in slots:
            assert now < slot.start < slot.end <= slot.start + timedelta(minutes=30)
            assert slot.start < now + timedelta(days=7)
            assert sum(1 for a, b in booked if a < slot.end and b > slot.start) < cfg.portal_callbacks_per_slot
            for t in (slot.start, slot.end - timedelta(seconds=1)):
                candidate = candidate_for_case(s, case_id=case.id, channel="call", party="debtor",
                                               purpose="collection", at=t, contact_point_id=api.contact_points["phone"],
                                               has_recording=True)
                assert gate(candidate, pack).allowed, (t, gate(candidate, pack).blocks)
        if w is None and situation["days"] is None and not situation["booked"]:
            assert slots  # nothing in the way: there is always something to offer within a week
        s.rollback()


# -- contact preferences ----------------------------------------------------------------------------------

def test_preferences_are_saved_recorded_and_shown_on_the_agents_case_page(api: Api) -> None:
    browser, token = _verified(api)
    _, csrf = _form(browser, token, "preferences")
    r = browser.post(f"/p/{token}/preferences", data={
        "window_from": "18:00", "window_to": "21:30", "days": ["0", "1", "2", "3", "4"],
        "preferred_channel": "sms", "stop": ["call"], "csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == f"/p/{token}/preferences?saved=1", r.text[-3000:]
    again = browser.get(r.headers["location"]).text
    assert 'value="18:00" selected' in again and 'value="call" checked' in again and 'value="5" checked' not in again
    with Session(api.engine) as s:
        row = s.scalars(select(ContactPreference)).one()
    assert (row.window_start, row.window_end, row.days, row.preferred_channel, row.stopped_channels,
            row.updated_by) == (time(18), time(21, 30), "1111100", "sms", "call", "cardholder")
    assert _self_service(api) == [("self_service", "inbound", "preferences_changed", None)]
    [(actor, detail)] = _audits(api, "portal.preferences")
    assert actor == "cardholder" and detail["stopped"] == "call"
    agent = sign_in(api, "agent_east", lang="en")
    page = agent.get(f"/case/{api.east_case}")
    assert page.status_code == 200
    section = page.text.split('id="h-preferences"')[1].split("</dl>")[0]
    assert "18:00–21:30" in section and "Mon" in section and "Sat" not in section
    assert 'class="stopped-channel">Call<' in section and "SMS" in section
    # the agent's call is now blocked by the customer's own stop
    assert "customer_stop" in page.text


@pytest.mark.parametrize(("data", "field_text"), [
    ({"window_from": "18:00"}, "Preferred hours"),
    ({"window_from": "18:00", "window_to": "18:00"}, "Preferred hours"),
    ({"window_from": "25:00", "window_to": "18:00"}, "From"),
    ({"days": ["7"]}, "Preferred days"),
    ({"preferred_channel": "pigeon"}, "Preferred way"),
    ({"preferred_channel": "sms", "stop": ["sms"]}, "Preferred way"),
    ({"stop": ["letter"]}, "Stop"),
])
def test_wrong_preferences_are_refused_and_nothing_is_written(api: Api, data: dict, field_text: str) -> None:  # type: ignore[type-arg]
    browser, token = _verified(api)
    _, csrf = _form(browser, token, "preferences")
    r = browser.post(f"/p/{token}/preferences", data={**data, "csrf_token": csrf}, cookies={"arrears_lang": "en"})
    assert r.status_code == 422 and f"{field_text}:" in r.text and 'role="alert"' in r.text
    with Session(api.engine) as s:
        assert s.scalars(select(ContactPreference)).all() == []
    assert _self_service(api) == []


# -- without a verified visit, or with a forged form ---------------------------------------------------------

ACTIONS = {
    "promise": {"amount": "100", "promised_date": (MOMENT.date() + timedelta(days=3)).isoformat()},
    "callback": {"slot": "20261209T1100Z"},
    "tell": {"kind": "dispute", "text": "not mine"},
    "preferences": {"stop": ["sms"]},
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_without_a_verified_visit_the_visitor_goes_back_to_the_identity_check(api: Api, action: str) -> None:
    token = _link(api)
    stranger = _visitor(api)
    first = stranger.get(f"/p/{token}")
    csrf = csrf_of(first.text)
    assert stranger.get(f"/p/{token}/{action}").headers["location"] == f"/p/{token}"
    r = stranger.post(f"/p/{token}/{action}", data={**ACTIONS[action], "csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == f"/p/{token}"
    assert _self_service(api) == []
    with Session(api.engine) as s:
        assert s.scalars(select(AuditRecord.action).where(AuditRecord.action == f"portal.{action}")).all() == []
        assert s.scalars(select(ContactPreference)).all() == [] and s.scalars(select(Appointment)).all() == []


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_a_forged_form_token_is_refused(api: Api, action: str) -> None:
    browser, token = _verified(api)
    _form(browser, token, action)
    r = browser.post(f"/p/{token}/{action}", data={**ACTIONS[action], "csrf_token": "forged"})
    assert r.status_code == 403
    assert _self_service(api) == []


def test_the_home_page_lists_the_actions(api: Api) -> None:
    browser, token = _verified(api)
    home = browser.get(f"/p/{token}/home").text
    for path in ("promise", "callback", "tell", "preferences"):
        assert f'href="/p/{token}/{path}"' in home
