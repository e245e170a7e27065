"""Every page in zh_CN (the default) and en, the language switch, and complete catalogues."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po

import arrears.web
from arrears.kit.clock import frozen_at
from arrears.web.i18n import LOCALES, catalogue_path
from tests.api.conftest import Api
from tests.plans.support import worked_case
from tests.web.support import page_csrf, sign_in

WEB = Path(arrears.web.__file__).parent
DAYTIME = datetime(2026, 2, 2, 2, 0, tzinfo=UTC)
STEPS = ("greeting", "explain", "reason", "investigation", "options", "agreement", "next")


def used_msgids() -> dict[str, str]:
    """Every message id the UI uses: in templates ({% trans %}, _()) and in its Python (N_, gettext)."""
    found: dict[str, str] = {}
    for path in sorted((WEB / "templates").glob("*.html")):
        for lineno, msg, _, _ in extract_from_file("jinja2.ext.babel_extract", str(path), keywords=DEFAULT_KEYWORDS,
                                                   options={"trimmed": "true"}):
            found.setdefault(msg if isinstance(msg, str) else msg[0], f"{path.name}:{lineno}")
    for path in sorted(WEB.glob("*.py")):
        for lineno, msg, _, _ in extract_from_file("python", str(path), keywords={**DEFAULT_KEYWORDS, "N_": None}):
            found.setdefault(msg if isinstance(msg, str) else msg[0], f"{path.name}:{lineno}")
    return found


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_used_has_a_translation(locale: str) -> None:
    used = used_msgids()
    assert len(used) > 200  # the extraction works (a broken extractor would find nothing and pass)
    with open(catalogue_path(locale), "rb") as fh:
        catalogue = read_po(fh, locale=locale)
    missing = [f"{where}: {msgid!r}" for msgid, where in used.items()
               if catalogue.get(msgid) is None or not catalogue.get(msgid).string]
    assert missing == [], f"{locale}: add these to locale/{locale}/LC_MESSAGES/messages.po"


def test_the_chinese_catalogue_is_chinese() -> None:
    with open(catalogue_path("zh_CN"), "rb") as fh:
        catalogue = read_po(fh, locale="zh_CN")
    same = [m.id for m in catalogue if m.id and m.string == m.id and any(c.isalpha() for c in m.id)]
    assert same == []


def _pages(api: Api, case_id: int) -> list[str]:
    return ["/queue", *(f"/case/{case_id}?step={s}" for s in STEPS), f"/case/{case_id}/best-hours",
            "/search", "/search?q=%E6%B5%8B%E8%AF%95%E5%AE%A2%E6%88%B7"]


def test_every_page_works_in_both_languages(api: Api) -> None:
    with frozen_at(DAYTIME):
        case_id = worked_case(api.engine, "ACC-WEB-I18N")
        words = {"zh_CN": ("我的队列", "通话流程", 'lang="zh-CN"'), "en": ("My queue", "Call script", 'lang="en"')}
        for locale in LOCALES:
            agent = sign_in(api, "agent_east", lang=locale)
            for url in _pages(api, case_id):
                r = agent.get(url)
                assert r.status_code == 200, (locale, url, r.text[:500])
                if "best-hours" not in url:
                    assert words[locale][2] in r.text and words[locale][0] in r.text, (locale, url)
            assert words[locale][1] in agent.get(f"/case/{case_id}").text
            assert agent.get("/case/999999").status_code == 404
            for who, start in (("lead_east", "/team"), ("supervisor", "/supervisor"), ("compliance", "/compliance"),
                               ("admin", "/admin"), ("auditor", "/audit"), ("lead_east", "/approvals")):
                r = sign_in(api, who, lang=locale).get(start)
                assert r.status_code == 200 and words[locale][2] in r.text, (locale, who)
                assert sign_in(api, who, lang=locale).get(f"/case/{case_id}").status_code == 200, (locale, who)
            login = agent.get("/login")
            assert login.status_code == 200 and words[locale][2] in login.text


def test_chinese_by_default_and_english_one_click_away(api: Api) -> None:
    agent = sign_in(api, "agent_east")
    page = agent.get("/queue")
    assert "我的队列" in page.text and 'href="/queue?lang=en"' in page.text
    english = agent.get("/queue", params={"lang": "en"})
    assert "My queue" in english.text and "arrears_lang=en" in english.headers["set-cookie"]
    assert "My queue" in agent.get("/queue").text  # remembered
    assert "我的队列" in agent.get("/queue", params={"lang": "zh_CN"}).text


def test_money_and_dates_follow_the_language(api: Api) -> None:
    with frozen_at(DAYTIME):
        case_id = worked_case(api.engine, "ACC-WEB-FMT")
        zh = sign_in(api, "agent_east").get(f"/case/{case_id}/script/explain", headers={"HX-Request": "true"}).text
        en = sign_in(api, "agent_east", lang="en").get(f"/case/{case_id}/script/explain",
                                                       headers={"HX-Request": "true"}).text
    assert "¥3,600.00" in zh and "2025年10月28日" in zh
    assert "CN¥3,600.00" in en and "Oct 28, 2025" in en


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str | None]] = []
        self.labels: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "label" and a.get("for"):
            self.labels.add(str(a["for"]))
        elif tag in ("select", "textarea") or (tag == "input" and a.get("type", "text") not in ("hidden", "submit",
                                                                                              "button")):
            self.fields.append((f"<{tag} name={a.get('name')}>", a.get("id")))


def test_every_form_field_has_a_label(api: Api) -> None:
    with frozen_at(DAYTIME):
        case_id = worked_case(api.engine, "ACC-WEB-FORMS")
        agent = sign_in(api, "agent_east")
        r = agent.post(f"/case/{case_id}/script/agreement", data={"option_code": "inst_12",
                                                                  "csrf_token": page_csrf(agent, f"/case/{case_id}")})
        assert r.status_code == 303
        pages = [agent.get("/login").text, *(agent.get(url).text for url in _pages(api, case_id))]
        checked = 0
        for html in pages:
            forms = _Forms()
            forms.feed(html)
            for field, id_ in forms.fields:
                assert id_ and id_ in forms.labels, f"{field} has no <label for>"
                checked += 1
    assert checked > 30
