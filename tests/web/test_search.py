"""Find anything: account, name, phone and ID number on their full value, masked by role, within the
caller's scope, audited and limited; words in notes."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

from arrears.accounts.tables import Account, ContactPoint, Customer
from arrears.accounts.validate import national_id_check_char
from arrears.auth.tables import AuditRecord
from arrears.cases.tables import Interaction, Investigation
from arrears.kit.clock import utc_now
from arrears.web.security import CSRF_HEADER
from tests.api.conftest import NATIONAL_ID, PHONE, Api
from tests.factories import LedgerLoad, load
from tests.web.support import csrf_of, sign_in

WEST_PHONE = "13987654321"
WEST_ID_BODY = "44030519800101123"
WEST_ID = WEST_ID_BODY + national_id_check_char(WEST_ID_BODY)
LANDLINE = "010-62345678"


def _customer_of(api: Api, account_ref: str) -> int:
    with api.engine.connect() as conn:
        return conn.execute(select(Account.customer_id).where(Account.account_ref == account_ref)).scalar_one()


@pytest.fixture
def book(api: Api) -> Api:
    """East's customer 张三 (phone PHONE, a landline), west's 李四 (WEST_PHONE, WEST_ID), and an account
    without a case (王五); interaction and investigation notes on both cases."""
    load(api.engine, LedgerLoad(accounts=["ACC-LONE"]))
    east, west, lone = (_customer_of(api, ref) for ref in ("ACC-EAST", "ACC-WEST", "ACC-LONE"))
    now = utc_now()
    with api.engine.begin() as conn:
        conn.execute(update(Customer).where(Customer.id == east).values(name="张三", national_id=NATIONAL_ID))
        conn.execute(update(Customer).where(Customer.id == west).values(name="李四", national_id=WEST_ID))
        conn.execute(update(Customer).where(Customer.id == lone).values(name="王五", national_id=WEST_ID[:-1] + "0"))
        for ref, customer, value in (("CP-W", west, WEST_PHONE), ("CP-L", east, LANDLINE)):
            conn.execute(insert(ContactPoint).values(contact_ref=ref, customer_id=customer, kind="phone", value=value,
                                                     owner="debtor", verified=True, opted_out=False, created_at=now))
        for case_id, note in ((api.east_case, "客户说下周一发工资，新号码 13700001111 可以联系"),
                              (api.west_case, "客户说下周一发工资再还")):
            conn.execute(insert(Interaction).values(
                case_id=case_id, channel="call", direction="outbound", party="debtor", started_at=now - timedelta(hours=1),
                outcome="promise_to_pay", notes=note, created_at=now))
        conn.execute(insert(Investigation).values(
            case_id=api.east_case, version=1, cause="job_loss", monthly_income=500_000, essential_spending=300_000,
            other_debt_payments=0, dependants=0, reserve_base=100_000, reserve_per_dependant=50_000,
            affordable_monthly=100_000, willingness=4, notes="Lost his job in March; new job from May",
            recorded_by="agent_east", recorded_at=now))
    return api


def _searcher(api: Api, who: str, *, lang: str | None = None) -> TestClient:
    """A signed-in browser that sends the search form's CSRF token as the page's script does."""
    client = sign_in(api, who, lang=lang)
    client.headers[CSRF_HEADER] = csrf_of(client.get("/search").text)
    return client


def _results(html: str) -> str:
    """The results part of the page (the form and the language links echo what was typed)."""
    return html.split('id="s-results"', 1)[1] if 'id="s-results"' in html else ""


def _audits(api: Api, action: str) -> list[tuple[str, dict]]:
    with api.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(AuditRecord.actor, AuditRecord.detail)
                                               .where(AuditRecord.action == action).order_by(AuditRecord.seq))]


def test_an_account_is_found_by_its_reference_and_links_to_its_case(book: Api) -> None:
    r = _searcher(book, "agent_east").post("/search", data={"q": "ACC-EAST"})
    assert r.status_code == 200
    assert f'href="/case/{book.east_case}"' in r.text and "ACC-WEST" not in r.text
    assert _searcher(book, "agent_east").post("/search", data={"q": "ACC-EAS", "kind": "account"}).text.count(
        f'href="/case/{book.east_case}"') == 0  # part of a reference finds nothing


def test_a_customer_is_found_by_the_full_name_only(book: Api) -> None:
    agent = _searcher(book, "agent_east")
    for params in ({"q": "张三"}, {"q": " 张三 ", "kind": "name"}):
        r = agent.post("/search", data=params)
        assert r.status_code == 200 and f'href="/case/{book.east_case}"' in r.text, params
    assert f'/case/{book.east_case}"' not in agent.post("/search", data={"q": "张", "kind": "name"}).text


@pytest.mark.parametrize("typed", [PHONE, "138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "+8613812345678",
                                   "0086 13812345678"])
def test_a_phone_is_found_however_it_is_typed_and_shown_masked(book: Api, typed: str) -> None:
    for kind in ("auto", "phone"):
        r = _searcher(book, "agent_east").post("/search", data={"q": typed, "kind": kind})
        assert r.status_code == 200
        assert f'href="/case/{book.east_case}"' in r.text
        assert PHONE not in _results(r.text) and "138****5678" in _results(r.text)


def test_a_landline_is_found_with_or_without_its_hyphen(book: Api) -> None:
    agent = _searcher(book, "agent_east")
    for typed in (LANDLINE, "01062345678", "010 6234 5678"):
        r = agent.post("/search", data={"q": typed, "kind": "phone"})
        assert f'href="/case/{book.east_case}"' in r.text, typed


@pytest.mark.parametrize("typed", ["1381234567", "12345678", "5678", "138123456789", "3812345678"])
def test_part_of_a_phone_finds_nothing(book: Api, typed: str) -> None:
    agent = _searcher(book, "agent_east")
    auto = agent.post("/search", data={"q": typed})
    assert auto.status_code == 200 and f'/case/{book.east_case}"' not in auto.text
    phone = agent.post("/search", data={"q": typed, "kind": "phone"})
    assert phone.status_code == 422 and f'/case/{book.east_case}"' not in phone.text
    assert 'aria-invalid="true"' in phone.text and "role=\"alert\"" in phone.text


def test_an_id_number_is_found_in_full_and_shown_masked(book: Api) -> None:
    agent = _searcher(book, "agent_east")
    for typed, kind in ((NATIONAL_ID, "auto"), (NATIONAL_ID.lower(), "national_id")):
        r = agent.post("/search", data={"q": typed, "kind": kind})
        assert r.status_code == 200 and f'href="/case/{book.east_case}"' in r.text
        page = _results(r.text)
        assert NATIONAL_ID not in page and "110***********002X" in page
    short = agent.post("/search", data={"q": NATIONAL_ID[:17], "kind": "national_id"})
    assert short.status_code == 422 and f'/case/{book.east_case}"' not in short.text


def test_another_teams_case_never_appears(book: Api) -> None:
    agent = _searcher(book, "agent_east")
    for params in ({"q": "ACC-WEST"}, {"q": "李四"}, {"q": WEST_PHONE}, {"q": WEST_ID}, {"q": "王五"},
                   {"q": "ACC-LONE"}):
        r = agent.post("/search", data=params)
        assert r.status_code == 200
        found = _results(r.text)
        assert "ACC-WEST" not in found and "ACC-LONE" not in found and f"/case/{book.west_case}\"" not in r.text
    supervisor = _searcher(book, "supervisor")
    assert f'href="/case/{book.west_case}"' in supervisor.post("/search", data={"q": WEST_PHONE}).text
    lone = _results(supervisor.post("/search", data={"q": "王五"}).text)
    assert "ACC-LONE" in lone and "/case/" not in lone


def test_results_are_masked_by_role(book: Api) -> None:
    auditor = _searcher(book, "auditor").post("/search", data={"q": PHONE}).text
    assert "张三" not in auditor and "张*" in auditor and "138****5678" in auditor
    compliance = _searcher(book, "compliance").post("/search", data={"q": NATIONAL_ID}).text
    assert "张三" in compliance and NATIONAL_ID not in _results(compliance)


def test_each_search_is_audited_with_its_kind_and_count_never_the_value(book: Api) -> None:
    agent = _searcher(book, "agent_east")
    agent.get("/search")  # the empty form searches nothing
    agent.post("/search", data={"q": "+86 138 1234 5678"})
    agent.post("/search", data={"q": WEST_PHONE})
    agent.post("/search", data={"q": "发工资", "kind": "notes"})
    audits = _audits(book, "search")
    assert [(a, d["kind"], d["count"]) for a, d in audits] == [
        ("agent_east", "phone", 1), ("agent_east", "phone", 0), ("agent_east", "notes", 1)]
    assert all(PHONE not in str(d) and WEST_PHONE not in str(d) and "发工资" not in str(d) for _, d in audits)


def test_searches_are_limited_like_reveals(book: Api) -> None:
    app = book.client.app
    app.state.settings = app.state.settings.model_copy(update={"reveal_limit": 2})  # type: ignore[attr-defined]
    agent = _searcher(book, "agent_east")
    assert [agent.post("/search", data={"q": PHONE}).status_code for _ in range(3)] == [200, 200, 429]
    assert [d["kind"] for _, d in _audits(book, "search.limited")] == ["phone"]
    assert len(_audits(book, "search")) == 2


def test_notes_are_searched_by_words_within_scope_with_numbers_masked(book: Api) -> None:
    agent = _searcher(book, "agent_east")
    r = agent.post("/search", data={"q": "发工资", "kind": "notes"})
    assert r.status_code == 200
    assert f'href="/case/{book.east_case}"' in r.text and f'/case/{book.west_case}"' not in r.text
    assert "13700001111" not in _results(r.text) and "137****1111" in _results(r.text)
    inv = agent.post("/search", data={"q": "NEW JOB", "kind": "notes"})
    assert f'href="/case/{book.east_case}"' in inv.text and "new job from May" in inv.text
    assert f'/case/{book.west_case}"' in _searcher(book, "supervisor").post(
        "/search", data={"q": "发工资", "kind": "notes"}).text
    literal = agent.post("/search", data={"q": "%%", "kind": "notes"})  # LIKE wildcards are plain characters
    assert literal.status_code == 200 and f'/case/{book.east_case}"' not in literal.text


@pytest.mark.parametrize(("params", "status"), [
    ({"q": ""}, 422), ({"q": "   "}, 422), ({"q": "x" * 201}, 422), ({"q": "x" * 5000}, 422),
    ({"q": "ab\x00c"}, 422), ({"q": "ACC-EAST", "kind": "everything"}, 422), ({"q": "a", "kind": "notes"}, 422),
])
def test_bad_input_is_a_clear_message_not_a_crash(book: Api, params: dict, status: int) -> None:
    r = _searcher(book, "agent_east").post("/search", data=params)
    assert r.status_code == status
    assert "<form" in r.text or "q" in r.text
    assert _audits(book, "search") == []


def test_the_search_box_is_in_every_signed_in_page_and_in_both_languages(book: Api) -> None:
    for lang, words in (("en", "Search"), ("zh_CN", "搜索")):
        agent = _searcher(book, "agent_east", lang=lang)
        queue = agent.get("/queue").text
        assert 'action="/search"' in queue and 'role="search"' in queue
        page = agent.post("/search", data={"q": PHONE})
        assert page.status_code == 200 and words in page.text
    assert _searcher(book, "agent_east").get("/search", follow_redirects=False).status_code == 200
    anonymous = TestClient(book.client.app, follow_redirects=False).get("/search")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


def test_an_account_reference_of_digits_is_found_whatever_it_looks_like(book: Api) -> None:
    load(book.engine, LedgerLoad(accounts=["13600001111", "123456789012345678"]))
    supervisor = _searcher(book, "supervisor")
    for ref in ("13600001111", "123456789012345678"):  # shaped like a mobile, like an ID number (checksum fails)
        r = supervisor.post("/search", data={"q": ref})
        assert r.status_code == 200 and f'data-account="{ref}"' in _results(r.text), ref


def test_a_search_is_posted_so_the_value_is_in_no_url(book: Api) -> None:
    agent = sign_in(book, "agent_east")
    page = agent.get("/queue").text + agent.get("/search").text
    forms = re.findall(r'<form\b[^>]*\baction="/search"[^>]*>(.*?)</form>', page, re.S)
    methods = re.findall(r'<form\b[^>]*\bmethod="(\w+)"[^>]*\baction="/search"', page)
    assert len(forms) == 3 and methods == ["post"] * 3  # the top bar's box (twice) and the search page's form
    assert all('name="csrf_token"' in f for f in forms)
    token = csrf_of(page)
    r = agent.post("/search", data={"csrf_token": token, "q": PHONE})  # the form field, as the browser sends it
    assert r.status_code == 200 and f'href="/case/{book.east_case}"' in _results(r.text)
    assert PHONE not in str(r.url) and "5678" not in str(r.url)
    assert [d["kind"] for _, d in _audits(book, "search")] == ["phone"]


def test_a_value_in_the_query_string_is_never_searched(book: Api) -> None:
    agent = sign_in(book, "agent_east")
    for params in ({"q": PHONE}, {"q": "ACC-EAST", "kind": "account"}, {"q": "发工资", "kind": "notes"}):
        r = agent.get("/search", params=params)
        assert r.status_code == 200 and 'id="s-results"' not in r.text, params
        assert f'/case/{book.east_case}"' not in r.text and PHONE not in r.text
    assert _audits(book, "search") == []


def test_a_forged_search_is_refused(book: Api) -> None:
    agent = sign_in(book, "agent_east")
    for data in ({"q": PHONE}, {"q": PHONE, "csrf_token": "forged"}):
        r = agent.post("/search", data=data)
        assert r.status_code == 403 and f'/case/{book.east_case}"' not in r.text
    assert agent.post("/search", data={"q": PHONE}, headers={CSRF_HEADER: "forged"}).status_code == 403
    assert _audits(book, "search") == []
