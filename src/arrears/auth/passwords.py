"""Which new passwords are accepted: NIST SP 800-63B, section 5.1.1.2 ("memorized secrets").

No composition rules (no "one upper case, one digit"): length, and a check against what attackers try
first. A password is refused when it is

- shorter than :data:`MIN_LENGTH` or longer than :data:`MAX_LENGTH` characters, or made only of
  spaces, or holds control characters;
- the username, or contains it (or the display name);
- on the list of passwords common in breaches, including those common among Chinese users
  (``common_passwords.txt``), with or without a year or digits appended;
- guessable by zxcvbn (score below 3: repeated or sequential characters, keyboard walks, dictionary
  words with substitutions, dates), given the username and the product's own words as context.

Pure: no database. The service calls :func:`check_new_password` before hashing.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib.resources import files

from zxcvbn import zxcvbn

from arrears.kit.errors import ArrearsError

MIN_LENGTH = 10
#: NIST asks that at least 64 be allowed; longer adds nothing but hashing cost.
MAX_LENGTH = 128
#: zxcvbn's score from 0 (too guessable) to 4; 3 = "safely unguessable: moderate protection from an
#: offline slow-hash attack".
MIN_SCORE = 3
#: Words of this product and its trade an attacker tries first.
CONTEXT_WORDS = ("arrears", "collections", "collection", "cuishou", "mima", "password", "admin", "bank", "yinhang")
_TRAILING = re.compile(r"[\d\W_]+$")


class WeakPassword(ArrearsError):
    """A new password refused by the policy; ``reason`` names the rule (for translated messages)."""

    status = 422

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = files("arrears.auth").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def check_new_password(password: str, *, username: str, display_name: str | None = None) -> None:
    """Raise :class:`WeakPassword` when ``password`` may not be set for ``username``."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"password too short: at least {MIN_LENGTH} characters", reason="too_short")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"password too long: at most {MAX_LENGTH} characters", reason="too_long")
    if any(unicodedata.category(ch) == "Cc" for ch in password):
        raise WeakPassword("password may not contain control characters", reason="control")
    folded = _fold(password)
    if not folded.strip():
        raise WeakPassword("password may not be only spaces", reason="guessable")
    for name in (username, display_name or ""):
        name = _fold(name.strip())
        if len(name) >= 3 and name in folded:
            raise WeakPassword("password may not contain the username or name", reason="username")
    core = folded.strip()
    if core in common_passwords() or _TRAILING.sub("", core) in common_passwords():
        raise WeakPassword("password is on the list of commonly used passwords", reason="common")
    result = zxcvbn(password[:100], user_inputs=[username, *(display_name.split() if display_name else ()),
                                                 *CONTEXT_WORDS])
    if result["score"] < MIN_SCORE:
        warning = result["feedback"].get("warning") or "it is too easy to guess"
        raise WeakPassword(f"password too easy to guess: {warning}", reason="guessable")
