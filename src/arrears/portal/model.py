"""The personal link and the identity check, pure (no database, no I/O).

A link token is ``<link id in base 36>.<mac>``: the mac is HMAC-SHA256 under the portal key over the
link's id and its random nonce (kept in the store), cut to 20 base-32 characters (100 bits). A token
whose id or mac was changed does not verify; one whose link expired or was revoked is refused by the
store's record. The whole link stays short enough for one SMS.

The identity answer is the last four characters of the national id (case-insensitive: the check
character may be ``X``) and the date of birth. Both are compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date, timedelta

#: How long a link works unless the sender says otherwise.
DEFAULT_LINK_TTL = timedelta(days=14)
LONGEST_LINK_TTL = timedelta(days=60)
#: Wrong identity answers a link takes before it stops working (a new link must be sent).
MAX_FAILURES_PER_LINK = 5
#: Wrong answers (any links, unknown ones included) from one client address within the window.
MAX_FAILURES_PER_ADDRESS = 20
ADDRESS_WINDOW = timedelta(minutes=15)
#: A verified visit lasts this long without activity.
SESSION_IDLE = timedelta(minutes=20)
MAC_CHARS = 20
_TOKEN = re.compile(r"^([0-9a-z]{1,13})\.([A-Z2-7]{" + str(MAC_CHARS) + "})$")
_LAST4 = re.compile(r"^[0-9]{3}[0-9Xx]$")


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def link_mac(key: bytes, link_id: int, nonce: str) -> str:
    digest = hmac.new(key, f"arrears-portal-link\n{link_id}\n{nonce}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:MAC_CHARS]


def make_token(key: bytes, link_id: int, nonce: str) -> str:
    return f"{_b36(link_id)}.{link_mac(key, link_id, nonce)}"


@dataclass(frozen=True)
class ParsedToken:
    link_id: int
    mac: str


def parse_token(token: str) -> ParsedToken | None:
    """The link id and mac of a well-formed token, or None (any malformed token)."""
    found = _TOKEN.match(token or "")
    if found is None:
        return None
    link_id = int(found.group(1), 36)
    if not 1 <= link_id < 2**63:
        return None
    return ParsedToken(link_id, found.group(2))


def mac_matches(key: bytes, parsed: ParsedToken, nonce: str) -> bool:
    return hmac.compare_digest(parsed.mac, link_mac(key, parsed.link_id, nonce))


def normalise_last4(text: str) -> str | None:
    """The last four characters of a national id as typed (``123x`` → ``123X``), or None if malformed."""
    text = (text or "").strip()
    return text.upper() if _LAST4.match(text) else None


def identity_matches(*, national_id: str, birth_date: date, last4: str | None, born: date | None) -> bool:
    """True when the answers match the customer's record; every comparison runs whatever fails first."""
    expected = national_id.strip().upper()[-4:].encode()
    given = (last4 or "????").encode()
    same_id = hmac.compare_digest(expected, given)
    same_day = hmac.compare_digest(birth_date.isoformat().encode(), (born.isoformat() if born else "").encode())
    return same_id and same_day


__all__ = ["DEFAULT_LINK_TTL", "LONGEST_LINK_TTL", "MAX_FAILURES_PER_ADDRESS", "MAX_FAILURES_PER_LINK", "ParsedToken",
           "SESSION_IDLE", "identity_matches", "link_mac", "mac_matches", "make_token", "normalise_last4", "parse_token"]
