"""The agent's case page sends the customer their personal link (SMS or e-mail, through the gate and
the outbox, audited) and lists the account's links; a team lead revokes one. Roles, CSRF, audit; the
link itself is never shown again. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from arrears.accounts.tables import Hold
from arrears.auth.tables import AuditRecord
from arrears.cases.tables import Case
from arrears.channels.tables import OutboxMessage
from arrears.contact.tables import ContactDecision
from arrears.kit.clock import frozen_at
from arrears.kit.db import transaction
from arrears.portal.model import make_token
from arrears.portal.service import portal_key
from arrears.portal.tables import PortalLink
from tests.api.conftest import Api
from tests.web.support import csrf_of, sign_in

DAYTIME = datetime(2026, 2, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai


@pytest.fixture(autouse=True)
def _daytime() -> Iterator[None]:
    with frozen_at(DAYTIME):
        yield


def _links(api: Api) -> list[PortalLink]:
    with transaction(api.engine) as s:
        rows = list(s.scalars(select(PortalLink).order_by(PortalLink.id)))
        s.expunge_all()
    return rows


def _audits(api: Api, action: str) -> list[tuple[str, str | None]]:
    with api.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(AuditRecord.actor, AuditRecord.entity_id)
                                               .where(AuditRecord.action == action).order_by(AuditRecord.seq))]


def _send(client, case_id: int, channel: str = "sms", csrf: str | None = None):  # type: ignore[no-untyped-def]
    page = client.get(f"/case/{case_id}")
    assert page.status_code == 200
    return client.post(f"/case/{case_id}/portal-link", data={"channel": channel, "csrf_token": csrf or csrf_of(page.text)})


def test_an_agent_sends_the_link_and_sees_it_listed_without_the_token(api: Api) -> None:
    agent = sign_in(api, "agent_east", lang="en")
    page = agent.get(f"/case/{api.east_case}").text
    assert "Send the customer their personal link" in page and "No personal link has been sent" in page
    r = _send(agent, api.east_case)
    assert r.status_code == 303 and r.headers["location"] == f"/case/{api.east_case}#portal-links"
    [link] = _links(api)
    assert (link.created_by, link.channel, link.revoked_at) == ("agent_east", "sms", None)
    with api.engine.connect() as conn:
        message = conn.execute(select(OutboxMessage).where(OutboxMessage.id == link.outbox_id)).one()
    assert message.template == "portal.link" and message.contact_point_id == api.contact_points["phone"]
    assert message.case_id == api.east_case
    assert _audits(api, "portal.link") == [("agent_east", "ACC-EAST")]
    token = make_token(portal_key(api.client.app.state.settings), link.id, link.nonce)
    shown = agent.get(f"/case/{api.east_case}").text
    assert f"#{link.id}" in shown and "SMS" in shown and "Works until" in shown
    assert token not in shown and "/p/" not in shown
    assert "/revoke" not in shown  # an agent does not revoke
    # by e-mail: a new link, the first one stops
    assert _send(agent, api.east_case, "email").status_code == 303
    first, second = _links(api)
    assert second.channel == "email" and first.revoked_at is not None and first.revoked_by == "agent_east"


def test_a_team_lead_revokes_a_link_and_an_agent_may_not(api: Api) -> None:
    agent = sign_in(api, "agent_east")
    assert _send(agent, api.east_case).status_code == 303
    [link] = _links(api)
    url = f"/case/{api.east_case}/portal-links/{link.id}/revoke"
    page = agent.get(f"/case/{api.east_case}").text
    assert agent.post(url, data={"csrf_token": csrf_of(page), "reason": "x"}).status_code == 403
    lead = sign_in(api, "lead_east", lang="en")
    page = lead.get(f"/case/{api.east_case}").text
    assert url in page
    assert lead.post(url, data={"csrf_token": "forged", "reason": "lost phone"}).status_code == 403
    assert _links(api)[0].revoked_at is None
    r = lead.post(url, data={"csrf_token": csrf_of(page), "reason": "customer lost the phone"})
    assert r.status_code == 303
    [link] = _links(api)
    assert (link.revoked_by, link.revoke_reason) == ("lead_east", "customer lost the phone")
    assert _audits(api, "portal.revoke") == [("lead_east", str(link.id))]
    shown = lead.get(f"/case/{api.east_case}").text
    assert "Revoked" in shown and url not in shown
    assert lead.post(url, data={"csrf_token": csrf_of(shown)}).status_code == 422  # already revoked
    # another case's link through this case: not found
    west = sign_in(api, "supervisor")
    page = west.get(f"/case/{api.west_case}").text
    assert west.post(f"/case/{api.west_case}/portal-links/{link.id}/revoke",
                     data={"csrf_token": csrf_of(page)}).status_code == 404


def test_roles_scope_and_csrf(api: Api) -> None:
    assert _send(sign_in(api, "agent_east"), api.east_case, csrf="forged").status_code == 403
    for who in ("compliance", "auditor"):
        client = sign_in(api, who)
        assert _send(client, api.east_case).status_code == 403
    other = sign_in(api, "agent_west")
    assert other.get(f"/case/{api.east_case}").status_code == 404
    page = other.get(f"/case/{api.west_case}").text
    assert other.post(f"/case/{api.east_case}/portal-link",
                      data={"channel": "sms", "csrf_token": csrf_of(page)}).status_code == 404
    agent = sign_in(api, "agent_east")
    assert _send(agent, api.east_case, "wechat").status_code == 422
    assert _links(api) == [] and _audits(api, "portal.link") == []


def test_a_customer_without_a_number_is_told_so(api: Api) -> None:
    supervisor = sign_in(api, "supervisor", lang="en")
    r = _send(supervisor, api.west_case)  # the west customer has no contact point
    assert r.status_code == 422 and "no mobile number of their own" in r.text
    assert _links(api) == []


def test_the_gate_blocks_the_link_as_it_blocks_a_call(api: Api) -> None:
    with transaction(api.engine) as s:
        account_id = s.get_one(Case, api.east_case).account_id
        s.add(Hold(account_id=account_id, kind="dispute", start_date=DAYTIME.date() - timedelta(days=1),
                   end_date=None, pauses_ageing=False, created_by="test"))
    agent = sign_in(api, "agent_east", lang="en")
    r = _send(agent, api.east_case)
    assert r.status_code == 409, r.text[-3000:]
    assert "The compliance gate blocks sending the link now: nothing was sent." in r.text
    assert "hold_dispute" in r.text and 'role="alert"' in r.text
    assert _links(api) == []
    with api.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(ContactDecision)
                            .where(ContactDecision.allowed.is_(False))).scalar_one() >= 1
