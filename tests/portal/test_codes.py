"""One-time codes on the cardholder's pages, on SQLite and PostgreSQL: sent through the outbox to the
mobile on file, kept only as a keyed digest, expiring, limited in tries and in number, used once even
by parallel requests; identity by code with the same throttles and the same answer for unknown links."""

from __future__ import annotations

import re
import statistics
import threading
import time
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from arrears.auth.tables import AuditRecord
from arrears.channels.tables import OutboxMessage
from arrears.kit.clock import frozen_at, utc_now
from arrears.kit.db import transaction, write_first
from arrears.portal.codes import (
    ANSWER_FLOOR_SECONDS,
    CODE_TTL,
    MAX_CODE_TRIES,
    MAX_CODES_PER_WINDOW,
    TooManyCodes,
    check_code,
    send_code,
)
from arrears.portal.model import MAX_FAILURES_PER_LINK
from arrears.portal.service import issue_link, portal_key
from arrears.portal.tables import PortalAttempt, PortalCode, PortalLink
from tests.api.conftest import Api

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PHONE_DIGITS = re.compile(r"1[3-9]\d{9}|\d{4}\b")


def _link(api: Api, ref: str = "ACC-EAST") -> tuple[str, int]:
    settings = api.client.app.state.settings
    with transaction(api.engine) as s:
        issued = issue_link(s, account_ref=ref, key=portal_key(settings), settings=settings, actor="agent_east")
        return issued.token, issued.link.id


def _key(api: Api) -> bytes:
    return portal_key(api.client.app.state.settings)


def _visitor(api: Api, client: tuple[str, int] = ("198.51.100.9", 4000)) -> TestClient:
    return TestClient(api.client.app, follow_redirects=False, client=client)


def _csrf(browser: TestClient, token: str) -> str:
    found = _CSRF.search(browser.get(f"/p/{token}").text)
    assert found is not None
    return found.group(1)


def _sent_codes(api: Api) -> list[str]:
    """The codes in the outbox, oldest first (what the customer's phone receives)."""
    with transaction(api.engine) as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.template == "portal.code")
                         .order_by(OutboxMessage.id)).all()
        return [r.payload["code"] for r in rows]


def _send(api: Api, link_id: int, purpose: str = "identity", subject_id: int | None = None) -> str:
    with transaction(write_first(api.engine)) as s:
        send_code(s, link=s.get(PortalLink, link_id), key=_key(api), purpose=purpose, subject_id=subject_id)
    return _sent_codes(api)[-1]


def _check(api: Api, link_id: int, code: str | None, purpose: str = "identity", subject_id: int | None = None):  # type: ignore[no-untyped-def]
    with transaction(write_first(api.engine)) as s:
        return check_code(s, link=s.get(PortalLink, link_id), key=_key(api), purpose=purpose,
                          subject_id=subject_id, code=code)


def test_a_code_goes_through_the_outbox_to_the_mobile_on_file_and_only_its_digest_is_kept(api: Api) -> None:
    _, link_id = _link(api)
    code = _send(api, link_id)
    assert re.fullmatch(r"\d{6}", code)
    with transaction(api.engine) as s:
        row = s.scalars(select(PortalCode)).one()
        message = s.get(OutboxMessage, row.outbox_id)
        assert message is not None and message.channel == "sms" and message.template == "portal.code"
        assert message.contact_point_id == api.contact_points["phone"]
        assert code not in row.code_hash and len(row.code_hash) == 64
        assert row.expires_at - row.created_at == CODE_TTL
    assert not _check(api, link_id, "000000" if code != "000000" else "111111").ok
    assert _check(api, link_id, code).ok
    again = _check(api, link_id, code)
    assert not again.ok and again.reason == "used"  # used once


def test_a_code_expires(api: Api) -> None:
    _, link_id = _link(api)
    code = _send(api, link_id)
    with frozen_at(utc_now() + CODE_TTL + timedelta(seconds=1)):
        checked = _check(api, link_id, code)
    assert not checked.ok and checked.reason == "expired"


def test_a_code_takes_five_wrong_tries_then_not_even_the_right_one(api: Api) -> None:
    _, link_id = _link(api)
    code = _send(api, link_id)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    lefts = [_check(api, link_id, wrong).tries_left for _ in range(MAX_CODE_TRIES)]
    assert lefts == list(range(MAX_CODE_TRIES - 1, -1, -1))
    checked = _check(api, link_id, code)
    assert not checked.ok and checked.reason == "tries"


def test_a_new_code_replaces_the_old_and_a_link_sends_three_an_hour(api: Api) -> None:
    _, link_id = _link(api)
    first = _send(api, link_id)
    second = _send(api, link_id)
    if first != second:
        assert not _check(api, link_id, first).ok
    _send(api, link_id)
    with transaction(write_first(api.engine)) as s:
        try:
            send_code(s, link=s.get(PortalLink, link_id), key=_key(api), purpose="plan", subject_id=1)
        except TooManyCodes:
            pass
        else:
            raise AssertionError(f"a fourth code within the hour was sent (limit {MAX_CODES_PER_WINDOW})")
    with frozen_at(utc_now() + timedelta(hours=1, seconds=1)):
        _send(api, link_id)
    assert len(_sent_codes(api)) == MAX_CODES_PER_WINDOW + 1


