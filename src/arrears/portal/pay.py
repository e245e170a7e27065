"""Pay now: the cardholder pays the amount past due, the statement's minimum or an amount of their own
through the configured payment provider (docs/self-service.md, "Paying"; docs/payments.md).

``GET /p/<token>/pay`` offers the amounts; its POST stores the order (the store first, so that a
notification can never name an order we do not know), creates it at the provider and goes to
``/p/<token>/pay/<order>``: the QR code of the provider's ``code_url`` (inline SVG, no script), a
link to the local sandbox's checkout page when the provider is the sandbox, and the order's state
with a "check again" button that asks the provider while it is still waiting.

An order becomes paid when the provider's notification (``POST /payments/notify``) or the answer to a
query says so; either way :func:`arrears.payments.cardholder.settle` applies it once (a pending
payment until the bank's payment file confirms it, :mod:`arrears.payments.service`) and, the first
time the order shows paid, records the cardholder's ``payment_made`` on the case.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Annotated
from urllib.parse import quote

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from arrears.kit.clock import utc_now
from arrears.kit.db import transaction, write_first
from arrears.kit.errors import ArrearsError
from arrears.kit.money import format_yuan, to_fen
from arrears.payments import repository as pay_repo
from arrears.payments.cardholder import creator, settle
from arrears.payments.model import Order, PaymentError
from arrears.payments.provider import ProviderError
from arrears.payments.service import notification_from_query, order_view, record_order
from arrears.payments.settings import Payments, payments_of
from arrears.payments.tables import PaymentOrder
from arrears.portal.pages import csrf_ok, expired_page, link_path, open_visit, portal_page, to_start
from arrears.portal.service import overview
from arrears.portal.tables import PortalLink
from arrears.web.i18n import N_
from arrears.web.render import gettext, settings_of

router = APIRouter(include_in_schema=False)

#: What the order says at the provider (the payer sees it in their payment app).
DESCRIPTION = "信用卡还款"
CHOICES = ("past_due", "minimum", "other")


@dataclass(frozen=True)
class Amounts:
    """What the cardholder may pay now (fen): the offered amounts and the most they may pay."""

    past_due: int | None
    minimum: int | None
    ceiling: int


def amounts_of(session: Session, link: PortalLink, *, time_zone: str) -> Amounts:
    """The amount past due and the statement's minimum (when there is one to pay), and the ceiling:
    what is owed (the statement balance or the amount past due, the larger) less payments made online
    that the bank's file has not confirmed yet."""
    o = overview(session, link=link, time_zone=time_zone)
    owed = max(o.balance or 0, o.amount_past_due)
    ceiling = max(0, owed - pay_repo.pending_fen(session, link.account_id))
    past_due = o.amount_past_due if 0 < o.amount_past_due <= ceiling else None
    minimum = o.minimum_due if o.minimum_due and 0 < o.minimum_due <= ceiling else None
    return Amounts(past_due, minimum, ceiling)


def merchant_order_id(link: PortalLink, attempt: str, amount_fen: int) -> str:
    """The order id of one submitted form: the same form sent twice names the same order."""
    digest = hashlib.sha256(f"{link.id}\n{attempt}\n{amount_fen}".encode()).hexdigest()
    return f"P{link.id}x{digest}"[:32]


# -- the pages ------------------------------------------------------------------------------------------

def _not_available(request: Request, token: str) -> Response:
    return portal_page(request, "portal_pay.html", token, available=False, amounts=None)


def _choose_page(request: Request, token: str, amounts: Amounts, *, status_code: int = 200,
                 error: str | None = None, choice: str = "", amount: str = "") -> Response:
    attempt = secrets.token_hex(12)  # one per form shown: a double submit of it names the same order
    return portal_page(request, "portal_pay.html", token, status_code=status_code, available=True, amounts=amounts,
                       error=error, choice=choice or ("past_due" if amounts.past_due else "other"), amount=amount,
                       attempt=attempt, action=link_path(token, "/pay"))


