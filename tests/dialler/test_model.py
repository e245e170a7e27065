"""The dialler contract's pure parts: the HMAC signature with its replay window, and the event schema."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from arrears.dialler.model import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    EventInvalid,
    EventRejected,
    parse_event,
    sign,
    verify,
)

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
BODY = b'{"event_id":"e1","call_id":"c1","type":"ringing","occurred_at":"2026-12-07T10:00:00+00:00"}'


def _headers(stamp: int, body: bytes = BODY, secret: str = "s3cret") -> dict[str, str]:
    return {TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(secret, stamp, body)}


def test_a_signed_event_within_the_window_is_believed_with_headers_in_any_case() -> None:
    stamp = int(NOW.timestamp()) - 299
    verify({k.lower(): v for k, v in _headers(stamp).items()}, BODY, secret="s3cret", now=NOW, window_seconds=300)


@pytest.mark.parametrize("headers, body", [
    ({}, BODY),  # unsigned
    (_headers(int(NOW.timestamp()), secret="other"), BODY),  # another secret
    (_headers(int(NOW.timestamp())), BODY.replace(b"ringing", b"ended")),  # body changed after signing
    (_headers(int(NOW.timestamp()) - 301), BODY),  # a replay, past the window
    (_headers(int(NOW.timestamp()) + 301), BODY),  # from the future
    ({TIMESTAMP_HEADER: "soon", SIGNATURE_HEADER: "sha256=00"}, BODY),
])  # fmt: skip
def test_anything_else_is_rejected(headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(EventRejected):
        verify(headers, body, secret="s3cret", now=NOW, window_seconds=300)


def test_the_event_schema_names_the_wrong_field() -> None:
    event = parse_event(BODY)
    assert (event.type, event.occurred_at) == ("ringing", NOW)
    with pytest.raises(EventInvalid, match="disposition"):
        parse_event(BODY.replace(b'"type":"ringing"', b'"type":"ended","disposition":"hung_up"'))
    with pytest.raises(EventInvalid, match="occurred_at"):
        parse_event(BODY.replace(b"+00:00", b""))  # a time without its zone
    with pytest.raises(EventInvalid):
        parse_event(b"not json")
