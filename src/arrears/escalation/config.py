"""Loading the agencies file (YAML), with errors that name the file, line and field.

File format (see docs/escalation.md and examples/agencies.yaml)::

    agencies:
      - code: huaxia
        name: 华夏信用管理有限公司
        term_days: 90
        commission:                      # first tier holding the DPD at placement wins
          - {min_dpd: 91, max_dpd: 180, rate_bp: 1500}
          - {min_dpd: 181, max_dpd: 360, rate_bp: 2000}
          - {min_dpd: 361, rate_bp: 2800}     # no max_dpd: no upper end
        recall:                          # optional; these are the defaults
          term_expired: true
          paid_in_full: true
          holds: [dispute, complaint, deceased, bankruptcy, fraud]
"""

from __future__ import annotations

import re
from os import PathLike

import yaml

from arrears.escalation.model import RATE_MAX_BP, RECALL_HOLD_KINDS, Agencies, Agency, CommissionTier, RecallRules
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
_AGENCY_KEYS = ("code", "name", "term_days", "commission", "recall")
_TIER_KEYS = ("min_dpd", "max_dpd", "rate_bp")
_RECALL_KEYS = ("term_expired", "paid_in_full", "holds")


def _required(entry: dict[str, tuple[yaml.Node, yaml.Node]], keys: tuple[str, ...], node: yaml.Node, *, file: str,
              prefix: str) -> None:
    for key in keys:
        if key not in entry:
            raise ConfigError("is required", file=file, line=line_of(node), field=f"{prefix}.{key}")


def _tiers(node: yaml.Node, *, file: str, prefix: str) -> tuple[CommissionTier, ...]:
    field = f"{prefix}.commission"
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise ConfigError("expected a non-empty list of tiers", file=file, line=line_of(node), field=field)
    tiers: list[CommissionTier] = []
    for i, item in enumerate(node.value):
        where = f"{field}[{i}]"
        entry = mapping(item, file=file, field=where)
        reject_unknown(entry, _TIER_KEYS, file=file, prefix=where)
        _required(entry, ("min_dpd", "rate_bp"), item, file=file, prefix=where)
        low = whole_number(entry["min_dpd"][1], file=file, field=f"{where}.min_dpd")
        high = None
        if "max_dpd" in entry:
            high = whole_number(entry["max_dpd"][1], file=file, field=f"{where}.max_dpd", minimum=low)
        rate_node = entry["rate_bp"][1]
        rate = whole_number(rate_node, file=file, field=f"{where}.rate_bp")
        if rate > RATE_MAX_BP:
            raise ConfigError(f"must be at most {RATE_MAX_BP} (100 %), got {rate}", file=file,
                              line=line_of(rate_node), field=f"{where}.rate_bp")
        tier = CommissionTier(min_dpd=low, max_dpd=high, rate_bp=rate)
        for j, other in enumerate(tiers):
            overlap = (other.max_dpd is None or tier.min_dpd <= other.max_dpd) and (
                tier.max_dpd is None or other.min_dpd <= tier.max_dpd)
            if overlap:
                raise ConfigError(f"overlaps tier {j} ({other.min_dpd}-{other.max_dpd or ''})", file=file,
                                  line=line_of(item), field=where)
        tiers.append(tier)
    return tuple(tiers)


def _recall(node: yaml.Node, *, file: str, prefix: str) -> RecallRules:
    field = f"{prefix}.recall"
    entry = mapping(node, file=file, field=field)
    reject_unknown(entry, _RECALL_KEYS, file=file, prefix=field)
    defaults = RecallRules()
    term = boolean(entry["term_expired"][1], file=file, field=f"{field}.term_expired") \
        if "term_expired" in entry else defaults.term_expired
    paid = boolean(entry["paid_in_full"][1], file=file, field=f"{field}.paid_in_full") \
        if "paid_in_full" in entry else defaults.paid_in_full
    holds = defaults.holds
    if "holds" in entry:
        seq = entry["holds"][1]
        if not isinstance(seq, yaml.SequenceNode):
            raise ConfigError("expected a list of hold kinds", file=file, line=line_of(seq), field=f"{field}.holds")
        kinds = []
        for i, item in enumerate(seq.value):
            kind = text(item, file=file, field=f"{field}.holds[{i}]")
            if kind not in RECALL_HOLD_KINDS:
                raise ConfigError(f"unknown hold kind {kind!r} (allowed: {', '.join(RECALL_HOLD_KINDS)})", file=file,
                                  line=line_of(item), field=f"{field}.holds[{i}]")
            kinds.append(kind)
        holds = tuple(kinds)
    return RecallRules(term_expired=term, paid_in_full=paid, holds=holds)


def load_agencies(path: str | PathLike[str]) -> Agencies:
    """Read an agencies file. Raises :class:`ConfigError` naming file, line and field."""
    file, root = compose_file(path)
    if root is None:
        raise ConfigError("the agencies file is empty; 'agencies' is required", file=file, line=1)
    top = mapping(root, file=file, field=None)
    reject_unknown(top, ("agencies",), file=file, prefix=None)
    items = required_list(top, "agencies", root=root, file=file, one="agency", many="agencies")
    agencies: dict[str, Agency] = {}
    for i, item in enumerate(items):
        prefix = f"agencies[{i}]"
        entry = mapping(item, file=file, field=prefix)
        reject_unknown(entry, _AGENCY_KEYS, file=file, prefix=prefix)
        _required(entry, ("code", "name", "term_days", "commission"), item, file=file, prefix=prefix)
        code_node = entry["code"][1]
        code = text(code_node, file=file, field=f"{prefix}.code")
        if not _CODE.match(code):
            raise ConfigError("must be lower-case letters, digits and _ (at most 32)", file=file,
                              line=line_of(code_node), field=f"{prefix}.code")
        if code in agencies:
            raise ConfigError(f"duplicate agency {code!r}", file=file, line=line_of(code_node), field=f"{prefix}.code")
        agencies[code] = Agency(
            code=code,
            name=text(entry["name"][1], file=file, field=f"{prefix}.name"),
            term_days=whole_number(entry["term_days"][1], file=file, field=f"{prefix}.term_days", minimum=1),
            tiers=_tiers(entry["commission"][1], file=file, prefix=prefix),
            recall=_recall(entry["recall"][1], file=file, prefix=prefix) if "recall" in entry else RecallRules(),
        )
    return Agencies(file=file, agencies=agencies)
