"""The strategy's ``portal_link`` action: validated at load (file, line, field), sent by the daily step
through the portal's service (outbox, audit, the gate at sending), once per account and date; a
customer the gate blocks gets no link. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select

from arrears.accounts.tables import Account, ContactPoint, Hold
from arrears.auth.tables import AuditRecord
from arrears.channels.adapters import HttpSmsAdapter
from arrears.channels.tables import OutboxMessage
from arrears.channels.worker import run_worker
from arrears.config import Settings
from arrears.kit.clock import frozen_at, utc_now
from arrears.kit.errors import ConfigError
from arrears.portal.tables import PortalLink
from arrears.strategy.config import load_strategy
from arrears.strategy.step import run_strategy_step
from arrears.strategy.tables import StrategyDecision
from tests.cases.support import new_case
from tests.channels.support import Gateway
from tests.channels.support import settings as worker_settings
from tests.channels.test_worker import NOON, clock
from tests.strategy.support import _run, _snapshot

BD = date(2026, 3, 1)

HEAD = """\
strategy:
  name: links
  version: 1
otherwise: no_treatment
segments:
  - code: early
    when: dpd BETWEEN 1 AND 60
    path:
"""

STRATEGY = HEAD + """\
      - {day: 0, action: sms, template: early.reminder}
      - {day: 0, action: portal_link, channel: sms}
