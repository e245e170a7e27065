"""Message templates: Jinja2 files per template code, channel and locale (``templates/``).

``render(code, channel, locale, payload)`` gives the text to send. Templates are strict: a field the
template uses but the payload lacks is an error that names the template and the field, never an empty
gap in a message to a customer. The catalogue (``templates/catalogue.yaml``) lists each code's purpose
(what the compliance gate is told), its channels and the payload fields it needs.

SMS length: a text that is all GSM 7-bit characters takes 160 characters in one segment, 153 per
segment when it must be split; any other text (Chinese) is sent as UCS-2: 70 characters in one
segment, 67 per segment when split (the rest of each segment carries the concatenation header).
A rendered SMS longer than :data:`MAX_SMS_SEGMENTS` segments is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from jinja2 import (
    Environment,
    PackageLoader,
    StrictUndefined,
    TemplateNotFound,
    Undefined,
    UndefinedError,
    pass_context,
)

from arrears.contact.policy import PURPOSES, zone
from arrears.contact.regf import CONTENT_FACTS
from arrears.kit.errors import ArrearsError, ConfigError
from arrears.kit.money import format_yuan

LOCALES = ("zh_CN", "en")
CHANNELS = ("sms", "email", "letter")
#: A longer SMS costs more and reads badly: templates must fit in this many segments.
MAX_SMS_SEGMENTS = 3
CATALOGUE = "catalogue.yaml"

# The GSM 03.38 default alphabet (basic set); characters of the extension table count twice.
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")


class TemplateError(ArrearsError):
    """A template is missing, needs a field the payload lacks, or renders a message too long to send."""

    status = 422


@dataclass(frozen=True)
class TemplateSpec:
    code: str
    purpose: str
    channels: tuple[str, ...]
    fields: tuple[str, ...]
    #: what the message says and how a letter is sent, as the compliance gate is told (``content`` in
    #: the catalogue; :data:`arrears.contact.regf.CONTENT_FACTS`)
    content: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Rendered:
    """A message ready to send: ``subject`` for e-mail only, ``segments`` for SMS only."""

    code: str
    channel: str
    locale: str
    body: str
    subject: str | None = None
    segments: int | None = None


def sms_segments(text: str) -> int:
    """How many SMS segments ``text`` takes (see the module docstring)."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in text):
        length = sum(2 if ch in _GSM_EXTENDED else 1 for ch in text)
        single, multi = 160, 153
    else:
        # UCS-2 counts UTF-16 code units: a character outside the BMP takes two.
        length = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
        single, multi = 70, 67
    if length <= single:
        return 1
    return -(-length // multi)


@lru_cache(maxsize=1)
def catalogue() -> dict[str, TemplateSpec]:
    """The template catalogue, checked: errors name the file and the field."""
    path = resources.files("arrears.channels") / "templates" / CATALOGUE
    name = f"channels/templates/{CATALOGUE}"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=name) from exc
    if not isinstance(data, dict) or not isinstance(data.get("templates"), dict):
        raise ConfigError("expected a mapping with 'templates'", file=name, field="templates")
    specs: dict[str, TemplateSpec] = {}
    for code, entry in data["templates"].items():
        where = f"templates.{code}"
        if not isinstance(entry, dict):
            raise ConfigError("expected a mapping", file=name, field=where)
        purpose = entry.get("purpose")
        if purpose not in PURPOSES:
            raise ConfigError(f"purpose must be one of {', '.join(PURPOSES)}", file=name, field=f"{where}.purpose")
        channels = entry.get("channels")
        if not channels or not isinstance(channels, list) or any(c not in CHANNELS for c in channels):
            raise ConfigError(f"channels must be a list of {', '.join(CHANNELS)}", file=name,
                              field=f"{where}.channels")
        fields = entry.get("fields") or []
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise ConfigError("fields must be a list of names", file=name, field=f"{where}.fields")
        content = entry.get("content") or {}
        if not isinstance(content, dict) or not set(content) <= set(CONTENT_FACTS):
            raise ConfigError(f"content must be a mapping of {', '.join(CONTENT_FACTS)}", file=name,
                              field=f"{where}.content")
        specs[str(code)] = TemplateSpec(str(code), purpose, tuple(channels), tuple(fields),
                                        tuple(sorted(content.items())))
    return specs


def spec(code: str) -> TemplateSpec:
    found = catalogue().get(code)
    if found is None:
        raise TemplateError(f"unknown template code {code!r} (known: {', '.join(sorted(catalogue()))})")
    return found


