"""Which address a sign-in is throttled and recorded under: X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from arrears.app import create_app
from arrears.auth.tables import LoginAttempt
from arrears.config import Settings
from arrears.kit.clientaddr import client_address, parse_networks
from arrears.kit.db import transaction

PROXIES = parse_networks(("10.0.0.0/8", "::1"))


def test_the_header_is_ignored_unless_the_peer_is_a_trusted_proxy():
    assert client_address("203.0.113.7", "1.2.3.4", PROXIES) == "203.0.113.7"
    assert client_address("127.0.0.1", "1.2.3.4", parse_networks(())) == "127.0.0.1"


def test_the_client_is_the_rightmost_untrusted_hop():
    # the client forged the first entry; our two proxies appended what they saw
    assert client_address("10.0.0.5", "6.6.6.6, 198.51.100.20, 10.0.0.9", PROXIES) == "198.51.100.20"
    assert client_address("::1", "[2001:db8::1]:4711", PROXIES) == "2001:db8::1"
    assert client_address("10.0.0.5", "10.0.0.6, 10.0.0.7", PROXIES) == "10.0.0.6"
    assert client_address("10.0.0.5", "junk, 198.51.100.20:443", PROXIES) == "198.51.100.20"


@given(forged=st.lists(st.text(max_size=40).filter(lambda t: "," not in t), max_size=5),
       client=st.ip_addresses(v=4).filter(lambda a: not a.is_private))
def test_nothing_left_of_the_real_client_changes_the_answer(forged, client):
    header = ", ".join([*forged, str(client), "10.1.2.3"])
    assert client_address("10.0.0.1", header, PROXIES) == str(client)


def test_a_bad_trusted_proxy_setting_is_a_clear_error():
    with pytest.raises(ValueError, match="'10.0.0.300' is not an IP address"):
        parse_networks(("10.0.0.300",))


@pytest.mark.parametrize("trusted, expected", [([], "10.0.0.2"), (["10.0.0.0/8"], "198.51.100.4")])
def test_the_login_page_records_the_address_the_setting_allows(store_url, tmp_path, trusted, expected):
    app = create_app(Settings(database_url=store_url, data_dir=tmp_path, trusted_proxies=trusted))
    with TestClient(app, client=("10.0.0.2", 50000), follow_redirects=False) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        r = client.post("/login", data={"username": "nobody", "password": "x" * 12, "csrf_token": token.group(1)},
                        headers={"X-Forwarded-For": "198.51.100.4"})
        assert r.status_code == 401
    with transaction(app.state.engine) as s:
        assert s.scalars(select(LoginAttempt.remote)).all() == [expected]
    app.state.engine.dispose()
