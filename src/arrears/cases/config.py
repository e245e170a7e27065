"""Loading the case process rules (``outcomes.yaml``), with errors that name the file, line and field.

File format (``outcomes`` is required, the other sections are optional)::

    living_reserve: {base_fen: 150000, per_dependant_fen: 80000}
    promises: {grace_days: 3, tolerance_fen: 1000}
    outcomes:
      - code: dispute
        labels: {zh_CN: 对欠款有异议, en: Dispute}
        hold: dispute            # optional hold kind placed at once
        pauses_ageing: true      # optional; default true for dispute, false otherwise
        stops_contact: true      # optional; default true when a hold is set
        party: debtor            # optional; who the outcome says was reached (default any):
                                 # nobody | debtor | third_party | any
"""

from __future__ import annotations

import re
from importlib import resources
from os import PathLike
from pathlib import Path

from arrears.cases.model import HOLD_KINDS, OUTCOME_PARTIES, CaseRules, LivingReserve, OutcomeRule, PromiseRules
from arrears.kit.errors import ConfigError
from arrears.kit.yamlfile import (
    boolean,
    compose_file,
    line_of,
    mapping,
    reject_unknown,
    required_list,
    text,
    whole_number,
)

_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_LOCALES = ("zh_CN", "en")
_OUTCOME_KEYS = ("code", "labels", "hold", "pauses_ageing", "stops_contact", "party")
_SECTIONS = {
    "living_reserve": ("base_fen", "per_dependant_fen"),
    "promises": ("grace_days", "tolerance_fen"),
}


def default_rules_path() -> Path:
    return Path(str(resources.files("arrears.cases").joinpath("outcomes.yaml")))


def load_case_rules(path: str | PathLike[str]) -> CaseRules:
    """Read a case rules file. Raises :class:`ConfigError` naming file, line and field."""
    file, root = compose_file(path)
    if root is None:
        raise ConfigError("the rules file is empty; 'outcomes' is required", file=file, line=1)
    top = mapping(root, file=file, field=None)
    reject_unknown(top, (*_SECTIONS, "outcomes"), file=file, prefix=None)

    sections: dict[str, dict[str, int]] = {}
    for name, keys in _SECTIONS.items():
        sections[name] = {}
        if name in top:
            entry = mapping(top[name][1], file=file, field=name)
            reject_unknown(entry, keys, file=file, prefix=name)
            for key, (_, value_node) in entry.items():
                sections[name][key] = whole_number(value_node, file=file, field=f"{name}.{key}")
    reserve = LivingReserve(**sections["living_reserve"])
    promises = PromiseRules(**sections["promises"])

    items = required_list(top, "outcomes", root=root, file=file, one="outcome", many="outcomes")
    outcomes: dict[str, OutcomeRule] = {}
    for i, item in enumerate(items):
        prefix = f"outcomes[{i}]"
        entry = mapping(item, file=file, field=prefix)
        reject_unknown(entry, _OUTCOME_KEYS, file=file, prefix=prefix)
        for key in ("code", "labels"):
            if key not in entry:
                raise ConfigError("is required", file=file, line=line_of(item), field=f"{prefix}.{key}")
        code_node = entry["code"][1]
        code = text(code_node, file=file, field=f"{prefix}.code")
        if not _CODE.match(code):
            raise ConfigError("must be lower-case letters, digits and _ (at most 32)", file=file,
                              line=line_of(code_node), field=f"{prefix}.code")
        if code in outcomes:
            raise ConfigError(f"duplicate outcome {code!r}", file=file, line=line_of(code_node), field=f"{prefix}.code")
        labels_node = entry["labels"][1]
        label_entry = mapping(labels_node, file=file, field=f"{prefix}.labels")
        reject_unknown(label_entry, _LOCALES, file=file, prefix=f"{prefix}.labels")
        labels = {}
        for locale in _LOCALES:
            if locale not in label_entry:
                raise ConfigError("is required", file=file, line=line_of(labels_node), field=f"{prefix}.labels.{locale}")
            labels[locale] = text(label_entry[locale][1], file=file, field=f"{prefix}.labels.{locale}")
        hold: str | None = None
        if "hold" in entry:
            hold_node = entry["hold"][1]
            hold = text(hold_node, file=file, field=f"{prefix}.hold")
            if hold not in HOLD_KINDS:
                raise ConfigError(f"unknown hold kind {hold!r} (allowed: {', '.join(HOLD_KINDS)})", file=file,
                                  line=line_of(hold_node), field=f"{prefix}.hold")
        pauses = hold == "dispute"
        if "pauses_ageing" in entry:
            if hold is None:
                raise ConfigError("only meaningful with a hold", file=file, line=line_of(entry["pauses_ageing"][1]),
                                  field=f"{prefix}.pauses_ageing")
            pauses = boolean(entry["pauses_ageing"][1], file=file, field=f"{prefix}.pauses_ageing")
        stops = hold is not None
        if "stops_contact" in entry:
            stops = boolean(entry["stops_contact"][1], file=file, field=f"{prefix}.stops_contact")
        party = "any"
        if "party" in entry:
            party_node = entry["party"][1]
            party = text(party_node, file=file, field=f"{prefix}.party")
            if party not in OUTCOME_PARTIES:
                raise ConfigError(f"unknown party {party!r} (allowed: {', '.join(OUTCOME_PARTIES)})", file=file,
                                  line=line_of(party_node), field=f"{prefix}.party")
        outcomes[code] = OutcomeRule(code=code, labels=labels, hold=hold, pauses_ageing=pauses, stops_contact=stops,
                                     party=party)
    return CaseRules(outcomes=outcomes, reserve=reserve, promises=promises)


def load_default_case_rules() -> CaseRules:
    return load_case_rules(default_rules_path())