def _defined(value: Any) -> Any:
    """``value``, or the undefined-field error naming the field (filters would otherwise see the
    placeholder object and fail with a less useful message)."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return value


def yuan(value: Any) -> str:
    return format_yuan(int(_defined(value)))


def _date(value: Any) -> date:
    value = _defined(value)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def date_zh(value: Any) -> str:
    d = _date(value)
    return f"{d.year}年{d.month}月{d.day}日"


def date_en(value: Any) -> str:
    d = _date(value)
    return f"{d.day} {d.strftime('%B')} {d.year}"


@pass_context
def local_time(ctx: Any, value: Any) -> str:
    """An instant (aware datetime or ISO text) as the customer's local wall clock, ``YYYY-MM-DD HH:MM``."""
    value = _defined(value)
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise TemplateError(f"local_time needs a timezone-aware instant, got {value!r}")
    local = moment.astimezone(zone(ctx.get("tz") or "Asia/Shanghai"))
    return local.strftime("%Y-%m-%d %H:%M")


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(loader=PackageLoader("arrears.channels", "templates"), undefined=StrictUndefined,
                      autoescape=False, keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(yuan=yuan, date_zh=date_zh, date_en=date_en, local_time=local_time)
    return env


_MISSING = re.compile(r"'([^']+)' is undefined")


def _render_file(code: str, file: str, payload: dict[str, Any]) -> str:
    name = f"{code}/{file}"
    try:
        template = _env().get_template(name)
    except TemplateNotFound as exc:
        raise TemplateError(f"template {name} does not exist") from exc
    try:
        return template.render(**payload).strip()
    except UndefinedError as exc:
        found = _MISSING.search(str(exc))
        field = found.group(1) if found else str(exc)
        raise TemplateError(f"template {name}: the payload has no field {field!r}") from exc
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"template {name}: {exc}") from exc


def render(code: str, channel: str, locale: str, payload: dict[str, Any]) -> Rendered:
    """The message ``code`` for ``channel`` in ``locale`` with the fields of ``payload``."""
    template_spec = spec(code)
    if channel not in template_spec.channels:
        raise TemplateError(f"template {code} has no {channel} version (channels: {', '.join(template_spec.channels)})")
    if locale not in LOCALES:
        raise TemplateError(f"template {code}: no locale {locale!r} (locales: {', '.join(LOCALES)})")
    if channel == "sms":
        body = " ".join(_render_file(code, f"{locale}.sms.txt.j2", payload).split())
        segments = sms_segments(body)
        if segments > MAX_SMS_SEGMENTS:
            raise TemplateError(f"template {code}/{locale}.sms.txt.j2: the SMS takes {segments} segments "
                                f"({len(body)} characters), more than {MAX_SMS_SEGMENTS}")
        return Rendered(code, channel, locale, body, segments=segments)
    if channel == "email":
        subject = " ".join(_render_file(code, f"{locale}.email.subject.j2", payload).split())
        return Rendered(code, channel, locale, _render_file(code, f"{locale}.email.txt.j2", payload) + "\n",
                        subject=subject)
    return Rendered(code, channel, locale, _render_file(code, f"{locale}.letter.txt.j2", payload) + "\n")


def sample_payload(code: str, locale: str = "zh_CN") -> dict[str, Any]:
    """A complete payload for ``code`` with made-up values (tests, previews, ``docs/channels.md``)."""
    values: dict[str, Any] = {
        "code": "482913", "agreement": "C17-V1", "total": 360_000,
        "expires_at": datetime(2026, 2, 1, 6, 15, tzinfo=UTC).isoformat(), "instalment": 3,
        "due_date": "2026-03-25", "amount": 125_000, "amount_due": 360_000, "balance": 1_200_000, "dpd": 35,
        "reply_by": "2026-04-15", "letter_ref": "L-2026-000123", "promised_date": "2026-03-08",
        "url": "https://pay.bank.example/p/3f.ABCDEFGHIJKLMNOPQRST",
        # the Regulation F validation notice (amounts in cents)
        "collector_name": "Example Recovery Services", "collector_address": "PO Box 100, Albany, NY 12201",
        "consumer_address": "1 Main Street, Apt 2, Buffalo, NY 14201", "creditor_itemization": "Example Bank",
        "creditor_current": "Example Bank", "itemization_date": "2026-01-31", "itemization_amount": 250_000,
        "interest": 4_512, "fees": 3_900, "payments_credits": 10_000, "amount_current": 248_412,
        "validation_end": "2026-04-10",
    }
    base = {"customer_name": "张三" if locale == "zh_CN" else "Zhang San", "masked_card": "****1234",
            "bank_name": "示例银行" if locale == "zh_CN" else "Example Bank", "service_phone": "400-000-0000",
            "tz": "Asia/Shanghai", "letter_date": "2026-03-01"}
    if locale == "zh_CN":  # the validation notice's names and addresses, as a Chinese preview shows them
        values |= {"collector_name": "示例催收服务公司", "collector_address": "纽约州奥尔巴尼市邮政信箱 100 号",
                   "consumer_address": "纽约州布法罗市主街 1 号 2 室", "creditor_itemization": "示例银行",
                   "creditor_current": "示例银行"}
    # the notice before a placement with an outside agency (cn · agency_notice)
    values |= {"agency_name": "华夏信用管理有限公司" if locale == "zh_CN" else "Huaxia Credit Management Co., Ltd.",
               "agency_licence": "91440300MA5G2K7L3B", "notice_days": 7}
    return base | {f: values[f] for f in spec(code).fields}


__all__ = [
    "LOCALES", "MAX_SMS_SEGMENTS", "Rendered", "TemplateError", "TemplateSpec", "catalogue", "render",
    "sample_payload", "sms_segments", "spec",
]
