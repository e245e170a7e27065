"""The records the ``cn`` pack's rules of GB/T 45251—2025 and the China Banking Association's
guideline (2026) need beyond the contact history (docs/compliance.md):

- ``appointment_agreements``: the debtor's agreement to be contacted in an appointment window — how
  it was given (``portal``: the customer booked it on their page; ``agent``: an agent booked it at the
  customer's request and said so), when, and who recorded it. Only an agreed window lifts the quiet
  hours (``cn`` · ``quiet_hours``).
- ``contact_refusals``: an emergency contact or third party at a contact point refused further
  contact; the contact point is never contacted again (``cn`` · ``third_party_refusal``).
- ``visit_records``: a field visit's collectors, whether they entered the home and whether the
  occupant consented (``cn`` · ``field_visit``), one per visit interaction.

Each is written once and never updated.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from arrears.kit.db import Base, BigId, UTCDateTime, in_check

#: How the debtor's agreement to an appointment was given.
AGREED_VIA: tuple[str, ...] = ("portal", "agent")


class AppointmentAgreement(Base):
    __tablename__ = "appointment_agreements"
    __table_args__ = (CheckConstraint(in_check("agreed_via", AGREED_VIA), name="agreed_via"),)

    appointment_id: Mapped[int] = mapped_column(BigId, ForeignKey("appointments.id"), primary_key=True)
    agreed_via: Mapped[str] = mapped_column(String(16))
    agreed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(64))


class ContactRefusal(Base):
    __tablename__ = "contact_refusals"

    contact_point_id: Mapped[int] = mapped_column(BigId, ForeignKey("contact_points.id"), primary_key=True)
    refused_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: the interaction in which the refusal was heard (None: recorded otherwise, e.g. a letter)
    interaction_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("interactions.id"))
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(64))


class VisitRecord(Base):
    __tablename__ = "visit_records"
    __table_args__ = (CheckConstraint("collectors >= 1", name="collectors"),)

    interaction_id: Mapped[int] = mapped_column(BigId, ForeignKey("interactions.id"), primary_key=True)
    collectors: Mapped[int] = mapped_column(Integer)
    entered: Mapped[bool] = mapped_column(Boolean)
    entry_consent: Mapped[bool] = mapped_column(Boolean)
