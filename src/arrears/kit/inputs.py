"""Checks of values people type, shared by the API, the web pages, the CLI and the services.

- **Control characters**: NUL cannot be stored by PostgreSQL and the other C0/C1 controls (and
  unpaired surrogates) have no place in a name, a note or a reason; :func:`control_character` finds
  the first one, :func:`check_text` refuses it naming the field.
- **Reasons**: a required free-text reason (an override, a hold review, a reveal, an approval, a
  cancellation…) must say something: :func:`require_reason` refuses one made only of white space
  and invisible characters (zero-width spaces, joiners, direction marks, BOMs, combining marks
  alone), naming the field.
- **Dates**: :data:`IsoDate` accepts only ``YYYY-MM-DD`` (pydantic alone reads ``0`` as a Unix time,
  1970-01-01) between :data:`MIN_DATE` and :data:`MAX_DATE`, so date arithmetic never overflows.
- **Integers**: :data:`MAX_INT`, the largest id a store keeps (signed 64-bit).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Annotated

from pydantic import BeforeValidator

from arrears.kit.errors import ArrearsError

#: Largest id or count a store keeps (a signed 64-bit integer).
MAX_INT = 2**63 - 1
#: The range of business dates a person may type (far beyond any account's life, yet far from
#: ``date.min``/``date.max``, so that windows of days around them never overflow).
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2999, 12, 31)

#: Line breaks and tabs are text; every other C0/C1 control, DEL and surrogates are not.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class InputError(ArrearsError):
    """A typed value is refused; ``field`` names the input."""

    status = 422

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.detail = message


def control_character(text: str) -> int | None:
    """The index of the first control character of ``text`` (not tab, CR or LF), else None."""
    found = _CONTROL.search(text)
    return found.start() if found else None


def check_text(text: str, *, field: str) -> str:
    """``text`` unchanged, or :class:`InputError` if it holds a control character."""
    at = control_character(text)
    if at is not None:
        raise InputError(f"contains a control character (U+{ord(text[at]):04X}) at position {at + 1}", field=field)
    return text


def _invisible(ch: str) -> bool:
    # Z* separators (spaces), C* (controls, format characters such as U+200B, U+200D, U+FEFF,
    # U+202E, unassigned) and combining marks with nothing to combine with.
    category = unicodedata.category(ch)
    return ch.isspace() or category[0] in "ZC" or category in ("Mn", "Me") or ch in "\u115f\u1160\u3164\uffa0"


def visible(text: str | None) -> bool:
    """True when ``text`` has at least one character a reader can see."""
    return bool(text) and not all(_invisible(ch) for ch in text)  # type: ignore[union-attr]


def require_reason(text: str | None, *, field: str = "reason") -> str:
    """A required reason, stripped: refused (:class:`InputError` naming ``field``) when empty, made
    only of white space or invisible characters, or holding a control character."""
    if text is None or not visible(text):
        raise InputError("a reason is required: say why in words", field=field)
    return check_text(text.strip(), field=field)


def _iso_date(value: object) -> object:
    if isinstance(value, date):
        day = value
    elif isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a date of the calendar") from None
    else:
        raise ValueError("give a date as YYYY-MM-DD")
    if not MIN_DATE <= day <= MAX_DATE:
        raise ValueError(f"a date from {MIN_DATE} to {MAX_DATE}")
    return day


def parse_date(value: str, *, field: str) -> date:
    """A typed ``YYYY-MM-DD`` date within range, or :class:`InputError` naming ``field``."""
    try:
        return _iso_date(value)  # type: ignore[return-value]
    except ValueError as exc:
        raise InputError(str(exc), field=field) from None


#: A business date typed by a person: ``YYYY-MM-DD`` only, between MIN_DATE and MAX_DATE.
IsoDate = Annotated[date, BeforeValidator(_iso_date)]

__all__ = ["MAX_DATE", "MAX_INT", "MIN_DATE", "InputError", "IsoDate", "check_text", "control_character",
           "parse_date", "require_reason", "visible"]
