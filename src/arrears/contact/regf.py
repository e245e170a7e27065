"""Regulation F records and duties (``us-reg-f``, docs/compliance.md "Regulation F records").

The gate's rules judge one contact; these are what the collector must *do* and *keep*:

- a written cease-communication request or refusal to pay, recorded on the customer (12 CFR 1006.6(c));
  the gate then lets through only the permitted notices (``cease_communication``);
- what is known of a contact point at the place of employment (1006.6(b)(3), 1006.22(f)(3));
- the account's limitation date (1006.26(b)): from it on, no suit and no threat of suit — the gate
  blocks content marked as threatening suit, and a legal referral may not proceed
  (:mod:`arrears.escalation.service`);
- the validation notice (1006.34): due within the pack's ``validation_notice.within_days`` days of
  the initial communication, which :func:`record_first_communication` records (scheduling the
  notice); its delivery record (1006.42) — method, sent at, delivered or returned; and
  :func:`late_notices`, the ones not sent in time;
- credit reporting (1006.30(a)): :func:`may_furnish` — not before the consumer was spoken to, or a
  validation notice was sent and the pack's ``credit_reporting.wait_days`` passed without it coming
  back undelivered. The platform has no credit-reporting feed of its own; whatever furnishes data
  about an account asks :func:`may_furnish_account` first.

Pure functions first (no store), then the store side. Services flush, never commit; every write is
audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, ContactPoint, Customer
from arrears.auth.service import record
from arrears.cases.tables import Case, Interaction
from arrears.contact.policy import Duty, PolicyPack, is_public_holiday, local_instant, zone
from arrears.contact.regf_tables import (
    CEASE_CHANNELS,
    CEASE_KINDS,
    NOTICE_METHODS,
    AccountLimitation,
    CeaseRequest,
    ContactPointFlags,
    ValidationNotice,
)
from arrears.kit.clock import utc_now
from arrears.kit.errors import ArrearsError, NotFound

#: Defaults when a pack has no such duty (the numbers of ``us-reg-f``).
NOTICE_DAYS = 5
REPORTING_WAIT_DAYS = 14


class RegFError(ArrearsError):
    """A Regulation F record cannot be written as asked; the message names the field."""

    status = 422

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def duty_value(pack: PolicyPack | None, rule_id: str, name: str, default: int) -> int:
    """A duty's number from ``pack`` (e.g. ``validation_notice``/``within_days``), or ``default``
    when the pack has no such duty."""
    if pack is None:
        return default
    try:
        rule = pack.rule(rule_id)
    except KeyError:
        return default
    return int(rule.value(name)) if isinstance(rule, Duty) else default


# -- pure ------------------------------------------------------------------------------------------------


def notice_due_on(first_communication_at: datetime, tz: str, within_days: int = NOTICE_DAYS) -> date:
    """The last customer-local date on which the validation notice may be sent: ``within_days`` days
    after the local date of the initial communication (a notice sent on that date is on time, one
    sent the next day is late)."""
    return first_communication_at.astimezone(zone(tz)).date() + timedelta(days=within_days)


def notice_state(due_on: date, sent_at: datetime | None, tz: str, now: datetime) -> str:
    """``sent`` (on time), ``sent_late``, ``due`` (not sent, still in time) or ``late`` (not sent, the
    due date has passed on the customer's calendar)."""
    local = zone(tz)
    if sent_at is not None:
        return "sent" if sent_at.astimezone(local).date() <= due_on else "sent_late"
    return "due" if now.astimezone(local).date() <= due_on else "late"


@dataclass(frozen=True)
class Furnishing:
    """May information about the debt go to a consumer reporting agency now, and if not, why and when."""

    allowed: bool
    reason: str
    #: when it becomes allowed by waiting (None: not by waiting)
    next_allowed_at: datetime | None
    rule_id: str = "credit_reporting"
    source: str = "12 CFR 1006.30(a)(1)"


def may_furnish(*, now: datetime, spoke_at: datetime | None, notice_sent_at: datetime | None,
                notice_returned: bool, wait_days: int = REPORTING_WAIT_DAYS) -> Furnishing:
    """12 CFR 1006.30(a)(1): allowed once the consumer was spoken to about the debt (in person or by
    telephone), or once a validation notice was sent and ``wait_days`` days passed without it coming
    back undelivered (a returned notice does not count)."""
    if spoke_at is not None and spoke_at <= now:
        return Furnishing(True, "the consumer was spoken to about the debt", now)
    if notice_sent_at is None:
        return Furnishing(False, "the consumer has not been spoken to and no validation notice was sent", None)
    if notice_returned:
        return Furnishing(False, "the validation notice came back undelivered; speak to the consumer or send "
                                 "it again", None)
    ready = notice_sent_at + timedelta(days=wait_days)
    if now >= ready:
        return Furnishing(True, f"the validation notice was sent {wait_days} days ago and was not returned", now)
    return Furnishing(False, f"waiting {wait_days} days after the validation notice for a notice that it could "
                             "not be delivered", ready)



def validation_end(sent_on: date, *, receipt_days: int = 5, period_days: int = 30) -> date:
    """The end of the validation period for a notice sent on ``sent_on`` (12 CFR 1006.34(b)(5)): the
    consumer is taken to receive it ``receipt_days`` days after it is sent, not counting Saturdays,
    Sundays and US federal public holidays, and the period ends ``period_days`` days after that."""
    day, counted = sent_on, 0
    while counted < receipt_days:
        day += timedelta(days=1)
        if day.weekday() < 5 and not is_public_holiday("US", None, day):
            counted += 1
    return day + timedelta(days=period_days)


@dataclass(frozen=True)
class ValidationFigures:
    """The account's figures for its validation notice, in minor units (cents; integers, never float):
    the amount on the itemization date, and interest, fees, and payments or credits since then."""

    itemization_date: date
    itemization_amount: int
    interest: int = 0
    fees: int = 0
    payments_credits: int = 0

    def __post_init__(self) -> None:
        for name in ("itemization_amount", "interest", "fees", "payments_credits"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise RegFError(f"{name} must be a whole number of cents, 0 or more, got {value!r}", field=name)

    @property
    def current(self) -> int:
        """The current amount of the debt: itemization amount + interest + fees - payments and credits."""
        return self.itemization_amount + self.interest + self.fees - self.payments_credits


def validation_payload(figures: ValidationFigures, *, sent_on: date, collector_name: str, collector_address: str,
                       consumer_address: str, creditor_itemization: str, creditor_current: str) -> dict[str, Any]:
    """The payload of the ``regf.validation_notice`` template (money as integer cents, dates as text)."""
    return {"collector_name": collector_name, "collector_address": collector_address,
            "consumer_address": consumer_address, "creditor_itemization": creditor_itemization,
            "creditor_current": creditor_current, "itemization_date": figures.itemization_date.isoformat(),
            "itemization_amount": figures.itemization_amount, "interest": figures.interest, "fees": figures.fees,
            "payments_credits": figures.payments_credits, "amount_current": figures.current,
            "validation_end": validation_end(sent_on).isoformat()}

# -- the store -------------------------------------------------------------------------------------------


def _account(session: Session, account_id: int) -> tuple[Account, Customer]:
    row = session.execute(select(Account, Customer).join(Customer, Customer.id == Account.customer_id)
                          .where(Account.id == account_id)).one_or_none()
    if row is None:
        raise NotFound(f"no account {account_id}")
    return row[0], row[1]


def record_cease(session: Session, *, customer_id: int, kind: str, channel: str, received_on: date, actor: str,
                 note: str | None = None) -> CeaseRequest:
    """Record the consumer's written cease-communication request or refusal to pay (append-only)."""
    if kind not in CEASE_KINDS:
        raise RegFError(f"kind must be one of {', '.join(CEASE_KINDS)}", field="kind")
    if channel not in CEASE_CHANNELS:
        raise RegFError(f"channel must be a written one: {', '.join(CEASE_CHANNELS)}", field="channel")
    if session.get(Customer, customer_id) is None:
        raise NotFound(f"no customer {customer_id}")
    row = CeaseRequest(customer_id=customer_id, kind=kind, channel=channel, received_on=received_on, note=note,
                       recorded_by=actor[:64], recorded_at=utc_now())
    session.add(row)
    session.flush()
    record(session, actor=actor, action="regf.cease_recorded", entity="customer", entity_id=customer_id,
           detail={"cease_request_id": row.id, "kind": kind, "channel": channel, "received_on": received_on.isoformat()})
    return row


def ceased_at(session: Session, customer_id: int, bank_tz: str) -> datetime | None:
    """From when the customer's first cease request binds: the bank's midnight of the day it was received."""
    first = session.execute(select(CeaseRequest.received_on).where(CeaseRequest.customer_id == customer_id)
                            .order_by(CeaseRequest.received_on).limit(1)).scalar_one_or_none()
    return None if first is None else local_instant(zone(bank_tz), first)


def set_workplace_flags(session: Session, *, contact_point_id: int, employer_forbids: bool, employer_provided: bool,
                        actor: str) -> ContactPointFlags:
    """What the collector knows of a contact point at the consumer's place of employment."""
    point = session.get(ContactPoint, contact_point_id)
    if point is None:
        raise NotFound(f"no contact point {contact_point_id}")
    if employer_provided and point.kind != "email":
        raise RegFError("only an e-mail address can be marked as provided by the employer", field="employer_provided")
    row = session.get(ContactPointFlags, contact_point_id)
    before = None if row is None else {"employer_forbids": row.employer_forbids,
                                       "employer_provided": row.employer_provided}
    if row is None:
        row = ContactPointFlags(contact_point_id=contact_point_id)
        session.add(row)
    row.employer_forbids, row.employer_provided = employer_forbids, employer_provided
    row.updated_by, row.updated_at = actor[:64], utc_now()
    session.flush()
    record(session, actor=actor, action="regf.workplace_flags", entity="contact_point", entity_id=contact_point_id,
           detail={"before": before, "employer_forbids": employer_forbids, "employer_provided": employer_provided})
    return row


def set_limitation_date(session: Session, *, account_id: int, limitation_date: date, basis: str,
                        actor: str) -> AccountLimitation:
    """The first date on which the account's debt is time-barred, and on what basis (the state's
    statute of limitations, as the bank applies it)."""
    if not basis or not basis.strip():
        raise RegFError("say on what basis (statute and the date it runs from)", field="basis")
    _account(session, account_id)
    row = session.get(AccountLimitation, account_id)
    before = None if row is None else row.limitation_date.isoformat()
    if row is None:
        row = AccountLimitation(account_id=account_id)
        session.add(row)
    row.limitation_date, row.basis = limitation_date, basis.strip()[:200]
    row.updated_by, row.updated_at = actor[:64], utc_now()
    session.flush()
    record(session, actor=actor, action="regf.limitation_date", entity="account", entity_id=account_id,
           detail={"before": before, "limitation_date": limitation_date.isoformat(), "basis": row.basis})
    return row


def limitation_date(session: Session, account_id: int) -> date | None:
    return session.execute(select(AccountLimitation.limitation_date)
                           .where(AccountLimitation.account_id == account_id)).scalar_one_or_none()


def time_barred(session: Session, account_id: int, on: date) -> date | None:
    """The account's limitation date when ``on`` is on or after it (the debt is time-barred), else None."""
    found = limitation_date(session, account_id)
    return found if found is not None and on >= found else None


def validation_notice(session: Session, account_id: int) -> ValidationNotice | None:
    return session.execute(select(ValidationNotice).where(ValidationNotice.account_id == account_id)
                           ).scalar_one_or_none()


def record_first_communication(session: Session, *, account_id: int, at: datetime, actor: str,
                               pack: PolicyPack | None = None) -> ValidationNotice:
    """Record the initial communication about the account's debt and schedule its validation notice:
    due by :func:`notice_due_on` (the pack's ``validation_notice.within_days``). Recording it again
    keeps the earliest communication (and moves the due date earlier while the notice is unsent)."""
    _, customer = _account(session, account_id)
    days = duty_value(pack, "validation_notice", "within_days", NOTICE_DAYS)
    due = notice_due_on(at, customer.time_zone, days)
    row = validation_notice(session, account_id)
    if row is not None and row.first_communication_at <= at:
        return row
    if row is None:
        row = ValidationNotice(account_id=account_id, delivery="due")
        session.add(row)
    elif row.sent_at is not None:
        raise RegFError("the validation notice was already sent; an earlier initial communication cannot be "
                        "recorded now", field="at")
    row.first_communication_at, row.due_on, row.updated_at = at, due, utc_now()
    session.flush()
    record(session, actor=actor, action="regf.first_communication", entity="account", entity_id=account_id,
           detail={"at": at.isoformat(), "notice_due_on": due.isoformat(), "within_days": days})
    return row


def record_notice_sent(session: Session, *, account_id: int, method: str, sent_at: datetime, actor: str,
                       locale: str | None = None, outbox_message_id: int | None = None) -> ValidationNotice:
    """The validation notice was sent (1006.42: how, and when)."""
    if method not in NOTICE_METHODS:
        raise RegFError(f"method must be one of {', '.join(NOTICE_METHODS)}", field="method")
    row = validation_notice(session, account_id)
    if row is None:
        raise RegFError("no initial communication is recorded for this account", field="account_id")
    row.method, row.sent_at, row.locale, row.delivery = method, sent_at, locale, "sent"
    row.outbox_message_id = outbox_message_id
    row.delivery_at, row.updated_at = None, utc_now()
    session.flush()
    _, customer = _account(session, account_id)
    state = notice_state(row.due_on, sent_at, customer.time_zone, sent_at)
    record(session, actor=actor, action="regf.notice_sent", entity="account", entity_id=account_id,
           detail={"method": method, "sent_at": sent_at.isoformat(), "due_on": row.due_on.isoformat(), "state": state,
                   "outbox_message_id": outbox_message_id})
    return row


def record_notice_delivery(session: Session, *, account_id: int, delivered: bool, at: datetime,
                           actor: str) -> ValidationNotice:
    """The sent notice was delivered, or came back undelivered (1006.42)."""
    row = validation_notice(session, account_id)
    if row is None or row.sent_at is None:
        raise RegFError("the validation notice has not been sent", field="account_id")
    row.delivery, row.delivery_at, row.updated_at = ("delivered" if delivered else "returned"), at, utc_now()
    session.flush()
    record(session, actor=actor, action="regf.notice_" + row.delivery, entity="account", entity_id=account_id,
           detail={"at": at.isoformat(), "method": row.method})
    return row


#: The template of the validation notice.
NOTICE_TEMPLATE = "regf.validation_notice"


def enqueue_validation_notice(session: Session, *, account_id: int, case_id: int | None, contact_point_id: int,
                              method: str, locale: str, payload: dict[str, Any], actor: str,
                              pack: PolicyPack | None = None) -> list[int]:
    """Put the account's validation notice in the outbox (letter or e-mail; in Chinese together with
    the English notice, 1006.34(e)) and link it to the notice's record; the outbox worker sends it and
    :func:`record_notice_sent` records when. With no communication recorded before, the notice is the
    initial communication (recorded now). Answers the outbox message ids."""
    from arrears.channels.outbox import enqueue

    if method not in NOTICE_METHODS:
        raise RegFError(f"method must be one of {', '.join(NOTICE_METHODS)}", field="method")
    row = validation_notice(session, account_id)
    if row is None:
        row = record_first_communication(session, account_id=account_id, at=utc_now(), actor=actor, pack=pack)
    ids = []
    for loc in (("en", "zh_CN") if locale == "zh_CN" else ("en",)):
        message, _ = enqueue(session, idempotency_key=f"{NOTICE_TEMPLATE}:{account_id}:{method}:{loc}", channel=method,
                             template=NOTICE_TEMPLATE, locale=loc, payload=payload, case_id=case_id,
                             contact_point_id=contact_point_id)
        ids.append(message.id)
    row.method, row.locale, row.outbox_message_id, row.updated_at = method, locale, ids[0], utc_now()
    session.flush()
    record(session, actor=actor, action="regf.notice_enqueued", entity="account", entity_id=account_id,
           detail={"method": method, "locale": locale, "outbox_message_ids": ids, "due_on": row.due_on.isoformat()})
    return ids


@dataclass(frozen=True)
class LateNotice:
    account_id: int
    account_ref: str
    first_communication_at: datetime
    due_on: date
    state: str


def late_notices(session: Session, *, now: datetime) -> list[LateNotice]:
    """Validation notices not sent by their due date (``late``) or sent after it (``sent_late``), by
    due date: what compliance is alerted to."""
    rows = session.execute(
        select(ValidationNotice, Account.account_ref, Customer.time_zone)
        .join(Account, Account.id == ValidationNotice.account_id).join(Customer, Customer.id == Account.customer_id)
        .where(ValidationNotice.due_on <= now.date() + timedelta(days=1))
        .order_by(ValidationNotice.due_on, ValidationNotice.id)).all()
    out = []
    for notice, ref, tz in rows:
        state = notice_state(notice.due_on, notice.sent_at, tz, now)
        if state in ("late", "sent_late"):
            out.append(LateNotice(notice.account_id, ref, notice.first_communication_at, notice.due_on, state))
    return out


def may_furnish_account(session: Session, *, account_id: int, now: datetime,
                        pack: PolicyPack | None = None) -> Furnishing:
    """:func:`may_furnish` from the store: a conversation with the debtor on any case of the account
    (a debtor call whose outcome is a conversation, or a visit), and the account's validation notice."""
    from arrears.contact.service import NOT_A_CONVERSATION

    _account(session, account_id)
    spoke = session.execute(
        select(Interaction.started_at).join(Case, Case.id == Interaction.case_id)
        .where(Case.account_id == account_id, Interaction.party == "debtor", Interaction.started_at <= now,
               Interaction.channel.in_(("call", "visit")), Interaction.outcome.not_in(NOT_A_CONVERSATION))
        .order_by(Interaction.started_at).limit(1)).scalar_one_or_none()
    notice = validation_notice(session, account_id)
    return may_furnish(now=now, spoke_at=spoke, notice_sent_at=notice.sent_at if notice else None,
                       notice_returned=notice is not None and notice.delivery == "returned",
                       wait_days=duty_value(pack, "credit_reporting", "wait_days", REPORTING_WAIT_DAYS))


def candidate_facts(session: Session, *, customer_id: int, account_id: int, contact_point_id: int | None,
                    channel: str, bank_tz: str) -> dict[str, Any]:
    """The Regulation F facts of a candidate contact that the store knows: the cease request, the
    contact point's workplace flags, the limitation date and the initial communication."""
    flags = None if contact_point_id is None else session.get(ContactPointFlags, contact_point_id)
    notice = validation_notice(session, account_id)
    return {"ceased_at": ceased_at(session, customer_id, bank_tz),
            "employer_forbids": bool(flags and flags.employer_forbids),
            "employer_email": bool(flags and flags.employer_provided and channel == "email"),
            "limitation_date": limitation_date(session, account_id),
            "first_communication_at": notice.first_communication_at if notice else None}



def case_facts(session: Session, *, case_id: int | None, contact_point_id: int | None, channel: str,
               bank_tz: str) -> dict[str, Any]:
    """:func:`candidate_facts` for a message or contact on case ``case_id`` ({} without a case)."""
    if case_id is None:
        return {}
    row = session.execute(select(Account.customer_id, Account.id).join(Case, Case.account_id == Account.id)
                          .where(Case.id == case_id)).one_or_none()
    if row is None:
        return {}
    return candidate_facts(session, customer_id=row[0], account_id=row[1], contact_point_id=contact_point_id,
                           channel=channel, bank_tz=bank_tz)


def note_communication(session: Session, *, account_id: int, at: datetime, actor: str,
                       pack: PolicyPack) -> ValidationNotice | None:
    """A communication with the consumer about the account's debt took place: under a pack with the
    ``validation_notice`` duty, the first one schedules the notice (:func:`record_first_communication`);
    under any other pack nothing is written."""
    try:
        duty = pack.rule("validation_notice")
    except KeyError:
        return None
    if not isinstance(duty, Duty):
        return None
    found = validation_notice(session, account_id)
    if found is not None and found.first_communication_at <= at:
        return found
    return record_first_communication(session, account_id=account_id, at=at, actor=actor, pack=pack)


#: Channels on which a conversation with the consumer is a communication about the debt.
SPOKEN_CHANNELS = ("call", "visit")


def note_interaction(session: Session, *, case_id: int, channel: str, party: str, outcome: str, at: datetime,
                     actor: str) -> ValidationNotice | None:
    """An interaction was recorded on case ``case_id``: a conversation with the debtor (a call whose
    outcome is a conversation, or a visit; inbound or outbound) is a communication about the debt, and
    under the case's pack (:func:`arrears.contact.service.pack_for_case`) may schedule the validation
    notice (:func:`note_communication`)."""
    from arrears.contact import repository as contact_repo
    from arrears.contact.service import NOT_A_CONVERSATION, pack_for_case

    if party != "debtor" or channel not in SPOKEN_CHANNELS or outcome in NOT_A_CONVERSATION:
        return None
    facts = contact_repo.case_facts(session, case_id)
    return note_communication(session, account_id=facts.account_id, at=at, actor=actor, pack=pack_for_case(facts))


def note_message(session: Session, *, case_id: int, at: datetime, actor: str,
                 pack: PolicyPack) -> ValidationNotice | None:
    """The outbox worker delivered a message about the debt on case ``case_id`` to the debtor: a
    communication (:func:`note_communication`)."""
    account_id = session.execute(select(Case.account_id).where(Case.id == case_id)).scalar_one_or_none()
    if account_id is None:
        return None
    return note_communication(session, account_id=account_id, at=at, actor=actor, pack=pack)


def notice_message_sent(session: Session, *, message_id: int, method: str, sent_at: datetime,
                        actor: str) -> ValidationNotice | None:
    """The outbox worker sent message ``message_id``: if it is an account's validation notice, record
    it sent (None: it is not one)."""
    row = session.execute(select(ValidationNotice).where(ValidationNotice.outbox_message_id == message_id)
                          ).scalar_one_or_none()
    if row is None:
        return None
    return record_notice_sent(session, account_id=row.account_id, method=method, sent_at=sent_at, actor=actor,
                              locale=row.locale, outbox_message_id=message_id)


#: The content facts a caller may state about a contact (what a template or script says and how a
#: letter is sent), passed through to the candidate.
CONTENT_FACTS: tuple[str, ...] = ("collector_disclosure", "cease_exception", "limited_content_only",
                                  "letter_format", "envelope_text", "threatens_suit")


def content_facts(content: Mapping[str, Any] | None) -> dict[str, Any]:
    """Only the known content facts of ``content`` (an unknown name is an error naming it)."""
    if not content:
        return {}
    unknown = set(content) - set(CONTENT_FACTS)
    if unknown:
        raise RegFError(f"unknown content fact(s) {', '.join(sorted(unknown))}", field="content")
    return dict(content)


__all__ = ["CONTENT_FACTS", "NOTICE_TEMPLATE", "Furnishing", "LateNotice", "RegFError", "ValidationFigures",
           "case_facts", "enqueue_validation_notice", "note_communication", "note_interaction", "note_message", "notice_message_sent", "validation_end",
           "validation_payload", "candidate_facts", "ceased_at", "content_facts",
           "late_notices", "limitation_date", "may_furnish", "may_furnish_account", "notice_due_on", "notice_state",
           "record_cease", "record_first_communication", "record_notice_delivery", "record_notice_sent",
           "set_limitation_date", "set_workplace_flags", "time_barred", "validation_notice"]
