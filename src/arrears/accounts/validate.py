"""Pure validators for the bank's files: each takes one cell and returns the clean value or raises
:class:`ValueError` whose message is the reason shown in the quarantine report.

Cells come from CSV as text or from Parquet already typed (int, ``date``, bool); every parser
accepts both. Nulls (empty cells) are handled by the caller, never passed here.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import date
from functools import lru_cache

#: ISO 7064 MOD 11-2 weights for the 17 body digits of a PRC resident ID (2^(17-i) mod 11).
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"\d{17}[\dX]", re.ASCII)

_INT_RE = re.compile(r"[+-]?\d+", re.ASCII)
_FRACTION_RE = re.compile(r"[+-]?(\d+\.\d*|\.\d+)", re.ASCII)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_MOBILE_RE = re.compile(r"(?:\+86|0086|86)?(1[3-9]\d{9})", re.ASCII)
_LANDLINE_RE = re.compile(r"0\d{2,3}-?\d{7,8}", re.ASCII)
_PHONE_STRIP_RE = re.compile(r"[\s\-()]", re.ASCII)
_EMAIL_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+", re.ASCII)
_CURRENCY_RE = re.compile(r"[A-Z]{3}", re.ASCII)

BIGINT_MAX = 2**63 - 1
_TRUE = frozenset({"true", "1", "y", "yes"})
_FALSE = frozenset({"false", "0", "n", "no"})


def national_id_check_char(body: str) -> str:
    """The check character (0-9 or X) for the first 17 digits of a PRC resident ID."""
    if len(body) != 17 or not (body.isascii() and body.isdigit()):
        raise ValueError("the body of a national ID is 17 digits")
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def national_id_birth_date(national_id: str) -> date:
    """The birth date embedded in characters 7-14 (YYYYMMDD) of an 18-character ID."""
    digits = national_id[6:14]
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError as exc:
        raise ValueError(f"national ID has an impossible birth date {digits!r}") from exc


def parse_national_id(value: object, *, today: date | None = None) -> str:
    """An 18-character PRC resident ID: 17 digits + check digit (0-9 or X, lower-case x accepted),
    valid ISO 7064 MOD 11-2 checksum, embedded birth date a real date from 1900 on (and not after
    ``today`` when given). Returns it with an upper-case X."""
    text = _text(value).strip().upper()
    if len(text) != 18:
        raise ValueError(f"national ID must have 18 characters, got {len(text)}")
    if not _ID_RE.fullmatch(text):
        raise ValueError("national ID must be 17 digits followed by a digit or X")
    expected = national_id_check_char(text[:17])
    if text[17] != expected:
        raise ValueError(f"national ID checksum fails (check character should be {expected})")
    born = national_id_birth_date(text)
    if born.year < 1900:
        raise ValueError(f"national ID has an implausible birth date {born.isoformat()}")
    if today is not None and born > today:
        raise ValueError(f"national ID has a birth date in the future {born.isoformat()}")
    return text


def normalise_phone(value: object) -> str:
    """A CN phone number. Mobile ``1[3-9]`` + 9 digits, optionally prefixed +86 / 0086 / 86 and
    written with spaces or hyphens, is stored as the bare 11 digits. A landline
    ``0`` + 2-3 digit area code + optional hyphen + 7-8 digits is stored as written (spaces removed)."""
    raw = _text(value).strip()
    compact = _PHONE_STRIP_RE.sub("", raw)
    m = _MOBILE_RE.fullmatch(compact)
    if m:
        return m.group(1)
    landline = re.sub(r"\s", "", raw)
    if _LANDLINE_RE.fullmatch(landline):
        return landline
    raise ValueError(f"not a CN mobile (1[3-9] + 9 digits, optional +86) or landline (0xx-xxxxxxxx) number: {raw!r}")


def parse_email(value: object) -> str:
    """An e-mail address that looks like one: local@domain.tld, no spaces, at most 254 characters."""
    text = _text(value).strip()
    if len(text) > 254 or not _EMAIL_RE.fullmatch(text):
        raise ValueError(f"not an e-mail address: {text!r}")
    local, _, domain = text.rpartition("@")
    if len(local) > 64 or ".." in local or local.startswith(".") or local.endswith("."):
        raise ValueError(f"not an e-mail address: {text!r}")
    return f"{local}@{domain.lower()}"


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def parse_time_zone(value: object) -> str:
    """An IANA time-zone name known to this system's zoneinfo database, e.g. ``Asia/Shanghai``."""
    text = _text(value).strip()
    if text not in _zones():
        try:
            zoneinfo.ZoneInfo(text)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {text!r}") from exc
    return text


