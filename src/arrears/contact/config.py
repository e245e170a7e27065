"""Loading compliance policy packs (YAML), with errors that name the file, line and field.

File format::

    pack: cn                      # the pack's name, as chosen per portfolio
    version: "2026.1"             # text; logged with every decision
    title: {en: ..., zh_CN: ...}
    rules:
      - id: quiet_hours           # unique in the pack; lower-case letters, digits, _ and .
        kind: quiet_hours         # one of policy.RULE_KINDS
        title: {en: ..., zh_CN: ...}
        source: "《...》第..条; ..."
        applies_to:               # optional; each list defaults to everything
          channels: [call, sms, email, app, visit]
          parties: [debtor, emergency_contact, third_party]
          purposes: [collection, reestablish_contact, reminder, service]
        overridable_by: []        # roles that may approve an override; [] = never
        params: {allowed_from: "08:00", allowed_until: "22:00", customer_request_may_lift: false}

Times are quoted "HH:MM" texts (unquoted 08:00 is a number in YAML 1.1); "24:00" means end of day.
"""

from __future__ import annotations

import re
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

import holidays
import yaml

from arrears.contact.policy import (
    CHANNELS,
    FLAG_KINDS,
    HOLD_KINDS,
    HOLIDAY_MODES,
    OVERRIDE_ROLES,
    PARTIES,
    PURPOSES,
    RULE_KINDS,
    AgencyNotice,
    AttemptLimit,
    CeaseCommunication,
    CollectorDisclosure,
    ConnectedLimit,
    ConversationPause,
    DebtorUnreachable,
    Duty,
    Envelope,
    FieldVisit,
    FlagRule,
    HoldRule,
    NoDisclosure,
    PartyPurpose,
    PerPersonLimit,
    PlaceOfEmployment,
    PolicyPack,
    PublicHoliday,
    QuietHours,
    Rule,
    TimeBarred,
)
from arrears.kit.errors import ConfigError
from arrears.kit.yamlfile import STR_TAG, boolean, compose_file, line_of, mapping, reject_unknown, text, whole_number

PACK_NAMES: tuple[str, ...] = ("cn", "us-reg-f")
DEFAULT_PACK = "cn"

_NULL = "tag:yaml.org,2002:null"
_ID = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
_PACK = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
_LOCALES = ("en", "zh_CN")
_TOP_KEYS = ("pack", "version", "title", "rules")
_RULE_KEYS = ("id", "kind", "title", "source", "applies_to", "overridable_by", "params")
_SCOPE_KEYS = ("channels", "parties", "purposes")

#: Parameters each kind accepts: name -> required?
_PARAMS: dict[str, dict[str, bool]] = {
    "quiet_hours": {"allowed_from": True, "allowed_until": True, "customer_request_may_lift": False,
                    "agreement_required": False},
    "public_holiday": {"mode": True, "allowed_from": False, "allowed_until": False, "default_country": False,
                       "customer_request_may_lift": False},
    "attempt_limit": {"max_attempts": True, "window_days": True, "rolling": False, "scope": True,
                      "count_channels": False},
    "conversation_pause": {"days": True, "rolling": False, "scope": True},
    "hold": {"kinds": True},
    "party_purpose": {"allowed": True},
    "no_disclosure": {},
    "per_person_limit": {"max_contacts": True},
    "recording": {"retention_days": True},
    "opt_out": {},
    "opt_out_notice": {},
    "limited_content_voicemail": {},
}
#: Kinds of GB/T 45251—2025 and the China Banking Association's guideline (2026).
_PARAMS |= {
    "connected_limit": {"max_conversations": True, "window_days": True, "rolling": False, "scope": True},
    "debtor_unreachable": {"min_attempts": True, "days": True},
    "field_visit": {"min_collectors": True},
    "agency_notice": {"notice_days": True},
    "refused_contact": {},
}


#: Regulation F kinds (``us-reg-f``); the duties' numbers are read by the services that do the work.
_PARAMS |= {
    "cease_communication": {},
    "place_of_employment": {},
    "collector_disclosure": {},
    "envelope": {},
    "time_barred": {},
    "validation_notice": {"within_days": True},
    "credit_reporting": {"wait_days": True},
    "record_retention": {"records_years": True, "recordings_years": True},
}
#: Rule kinds built without parameters, and the duties (kind -> their numbers and minimum values).
_REGF_PLAIN = {"cease_communication": CeaseCommunication, "place_of_employment": PlaceOfEmployment,
               "collector_disclosure": CollectorDisclosure, "envelope": Envelope, "time_barred": TimeBarred}
