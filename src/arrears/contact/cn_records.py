"""The store side of the ``cn`` pack's rules of GB/T 45251—2025 and the China Banking Association's
guideline (2026): recording the debtor's agreement to an appointment, a contact's refusal of further
contact and a field visit's facts (:mod:`arrears.contact.cn_tables`), and reading them back as the
gate's facts (which debtor numbers are still valid, whether a contact point refused).

Services flush, never commit; every write leaves an audit record.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.accounts.tables import ContactPoint
from arrears.auth.audit import record
from arrears.cases.tables import Appointment, Interaction
from arrears.contact.cn_tables import AGREED_VIA, AppointmentAgreement, ContactRefusal, VisitRecord
from arrears.kit.clock import utc_now
from arrears.kit.errors import ArrearsError

#: The interaction outcome by which an agent records that the person reached refused further contact.
REFUSAL_OUTCOME = "refused_contact"
#: The outcome that marks a debtor number invalid when it is the number's latest call.
INVALID_OUTCOMES = frozenset({"wrong_number"})


class RecordError(ArrearsError):
    """A refused record (422), naming the field."""

    status = 422

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


# -- the debtor's agreement to an appointment --------------------------------------------------------


def record_agreement(session: Session, *, appointment: Appointment, agreed_via: str, actor: str,
                     at: datetime | None = None) -> AppointmentAgreement:
    """Record that the debtor agreed to be contacted in ``appointment``'s window: ``portal`` (they booked
    it on their page) or ``agent`` (an agent booked it at their request). Once per appointment."""
    if agreed_via not in AGREED_VIA:
        raise RecordError(f"agreed_via must be one of {', '.join(AGREED_VIA)}", field="agreed_via")
    if session.get(AppointmentAgreement, appointment.id) is not None:
        raise RecordError(f"the agreement to appointment {appointment.id} is already recorded", field="appointment_id")
    row = AppointmentAgreement(appointment_id=appointment.id, agreed_via=agreed_via, agreed_at=at or utc_now(),
                               recorded_by=actor[:64])
    session.add(row)
    session.flush()
    record(session, actor=actor, action="appointment.agreed", entity="appointment", entity_id=appointment.id,
           detail={"case_id": appointment.case_id, "agreed_via": agreed_via,
                   "window_start": appointment.window_start.isoformat(),
                   "window_end": appointment.window_end.isoformat()})
    return row


def agreement(session: Session, appointment_id: int) -> AppointmentAgreement | None:
    return session.get(AppointmentAgreement, appointment_id)


# -- refusals -----------------------------------------------------------------------------------------


def record_refusal(session: Session, *, contact_point_id: int, actor: str, at: datetime | None = None,
                   interaction_id: int | None = None, note: str | None = None) -> ContactRefusal:
    """Record that the emergency contact or third party at ``contact_point_id`` refused further contact:
    the gate never lets that contact point be contacted again. A debtor's own contact point is refused
    (their wishes are contact preferences). Recording it twice keeps the first record."""
    point = session.get(ContactPoint, contact_point_id)
    if point is None:
        raise RecordError(f"no contact point {contact_point_id}", field="contact_point_id")
    if point.owner == "debtor":
        raise RecordError("a refusal is recorded for an emergency contact or third party, not for the debtor "
                          "(the debtor's wishes are their contact preferences)", field="contact_point_id")
    existing = session.get(ContactRefusal, contact_point_id)
    if existing is not None:
        return existing
    row = ContactRefusal(contact_point_id=contact_point_id, refused_at=at or utc_now(), interaction_id=interaction_id,
                         note=note, recorded_by=actor[:64])
    session.add(row)
    session.flush()
    record(session, actor=actor, action="contact.refused", entity="contact_point", entity_id=contact_point_id,
           detail={"customer_id": point.customer_id, "owner": point.owner, "interaction_id": interaction_id,
                   "refused_at": row.refused_at.isoformat()})
    return row


def refused(session: Session, contact_point_id: int) -> bool:
    return session.get(ContactRefusal, contact_point_id) is not None


# -- field visits ----------------------------------------------------------------------------------------


def check_visit(collectors: int | None, entered: bool, entry_consent: bool) -> None:
    if collectors is None:
        raise RecordError("a field visit records how many collectors went", field="collectors")
    if isinstance(collectors, bool) or not isinstance(collectors, int) or not 1 <= collectors <= 20:
        raise RecordError("collectors must be a whole number from 1 to 20", field="collectors")
    if entry_consent and not entered:
        raise RecordError("consent to enter is recorded only for a visit that entered", field="entry_consent")


def record_visit(session: Session, *, interaction: Interaction, collectors: int, entered: bool, entry_consent: bool,
                 actor: str) -> VisitRecord:
    """The field visit's facts on its interaction (once)."""
    check_visit(collectors, entered, entry_consent)
    row = VisitRecord(interaction_id=interaction.id, collectors=collectors, entered=entered,
                      entry_consent=entry_consent)
    session.add(row)
    session.flush()
    record(session, actor=actor, action="visit.recorded", entity="interaction", entity_id=interaction.id,
           detail={"case_id": interaction.case_id, "collectors": collectors, "entered": entered,
                   "entry_consent": entry_consent})
    return row


# -- the gate's facts -----------------------------------------------------------------------------------


def debtor_numbers(session: Session, customer_id: int, *, before: datetime) -> tuple[str, ...]:
    """The debtor's telephone contact points still thought valid, as the gate's refs (ids as text): not
    opted out, and whose latest call before ``before`` was not recorded as a wrong number."""
    points = session.execute(
        select(ContactPoint.id).where(ContactPoint.customer_id == customer_id, ContactPoint.owner == "debtor",
                                      ContactPoint.kind == "phone", ContactPoint.opted_out.is_(False))
        .order_by(ContactPoint.id)).scalars().all()
    if not points:
        return ()
    latest: dict[int, str] = {}
    for cp, outcome in session.execute(
            select(Interaction.contact_point_id, Interaction.outcome)
            .where(Interaction.contact_point_id.in_(points), Interaction.channel == "call",
                   Interaction.started_at < before)
            .order_by(Interaction.started_at, Interaction.id)).all():
        latest[cp] = outcome
    return tuple(str(p) for p in points if latest.get(p) not in INVALID_OUTCOMES)


__all__ = ["INVALID_OUTCOMES", "REFUSAL_OUTCOME", "RecordError", "agreement", "check_visit", "debtor_numbers",
           "record_agreement", "record_refusal", "record_visit", "refused"]