def parse_date(value: object) -> date:
    """An ISO ``YYYY-MM-DD`` date that exists on the calendar (2026-02-30 is refused)."""
    if isinstance(value, date):
        return value
    text = _text(value).strip()
    if not _DATE_RE.fullmatch(text):
        raise ValueError(f"not a YYYY-MM-DD date: {text!r}")
    try:
        return date(int(text[:4]), int(text[5:7]), int(text[8:10]))
    except ValueError as exc:
        raise ValueError(f"impossible date {text!r}") from exc


def parse_int(value: object) -> int:
    """A whole number written as plain digits with an optional sign (no separators, no decimals)."""
    if isinstance(value, bool):
        raise ValueError(f"not a whole number: {value!r}")
    if isinstance(value, int):
        number = value
    else:
        text = _text(value).strip()
        if not _INT_RE.fullmatch(text):
            if _FRACTION_RE.fullmatch(text):
                raise ValueError(f"fractional amount {text!r}: amounts are whole fen")
            raise ValueError(f"not a whole number: {text!r}")
        number = int(text)
    if not -BIGINT_MAX <= number <= BIGINT_MAX:
        raise ValueError(f"number out of range: {number}")
    return number


def parse_fen(value: object, *, minimum: int | None = None, positive: bool = False) -> int:
    """An amount in whole fen (分). ``minimum`` bounds it below; ``positive`` requires > 0."""
    fen = parse_int(value)
    if positive and fen <= 0:
        raise ValueError(f"amount must be greater than zero, got {fen}" if fen == 0 else f"negative amount {fen}")
    if minimum is not None and fen < minimum:
        raise ValueError(f"negative amount {fen}" if minimum == 0 else f"amount {fen} is below {minimum}")
    return fen


def parse_int_between(value: object, low: int, high: int) -> int:
    number = parse_int(value)
    if not low <= number <= high:
        raise ValueError(f"must be between {low} and {high}, got {number}")
    return number


def parse_bool(value: object) -> bool:
    """``true``/``false``, ``1``/``0``, ``Y``/``N`` (any case); Parquet booleans as they are."""
    if isinstance(value, bool):
        return value
    text = _text(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a boolean (true/false, 1/0, Y/N): {text!r}")


def parse_enum(value: object, allowed: tuple[str, ...]) -> str:
    text = _text(value).strip()
    if text not in allowed:
        raise ValueError(f"unknown value {text!r}; expected one of {', '.join(allowed)}")
    return text


def parse_currency(value: object) -> str:
    text = _text(value).strip()
    if not _CURRENCY_RE.fullmatch(text):
        raise ValueError(f"currency must be 3 upper-case letters (ISO 4217), got {text!r}")
    return text


def parse_text(value: object, *, max_length: int | None = None) -> str:
    """Free text, trimmed; must not be blank nor longer than ``max_length`` characters."""
    text = _text(value).strip()
    if not text:
        raise ValueError("missing required value")
    if max_length is not None and len(text) > max_length:
        raise ValueError(f"longer than {max_length} characters ({len(text)})")
    return text


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(f"expected text, got {type(value).__name__} {value!r}")