_REGF_DUTIES = {"validation_notice": (("within_days", 1),), "credit_reporting": (("wait_days", 1),),
                "record_retention": (("records_years", 1), ("recordings_years", 1))}


def default_pack_path(name: str = DEFAULT_PACK) -> Path:
    if name not in PACK_NAMES:
        raise ValueError(f"unknown policy pack {name!r}; packs are {', '.join(PACK_NAMES)}")
    return Path(str(resources.files("arrears.contact").joinpath("packs", f"{name}.yaml")))


def _time(node: yaml.Node, *, file: str, field: str) -> int:
    if not isinstance(node, yaml.ScalarNode) or node.tag != STR_TAG:
        raise ConfigError('must be a quoted time "HH:MM" (unquoted 08:00 is a number in YAML)', file=file,
                          line=line_of(node), field=field)
    m = _TIME.match(node.value)
    seconds = int(m.group(1)) * 3600 + int(m.group(2)) * 60 if m else -1
    if not m or seconds > 24 * 3600:
        raise ConfigError(f'must be a time "HH:MM" from 00:00 to 24:00, got {node.value!r}', file=file,
                          line=line_of(node), field=field)
    return seconds


def _choice(node: yaml.Node, allowed: tuple[str, ...], *, file: str, field: str) -> str:
    value = text(node, file=file, field=field)
    if value not in allowed:
        raise ConfigError(f"unknown value {value!r} (allowed: {', '.join(allowed)})", file=file,
                          line=line_of(node), field=field)
    return value


def _choices(node: yaml.Node, allowed: tuple[str, ...], *, file: str, field: str,
             empty_ok: bool = False) -> frozenset[str]:
    if not isinstance(node, yaml.SequenceNode) or (not node.value and not empty_ok):
        what = "a list" if empty_ok else "a non-empty list"
        raise ConfigError(f"must be {what} of: {', '.join(allowed)}", file=file, line=line_of(node), field=field)
    out: set[str] = set()
    for i, item in enumerate(node.value):
        value = _choice(item, allowed, file=file, field=f"{field}[{i}]")
        if value in out:
            raise ConfigError(f"{value!r} is listed twice", file=file, line=line_of(item), field=f"{field}[{i}]")
        out.add(value)
    return frozenset(out)


def _labels(node: yaml.Node, *, file: str, field: str) -> tuple[str, str]:
    entry = mapping(node, file=file, field=field)
    reject_unknown(entry, _LOCALES, file=file, prefix=field)
    for locale in _LOCALES:
        if locale not in entry:
            raise ConfigError("is required", file=file, line=line_of(node), field=f"{field}.{locale}")
    return (text(entry["en"][1], file=file, field=f"{field}.en"),
            text(entry["zh_CN"][1], file=file, field=f"{field}.zh_CN"))


def _params(kind: str, node: yaml.Node | None, where: int, *, file: str, field: str) -> dict[str, yaml.Node]:
    spec = _PARAMS[kind]
    entry = {} if node is None else mapping(node, file=file, field=field)
    reject_unknown(entry, tuple(spec), file=file, prefix=field)
    for name, required in spec.items():
        if required and name not in entry:
            raise ConfigError(f"is required for a {kind} rule", file=file,
                              line=line_of(node) if node is not None else where, field=f"{field}.{name}")
    return {k: v for k, (_, v) in entry.items()}


def _window(p: dict[str, yaml.Node], *, file: str, field: str, required: bool) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in ("allowed_from", "allowed_until"):
        if name in p:
            out[name] = _time(p[name], file=file, field=f"{field}.{name}")
        elif required:
            raise ConfigError("is required", file=file, line=None, field=f"{field}.{name}")
    if "allowed_from" in out and "allowed_until" in out and out["allowed_from"] >= out["allowed_until"]:
        raise ConfigError("allowed_until must be later than allowed_from (windows do not cross midnight)",
                          file=file, line=line_of(p["allowed_until"]), field=f"{field}.allowed_until")
    return out


