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
from os import PathLike, fspath
from pathlib import Path

import yaml

from arrears.delinquency.model import Bucket, BucketTable, DelinquencyRules, bucket_table_problem
from arrears.kit.errors import ConfigError

_INT = "tag:yaml.org,2002:int"
_NULL = "tag:yaml.org,2002:null"
_STR = "tag:yaml.org,2002:str"

_RULE_KEYS = {"tolerance_fen": "tolerance", "grace_days": "grace_days", "charge_off_dpd": "charge_off_dpd"}
_BUCKET_KEYS = ("name", "min_dpd", "max_dpd")


def default_rules_path() -> Path:
    """The packaged default rules file (``buckets.yaml`` next to this module)."""
    return Path(str(resources.files("arrears.delinquency").joinpath("buckets.yaml")))


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _mapping(node: yaml.Node, *, file: str, field: str | None) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError("expected a mapping of keys to values", file=file, line=_line(node), field=field)
    out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        where = f"{field}.{key}" if field and key else (key or field)
        if not isinstance(key, str) or key_node.tag != _STR:
            raise ConfigError("keys must be plain names", file=file, line=_line(key_node), field=field)
        if key in out:
            raise ConfigError("duplicate key", file=file, line=_line(key_node), field=where)
        out[key] = (key_node, value_node)
    return out


def _int(node: yaml.Node, *, file: str, field: str, minimum: int = 0) -> int:
    if not isinstance(node, yaml.ScalarNode) or node.tag != _INT:
        shown = node.value if isinstance(node, yaml.ScalarNode) else type(node).__name__
        raise ConfigError(f"must be a whole number, got {shown!r}", file=file, line=_line(node), field=field)
    value = yaml.safe_load(node.value)  # plain scalar already resolved as int: 1_000, 0x10 ...
    if value < minimum:
        raise ConfigError(f"must be >= {minimum}, got {value}", file=file, line=_line(node), field=field)
    return value


def load_rules(path: str | PathLike[str]) -> DelinquencyRules:
    """Read a delinquency rules file. Raises :class:`ConfigError` naming file, line and field."""
    file = fspath(path)
    try:
        text = Path(file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the rules file: {exc}", file=file) from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(
            f"not valid YAML: {exc.problem or exc}", file=file, line=mark.line + 1 if mark else None
        ) from exc
    if root is None:
        raise ConfigError("the rules file is empty; 'buckets' is required", file=file, line=1)
    top = _mapping(root, file=file, field=None)

    for key, (key_node, _) in top.items():
        if key not in _RULE_KEYS and key != "buckets":
            allowed = ", ".join([*_RULE_KEYS, "buckets"])
            raise ConfigError(f"unknown key (allowed: {allowed})", file=file, line=_line(key_node), field=key)

    kwargs: dict[str, object] = {}
    for key, attr in _RULE_KEYS.items():
        if key in top:
            kwargs[attr] = _int(top[key][1], file=file, field=key)

    if "buckets" not in top:
        raise ConfigError("missing the bucket table", file=file, line=_line(root), field="buckets")
    seq = top["buckets"][1]
    if not isinstance(seq, yaml.SequenceNode):
        raise ConfigError("expected a list of buckets", file=file, line=_line(seq), field="buckets")

    buckets: list[Bucket] = []
    lines: list[dict[str, int]] = []
    for i, item in enumerate(seq.value):
        prefix = f"buckets[{i}]"
        entry = _mapping(item, file=file, field=prefix)
        for key, (key_node, _) in entry.items():
            if key not in _BUCKET_KEYS:
                raise ConfigError(
                    "unknown key (allowed: name, min_dpd, max_dpd)",
                    file=file, line=_line(key_node), field=f"{prefix}.{key}",
                )
        for key in ("name", "min_dpd"):
            if key not in entry:
                raise ConfigError("is required", file=file, line=_line(item), field=f"{prefix}.{key}")
        name_node = entry["name"][1]
        if not isinstance(name_node, yaml.ScalarNode) or name_node.tag not in (_STR, _INT) or not name_node.value.strip():
            raise ConfigError("must be a non-empty text", file=file, line=_line(name_node), field=f"{prefix}.name")
        min_dpd = _int(entry["min_dpd"][1], file=file, field=f"{prefix}.min_dpd")
        max_dpd: int | None = None
        line_of = {"name": _line(name_node), "min_dpd": _line(entry["min_dpd"][1]), "item": _line(item)}
        if "max_dpd" in entry and entry["max_dpd"][1].tag != _NULL:
            max_dpd = _int(entry["max_dpd"][1], file=file, field=f"{prefix}.max_dpd")
            line_of["max_dpd"] = _line(entry["max_dpd"][1])
        buckets.append(Bucket(name_node.value, min_dpd, max_dpd))
        lines.append(line_of)

    problem = bucket_table_problem(buckets)
    if problem is not None:
        index, message = problem
        if index >= len(buckets):  # empty table
            raise ConfigError(message, file=file, line=_line(seq), field="buckets")
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
