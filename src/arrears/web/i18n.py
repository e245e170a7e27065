"""Languages of the web UI: Babel message catalogues (``locale/<lang>/LC_MESSAGES/messages.po``), read
at start with :func:`babel.messages.pofile.read_po` (no compile step), and locale-aware formatting of
money (integer fen), dates and times.

The message ids are the English text; ``zh_CN`` is the default language. A locale is chosen per
request: ``?lang=`` (then remembered in the ``arrears_lang`` cookie), else the cookie, else zh_CN.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_time, get_timezone, get_timezone_location
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import Translations

from arrears.kit.money import to_yuan

#: Languages of the UI, the default first.
LOCALES: tuple[str, ...] = ("zh_CN", "en")
DEFAULT_LOCALE = LOCALES[0]
#: Cookie that remembers the chosen language.
LANG_COOKIE = "arrears_lang"
#: How each language names itself in the language switch.
LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Mark ``message`` for extraction without translating it here (it is translated when shown)."""
    return message


def check_locale(value: str | None) -> str | None:
    """``value`` if it names a UI language (``zh_CN``, ``zh``, ``en``…), else None."""
    if not value:
        return None
    v = value.replace("-", "_")
    if v in LOCALES:
        return v
    low = v.lower()
    if low.startswith("zh"):
        return "zh_CN"
    if low.startswith("en"):
        return "en"
    return None


def catalogue_path(locale: str) -> str:
    return str(resources.files("arrears.web").joinpath("locale", locale, "LC_MESSAGES", "messages.po"))


@cache
def catalogue(locale: str):  # type: ignore[no-untyped-def]
    """The parsed ``.po`` catalogue of ``locale`` (a :class:`babel.messages.catalog.Catalog`)."""
    with open(catalogue_path(locale), "rb") as fh:
        return read_po(fh, locale=locale)


@cache
def translations(locale: str) -> Translations:
    """gettext translations of ``locale``, built in memory from its ``.po`` file."""
    buf = io.BytesIO()
    write_mo(buf, catalogue(locale))
    buf.seek(0)
    return Translations(buf)


@dataclass(frozen=True)
class Formatter:
    """Locale-aware display of the product's values. Money arrives as integer fen."""

    locale: str
    timezone: str

    @property
    def babel_locale(self) -> Locale:
        return Locale.parse(self.locale)

    def money(self, fen: int | None) -> str:
        if fen is None:
            return "—"
        return format_currency(to_yuan(int(fen)), "CNY", locale=self.locale)

    def number(self, value: object) -> str:
        if value is None:
            return "—"
        return format_decimal(value, locale=self.locale)  # type: ignore[arg-type]

    def date(self, value: date | None) -> str:
        if value is None:
            return "—"
        return format_date(value, format="medium", locale=self.locale)

    def datetime(self, value: datetime | None, tz: str | None = None) -> str:
        """An aware moment on the wall clock of ``tz`` (default: the bank's time zone)."""
        if value is None:
            return "—"
        local = value.astimezone(ZoneInfo(tz or self.timezone))
        return format_datetime(local, format="short", locale=self.locale)

    def time(self, value: datetime | None, tz: str | None = None) -> str:
        if value is None:
            return "—"
        return format_time(value.astimezone(ZoneInfo(tz or self.timezone)), format="short", locale=self.locale)

    def zone(self, tz: str | None) -> str:
        """A time zone as people name it ("中国（上海）时间"), the IANA name when Babel does not know it."""
        if not tz:
            return "—"
        try:
            return get_timezone_location(get_timezone(tz), locale=self.locale)
        except LookupError:
            return tz

    def yuan_input(self, fen: int | None) -> str:
        """Fen as plain decimal yuan for an ``<input>`` value (no grouping, no symbol)."""
        return "" if fen is None else str(to_yuan(int(fen)))