def _build(kind: str, base: dict[str, Any], p: dict[str, yaml.Node], *, file: str, field: str) -> Rule:
    def opt_bool(name: str, default: bool) -> bool:
        return boolean(p[name], file=file, field=f"{field}.{name}") if name in p else default

    def num(name: str, minimum: int) -> int:
        return whole_number(p[name], file=file, field=f"{field}.{name}", minimum=minimum)

    if kind == "quiet_hours":
        return QuietHours(**base, **_window(p, file=file, field=field, required=True),
                          customer_request_may_lift=opt_bool("customer_request_may_lift", False),
                          agreement_required=opt_bool("agreement_required", False))
    if kind == "public_holiday":
        mode = _choice(p["mode"], HOLIDAY_MODES, file=file, field=f"{field}.mode")
        window = _window(p, file=file, field=field, required=False)
        if mode == "restrict_hours" and len(window) != 2:
            raise ConfigError("restrict_hours needs allowed_from and allowed_until", file=file,
                              line=line_of(p["mode"]), field=f"{field}.allowed_from")
        country: str | None = None
        if "default_country" in p and p["default_country"].tag != _NULL:
            country = text(p["default_country"], file=file, field=f"{field}.default_country")
            if country not in holidays.list_supported_countries():
                raise ConfigError(f"no public-holiday calendar for country {country!r}", file=file,
                                  line=line_of(p["default_country"]), field=f"{field}.default_country")
        return PublicHoliday(**base, mode=mode, default_country=country, **window,
                             customer_request_may_lift=opt_bool("customer_request_may_lift", False))
    if kind == "attempt_limit":
        counted = (_choices(p["count_channels"], CHANNELS, file=file, field=f"{field}.count_channels")
                   if "count_channels" in p else frozenset({"call"}))
        return AttemptLimit(**base, max_attempts=num("max_attempts", 0), window_days=num("window_days", 1),
                            rolling=opt_bool("rolling", False),
                            scope=_choice(p["scope"], ("debtor", "debt"), file=file, field=f"{field}.scope"),
                            count_channels=counted)
    if kind == "conversation_pause":
        return ConversationPause(**base, days=num("days", 1), rolling=opt_bool("rolling", False),
                                 scope=_choice(p["scope"], ("debtor", "debt"), file=file, field=f"{field}.scope"))
    if kind == "hold":
        return HoldRule(**base, kinds=_choices(p["kinds"], HOLD_KINDS, file=file, field=f"{field}.kinds"))
    if kind == "party_purpose":
        entry = mapping(p["allowed"], file=file, field=f"{field}.allowed")
        reject_unknown(entry, PARTIES, file=file, prefix=f"{field}.allowed")
        allowed = tuple((party, _choices(v, PURPOSES, file=file, field=f"{field}.allowed.{party}", empty_ok=True))
                        for party, (_, v) in entry.items())
        return PartyPurpose(**base, allowed=allowed)
    if kind == "no_disclosure":
        return NoDisclosure(**base)
    if kind == "per_person_limit":
        return PerPersonLimit(**base, max_contacts=num("max_contacts", 0))
    if kind == "connected_limit":
        return ConnectedLimit(**base, max_attempts=num("max_conversations", 0), window_days=num("window_days", 1),
                              rolling=opt_bool("rolling", False),
                              scope=_choice(p["scope"], ("debtor", "debt"), file=file, field=f"{field}.scope"))
    if kind == "debtor_unreachable":
        return DebtorUnreachable(**base, min_attempts=num("min_attempts", 1), days=num("days", 1))
    if kind == "field_visit":
        return FieldVisit(**base, min_collectors=num("min_collectors", 1))
    if kind == "agency_notice":
        return AgencyNotice(**base, notice_days=num("notice_days", 0))
    if kind in _REGF_PLAIN:
        return _REGF_PLAIN[kind](**base)  # type: ignore[abstract]
    if kind in _REGF_DUTIES:
        return Duty(**base, extra=tuple((name, num(name, least)) for name, least in _REGF_DUTIES[kind]))
    flag, must_be = FLAG_KINDS[kind]
    extra = (("retention_days", num("retention_days", 1)),) if kind == "recording" else ()
    return FlagRule(**base, flag=flag, must_be=must_be, extra=extra)


