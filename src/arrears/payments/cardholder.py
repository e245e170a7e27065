"""A cardholder's own payment: an order made through their personal link (``/p/<token>/pay``,
:mod:`arrears.portal.pay`) is recorded on their case, once, when it is first known paid."""

from __future__ import annotations

from sqlalchemy.orm import Session

from arrears.auth.service import record
from arrears.kit.errors import ArrearsError
from arrears.payments.model import Notification
from arrears.payments.service import Applied, apply_notification
from arrears.portal.service import record_self_service
from arrears.portal.tables import PortalLink

#: ``payment_orders.created_by`` of an order a cardholder made through a link: ``portal:<link id>``.
CREATOR_PREFIX = "portal:"


def creator(link: PortalLink) -> str:
    return f"{CREATOR_PREFIX}{link.id}"


def settle(session: Session, *, notification: Notification, provider: str, actor: str) -> Applied:
    """Apply a verified notification (or a query's answer as one) like
    :func:`~arrears.payments.service.apply_notification`; the first time it shows an order made
    through a link paid, record the cardholder's ``payment_made`` (interaction on channel
    ``self_service``, audit ``portal.payment``). Only that first time: a duplicate, a late or a
    reordered notification changes nothing more."""
    applied = apply_notification(session, notification=notification, provider=provider, actor=actor)
    order = applied.order
    if not (applied.newly_paid and order.created_by.startswith(CREATOR_PREFIX)):
        return applied
    link = session.get(PortalLink, int(order.created_by.removeprefix(CREATOR_PREFIX)))
    if link is None:
        return applied
    detail = {"order": order.merchant_order_id, "amount": order.paid_fen}
    try:
        with session.begin_nested():
            record_self_service(session, link=link, outcome="payment_made", action="payment", detail=detail)
    except ArrearsError as exc:  # the money is in: the payment stands even if the case refuses the note
        record(session, actor="cardholder", action="portal.payment", entity="payment_order",
               entity_id=order.merchant_order_id, detail={**detail, "not_recorded_on_case": exc.message})
    return applied
