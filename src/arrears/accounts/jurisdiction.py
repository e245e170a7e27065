"""Where a customer lives, as the bank's customers file gives it: an ISO 3166-2 style code.

``CN`` (mainland China, the default), ``US`` (United States, state not known), ``US-<state>`` for a
U.S. state or the District of Columbia (``US-NY``, ``US-MA``, ``US-WA``...), and ``US-NY-NYC`` for a
customer in New York City (the city's own rules apply on top of the state's). The first part is the
country. The code chooses the compliance pack and its state and city layers
(:mod:`arrears.contact.packchoice`).
"""

from __future__ import annotations

from functools import cache

DEFAULT_JURISDICTION = "CN"
#: U.S. states and the District of Columbia (ISO 3166-2:US subdivision codes).
US_STATES: frozenset[str] = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND "
    "OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY".split())
#: Cities with rules of their own: code -> the state's code.
CITIES: dict[str, str] = {"US-NY-NYC": "US-NY"}


@cache
def known_jurisdictions() -> tuple[str, ...]:
    """Every jurisdiction code accepted, sorted."""
    return tuple(sorted({"CN", "US", *(f"US-{s}" for s in US_STATES), *CITIES}))


def parse_jurisdiction(value: object) -> str:
    """A known jurisdiction code, exactly as written (upper case); ``ValueError`` saying what is accepted."""
    text = str(value).strip()
    if text not in known_jurisdictions():
        raise ValueError(f"unknown jurisdiction {text!r}: use CN, US, US-<state> (e.g. US-NY, US-MA, US-WA) "
                         "or US-NY-NYC for New York City")
    return text


def country_of(jurisdiction: str | None) -> str:
    """``CN`` or ``US``: the country part of the code."""
    return (jurisdiction or DEFAULT_JURISDICTION).split("-", 1)[0]


def state_of(jurisdiction: str | None) -> str | None:
    """``US-NY`` for ``US-NY`` and ``US-NY-NYC``; None for a country alone."""
    code = jurisdiction or DEFAULT_JURISDICTION
    if code in CITIES:
        return CITIES[code]
    return code if "-" in code else None
