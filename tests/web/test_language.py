"""No English and no raw codes on the Chinese pages: every page of every role, and the cardholder's
pages, rendered in zh_CN over a store with history in it (calls, messages, holds, agreements, audit
records), has no ASCII word of three letters or more in its visible text except the product's
identifiers (user names, team codes, strategy names, account references), a few units and
abbreviations the Chinese pages use too, and text that says it is not to be translated
(``translate="no"``: the audit log's recorded detail, rule and field identifiers) or that declares
another language (``lang=…``: a message template's English version, an English legal citation)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from arrears.app import create_app
from arrears.auth.tables import Team, User
from arrears.cases.service import business_date_of
from arrears.config import Settings
from arrears.kit.cli import store_engine
from arrears.kit.clock import frozen_at, utc_now
from arrears.sim.history import build_history, run_daily_batch
from tests.web.support import csrf_of

STEPS = ("greeting", "explain", "reason", "investigation", "options", "agreement", "next")
#: Words the Chinese pages may show: the brand, units and abbreviations a Chinese card centre uses too.
ALLOWED = {"arrears", "SMS", "PDF", "CSV", "SHA", "App", "API", "DPD", "RPC", "CNY", "URL", "ID",
           "Alt", "Ctrl", "Shift", "Esc", "Enter", "Tab",  # keys of the keyboard shortcuts
           "CMR", "RCW", "RCNY", "CFR"}  # codes of U.S. laws in a citation (940 CMR 7.00, RCW 19.16.250…)
_WORD = re.compile(r"[A-Za-z][A-Za-z_:.\-]*[A-Za-z]")
_URL = re.compile(r"https?://\S+|\S*\*\*\S*")  # addresses, and masked values (2****@qq.com)


class _Visible(HTMLParser):
    """The text a reader sees (and hears: ``title``, ``aria-label``, ``placeholder``, ``alt``), without
    scripts, styles, ``translate="no"`` subtrees and subtrees in a declared language other than the page's."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []  # per open element: does it hide its content?
        self.chunks: list[str] = []
        self.page_lang: str | None = None

    def _hidden(self) -> bool:
        return any(self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.page_lang = a.get("lang")
        lang = a.get("lang")
        hides = (tag in ("script", "style", "template") or a.get("translate") == "no"
                 or (tag != "html" and lang is not None and lang != self.page_lang))
        if not self._hidden() and not hides:
            for key in ("title", "aria-label", "placeholder", "alt"):
                if a.get(key):
                    self.chunks.append(str(a[key]))
            if tag == "input" and a.get("type") in ("submit", "button") and a.get("value"):
                self.chunks.append(str(a["value"]))
        if tag not in self.VOID:
            self.stack.append(hides)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not self._hidden() and data.strip():
            self.chunks.append(data.strip())


def english_in(html: str, allowed: set[str]) -> dict[str, str]:
    """Each disallowed ASCII word of 3+ letters in the visible text → the text it was found in."""
    parser = _Visible()
    parser.feed(html)
    assert parser.page_lang in ("zh-CN", None), "not a Chinese page"  # None: a fragment of one
    found: dict[str, str] = {}
    for chunk in parser.chunks:
        for word in _WORD.findall(_URL.sub(" ", chunk)):
            if len(word) >= 3 and word not in allowed and word.strip(".:-_") not in allowed:
                found.setdefault(word, chunk[:120])
    return found


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict, set[str], dict]]:  # type: ignore[type-arg]
    folder = tmp_path_factory.mktemp("language-store")
    url = f"sqlite:///{folder / 'arrears.sqlite'}"
    engine = store_engine(url)
    today = business_date_of(utc_now(), "Asia/Shanghai")
    history = build_history(engine, folder / "files", accounts=80, days=8, end_date=today, seed=11)
    run_daily_batch(engine, today)
    identifiers: set[str] = set()
    with Session(engine) as s:
        for user in s.scalars(select(User)):
            identifiers.update(_WORD.findall(f"{user.username} {user.display_name or ''}"))
        for team in s.scalars(select(Team)):
            identifiers.update(_WORD.findall(f"{team.code} {getattr(team, 'name', '') or ''}"))
        for (ref,) in s.execute(text("select account_ref from accounts")):
            identifiers.update(_WORD.findall(ref))
        cases = {
            "busy": s.execute(text("select case_id from interactions group by case_id order by count(*) desc, "
                                   "case_id limit 1")).scalar_one(),
            "agreement": s.execute(text("select min(case_id) from plan_agreements")).scalar_one(),
        }
    identifiers.add("strategies")  # the strategy files' folder
    experiments = Path(__file__).resolve().parents[2] / "examples" / "experiments.yaml"
    identifiers.update(re.findall(r"code:\s*([\w\-]+)", experiments.read_text()))  # experiment and arm codes
    for path in Path(__file__).resolve().parents[2].joinpath("strategies").glob("*.yaml"):
        identifiers.update(_WORD.findall(path.name))
        identifiers.update(_WORD.findall(path.stem))
    app = create_app(Settings(database_url=url))
    yield TestClient(app, follow_redirects=False), history.users, identifiers | ALLOWED, cases
    app.state.engine.dispose()
    engine.dispose()


def _signed_in(client: TestClient, users: dict, role: str) -> TestClient:  # type: ignore[type-arg]
    browser = TestClient(client.app, follow_redirects=False)
    browser.cookies.set("arrears_lang", "zh_CN")
    username, (_, _, password) = next((u, v) for u, v in users.items() if v[0] == role)
    r = browser.post("/login", data={"username": username, "password": password,
                                     "csrf_token": csrf_of(browser.get("/login").text), "next": "/"})
    assert r.status_code == 303, r.text
    return browser


