"""The dialler's HTTP contract as plain data: the call request we send, the call events we accept,
and the HMAC signature that authenticates an event (docs/dialler.md). No I/O, no store."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from arrears.kit.errors import ArrearsError

#: The headers of a signed event: the Unix time of signing and ``sha256=<hex HMAC>`` of ``"<timestamp>.<body>"``.
TIMESTAMP_HEADER = "X-Dialler-Timestamp"
SIGNATURE_HEADER = "X-Dialler-Signature"


class DiallerError(ArrearsError):
    """The dialler refused the call request or did not answer it (nothing was dialled)."""

    status = 502


class EventRejected(ArrearsError):
    """An event that must not be believed: missing or wrong signature, or signed outside the replay window."""

    status = 401


class EventInvalid(ArrearsError):
    """A believed event that does not fit the contract (a field missing or wrong): 422 naming it."""

    status = 422


@dataclass(frozen=True)
class CallRequest:
    """What the adapter asks the dialler to do: connect ``agent`` to ``destination`` for ``case_ref``.
    ``call_id`` is ours (idempotency key; every event about the call carries it back)."""

    call_id: str
    agent: str
    destination: str
    case_ref: str
    callback_url: str


class CallEvent(BaseModel):
    """One call event (``ringing``, ``answered``, ``ended``); ``ended`` carries the disposition, the
    duration in seconds and the recording reference (none when nobody answered)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: str = Field(min_length=1, max_length=64)
    call_id: str = Field(min_length=1, max_length=32)
    provider_call_id: str | None = Field(default=None, max_length=64)
    type: Literal["ringing", "answered", "ended"]
    occurred_at: AwareDatetime
    disposition: Literal["answered", "no_answer", "busy", "failed", "voicemail"] | None = None
    duration_seconds: int | None = Field(default=None, ge=0, le=86_400)
    recording_ref: str | None = Field(default=None, max_length=200)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` signed at ``timestamp`` (Unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(headers: dict[str, str], body: bytes, *, secret: str, now: datetime, window_seconds: int) -> None:
    """Raise :class:`EventRejected` unless ``body`` is signed with ``secret`` at a time within
    ``window_seconds`` of ``now`` (either side: a replay of an old event is refused). Headers are
    matched case-insensitively."""
    lower = {k.lower(): v for k, v in headers.items()}
    stamp, signature = lower.get(TIMESTAMP_HEADER.lower()), lower.get(SIGNATURE_HEADER.lower())
    if not stamp or not signature:
        raise EventRejected(f"{SIGNATURE_HEADER} and {TIMESTAMP_HEADER} are required")
    try:
        signed_at = int(stamp)
    except ValueError:
        raise EventRejected(f"{TIMESTAMP_HEADER} is not a Unix time") from None
    if not hmac.compare_digest(sign(secret, signed_at, body), signature.strip()):
        raise EventRejected("the signature does not match")
    if abs(now.timestamp() - signed_at) > window_seconds:
        raise EventRejected(f"signed outside the {window_seconds} s window (a replay?)")


def parse_event(body: bytes) -> CallEvent:
    """The event in ``body`` (JSON), or :class:`ArrearsError` (422) naming the first wrong field."""
    try:
        return CallEvent.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise EventInvalid(f"{field}: {first['msg']}") from None
