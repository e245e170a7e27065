"""The outbox worker on a real store (SQLite and PostgreSQL): delivery, interactions, retries and
backoff, dead letters, opt-outs, the compliance gate, leases."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.cases.tables import Interaction
from arrears.channels import repository as repo
from arrears.channels.adapters import HttpSmsAdapter, PdfLetterAdapter, SmtpAdapter
from arrears.channels.tables import MessageDelivery, OutboxMessage
from arrears.channels.worker import backoff, run_worker
from arrears.kit.db import transaction
from tests.channels.support import Gateway, Mailbox, add_messages, case_with_point, settings
from tests.channels.test_adapters import FONT, free_port

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=SHANGHAI)  # a Monday, not a public holiday


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway().start()
    yield gw
    gw.stop()


def clock(moment: datetime = NOON):  # noqa: ANN201
    return lambda: moment.astimezone(UTC)


def messages(engine) -> list[OutboxMessage]:  # noqa: ANN001
    with Session(engine) as s:
        return list(s.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())


def deliveries(engine, message_id: int) -> list[tuple[int, str]]:  # noqa: ANN001
    with Session(engine) as s:
        return [(d.attempt, d.status) for d in repo.deliveries(s, message_id)]


def interactions(engine) -> list[Interaction]:  # noqa: ANN001
    with Session(engine) as s:
        return list(s.execute(select(Interaction).order_by(Interaction.id)).scalars())


def sms_worker(engine, gateway: Gateway, **kw):  # noqa: ANN001, ANN201
    kw.setdefault("now", clock())
    kw.setdefault("settings", settings())
    return run_worker(engine, adapters={"sms": HttpSmsAdapter(gateway.url)}, once=True, **kw)


def test_sms_is_delivered_and_logged_on_the_case(engine, gateway: Gateway) -> None:
    case_id, point_id = case_with_point(engine, "ACC-CH-1")
    [key] = add_messages(engine, case_id, point_id)
    stats = sms_worker(engine, gateway)
    assert stats.sent == 1
    [m] = messages(engine)
    assert (m.status, m.attempts, m.last_error) == ("sent", 1, None)
    assert m.sent_at == NOON.astimezone(UTC)
    assert deliveries(engine, m.id) == [(1, "sent")]
    assert gateway.per_key() == {key: 1}
    assert "张三您好" in gateway.requests[0]["text"] and "尾号CH-1的信用卡" in gateway.requests[0]["text"]
    [log] = interactions(engine)
    assert (log.case_id, log.channel, log.direction, log.party, log.outcome, log.contact_point_id) == (
        case_id, "sms", "outbound", "debtor", "left_message", point_id)
    assert "gw-1" in log.notes and log.agent_id is None
    with Session(engine) as s:
        [d] = s.execute(select(MessageDelivery)).scalars().all()
    assert d.provider_ref == "gw-1"


def test_plan_messages_render_from_the_services_payload(engine, gateway: Gateway) -> None:
    case_id, point_id = case_with_point(engine, "ACC-CH-2", language="en")
    add_messages(engine, case_id, point_id, template="plan.reminder", locale="en", payload={
        "agreement": "C1-V1", "instalment": 2, "due_date": "2026-03-25", "amount": 125_000})
    add_messages(engine, case_id, point_id, template="plan.confirmation_code", prefix="code", payload={
        "code": "123456", "agreement": "C1-V1", "total": 360_000, "expires_at": "2026-03-02T04:15:00+00:00",
        "terms_sha256": "ab" * 32})
    assert sms_worker(engine, gateway).sent == 2
    texts = [r["text"] for r in gateway.requests]
    assert "CNY 1,250.00" in texts[0] and "25 March 2026" in texts[0]
    assert "123456" in texts[1] and "12:15" in texts[1]  # 04:15 UTC on the customer's clock


def test_transient_failure_is_retried_with_the_same_key(engine, gateway: Gateway) -> None:
    case_id, point_id = case_with_point(engine, "ACC-CH-3")
    [key] = add_messages(engine, case_id, point_id)
    gateway.fail_first.add(key)
    stats = sms_worker(engine, gateway)
    assert (stats.failed, stats.sent) == (1, 1)
    [m] = messages(engine)
    assert (m.status, m.attempts) == ("sent", 2)
    assert deliveries(engine, m.id) == [(1, "failed"), (2, "sent")]
    assert [r["key"] for r in gateway.requests] == [key, key] and gateway.per_key() == {key: 1}
    assert len(interactions(engine)) == 1


def test_backoff_is_exponential_with_bounded_jitter() -> None:
    rng = random.Random(1)
    for attempt in range(1, 12):
        for _ in range(50):
            wait = backoff(attempt, base=30, cap=3600, rng=rng).total_seconds()
            full = min(3600, 30 * 2 ** (attempt - 1))
            assert full / 2 <= wait <= full <= 3600


def test_failed_message_waits_for_its_backoff(engine, gateway: Gateway) -> None:
    case_id, point_id = case_with_point(engine, "ACC-CH-4")
    [key] = add_messages(engine, case_id, point_id)
    gateway.refuse[key] = 503
    stats = sms_worker(engine, gateway, settings=settings(worker_backoff_seconds=60, worker_backoff_max_seconds=600))
    assert (stats.failed, stats.sent) == (1, 0)
    [m] = messages(engine)
    wait = (m.next_attempt_at - NOON).total_seconds()
    assert (m.status, m.attempts) == ("failed", 1) and 30 <= wait <= 60
    assert "HTTP 503" in m.last_error
    # Not due yet: nothing happens; once due, the second attempt waits twice as long.
    assert sms_worker(engine, gateway, settings=settings(worker_backoff_seconds=60)).failed == 0
    later = clock(NOON + timedelta(seconds=61))
    sms_worker(engine, gateway, now=later, settings=settings(worker_backoff_seconds=60, worker_backoff_max_seconds=600))
    [m] = messages(engine)
    wait = (m.next_attempt_at - (NOON + timedelta(seconds=61))).total_seconds()
    assert m.attempts == 2 and 60 <= wait <= 120


def test_dead_after_max_attempts(engine, gateway: Gateway) -> None:
    case_id, point_id = case_with_point(engine, "ACC-CH-5")
    [key] = add_messages(engine, case_id, point_id)
    gateway.refuse[key] = 500
    stats = sms_worker(engine, gateway)  # 3 attempts, no backoff
    assert (stats.failed, stats.dead) == (2, 1)
    [m] = messages(engine)
    assert (m.status, m.attempts) == ("dead", 3) and m.last_error.startswith("gave up after 3 attempts")
    assert deliveries(engine, m.id) == [(1, "failed"), (2, "failed"), (3, "dead")]
    assert len(gateway.requests) == 3 and interactions(engine) == []
    assert sms_worker(engine, gateway).dead == 0 and len(gateway.requests) == 3  # dead stays dead


def test_permanent_failure_is_dead_at_once(engine, gateway: Gateway) -> None:
    case_id, point_id = case_with_point(engine, "ACC-CH-6")
    bad, refused = add_messages(engine, case_id, point_id, 2)
    gateway.refuse.update({bad: 422, refused: 403})
    assert sms_worker(engine, gateway).dead == 2
    first, second = messages(engine)
    assert (first.status, first.attempts, second.status) == ("dead", 1, "dead")
    assert "HTTP 422" in first.last_error and "HTTP 403" in second.last_error
    # The provider refused the number itself: the case's log says so; a 403 is not about the number.
    [log] = interactions(engine)
    assert (log.outcome, log.contact_point_id) == ("wrong_number", point_id)


def test_opted_out_contact_point_is_never_sent(engine, gateway: Gateway) -> None:
    case_id, point_id = case_with_point(engine, "ACC-CH-7", opted_out=True)
    add_messages(engine, case_id, point_id)
    stats = sms_worker(engine, gateway)
    assert stats.dead == 1
    [m] = messages(engine)
    assert (m.status, m.last_error) == ("dead", "opted_out")
    assert gateway.requests == [] and interactions(engine) == []
    assert deliveries(engine, m.id) == [(1, "dead")]


def test_quiet_hours_reschedule_to_the_next_allowed_time(engine, gateway: Gateway) -> None:
    case_id, point_id = case_with_point(engine, "ACC-CH-8")
    add_messages(engine, case_id, point_id)
    late = datetime(2026, 3, 2, 23, 0, tzinfo=SHANGHAI)
    stats = sms_worker(engine, gateway, now=clock(late))
    assert (stats.blocked, stats.sent) == (1, 0)
    [m] = messages(engine)
    assert m.status == "pending" and m.attempts == 0  # held back, not an attempt
    assert m.next_attempt_at == datetime(2026, 3, 3, 8, 0, tzinfo=SHANGHAI).astimezone(UTC)
    assert "quiet_hours" in m.last_error
    assert gateway.requests == []
    assert deliveries(engine, m.id) == [(1, "blocked")]
    # At 08:00 it goes.
    assert sms_worker(engine, gateway, now=clock(datetime(2026, 3, 3, 8, 0, tzinfo=SHANGHAI))).sent == 1
    [m] = messages(engine)
    assert (m.status, m.attempts) == ("sent", 1)


def test_quiet_hours_read_the_customers_own_clock(engine, gateway: Gateway) -> None:
    """23:00 in Shanghai is 21:00 in Urumqi (UTC+6): allowed there."""
    case_id, point_id = case_with_point(engine, "ACC-CH-9", tz="Asia/Urumqi")
    add_messages(engine, case_id, point_id)
    assert sms_worker(engine, gateway, now=clock(datetime(2026, 3, 2, 23, 0, tzinfo=SHANGHAI))).sent == 1


def test_collection_message_to_an_emergency_contact_is_never_allowed(engine, gateway: Gateway) -> None:
    case_id, point_id = case_with_point(engine, "ACC-CH-10", owner="emergency")
    add_messages(engine, case_id, point_id)
    assert sms_worker(engine, gateway).dead == 1
    [m] = messages(engine)
    assert m.status == "dead" and "debtor_only" in m.last_error and "never allowed" in m.last_error
    assert gateway.requests == []


def test_open_ended_hold_blocks_for_good(engine, gateway: Gateway) -> None:
    from arrears.accounts.tables import Hold as AccountHold
    from arrears.cases.tables import Case

    case_id, point_id = case_with_point(engine, "ACC-CH-11")
    with transaction(engine) as s:
        account_id = s.get_one(Case, case_id).account_id
        s.add(AccountHold(account_id=account_id, kind="bankruptcy", start_date=NOON.date() - timedelta(days=3),
                          end_date=None, pauses_ageing=False, created_by="test"))
    add_messages(engine, case_id, point_id)
    assert sms_worker(engine, gateway).dead == 1
    assert "hold_protected" in messages(engine)[0].last_error and gateway.requests == []


def test_message_without_a_fitting_contact_point_is_dead(engine, gateway: Gateway) -> None:
    case_id, point_id = case_with_point(engine, "ACC-CH-12", channel="email")
    add_messages(engine, case_id, point_id)  # an SMS to an e-mail address
    assert sms_worker(engine, gateway).dead == 1
    assert messages(engine)[0].last_error == "no phone contact point for a sms message"


def test_template_error_is_dead_with_the_field_named(engine, gateway: Gateway) -> None:
    case_id, point_id = case_with_point(engine, "ACC-CH-13")
    add_messages(engine, case_id, point_id, payload={"amount_due": 100})
    assert sms_worker(engine, gateway).dead == 1
    assert "'due_date'" in messages(engine)[0].last_error and gateway.requests == []


def test_expired_lease_is_retried_with_the_same_key(engine, gateway: Gateway) -> None:
    """A worker that died after sending: the provider got the message, the store says ``sending``."""
    case_id, point_id = case_with_point(engine, "ACC-CH-14")
    [key] = add_messages(engine, case_id, point_id)
    now = NOON.astimezone(UTC)
    with transaction(engine) as s:
        [claim] = repo.claim_due(s, now=now, limit=10, lease_until=now + timedelta(minutes=5), channels=("sms",))
    HttpSmsAdapter(gateway.url).send(*_prepared(engine, claim.id))  # sent, then the worker "died"
    assert sms_worker(engine, gateway).sent == 0  # the lease still holds
    assert sms_worker(engine, gateway, now=clock(NOON + timedelta(minutes=6))).sent == 1
    [m] = messages(engine)
    assert (m.status, m.attempts) == ("sent", 2)
    assert [r["key"] for r in gateway.requests] == [key, key] and gateway.per_key() == {key: 1}


def _prepared(engine, message_id: int):  # noqa: ANN001, ANN202
    from arrears.channels.adapters import Recipient
    from arrears.channels.templates import render
    from arrears.channels.worker import _context, _outgoing

    with Session(engine) as s:
        ctx = repo.message_context(s, message_id, since=NOON)
    rendered = render(ctx.template, ctx.channel, ctx.locale, _context(ctx, settings(), "Asia/Shanghai"))
    return _outgoing(ctx), rendered, Recipient(ctx.point.value, ctx.customer_name, ctx.point.id)


def test_a_worker_whose_lease_was_taken_over_writes_nothing(engine) -> None:
    case_id, point_id = case_with_point(engine, "ACC-CH-15")
    add_messages(engine, case_id, point_id)
    now = NOON.astimezone(UTC)
    with transaction(engine) as s:
        [old] = repo.claim_due(s, now=now, limit=1, lease_until=now + timedelta(minutes=1), channels=("sms",))
    with transaction(engine) as s:
        [new] = repo.claim_due(s, now=now + timedelta(minutes=2), limit=1, lease_until=now + timedelta(minutes=7),
                               channels=("sms",))
    assert (old.id, new.id, new.attempts, new.was) == (old.id, old.id, 2, "sending")
    with transaction(engine) as s:
        assert not repo.settle(s, old, status="sent", sent_at=now)
        assert repo.settle(s, new, status="sent", sent_at=now)
    assert messages(engine)[0].status == "sent"


def test_stuck_message_is_dead_after_max_attempts_without_a_result(engine, gateway: Gateway) -> None:
    case_id, point_id = case_with_point(engine, "ACC-CH-16")
    add_messages(engine, case_id, point_id)
    now = NOON.astimezone(UTC)
    for i in range(3):  # three workers died in turn during the send
        with transaction(engine) as s:
            repo.claim_due(s, now=now + timedelta(minutes=2 * i), limit=1,
                           lease_until=now + timedelta(minutes=2 * i + 1), channels=("sms",))
    assert sms_worker(engine, gateway, now=clock(NOON + timedelta(minutes=10))).dead == 1
    [m] = messages(engine)
    assert m.status == "dead" and "no result after 3 attempts" in m.last_error and gateway.requests == []


def test_only_channels_with_an_adapter_are_claimed(engine, gateway: Gateway) -> None:
    case_id, point_id = case_with_point(engine, "ACC-CH-17", channel="email")
    add_messages(engine, case_id, point_id, channel="email")
    assert sms_worker(engine, gateway).sent == 0
    [m] = messages(engine)
    assert (m.status, m.attempts) == ("pending", 0)


def test_stop_gives_back_the_rest_of_the_batch(engine, gateway: Gateway) -> None:
    case_id, point_id = case_with_point(engine, "ACC-CH-18")
    add_messages(engine, case_id, point_id, 5)
    stop = threading.Event()

    class StopAfterTwo(HttpSmsAdapter):
        def send(self, *args):  # noqa: ANN002, ANN201
            delivery = super().send(*args)
            if len(gateway.requests) == 2:
                stop.set()
            return delivery

    stats = run_worker(engine, adapters={"sms": StopAfterTwo(gateway.url)}, now=clock(), settings=settings(),
                       stop=stop, batch=10)
    assert (stats.sent, stats.released) == (2, 3)
    assert [(m.status, m.attempts) for m in messages(engine)] == [("sent", 1)] * 2 + [("pending", 0)] * 3


def test_email_and_pdf_letter_through_the_worker(engine, tmp_path: Path) -> None:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        case_id, email_id = case_with_point(engine, "ACC-CH-19", channel="email")
        add_messages(engine, case_id, email_id, channel="email", template="early.second_reminder", prefix="mail")
        case2, address_id = case_with_point(engine, "ACC-CH-20", channel="letter")
        add_messages(engine, case2, address_id, channel="letter", template="letter.demand", prefix="letter")
        adapters = {"email": SmtpAdapter("127.0.0.1", controller.port, sender="collections@bank.example"),
                    "letter": PdfLetterAdapter(tmp_path, font=FONT)}
        # 23:00: quiet hours hold the e-mail back; a letter is not a contact at a time of day.
        late = datetime(2026, 3, 2, 23, 0, tzinfo=SHANGHAI)
        stats = run_worker(engine, adapters=adapters, now=clock(late), settings=settings(), once=True)
        assert (stats.sent, stats.blocked) == (1, 1)
        stats = run_worker(engine, adapters=adapters, now=clock(NOON + timedelta(days=1)), settings=settings(),
                           once=True)
        assert stats.sent == 1
    finally:
        controller.stop()
    [mail] = mailbox.messages.values()
    assert mail["To"] == "zhang.san@example.cn" and "逾期" in mail["Subject"]
    assert len(list((tmp_path / "pdf").glob("*.pdf"))) == 1
    assert sorted((i.channel, i.outcome) for i in interactions(engine)) == [("email", "left_message"),
                                                                             ("letter", "left_message")]