def _pages(cases: dict[str, int]) -> dict[str, list[str]]:
    busy = cases["busy"]
    agreed = cases["agreement"] or busy
    case_pages = [f"/case/{c}?step={s}" for c in (busy, agreed) for s in STEPS]
    return {
        "supervisor": ["/supervisor", "/team", "/approvals", *case_pages, f"/case/{busy}/best-hours"],
        "team_lead": ["/team", "/approvals", "/queue", "/myday"],
        # the search is a POST form: "POST <path>?<its fields>"
        "agent": ["/queue", "/myday", "/search", "POST /search?q=AC0000000001", "POST /search?q=13800000000&kind=phone"],
        "compliance": ["/compliance", "/audit", "/approvals", f"/case/{busy}"],
        "auditor": ["/audit", "/compliance"],
        "admin": ["/admin", "/admin/users/1", "/admin/strategies", "/admin/packs", "/admin/templates", "/supervisor",
                  "/compliance", "/audit"],
    }


def test_no_english_and_no_raw_codes_on_the_chinese_staff_pages(store) -> None:  # type: ignore[no-untyped-def]
    client, users, allowed, cases = store
    problems: dict[str, dict[str, str]] = {}
    with frozen_at(utc_now()):
        for role, urls in _pages(cases).items():
            browser = _signed_in(client, users, role)
            for url in urls:
                if url.startswith("POST "):
                    path, _, fields = url.removeprefix("POST ").partition("?")
                    r = browser.post(path, data={"csrf_token": csrf_of(browser.get(path).text), **dict(parse_qsl(fields))})
                else:
                    r = browser.get(url)
                assert r.status_code == 200, (role, url, r.status_code)
                found = english_in(r.text, allowed)
                if found:
                    problems[f"{role} {url}"] = found
        anonymous = TestClient(client.app, follow_redirects=False)
        anonymous.cookies.set("arrears_lang", "zh_CN")
        for url, status in (("/login", 200), ("/no-such-page", 404)):
            r = anonymous.get(url, headers={"Accept": "text/html"})
            assert r.status_code == status, url
            if found := english_in(r.text, allowed):
                problems[f"anonymous {url}"] = found
    assert problems == {}, "\n".join(f"{where}: {found}" for where, found in problems.items())


def test_no_english_on_the_cardholders_chinese_pages(store) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from arrears.accounts.tables import Account, Customer
    from arrears.cases.tables import Case
    from arrears.kit.db import transaction
    from arrears.portal.service import issue_link, portal_key

    client, _, allowed, _ = store
    settings = client.app.state.settings
    with transaction(client.app.state.engine) as s:
        ref, national_id, born = s.execute(
            select(Account.account_ref, Customer.national_id, Customer.birth_date)
            .join(Customer, Customer.id == Account.customer_id).join(Case, Case.account_id == Account.id)
            .where(Case.closed_on.is_(None)).order_by(Case.id).limit(1)).one()
        token = issue_link(s, account_ref=ref, key=portal_key(settings), settings=settings, actor="language-test",
                           ttl=timedelta(days=2)).token
    visitor = TestClient(client.app, follow_redirects=False)
    visitor.cookies.set("arrears_lang", "zh_CN")
    problems: dict[str, dict[str, str]] = {}
    first = visitor.get(f"/p/{token}")
    assert first.status_code == 200
    if found := english_in(first.text, allowed):
        problems["identity"] = found
    r = visitor.post(f"/p/{token}", data={"id_last4": national_id[-4:], "birth_date": born.isoformat(),
                                          "csrf_token": csrf_of(first.text)})
    assert r.status_code == 303, r.text
    home = visitor.get(r.headers["location"])
    assert home.status_code == 200
    pages = {"home": home.text}
    for href in dict.fromkeys(re.findall(rf'href="(/p/{re.escape(token)}/[a-z/]+)"', home.text)):
        answer = visitor.get(href)
        if answer.status_code == 200:
            pages[href.rsplit("/", 1)[-1]] = answer.text
    assert len(pages) > 3
    for name, html in pages.items():
        if found := english_in(html, allowed):
            problems[name] = found
    assert problems == {}, "\n".join(f"{where}: {found}" for where, found in problems.items())


@pytest.mark.parametrize("message, chinese", [
    ("four-eyes: the person who made the agreement cannot approve it", "该协议由您经办：须由他人审批。"),
    ("agreement 5 is active, not pending_approval", "该协议当前为“生效中”，暂不能执行此操作。"),
    ("case 3 already has agreement 4 (pending_approval); cancel it first", "该案件已有一份协议（待审批）：请先完成或取消该协议。"),
    ("user 3 already holds 5 case(s), their capacity", "您名下的案件已达上限：请先完成或退回一个案件。"),
    ("promised_date: too far ahead, at the latest 2027-01-31", "承诺还款日期过远：最晚可承诺到 2027-01-31。"),
])
def test_a_services_refusal_is_shown_in_the_readers_language(message: str, chinese: str) -> None:
    from starlette.requests import Request

    from arrears.web.render import service_message

    def request(lang: str) -> Request:
        return Request({"type": "http", "method": "GET", "path": "/", "headers": [],
                        "query_string": f"lang={lang}".encode()})

    assert service_message(request("zh_CN"), message) == chinese
    assert not re.search(r"[A-Za-z]{3}", service_message(request("zh_CN"), message))
    assert service_message(request("zh_CN"), "something the pages do not know") == "something the pages do not know"
