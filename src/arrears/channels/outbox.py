"""Putting a message in the outbox, inside the caller's transaction (services flush, never commit)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.auth.model import json_safe
from arrears.channels.tables import OUTBOX_CHANNELS, OutboxMessage
from arrears.kit.clock import utc_now
from arrears.kit.errors import ArrearsError


def enqueue(
    session: Session,
    *,
    idempotency_key: str,
    channel: str,
    template: str,
    locale: str,
    payload: dict[str, Any],
    case_id: int | None = None,
    contact_point_id: int | None = None,
) -> tuple[OutboxMessage, bool]:
    """The message with ``idempotency_key``: enqueued now (``True``), or the one already there
    (``False``, nothing written). ``payload`` must be plain JSON data (no floats)."""
    if channel not in OUTBOX_CHANNELS:
        raise ArrearsError(f"unknown channel {channel!r} (channels: {', '.join(OUTBOX_CHANNELS)})")
    if not idempotency_key or len(idempotency_key) > 200:
        raise ArrearsError("an outbox message needs an idempotency key of 1 to 200 characters")
    existing = session.execute(
        select(OutboxMessage).where(OutboxMessage.idempotency_key == idempotency_key)
    ).scalar_one_or_none()
    if existing is not None:
        return existing, False
    now = utc_now()
    message = OutboxMessage(
        idempotency_key=idempotency_key, channel=channel, case_id=case_id, contact_point_id=contact_point_id,
        template=template, locale=locale, payload=json_safe(payload), status="pending", attempts=0,
        next_attempt_at=now, created_at=now,
    )
    session.add(message)
    session.flush()
    return message, True
