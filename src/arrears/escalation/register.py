"""The register of outside collection agencies and the notice to the debtor that a placement waits for.

GB/T 45251—2025 §5.4 (金融机构对第三方催收机构的管理) and the China Banking Association's guideline of
2026-01-30 (paraphrase, docs/compliance.md "Outside agencies"): the bank keeps the list of the agencies it
uses and reviews them; the debtor is told before their account is handed to an agency.

- :func:`save_agency`: add or change an agency in the register (licence or registration, contract dates,
  last and next review, status), audited.
- :func:`placement_refusal`: why an agency may not receive a new placement on a day (not registered, not
  ``active``, outside its contract, past its review date), or None.
- :func:`notice_state`: for a case waiting for placement, the notice to the debtor — queued now as a
  letter through the outbox if there is none, and the day from which the account may be handed over
  (the day the letter was sent plus the pack's ``agency_notice`` days, in the bank's calendar).

Services flush, never commit; the entry point owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.accounts.tables import ContactPoint
from arrears.auth.audit import record
from arrears.channels.outbox import enqueue
from arrears.channels.tables import OutboxMessage
from arrears.config import get_settings
from arrears.contact.config import DEFAULT_PACK, load_default_pack
from arrears.contact.policy import AgencyNotice as NoticeRule
from arrears.contact.policy import PolicyPack, zone
from arrears.escalation.tables import AGENCY_STATUSES, AgencyNotice, CollectionAgency
from arrears.kit.clock import utc_now
from arrears.kit.errors import ArrearsError

#: The letter that tells the debtor their account will be placed with an agency.
NOTICE_TEMPLATE = "agency.notice"
_CODE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


class AgencyFieldError(ArrearsError):
    """A refused register entry (422), naming the field."""

    status = 422

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def _text(value: str | None, field: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise AgencyFieldError("is required", field=field)
    if len(value) > limit:
        raise AgencyFieldError(f"at most {limit} characters", field=field)
    return value


def save_agency(session: Session, *, code: str, name: str, licence: str, contract_start: date, contract_end: date,
                next_review: date, status: str, actor: str, last_review: date | None = None) -> CollectionAgency:
    """Add agency ``code`` to the register or change it; the audit record keeps the values before and after."""
    code = _text(code, "code", 32)
    if not set(code) <= _CODE_CHARS or not code[0].isalpha():
        raise AgencyFieldError("lower-case letters, digits and _, starting with a letter", field="code")
    values = {"name": _text(name, "name", 200), "licence": _text(licence, "licence", 100),
              "contract_start": contract_start, "contract_end": contract_end, "last_review": last_review,
              "next_review": next_review, "status": status}
    if status not in AGENCY_STATUSES:
        raise AgencyFieldError(f"must be one of {', '.join(AGENCY_STATUSES)}", field="status")
    if contract_end < contract_start:
        raise AgencyFieldError("the contract cannot end before it starts", field="contract_end")
    if last_review is not None and next_review < last_review:
        raise AgencyFieldError("the next review cannot be before the last one", field="next_review")
    row = session.get(CollectionAgency, code)
    before = None if row is None else {k: getattr(row, k) for k in values}
    if row is None:
        row = CollectionAgency(code=code, **values, updated_by=actor[:64], updated_at=utc_now())
        session.add(row)
    else:
        for k, v in values.items():
            setattr(row, k, v)
        row.updated_by, row.updated_at = actor[:64], utc_now()
    session.flush()
    record(session, actor=actor, action="agency.register" if before is None else "agency.update", entity="agency",
           entity_id=code, detail={"before": before, "after": values})
    return row


def agencies(session: Session) -> list[CollectionAgency]:
    return list(session.execute(select(CollectionAgency).order_by(CollectionAgency.code)).scalars())


def review_overdue(row: CollectionAgency, on: date) -> bool:
    return row.next_review < on


def placement_refusal(session: Session, code: str, on: date) -> str | None:
    """Why agency ``code`` cannot receive a new placement on ``on`` (None: it can)."""
    row = session.get(CollectionAgency, code)
    if row is None:
        return f"agency {code} is not in the register of agencies"
    if row.status != "active":
        return f"agency {code} is {row.status}"
    if not row.contract_start <= on <= row.contract_end:
        return (f"agency {code}'s contract runs {row.contract_start.isoformat()} to {row.contract_end.isoformat()}, "
                f"not on {on.isoformat()}")
    if review_overdue(row, on):
        return f"agency {code} was due for review on {row.next_review.isoformat()}; review it before placing"
    return None


def notice_days(pack: PolicyPack | None = None) -> int:
    """The days a placement waits after the notice was sent (the pack's ``agency_notice`` rule; 0: none)."""
    pack = pack or load_default_pack(DEFAULT_PACK)
    rules = [r for r in pack.rules if isinstance(r, NoticeRule)]
    return rules[0].notice_days if rules else 0


@dataclass(frozen=True)
class NoticeState:
    notice: AgencyNotice
    #: the bank date the letter was sent (None: not yet)
    sent_on: date | None
    #: the first day the account may be handed over (None: the letter is not sent yet)
    place_from: date | None
    created: bool


def notice_state(session: Session, *, case_id: int, customer_id: int, agency: CollectionAgency, days: int,
                 actor: str, locale: str = "zh_CN") -> NoticeState:
    """The notice to the debtor of case ``case_id`` that it is being placed with ``agency``: queued now as
    a letter to the debtor's address through the outbox if there is none (audited), and when it allows
    the placement."""
    row = session.execute(select(AgencyNotice).where(AgencyNotice.case_id == case_id,
                                                     AgencyNotice.agency == agency.code)).scalar_one_or_none()
    created = False
    if row is None:
        address = session.execute(
            select(ContactPoint.id).where(ContactPoint.customer_id == customer_id, ContactPoint.owner == "debtor",
                                          ContactPoint.kind == "address", ContactPoint.opted_out.is_(False))
            .order_by(ContactPoint.verified.desc(), ContactPoint.id).limit(1)).scalar_one_or_none()
        message, _ = enqueue(session, idempotency_key=f"{NOTICE_TEMPLATE}:{case_id}:{agency.code}", channel="letter",
                             template=NOTICE_TEMPLATE, locale=locale, case_id=case_id, contact_point_id=address,
                             payload={"agency_name": agency.name, "agency_licence": agency.licence,
                                      "notice_days": days, "letter_ref": f"AN-{case_id}-{agency.code}"})
        row = AgencyNotice(case_id=case_id, agency=agency.code, outbox_message_id=message.id, created_by=actor[:64],
                           created_at=utc_now())
        session.add(row)
        session.flush()
        created = True
        record(session, actor=actor, action="agency.notice_queued", entity="case", entity_id=case_id,
               detail={"agency": agency.code, "outbox_message_id": message.id, "notice_days": days})
    sent = None
    if row.outbox_message_id is not None:
        sent = session.execute(select(OutboxMessage.sent_at).where(OutboxMessage.id == row.outbox_message_id)
                               ).scalar_one_or_none()
    if sent is None:
        return NoticeState(row, None, None, created)
    sent_on = sent.astimezone(zone(get_settings().timezone)).date()
    return NoticeState(row, sent_on, sent_on + timedelta(days=days), created)


__all__ = ["NOTICE_TEMPLATE", "AgencyFieldError", "NoticeState", "agencies", "notice_days", "notice_state",
           "placement_refusal", "review_overdue", "save_agency"]