"""


def _write(tmp_path: Path, text: str, name: str = "links.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- the file --------------------------------------------------------------------------------------

def test_a_link_action_loads_with_its_channel(tmp_path: Path) -> None:
    s = load_strategy(_write(tmp_path, HEAD + "      - {day: 2, action: portal_link, channel: email, when: rpc_30d = 0}\n"))
    [action] = s.segment("early").path
    assert (action.kind, action.day, action.channel, action.template) == ("portal_link", 2, "email", None)
    assert action.describe() == "day 2: portal_link channel=email when rpc_30d = 0"


@pytest.mark.parametrize(("line", "field", "message"), [
    ("{day: 0, action: portal_link}", "path[0].channel", "a portal_link action needs a channel (sms or email)"),
    ("{day: 0, action: portal_link, channel: wechat}", "path[0].channel",
     "the link is sent by sms or email, got 'wechat'"),
    ("{day: 0, action: sms, template: early.reminder, channel: sms}", "path[0].channel",
     "a sms action takes no channel"),
    ("{day: 0, action: portal_link, channel: sms, template: portal.link}", "path[0].template",
     "a portal_link action takes no template"),
    ("{day: 0, action: portal_link, channel: sms, queue: early_calls}", "path[0].queue",
     "a portal_link action takes no queue"),
    ("{day: 0, action: portal-link, channel: sms}", "path[0].action", "unknown action 'portal-link'"),
])
def test_a_wrong_link_action_names_file_line_and_field(tmp_path: Path, line: str, field: str, message: str) -> None:
    path = _write(tmp_path, HEAD + f"      - {line}\n")
    with pytest.raises(ConfigError) as caught:
        load_strategy(path)
    err = caught.value
    assert message in err.detail
    assert (err.file, err.line, err.field) == (str(path), 9, f"segments[0].{field}")
    assert str(err).startswith(f"{path}, line 9, field 'segments[0].{field}': ")


# -- the daily step ----------------------------------------------------------------------------------

@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway().start()
    yield gw
    gw.stop()


def _store(engine: Engine) -> dict[str, int]:
    """A (DPD 10, own mobile), B (DPD 20, own mobile, open-ended bankruptcy hold), C (DPD 30, no
    mobile), each with an open case."""
    for ref in ("ACC-A", "ACC-B", "ACC-C"):
        new_case(engine, ref)
    with engine.begin() as conn:
        ids = dict(conn.execute(select(Account.account_ref, Account.id)).all())
        run = _run(conn, BD)
        for ref, dpd in (("ACC-A", 10), ("ACC-B", 20), ("ACC-C", 30)):
            _snapshot(conn, ids[ref], BD, dpd=dpd, bucket="M1", cycles=1, past_due=10_000, run_id=run)
        for ref, phone in (("ACC-A", "13800000001"), ("ACC-B", "13800000002")):
            cust = conn.execute(select(Account.customer_id).where(Account.id == ids[ref])).scalar_one()
            conn.execute(insert(ContactPoint).values(contact_ref=f"CP-{ref}", customer_id=cust, kind="phone",
                                                     value=phone, owner="debtor", verified=True, opted_out=False,
                                                     created_at=utc_now()))
        conn.execute(insert(Hold).values(account_id=ids["ACC-B"], kind="bankruptcy",
                                         start_date=BD - timedelta(days=3), end_date=None, pauses_ageing=False,
                                         created_by="test"))
    return ids


def _links(engine: Engine) -> list[PortalLink]:
    with engine.connect() as conn:
        return list(conn.execute(select(PortalLink).order_by(PortalLink.account_id)).all())  # type: ignore[arg-type]


def _link_results(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return {account_id: next(a["result"] for a in actions if a["kind"] == "portal_link")
                for account_id, actions in conn.execute(select(StrategyDecision.account_id, StrategyDecision.actions))}


def test_the_step_sends_each_link_once_a_day_through_the_outbox_and_the_gate(
        engine: Engine, tmp_path: Path, gateway: Gateway) -> None:
    ids = _store(engine)
    path = _write(tmp_path, STRATEGY)
    settings = Settings(data_dir=tmp_path / "var", portal_base_url="https://pay.bank.example")
    with frozen_at(NOON - timedelta(hours=3)):  # the morning batch
        first = run_strategy_step(engine, business_date=BD, strategy_files=[path], settings=settings)
    assert (first.links_sent, first.links_already) == (2, 0)
    assert first.links_skipped == [("ACC-C", 2, "no sms contact point")]
    assert "Personal links: 2 sent (0 already, 1 without a contact point)." in first.summary()

    links = _links(engine)
    assert [(r.account_id, r.channel, r.created_by) for r in links] == [
        (ids["ACC-A"], "sms", "strategy:links/early/2"), (ids["ACC-B"], "sms", "strategy:links/early/2")]
    results = _link_results(engine)
    link_a, link_b = links
    assert results[ids["ACC-A"]] == f"link {link_a.id} by sms, message {link_a.outbox_id}"
    assert results[ids["ACC-C"]] == "no sms contact point"
    with engine.connect() as conn:
        outbox = conn.execute(select(OutboxMessage.template, OutboxMessage.case_id, OutboxMessage.payload)
                              .where(OutboxMessage.id == link_a.outbox_id)).one()
        audits = conn.execute(select(AuditRecord.actor, AuditRecord.entity_id)
                              .where(AuditRecord.action == "portal.link").order_by(AuditRecord.seq)).all()
    assert outbox.template == "portal.link" and outbox.case_id is not None
    assert outbox.payload["url"].startswith("https://pay.bank.example/p/")
    assert [tuple(a) for a in audits] == [("strategy:links/early/2", "ACC-A"), ("strategy:links/early/2", "ACC-B")]

    # a re-run of the date sends nothing again and keeps saying which link went out
    again = run_strategy_step(engine, business_date=BD, strategy_files=[path], settings=settings)
    assert (again.links_sent, again.links_already) == (0, 2)
    assert [r.id for r in _links(engine)] == [link_a.id, link_b.id]
    assert _link_results(engine)[ids["ACC-A"]] == f"link {link_a.id}"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(OutboxMessage)
                            .where(OutboxMessage.template == "portal.link")).scalar_one() == 2
        assert conn.execute(select(func.count()).select_from(AuditRecord)
                            .where(AuditRecord.action == "portal.link")).scalar_one() == 2

    # the worker puts each message to the gate: A's link is sent, B (on hold) gets nothing
    stats = run_worker(engine, adapters={"sms": HttpSmsAdapter(gateway.url)}, once=True, now=clock(NOON),
                       settings=worker_settings())
    with engine.connect() as conn:
        status = dict(conn.execute(select(OutboxMessage.id, OutboxMessage.status)
                                   .where(OutboxMessage.template == "portal.link")).all())
        error_b = conn.execute(select(OutboxMessage.last_error).where(OutboxMessage.id == link_b.outbox_id)).scalar_one()
    assert status[link_a.outbox_id] == "sent" and status[link_b.outbox_id] == "dead"
    assert "hold_protected" in error_b
    assert any("13800000001" in str(r) and "/p/" in str(r) for r in gateway.requests)
    assert not any("13800000002" in str(r) for r in gateway.requests)
    assert (stats.sent, stats.dead) == (2, 2)  # the reminder and the link each


def test_the_next_day_sends_a_new_link_when_the_path_says_so(engine: Engine, tmp_path: Path) -> None:
    _store(engine)
    path = _write(tmp_path, HEAD + "      - {day: 0, action: portal_link, channel: sms, every: 1, until: 5}\n")
    settings = Settings(data_dir=tmp_path / "var")
    run_strategy_step(engine, business_date=BD, strategy_files=[path], settings=settings)
    with engine.begin() as conn:
        run = _run(conn, BD + timedelta(days=1))
        for account_id in conn.execute(select(Account.id)).scalars():
            _snapshot(conn, account_id, BD + timedelta(days=1), dpd=11, bucket="M1", cycles=1, past_due=10_000,
                      run_id=run)
    second = run_strategy_step(engine, business_date=BD + timedelta(days=1), strategy_files=[path], settings=settings)
    assert (second.links_sent, second.links_already) == (2, 0)
    links = _links(engine)
    assert len(links) == 4
    assert sum(1 for r in links if r.revoked_at is not None) == 2  # each new link revokes the account's earlier one
