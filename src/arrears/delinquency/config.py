"""Loading delinquency rules from YAML, with errors that name the file, the line and the field.

File format (every key optional except ``buckets``; defaults are the product defaults)::

    tolerance_fen: 1000
    grace_days: 3
    charge_off_dpd: 180
    buckets:
      - {name: M0, min_dpd: 0, max_dpd: 0}
      - {name: M1, min_dpd: 1, max_dpd: 30}
      - {name: M7+, min_dpd: 31}          # no max_dpd (or null) = open-ended

The YAML is composed into nodes first so that every error can point at the line of the
offending value.
"""

from __future__ import annotations

from importlib import resources
from os import PathLike
from pathlib import Path

import yaml

from arrears.delinquency.model import Bucket, BucketTable, DelinquencyRules, bucket_table_problem
from arrears.kit.errors import ConfigError
from arrears.kit.yamlfile import INT_TAG, NULL_TAG, STR_TAG, compose_file, line_of, mapping, whole_number

_RULE_KEYS = {"tolerance_fen": "tolerance", "grace_days": "grace_days", "charge_off_dpd": "charge_off_dpd"}
_BUCKET_KEYS = ("name", "min_dpd", "max_dpd")


def default_rules_path() -> Path:
    """The packaged default rules file (``buckets.yaml`` next to this module)."""
    return Path(str(resources.files("arrears.delinquency").joinpath("buckets.yaml")))


def load_rules(path: str | PathLike[str]) -> DelinquencyRules:
    """Read a delinquency rules file. Raises :class:`ConfigError` naming file, line and field."""
    file, root = compose_file(path)
    if root is None:
        raise ConfigError("the rules file is empty; 'buckets' is required", file=file, line=1)
    top = mapping(root, file=file, field=None)

    for key, (key_node, _) in top.items():
        if key not in _RULE_KEYS and key != "buckets":
            allowed = ", ".join([*_RULE_KEYS, "buckets"])
            raise ConfigError(f"unknown key (allowed: {allowed})", file=file, line=line_of(key_node), field=key)

    kwargs: dict[str, object] = {}
    for key, attr in _RULE_KEYS.items():
        if key in top:
            kwargs[attr] = whole_number(top[key][1], file=file, field=key)

    if "buckets" not in top:
        raise ConfigError("missing the bucket table", file=file, line=line_of(root), field="buckets")
    seq = top["buckets"][1]
    if not isinstance(seq, yaml.SequenceNode):
        raise ConfigError("expected a list of buckets", file=file, line=line_of(seq), field="buckets")

    buckets: list[Bucket] = []
    lines: list[dict[str, int]] = []
    for i, item in enumerate(seq.value):
        prefix = f"buckets[{i}]"
        entry = mapping(item, file=file, field=prefix)
        for key, (key_node, _) in entry.items():
            if key not in _BUCKET_KEYS:
                raise ConfigError(
                    "unknown key (allowed: name, min_dpd, max_dpd)",
                    file=file, line=line_of(key_node), field=f"{prefix}.{key}",
                )
        for key in ("name", "min_dpd"):
            if key not in entry:
                raise ConfigError("is required", file=file, line=line_of(item), field=f"{prefix}.{key}")
        name_node = entry["name"][1]
        if not isinstance(name_node, yaml.ScalarNode) or name_node.tag not in (STR_TAG, INT_TAG) or not name_node.value.strip():
            raise ConfigError("must be a non-empty text", file=file, line=line_of(name_node), field=f"{prefix}.name")
        min_dpd = whole_number(entry["min_dpd"][1], file=file, field=f"{prefix}.min_dpd")
        max_dpd: int | None = None
        at_line = {"name": line_of(name_node), "min_dpd": line_of(entry["min_dpd"][1]), "item": line_of(item)}
        if "max_dpd" in entry and entry["max_dpd"][1].tag != NULL_TAG:
            max_dpd = whole_number(entry["max_dpd"][1], file=file, field=f"{prefix}.max_dpd")
            at_line["max_dpd"] = line_of(entry["max_dpd"][1])
        buckets.append(Bucket(name_node.value, min_dpd, max_dpd))
        lines.append(at_line)

    problem = bucket_table_problem(buckets)
    if problem is not None:
        index, message = problem
        if index >= len(buckets):  # empty table
            raise ConfigError(message, file=file, line=line_of(seq), field="buckets")
        # point at the value the message is about
        if "duplicate" in message or "name must" in message:
            key = "name"
        elif "open-ended" in message and "overlaps" not in message:
            key = "max_dpd"
        elif "inverted" in message:
            key = "max_dpd"
        else:
            key = "min_dpd"
        line = lines[index].get(key, lines[index]["item"])
        raise ConfigError(message, file=file, line=line, field=f"buckets[{index}].{key}")

    return DelinquencyRules(buckets=BucketTable(tuple(buckets)), **kwargs)  # type: ignore[arg-type]


def load_default_rules() -> DelinquencyRules:
    return load_rules(default_rules_path())