def test_parallel_requests_cannot_use_one_code_twice(api: Api) -> None:
    _, link_id = _link(api)
    code = _send(api, link_id)
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def use() -> None:
        barrier.wait()
        results.append(_check(api, link_id, code).ok)

    threads = [threading.Thread(target=use) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == [False] * 5 + [True]


# -- identity by code, through the pages ----------------------------------------------------------------

def _ask_code(browser: TestClient, token: str):  # type: ignore[no-untyped-def]
    return browser.post(f"/p/{token}/code", data={"csrf_token": _csrf(browser, token)})


def _enter(browser: TestClient, token: str, code: str):  # type: ignore[no-untyped-def]
    page = browser.get(f"/p/{token}/code")
    found = _CSRF.search(page.text)
    assert page.status_code == 200 and found is not None
    return browser.post(f"/p/{token}/code/verify", data={"code": code, "csrf_token": found.group(1)})


def _blank(text: str) -> str:
    return re.sub(r'(value|action|href)="[^"]+"', "", text)


def test_identity_by_code_opens_the_account(api: Api) -> None:
    token, _ = _link(api)
    browser = _visitor(api)
    assert "/code" in browser.get(f"/p/{token}").text  # "send me a code instead" is offered
    asked = _ask_code(browser, token)
    assert asked.status_code == 303 and asked.headers["location"] == f"/p/{token}/code"
    page = browser.get(f"/p/{token}/code")
    assert page.status_code == 200 and not PHONE_DIGITS.search(re.sub(r"<[^>]+>", " ", page.text).replace(
        token, ""))  # nothing of the number
    (code,) = _sent_codes(api)
    r = _enter(browser, token, code)
    assert r.status_code == 303 and r.headers["location"] == f"/p/{token}/home"
    assert browser.get(f"/p/{token}/home").status_code == 200
    with transaction(api.engine) as s:
        verified = s.scalars(select(AuditRecord).where(AuditRecord.action == "portal.verified")).one()
        assert verified.actor == "cardholder" and verified.detail["method"] == "code"


def test_asking_for_a_code_on_an_unknown_link_looks_the_same_and_sends_nothing(api: Api) -> None:
    token, _ = _link(api)
    unknown = "zz.AAAAAAAAAAAAAAAAAAAA"
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    answers = []
    for t in (token, unknown, tampered):
        browser = _visitor(api)
        asked = _ask_code(browser, t)
        page = browser.get(f"/p/{t}/code")
        answers.append((asked.status_code, asked.headers["location"].replace(t, "T"), page.status_code,
                        _blank(page.text)))
    assert len(set(answers)) == 1
    assert len(_sent_codes(api)) == 1  # only for the real link
    # and a wrong code reads the same on every link
    refusals = []
    for t in (token, unknown, tampered):
        r = _enter(_visitor(api), t, "123456" if _sent_codes(api)[0] != "123456" else "654321")
        refusals.append((r.status_code, _blank(r.text)))
    assert {s for s, _ in refusals} == {401} and len({b for _, b in refusals}) == 1


def test_wrong_codes_count_against_the_link_and_the_address(api: Api) -> None:
    token, link_id = _link(api)
    browser = _visitor(api, client=("203.0.113.77", 4000))
    _ask_code(browser, token)
    (code,) = _sent_codes(api)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(MAX_FAILURES_PER_LINK):
        assert _enter(browser, token, wrong).status_code == 401
    assert _enter(browser, token, code).status_code == 401  # the link is worn out, even for the right code
    with transaction(api.engine) as s:
        assert s.get(PortalLink, link_id).failures == MAX_FAILURES_PER_LINK  # type: ignore[union-attr]
    for i in range(20 - MAX_FAILURES_PER_LINK - 1):
        assert _enter(browser, f"{i + 500:x}.AAAAAAAAAAAAAAAAAAAA", "123456").status_code == 401
    # the address has had 20 wrong answers now: throttled, for asking and for entering
    assert _ask_code(browser, token).status_code == 429
    other, _ = _link(api)
    assert _enter(browser, other, "123456").status_code == 429
    with transaction(api.engine) as s:
        outcomes = s.scalars(select(PortalAttempt.outcome).where(PortalAttempt.remote == "203.0.113.77")).all()
    assert outcomes.count("wrong") == MAX_FAILURES_PER_LINK and outcomes.count("unknown_link") == 15
    assert outcomes.count("refused") == 2


def test_asking_for_a_code_takes_as_long_on_an_unknown_link_as_on_a_real_one(api: Api) -> None:
    token, _ = _link(api)
    unknown = "zz.AAAAAAAAAAAAAAAAAAAA"
    took: dict[str, list[float]] = {"real": [], "unknown": []}
    for i in range(6):
        for name, t in (("real", token), ("unknown", unknown)):
            browser = _visitor(api, client=(f"198.51.100.{i + 1}", 4000))
            csrf = _csrf(browser, t)
            with frozen_at(utc_now() + timedelta(hours=2 * i)):  # a code each time (3 an hour)
                started = time.perf_counter()
                assert browser.post(f"/p/{t}/code", data={"csrf_token": csrf}).status_code == 303
                took[name].append(time.perf_counter() - started)
    assert len(_sent_codes(api)) == 6
    real, fake = statistics.median(took["real"]), statistics.median(took["unknown"])
    assert min(took["real"] + took["unknown"]) >= ANSWER_FLOOR_SECONDS
    assert abs(real - fake) < 0.05, took