def load_pack(path: str | PathLike[str]) -> PolicyPack:
    """Read a policy pack file. Raises :class:`ConfigError` naming file, line and field."""
    file, root = compose_file(path)
    if root is None:
        raise ConfigError("the policy pack is empty; 'pack', 'version' and 'rules' are required", file=file, line=1)
    top = mapping(root, file=file, field=None)
    reject_unknown(top, _TOP_KEYS, file=file, prefix=None)
    for key in _TOP_KEYS:
        if key not in top:
            raise ConfigError("is required", file=file, line=line_of(root), field=key)
    name_node = top["pack"][1]
    name = text(name_node, file=file, field="pack")
    if not _PACK.match(name):
        raise ConfigError("must be lower-case letters, digits and - (at most 32)", file=file,
                          line=line_of(name_node), field="pack")
    version = text(top["version"][1], file=file, field="version")
    title_en, title_zh = _labels(top["title"][1], file=file, field="title")

    seq = top["rules"][1]
    if not isinstance(seq, yaml.SequenceNode) or not seq.value:
        raise ConfigError("expected a non-empty list of rules", file=file, line=line_of(seq), field="rules")
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, item in enumerate(seq.value):
        prefix = f"rules[{i}]"
        entry = mapping(item, file=file, field=prefix)
        reject_unknown(entry, _RULE_KEYS, file=file, prefix=prefix)
        for key in ("id", "kind", "title", "source"):
            if key not in entry:
                raise ConfigError("is required", file=file, line=line_of(item), field=f"{prefix}.{key}")
        id_node = entry["id"][1]
        rule_id = text(id_node, file=file, field=f"{prefix}.id")
        if not _ID.match(rule_id):
            raise ConfigError("must be lower-case letters, digits, _ and . (at most 64)", file=file,
                              line=line_of(id_node), field=f"{prefix}.id")
        if rule_id in seen:
            raise ConfigError(f"duplicate rule id {rule_id!r}", file=file, line=line_of(id_node), field=f"{prefix}.id")
        seen.add(rule_id)
        kind = _choice(entry["kind"][1], RULE_KINDS, file=file, field=f"{prefix}.kind")
        title = _labels(entry["title"][1], file=file, field=f"{prefix}.title")
        source = text(entry["source"][1], file=file, field=f"{prefix}.source")
        scope: dict[str, frozenset[str]] = {"channels": frozenset(CHANNELS), "parties": frozenset(PARTIES),
                                            "purposes": frozenset(PURPOSES)}
        if "applies_to" in entry:
            scope_entry = mapping(entry["applies_to"][1], file=file, field=f"{prefix}.applies_to")
            reject_unknown(scope_entry, _SCOPE_KEYS, file=file, prefix=f"{prefix}.applies_to")
            allowed_values = {"channels": CHANNELS, "parties": PARTIES, "purposes": PURPOSES}
            for key, (_, node) in scope_entry.items():
                scope[key] = _choices(node, allowed_values[key], file=file, field=f"{prefix}.applies_to.{key}")
        roles: frozenset[str] = frozenset()
        if "overridable_by" in entry:
            roles = _choices(entry["overridable_by"][1], OVERRIDE_ROLES, file=file,
                             field=f"{prefix}.overridable_by", empty_ok=True)
        base: dict[str, Any] = {"id": rule_id, "kind": kind, "title_en": title[0], "title_zh": title[1],
                                "source": source, "overridable_by": roles, **scope}
        params_node = entry["params"][1] if "params" in entry else None
        p = _params(kind, params_node, line_of(item), file=file, field=f"{prefix}.params")
        try:
            rules.append(_build(kind, base, p, file=file, field=f"{prefix}.params"))
        except ConfigError as exc:
            if exc.line is None:  # a missing window bound: point at the rule
                raise ConfigError(exc.detail, file=file, line=line_of(item), field=exc.field) from None
            raise
    return PolicyPack(name=name, version=version, title_en=title_en, title_zh=title_zh, rules=tuple(rules),
                      file=file)


_cache: dict[str, PolicyPack] = {}


def load_default_pack(name: str = DEFAULT_PACK) -> PolicyPack:
    """One of the packs shipped with arrears (``cn``, ``us-reg-f``), loaded once per process."""
    pack = _cache.get(name)
    if pack is None:
        pack = _cache[name] = load_pack(default_pack_path(name))
    return pack


__all__: list[str] = ["DEFAULT_PACK", "PACK_NAMES", "default_pack_path", "load_default_pack", "load_pack"]
