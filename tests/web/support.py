"""Helpers of the web UI tests: a browser of its own per user, signed in through the login form."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.api.conftest import Api

PASSWORD = "correct horse battery"  # the password of every user of tests.api.conftest
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(api: Api, who: str, *, lang: str | None = None) -> TestClient:
    """A browser of its own, signed in as ``who`` through the login form."""
    client = TestClient(api.client.app, follow_redirects=False)
    if lang:
        client.cookies.set("arrears_lang", lang)
    page = client.get("/login")
    assert page.status_code == 200
    r = client.post("/login", data={"username": who, "password": PASSWORD, "csrf_token": csrf_of(page.text),
                                     "next": "/"})
    assert r.status_code == 303, r.text
    return client


def page_csrf(client: TestClient, url: str = "/queue") -> str:
    r = client.get(url)
    assert r.status_code == 200, r.text
    return csrf_of(r.text)
