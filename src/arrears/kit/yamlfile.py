"""Rules files in YAML, read as nodes so that every error can name the file, the line and the field."""

from __future__ import annotations

from os import PathLike, fspath
from pathlib import Path

import yaml

from arrears.kit.errors import ConfigError

INT_TAG = "tag:yaml.org,2002:int"
NULL_TAG = "tag:yaml.org,2002:null"
STR_TAG = "tag:yaml.org,2002:str"


def compose_file(path: str | PathLike[str]) -> tuple[str, yaml.Node | None]:
    """The file's name and its composed YAML root node (None for an empty file)."""
    file = fspath(path)
    try:
        text = Path(file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the rules file: {exc}", file=file) from exc
    try:
        return file, yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(
            f"not valid YAML: {exc.problem or exc}", file=file, line=mark.line + 1 if mark else None
        ) from exc


def line_of(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def mapping(node: yaml.Node, *, file: str, field: str | None) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """A mapping node as {key: (key node, value node)}; plain string keys only, no duplicates."""
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError("expected a mapping of keys to values", file=file, line=line_of(node), field=field)
    out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        where = f"{field}.{key}" if field and key else (key or field)
        if not isinstance(key, str) or key_node.tag != STR_TAG:
            raise ConfigError("keys must be plain names", file=file, line=line_of(key_node), field=field)
        if key in out:
            raise ConfigError("duplicate key", file=file, line=line_of(key_node), field=where)
        out[key] = (key_node, value_node)
    return out


def whole_number(node: yaml.Node, *, file: str, field: str, minimum: int = 0) -> int:
    """A plain YAML integer (not '30', 1.5 or true) at or above ``minimum``."""
    if not isinstance(node, yaml.ScalarNode) or node.tag != INT_TAG:
        shown = node.value if isinstance(node, yaml.ScalarNode) else type(node).__name__
        raise ConfigError(f"must be a whole number, got {shown!r}", file=file, line=line_of(node), field=field)
    value = yaml.safe_load(node.value)  # plain scalar already resolved as int: 1_000, 0x10 ...
    if value < minimum:
        raise ConfigError(f"must be >= {minimum}, got {value}", file=file, line=line_of(node), field=field)
    return value


BOOL_TAG = "tag:yaml.org,2002:bool"


def text(node: yaml.Node, *, file: str, field: str) -> str:
    """A plain, non-blank YAML string, as written."""
    if not isinstance(node, yaml.ScalarNode) or node.tag != STR_TAG or not node.value.strip():
        raise ConfigError("must be a non-empty text", file=file, line=line_of(node), field=field)
    return node.value


def boolean(node: yaml.Node, *, file: str, field: str) -> bool:
    """A YAML ``true`` or ``false`` (not "yes", 1 or a string)."""
    if not isinstance(node, yaml.ScalarNode) or node.tag != BOOL_TAG:
        raise ConfigError("must be true or false", file=file, line=line_of(node), field=field)
    return bool(yaml.safe_load(node.value))


def reject_unknown(entry: dict[str, tuple[yaml.Node, yaml.Node]], allowed: tuple[str, ...], *, file: str,
                   prefix: str | None) -> None:
    """Refuse the first key of ``entry`` (from :func:`mapping`) that is not in ``allowed``."""
    for key, (key_node, _) in entry.items():
        if key not in allowed:
            raise ConfigError(f"unknown key {key!r} (allowed: {', '.join(allowed) or 'none'})", file=file,
                              line=line_of(key_node), field=f"{prefix}.{key}" if prefix else key)



def required_list(top: dict[str, tuple[yaml.Node, yaml.Node]], key: str, *, root: yaml.Node, file: str,
                  one: str, many: str) -> list[yaml.Node]:
    """The items of the non-empty list under ``key``; ``one``/``many`` name an item in the messages."""
    if key not in top:
        raise ConfigError(f"missing the {one} list", file=file, line=line_of(root), field=key)
    seq = top[key][1]
    if not isinstance(seq, yaml.SequenceNode) or not seq.value:
        raise ConfigError(f"expected a non-empty list of {many}", file=file, line=line_of(seq), field=key)
    return list(seq.value)