@router.get("/p/{token}/pay")
def pay_page(request: Request, token: str) -> Response:
    payments = payments_of(request.app.state)
    with transaction(write_first(request.app.state.engine)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        if payments.provider is None:
            return _not_available(request, token)
        amounts = amounts_of(session, link, time_zone=settings_of(request).timezone)
    return _choose_page(request, token, amounts)


def _own_amount(request: Request, text: str, ceiling: int) -> tuple[int | None, str | None]:
    """The amount the cardholder typed, in fen, or the message that says what is wrong with it."""
    try:
        value = Decimal(text.strip().replace(",", "").replace("¥", "").replace("￥", ""))
    except InvalidOperation:
        return None, gettext(request, N_("Please enter the amount in yuan, for example 500 or 500.50."))
    if not value.is_finite() or value <= 0:
        return None, gettext(request, N_("The amount must be more than ¥0."))
    if value > Decimal(ceiling) / 100:
        return None, gettext(request, N_("The amount can be at most what you owe: ¥%(most)s.")) % {
            "most": format_yuan(ceiling)}
    if value != value.quantize(Decimal("0.01")):
        return None, gettext(request, N_("The amount can have at most two decimal places (fen)."))
    fen = to_fen(value)
    if fen > ceiling:
        return None, gettext(request, N_("The amount can be at most what you owe: ¥%(most)s.")) % {
            "most": format_yuan(ceiling)}
    return fen, None


@router.post("/p/{token}/pay")
def pay_submit(
    request: Request, token: str,
    choice: Annotated[str, Form(max_length=16)] = "",
    amount: Annotated[str, Form(max_length=24)] = "",
    attempt: Annotated[str, Form(max_length=64)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if not csrf_ok(request, csrf_token):
        return expired_page(request, token)
    payments = payments_of(request.app.state)
    now = utc_now()
    with transaction(write_first(request.app.state.engine)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        provider = payments.provider
        if provider is None:
            return _not_available(request, token)
        amounts = amounts_of(session, link, time_zone=settings_of(request).timezone)
        fen: int | None
        error = None
        if choice == "past_due" and amounts.past_due:
            fen = amounts.past_due
        elif choice == "minimum" and amounts.minimum:
            fen = amounts.minimum
        elif choice == "other":
            fen, error = _own_amount(request, amount, amounts.ceiling)
        else:
            fen, error = None, gettext(request, N_("Please choose how much you want to pay."))
        if fen is None:
            return _choose_page(request, token, amounts, status_code=422, error=error, choice=choice, amount=amount)
        order_id = merchant_order_id(link, attempt or now.isoformat(), fen)
        existing = pay_repo.order_by_merchant_id(session, order_id)
        if existing is None:
            order = Order(order_id, pay_repo.account_ref(session, link.account_id), fen, DESCRIPTION, now,
                          now + timedelta(minutes=payments.settings.order_minutes))
            record_order(session, order=order, provider=provider.name, actor=creator(link))
    # the order is stored (committed) before the provider hears of it; the status page creates it there
    return RedirectResponse(link_path(token, f"/pay/{order_id}"), status_code=303)


def _qr_svg(request: Request, code_url: str) -> str:
    label = escape(gettext(request, N_("QR code to scan with WeChat")))
    svg = segno.make(code_url, error="m").svg_inline(scale=5, border=4, svgclass="p-qr", dark="#000", light="#fff")
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)


def _own_order(session: Session, link: PortalLink, order_id: str) -> PaymentOrder | None:
    row = pay_repo.order_by_merchant_id(session, order_id[:32])
    return row if row is not None and row.account_id == link.account_id else None


@router.get("/p/{token}/pay/{order_id}")
def order_page(request: Request, token: str, order_id: str) -> Response:
    payments = payments_of(request.app.state)
    with transaction(write_first(request.app.state.engine)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        row = _own_order(session, link, order_id)
        if row is None:
            return RedirectResponse(link_path(token, "/pay"), status_code=303)
        view = order_view(row, now=utc_now(), confirm_within_days=payments.settings.confirm_within_days)
        order = Order(row.merchant_order_id, pay_repo.account_ref(session, row.account_id), row.amount,
                      row.description, row.created_at, row.expires_at, row.currency)
        amount, paid_at, expires_at = row.amount, row.paid_at, row.expires_at
    qr = sandbox = None
    error = None
    if view == "waiting":
        if payments.provider is None:
            return _not_available(request, token)
        try:  # the same order created again gives the same answer: its QR code
            created = payments.provider.create_order(order)
        except ProviderError as exc:  # paid or closed meanwhile (its notice is on the way): "check again"
            created = None
            if exc.code not in ("ORDERPAID", "ORDERCLOSED"):
                error = gettext(request, N_(
                    "The payment service cannot be reached just now. Please try again in a few minutes."))
        if created is not None and created.qr_code:
            qr = _qr_svg(request, created.qr_code)
        if created is not None and payments.sandbox_url:
            back = str(request.url.replace(query=""))
            sandbox = f"{payments.sandbox_url}/sandbox/checkout/{order.merchant_order_id}?return={quote(back, safe='')}"
    return portal_page(request, "portal_pay_order.html", token, view=view, amount=amount, paid_at=paid_at,
                       expires_at=expires_at, qr=qr, sandbox=sandbox, error=error, order_id=order.merchant_order_id,
                       check=link_path(token, f"/pay/{order.merchant_order_id}/check"),
                       confirm_days=payments.settings.confirm_within_days)


@router.post("/p/{token}/pay/{order_id}/check")
def order_check(request: Request, token: str, order_id: str,
                csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Ask the provider about a waiting order (its notification may be late) and apply what it says."""
    if not csrf_ok(request, csrf_token):
        return expired_page(request, token)
    payments = payments_of(request.app.state)
    with transaction(write_first(request.app.state.engine)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        row = _own_order(session, link, order_id)
        if row is None:
            return RedirectResponse(link_path(token, "/pay"), status_code=303)
        waiting = row.paid_fen == 0 and row.provider == getattr(payments.provider, "name", None)
        merchant_id, actor = row.merchant_order_id, creator(link)
    status_page = link_path(token, f"/pay/{merchant_id}")
    if not waiting or payments.provider is None:
        return RedirectResponse(status_page, status_code=303)
    try:
        answer = payments.provider.query_order(merchant_id)
    except PaymentError:
        return RedirectResponse(status_page, status_code=303)  # the page says it is still waiting
    notification = notification_from_query(answer)
    if notification is not None:
        try:
            with transaction(write_first(request.app.state.engine)) as session:
                settle(session, notification=notification, provider=payments.provider.name, actor=actor)
        except ArrearsError:
            pass  # a conflict with what the notifications said: the notifications decide; nothing written
    return RedirectResponse(status_page, status_code=303)


__all__ = ["Payments", "router"]
