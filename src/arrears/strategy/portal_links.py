"""The ``portal_link`` action of the strategy step: the cardholder's personal self-service link, sent
by SMS or e-mail through :func:`arrears.portal.service.issue_link` (so the message goes through the
outbox and the compliance gate like any other, and the link is audited ``portal.link``).

A link is sent at most once per account and business date: a re-run of the date finds the link its
first run recorded in the date's decision rows and sends nothing again (the decision keeps saying
``link <id>``). An account whose customer has no mobile number (or e-mail address) of their own on
file gets no link; the decision says so. The actor is ``strategy:<name>/<segment>/<step>``, which is
also the link's ``created_by``, so the funnel can tell which strategy sent it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account
from arrears.config import Settings, get_settings
from arrears.kit.errors import ArrearsError, NotFound
from arrears.strategy.model import LINK_KIND
from arrears.strategy.tables import StrategyDecision

_SENT = re.compile(r"^link (\d+)")


@dataclass
class LinksSent:
    sent: int = 0
    already: int = 0
    #: (account_ref, step, why) of links not sent
    skipped: list[tuple[str, int, str]] = field(default_factory=list)
    #: (account_id, step) → the decision's result text
    results: dict[tuple[int, int], str] = field(default_factory=dict)


def link_actor(strategy: str, segment: str, step: int) -> str:
    return f"strategy:{strategy}/{segment}/{step}"[:64]


def _sent_before(session: Session, business_date: date, account_ids: Sequence[int]) -> dict[int, str]:
    """Accounts that already got a link from the strategy step on the date: account → "link <id>"."""
    out: dict[int, str] = {}
    for start in range(0, len(account_ids), 1000):
        chunk = list(account_ids[start:start + 1000])
        for account_id, actions in session.execute(
                select(StrategyDecision.account_id, StrategyDecision.actions)
                .where(StrategyDecision.business_date == business_date, StrategyDecision.account_id.in_(chunk))):
            for a in actions or ():
                found = _SENT.match(str(a.get("result") or "")) if a.get("kind") == LINK_KIND else None
                if found:
                    out[account_id] = f"link {found.group(1)}"
    return out


def send_links(session: Session, rows: Sequence[dict[str, Any]], *, business_date: date,
               settings: Settings | None = None) -> LinksSent:
    """Send the due ``portal_link`` actions of the day's treatment rows (inside the caller's
    transaction; call it before the date's decisions are replaced). Returns what each action did."""
    from arrears.portal.service import _contact_point, issue_link, portal_key

    out = LinksSent()
    due = [(r, a) for r in rows for a in r["actions"] if a["kind"] == LINK_KIND]
    if not due:
        return out
    before = _sent_before(session, business_date, sorted({r["account_id"] for r, _ in due}))
    settings = settings or get_settings()
    key = portal_key(settings)
    refs: dict[int, str] = {}
    customers: dict[int, int] = {}
    ids = sorted({r["account_id"] for r, _ in due})
    for start in range(0, len(ids), 1000):
        for account_id, ref, customer_id in session.execute(
                select(Account.id, Account.account_ref, Account.customer_id)
                .where(Account.id.in_(ids[start:start + 1000]))):
            refs[account_id], customers[account_id] = ref, customer_id
    for r, a in due:
        account_id, step = r["account_id"], int(a["step"])
        if account_id in before:
            out.already += 1
            out.results[(account_id, step)] = before[account_id]
            continue
        channel = a.get("channel") or "sms"
        ref = refs.get(account_id, str(account_id))
        try:
            _contact_point(session, customers[account_id], channel=channel)
        except (ArrearsError, KeyError):
            why = f"no {channel} contact point"
            out.skipped.append((ref, step, why))
            out.results[(account_id, step)] = why
            continue
        try:
            issued = issue_link(session, account_ref=ref, key=key, settings=settings,
                                actor=link_actor(r["strategy"], r["segment"], step), send=channel)
        except NotFound:
            out.skipped.append((ref, step, "no account"))
            out.results[(account_id, step)] = "no account"
            continue
        before[account_id] = f"link {issued.link.id}"
        out.sent += 1
        out.results[(account_id, step)] = f"link {issued.link.id} by {channel}, message {issued.outbox_id}"
    return out
