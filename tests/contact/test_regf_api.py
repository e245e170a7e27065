"""The REST check tells the gate the debt-collector disclosure the script carries (us-reg-f, 12 CFR
1006.18(e)); without it a New York customer's call is refused naming the rule (SQLite and PostgreSQL)."""

# ruff: noqa: F811 - the `api` fixture is imported from tests/api/conftest.py and taken as each test's argument

from __future__ import annotations

from datetime import UTC, datetime

from tests.api.conftest import Api, api  # noqa: F401 - imported to register the `api` fixture here
from tests.contact.test_pack_choice import live_in

#: 12:00 in New York on Tuesday 3 March 2026
NY_NOON = datetime(2026, 3, 3, 17, 0, tzinfo=UTC)


def test_the_check_carries_the_collector_disclosure(api: Api) -> None:
    live_in(api, api.east_case, "America/New_York", "US-NY")
    url = f"/cases/{api.east_case}/contact-check"
    query = {"channel": "call", "party": "debtor", "at": NY_NOON.isoformat()}
    v = api.get("agent_east", url, params=query).json()
    [block] = [b for b in v["blocks"] if b["rule_id"] == "collector_disclosure"]
    assert "1006.18(e)" in block["source"] and block["next_allowed_at"] is None
    assert "attempting to collect a debt" in block["message"] and v["pack"] == "us-reg-f"
    v = api.get("agent_east", url, params=query | {"collector_disclosure": "full"}).json()
    assert "collector_disclosure" not in {b["rule_id"] for b in v["blocks"]}, v
    r = api.get("agent_east", url, params=query | {"collector_disclosure": "mini_miranda"})
    assert r.status_code == 422
