"""Calls dialled from the case, and every distinct event the dialler reported about them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from arrears.kit.db import Base, BigId, UTCDateTime, in_check

CALL_STATES = ("requested", "ringing", "answered", "ended")
DISPOSITIONS = ("answered", "no_answer", "busy", "failed", "voicemail")
EVENT_KINDS = ("ringing", "answered", "ended")
#: ``http``: originated by the configured dialler; ``tel``: handed to the agent's own phone (``tel:`` link).
CALL_PROVIDERS = ("http", "tel")


class DiallerCall(Base):
    """One call an agent dialled from a case, after the compliance gate allowed it. Until the agent
    records its outcome (``interaction_id``) the call itself counts as an attempt for the gate."""

    __tablename__ = "dialler_calls"
    __table_args__ = (
        CheckConstraint(in_check("status", CALL_STATES), name="status"),
        CheckConstraint(f"disposition IS NULL OR {in_check('disposition', DISPOSITIONS)}", name="disposition"),
        CheckConstraint(in_check("provider", CALL_PROVIDERS), name="provider"),
        CheckConstraint("duration_seconds IS NULL OR duration_seconds >= 0", name="duration"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: our id of the call, sent to the dialler and echoed in every event
    call_id: Mapped[str] = mapped_column(String(32), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    contact_point_id: Mapped[int] = mapped_column(ForeignKey("contact_points.id"))
    provider: Mapped[str] = mapped_column(String(16))
    provider_call_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    disposition: Mapped[str | None] = mapped_column(String(16))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    recording_ref: Mapped[str | None] = mapped_column(String(200))
    #: the interaction the agent recorded for this call (one call, one interaction)
    interaction_id: Mapped[int | None] = mapped_column(ForeignKey("interactions.id"), unique=True)


class DiallerEvent(Base):
    """A distinct, verified call event; unique on the dialler's event id, so a redelivery changes nothing."""

    __tablename__ = "dialler_events"
    __table_args__ = (CheckConstraint(in_check("kind", EVENT_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("dialler_calls.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
