"""Pure validators for the bank's files: each takes one cell and returns the clean value or raises
:class:`ValueError` whose message is the reason shown in the quarantine report.

Cells come from CSV as text or from Parquet already typed (int, ``date``, bool); every parser
accepts both. Nulls (empty cells) are handled by the caller, never passed here.
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
#: C0 and C1 control characters and DEL, except the tab and line breaks that text may hold.
_TEXT_BAD = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f"
_TEXT_BAD_RE = re.compile(f"[{_TEXT_BAD}]")
#: In identifiers also tab, line breaks and the format characters (Unicode category Cf) that
#: print as nothing: zero-width space and joiners, direction marks, soft hyphen, BOM, tags.
_KEY_CONTROL_RE = re.compile("[\\x00-\\x1f\\x7f-\\x9f]")

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


def check_fen_bound(fen: int, limit: int) -> int:
    """``fen`` if its absolute value is at most ``limit`` (the setting ``max_amount_fen``)."""
    if abs(fen) > limit:
        raise ValueError(f"amount {fen:,} fen is beyond the maximum of {limit:,} fen "
                         f"(setting ARREARS_MAX_AMOUNT_FEN)")
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


def parse_text(value: object, *, max_length: int | None = None, identifier: bool = False) -> str:
    """Free text, trimmed; must not be blank nor longer than ``max_length`` characters, nor hold
    a control character (line breaks and tabs are text; NUL, escape and the like are not).

    ``identifier``: one of the bank's keys, where an invisible character would make a second key
    that looks like the first (``P1`` and ``P1\\x00``): line breaks, tabs and format characters
    (zero-width spaces, direction marks, BOM) are refused too."""
    text = _text(value).strip()
    if not text:
        raise ValueError("missing required value")
    if max_length is not None and len(text) > max_length:
        raise ValueError(f"longer than {max_length} characters ({len(text)})")
    found = (_KEY_CONTROL_RE if identifier else _TEXT_BAD_RE).search(text)
    at = found.start() if found else None
    if identifier:
        at = next((i for i, ch in enumerate(text[:at]) if unicodedata.category(ch) == "Cf"), at)
    if at is not None:
        ch = text[at]
        what = "format character" if unicodedata.category(ch) == "Cf" else "control character"
        raise ValueError(f"{what} U+{ord(ch):04X} at position {at + 1}"
                         f"{' in an identifier' if identifier else ''}; such characters are not accepted")
    return text


def visible(text: str | None) -> str | None:
    """``text`` with each control character (but tab and line breaks) written as ``\\xNN`` / ``\\uNNNN``:
    for quarantine reports and ``ingest_issues``, which show a refused value without carrying it."""
    if text is None or not _TEXT_BAD_RE.search(text):
        return text
    return _TEXT_BAD_RE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(f"expected text, got {type(value).__name__} {value!r}")


# --------------------------------------------------------------------------------------------
# Whole-column checks
#
# Each ``vector_*`` function takes an Arrow string array (a column of a chunk, cells as written)
# and returns ``(values, ok)``: the parsed values and a mask of the cells that are certainly
# valid and already in their clean form. The checks are deliberately strict (no surrounding
# spaces, canonical spelling): a cell that is not ``ok`` is not necessarily bad, it is only handed
# to the per-cell parsers above, which decide and give the reason. So ``ok`` cells always parse
# to the same value with the per-cell parsers.

# First and last characters that str.strip() never removes (letters, digits, punctuation, symbols).
_EDGE = r"[\p{L}\p{N}\p{P}\p{S}]"
_VEC_TEXT = rf"(?s)^{_EDGE}(?:.*{_EDGE})?$"
_VEC_TEXT_BAD = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x{9f}]"
_VEC_KEY_BAD = r"[\x00-\x1f\x7f-\x{9f}\p{Cf}]"
_VEC_INT = r"^-?[0-9]{1,18}$"
_VEC_DATE = r"^[12][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])$"
_VEC_ID = r"^[0-9]{17}[0-9X]$"
_VEC_MOBILE = r"^1[3-9][0-9]{9}$"
_VEC_EMAIL_CHARS = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_VEC_EMAIL_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_VEC_EMAIL = rf"^{_VEC_EMAIL_CHARS}+(?:\.{_VEC_EMAIL_CHARS}+)*@{_VEC_EMAIL_LABEL}(?:\.{_VEC_EMAIL_LABEL})+$"
_VEC_TRUE = ("true", "True", "TRUE", "1", "Y", "y", "yes", "Yes", "YES")
_VEC_FALSE = ("false", "False", "FALSE", "0", "N", "n", "no", "No", "NO")


def _mask(values: Any) -> Any:
    return pc.fill_null(values, False)


def vector_text(arr: pa.Array, max_length: int, *, identifier: bool = False) -> tuple[pa.Array, pa.Array]:
    ok = pc.and_(_mask(pc.match_substring_regex(arr, _VEC_TEXT)), _mask(pc.less_equal(pc.utf8_length(arr), max_length)))
    bad = _VEC_KEY_BAD if identifier else _VEC_TEXT_BAD
    return arr, pc.and_(ok, pc.invert(_mask(pc.match_substring_regex(arr, bad))))


def vector_enum(arr: pa.Array, allowed: tuple[str, ...]) -> tuple[pa.Array, pa.Array]:
    return arr, _mask(pc.is_in(arr, value_set=pa.array(allowed, pa.string())))


def vector_int(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
    ok = _mask(pc.match_substring_regex(arr, _VEC_INT))
    values = pc.cast(pc.if_else(ok, arr, "0"), pa.int64())
    return values, ok


def vector_fen(arr: pa.Array, *, minimum: int | None = None, positive: bool = False) -> tuple[pa.Array, pa.Array]:
    values, ok = vector_int(arr)
    if positive:
        ok = pc.and_(ok, pc.greater(values, 0))
    if minimum is not None:
        ok = pc.and_(ok, pc.greater_equal(values, minimum))
    return values, ok


def vector_int_between(arr: pa.Array, low: int, high: int) -> tuple[pa.Array, pa.Array]:
    values, ok = vector_int(arr)
    return values, pc.and_(ok, pc.and_(pc.greater_equal(values, low), pc.less_equal(values, high)))


def vector_date(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
    ok = _mask(pc.match_substring_regex(arr, _VEC_DATE))
    text = pc.if_else(ok, arr, "2000-01-01")
    days = pc.cast(pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True), pa.date32())
    # strptime rolls 2026-02-30 over to 2026-03-02: only dates that print back as written pass.
    ok = pc.and_(ok, _mask(pc.equal(pc.cast(days, pa.string()), text)))
    return days, ok


def vector_bool(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
    ok = _mask(pc.is_in(arr, value_set=pa.array(_VEC_TRUE + _VEC_FALSE)))
    return _mask(pc.is_in(arr, value_set=pa.array(_VEC_TRUE))), ok


def vector_currency(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
    return arr, _mask(pc.match_substring_regex(arr, r"^[A-Z]{3}$"))


def vector_time_zone(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
    return arr, _mask(pc.is_in(arr, value_set=pa.array(sorted(_zones()))))


def vector_national_id(arr: pa.Array, *, today: date) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Like :func:`parse_national_id`; also returns the embedded birth dates (date32)."""
    n = len(arr)
    ok = _mask(pc.match_substring_regex(arr, _VEC_ID))
    filled = pc.if_else(ok, arr, "11010519000101001X")
    if isinstance(filled, pa.ChunkedArray):
        filled = filled.combine_chunks()
    offsets = np.frombuffer(filled.buffers()[1], dtype=np.int32)[filled.offset:filled.offset + n + 1]
    data = np.frombuffer(filled.buffers()[2], dtype=np.uint8)
    digits = data[offsets[0]:offsets[0] + 18 * n].reshape(n, 18).astype(np.int64) - 48
    total = digits[:, :17] @ np.array(_ID_WEIGHTS, dtype=np.int64)
    expected = np.frombuffer(_ID_CHECK.encode(), dtype=np.uint8)[total % 11]
    good = np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool) & (expected == digits[:, 17] + 48)
    year = digits[:, 6] * 1000 + digits[:, 7] * 100 + digits[:, 8] * 10 + digits[:, 9]
    month = digits[:, 10] * 10 + digits[:, 11]
    day = digits[:, 12] * 10 + digits[:, 13]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 0, 12)] + ((month == 2) & leap)
    good &= (year >= 1900) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
    safe_y = np.where(good, year, 1970)
    safe_m = np.where(good, month, 1)
    safe_d = np.where(good, day, 1)
    born = ((safe_y - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (safe_m - 1).astype("timedelta64[M]")
            ).astype("datetime64[D]") + (safe_d - 1).astype("timedelta64[D]")
    good &= born <= np.datetime64(today, "D")
    return arr, pa.array(good), pa.array(born.astype("datetime64[D]"), pa.date32())


def vector_contact_value(kind: pa.Array, value: pa.Array) -> pa.Array:
    """Cells of ``value`` already in their stored form for their ``kind`` (phone: 11-digit
    mobile; e-mail: valid with a lower-case domain; address: any text)."""
    mobile = _mask(pc.match_substring_regex(value, _VEC_MOBILE))
    email = pc.and_(
        _mask(pc.match_substring_regex(value, _VEC_EMAIL)),
        pc.and_(_mask(pc.less_equal(pc.utf8_length(value), 254)), _mask(pc.match_substring_regex(value, r"^[^@]{1,64}@"))),
    )
    is_phone = _mask(pc.equal(kind, "phone"))
    is_email = _mask(pc.equal(kind, "email"))
    return pc.if_else(is_phone, mobile, pc.if_else(is_email, email, True))
