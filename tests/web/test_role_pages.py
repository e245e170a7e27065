"""Every page of the team lead, supervisor, compliance and admin roles: labelled inputs, no inline
scripts, each role's navigation, and home sending each role to its start page."""

from __future__ import annotations

import re

from tests.api.conftest import Api
from tests.web.support import sign_in
from tests.web.test_i18n import _Forms

PAGES = {
    "lead_east": ("/team", "/approvals"),
    "supervisor": ("/supervisor", "/team", "/approvals"),
    "compliance": ("/compliance", "/audit", "/approvals"),
    "auditor": ("/audit", "/compliance"),
    "admin": ("/admin", "/admin/strategies", "/admin/packs", "/admin/templates", "/supervisor", "/compliance",
              "/audit"),
}


def test_every_input_of_the_role_pages_has_a_label_and_no_page_has_inline_scripts(api: Api) -> None:
    checked = 0
    for who, urls in PAGES.items():
        client = sign_in(api, who)
        for url in urls:
            r = client.get(url)
            assert r.status_code == 200, (who, url)
            forms = _Forms()
            forms.feed(r.text)
            for field, id_ in forms.fields:
                assert id_ and id_ in forms.labels, f"{url}: {field} has no <label for>"
                checked += 1
            assert not re.search(r"\son[a-z]+=", r.text), url  # no inline event handlers
            for script in re.findall(r"<script([^>]*)>", r.text):
                assert "src=" in script or 'type="application/json"' in script, (url, script)
            assert "//cdn" not in r.text and "https://" not in r.text.split("<main", 1)[0], url
    assert checked > 20


def test_the_navigation_of_each_role(api: Api) -> None:
    nav = {"lead_east": ["/team", "/queue", "/myday", "/approvals", "/compliance/complaints"],
           "supervisor": ["/supervisor", "/team", "/approvals"],
           "compliance": ["/compliance", "/compliance/complaints", "/audit", "/approvals"],
           "auditor": ["/audit", "/compliance"],
           "admin": ["/admin", "/supervisor", "/compliance", "/audit"]}
    for who, links in nav.items():
        client = sign_in(api, who)
        home = client.get("/")
        page = client.get(home.headers["location"]).text
        menu = page.split('<nav aria-label="', 1)[1].split("</nav>", 1)[0]
        assert re.findall(r'href="([^"]+)"', menu) == links, who
