"""The one clock. Everything that needs "now" asks here, so tests can set it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_frozen: datetime | None = None


def utc_now() -> datetime:
    """Timezone-aware UTC now (or the time a test has frozen)."""
    return _frozen if _frozen is not None else datetime.now(UTC)


@contextmanager
def frozen_at(moment: datetime) -> Iterator[None]:
    """Freeze the clock at an aware moment for the duration of the block."""
    global _frozen
    if moment.tzinfo is None:
        raise ValueError("the clock only takes timezone-aware times")
    previous, _frozen = _frozen, moment.astimezone(UTC)
    try:
        yield
    finally:
        _frozen = previous
