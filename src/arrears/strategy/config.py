"""Loading strategy files (YAML), validated whole at load: every error names the file, line and field.

File format (see docs/strategy.md for the full guide)::

    strategy: {name: early-gentle, version: 3, description: …}
    otherwise: no_treatment          # optional: accounts matching no segment get no treatment
    segments:
      - code: on_hold
        when: hold_active OR hold_review_pending
        path: []                     # explicit "no treatment"
      - code: m1_high_risk
        description: …
        when: bucket = 'M1' AND coalesce(behaviour_score, 0) < 550
        path:
          - {day: 0, action: sms, template: early.reminder}
          - {day: 2, action: call_queue, queue: early_calls, every: 3, until: 20, priority: 3}
          - {day: 10, action: letter, template: early.reminder, when: amount_past_due >= 100000}
          - {day: 1, action: portal_link, channel: sms}   # the cardholder's personal self-service link
      - code: everyone_else          # catch-all: no 'when'
        path: [{day: 0, action: sms, template: early.reminder}]
"""

from __future__ import annotations

import re
from os import PathLike

import yaml

from arrears.kit.errors import ConfigError
from arrears.kit.yamlfile import STR_TAG, compose_file, line_of, mapping, reject_unknown, text, whole_number
from arrears.strategy.conditions import Condition, ConditionError, parse_condition
from arrears.strategy.model import (
    ACTION_KINDS,
    DEFAULT_PRIORITY,
    LINK_CHANNELS,
    LINK_KIND,
    MAX_DAY,
    MESSAGE_KINDS,
    PRIORITIES,
    QUEUE_KINDS,
    Action,
    Segment,
    Strategy,
)

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_TOP_KEYS = ("strategy", "segments", "otherwise")
_HEADER_KEYS = ("name", "version", "description")
_SEGMENT_KEYS = ("code", "description", "when", "path")
_ACTION_KEYS = ("action", "day", "when", "every", "until", "template", "queue", "priority", "note", "channel")
_OTHERWISE = ("no_treatment",)


def _code(node: yaml.Node, *, file: str, field: str, pattern: re.Pattern[str] = _CODE) -> str:
    value = text(node, file=file, field=field)
    if not pattern.match(value):
        allowed = "lower-case letters, digits, - and _" if pattern is _NAME else "lower-case letters, digits and _"
        raise ConfigError(f"{value!r} must be {allowed}, starting with a letter", file=file, line=line_of(node),
                          field=field)
    return value


def _template(node: yaml.Node, kind: str, *, file: str, field: str) -> str:
    """A message template of the channels catalogue that has a version for ``kind`` (sms, email, letter)."""
    from arrears.channels.templates import catalogue

    code = text(node, file=file, field=field)
    known = catalogue()
    if code not in known:
        raise ConfigError(f"unknown template {code!r} (the channels catalogue has: {', '.join(sorted(known))})",
                          file=file, line=line_of(node), field=field)
    if kind not in known[code].channels:
        raise ConfigError(f"template {code!r} has no {kind} version (it has: {', '.join(known[code].channels)})",
                          file=file, line=line_of(node), field=field)
    return code


def _required(entry: dict, keys: tuple[str, ...], node: yaml.Node, *, file: str, prefix: str) -> None:  # type: ignore[type-arg]
    for key in keys:
        if key not in entry:
            raise ConfigError("is required", file=file, line=line_of(node), field=f"{prefix}.{key}")


def _condition_line(node: yaml.Node, inner: int | None) -> int:
    """The file line of line ``inner`` of a condition written in ``node``.

    A literal block (``|``) keeps its lines; a folded block (``>``) starts on the line after its
    indicator; a plain or quoted scalar is reported where it starts (YAML folds its lines)."""
    base = line_of(node)
    style = getattr(node, "style", None)
    if style == "|":
        return base + (inner or 1)
    if style == ">":
        return base + 1
    return base


def _condition(node: yaml.Node, *, file: str, field: str) -> Condition:
    if not isinstance(node, yaml.ScalarNode) or node.tag != STR_TAG:
        shown = node.value if isinstance(node, yaml.ScalarNode) else type(node).__name__
        raise ConfigError(f"must be a condition written as text (quote it if YAML reads it otherwise), got {shown!r}",
                          file=file, line=line_of(node), field=field)
    try:
        return parse_condition(node.value)
    except ConditionError as exc:
        raise ConfigError(exc.message, file=file, line=_condition_line(node, exc.line), field=field) from None


def _action(node: yaml.Node, *, file: str, prefix: str, step: int) -> Action:
    entry = mapping(node, file=file, field=prefix)
    reject_unknown(entry, _ACTION_KEYS, file=file, prefix=prefix)
    _required(entry, ("action", "day"), node, file=file, prefix=prefix)
    kind_node = entry["action"][1]
    kind = text(kind_node, file=file, field=f"{prefix}.action")
    if kind not in ACTION_KINDS:
        raise ConfigError(f"unknown action {kind!r} (allowed: {', '.join(ACTION_KINDS)})", file=file,
                          line=line_of(kind_node), field=f"{prefix}.action")
    day_node = entry["day"][1]
    day = whole_number(day_node, file=file, field=f"{prefix}.day")
    if day > MAX_DAY:
        raise ConfigError(f"must be <= {MAX_DAY} (days after entering the segment), got {day}", file=file,
                          line=line_of(day_node), field=f"{prefix}.day")
    every = until = None
    if "every" in entry:
        every = whole_number(entry["every"][1], file=file, field=f"{prefix}.every", minimum=1)
    if "until" in entry:
        until_node = entry["until"][1]
        until = whole_number(until_node, file=file, field=f"{prefix}.until")
        if every is None:
            raise ConfigError("only meaningful with 'every'", file=file, line=line_of(until_node),
                              field=f"{prefix}.until")
        if until < day or until > MAX_DAY:
            raise ConfigError(f"must be between the action's day ({day}) and {MAX_DAY}, got {until}", file=file,
                              line=line_of(until_node), field=f"{prefix}.until")
    template = queue = note = None
    if "template" in entry:
        t_node = entry["template"][1]
        if kind not in MESSAGE_KINDS:
            raise ConfigError(f"a {kind} action takes no template (only {', '.join(MESSAGE_KINDS)} do)", file=file,
                              line=line_of(t_node), field=f"{prefix}.template")
        template = _template(t_node, kind, file=file, field=f"{prefix}.template")
    elif kind in MESSAGE_KINDS:
        raise ConfigError(f"a {kind} action needs a template", file=file, line=line_of(node),
                          field=f"{prefix}.template")
    if "queue" in entry:
        q_node = entry["queue"][1]
        if kind not in QUEUE_KINDS:
            raise ConfigError(f"a {kind} action takes no queue (only {', '.join(QUEUE_KINDS)} do)", file=file,
                              line=line_of(q_node), field=f"{prefix}.queue")
        queue = _code(q_node, file=file, field=f"{prefix}.queue")
    elif kind == "call_queue":
        raise ConfigError("a call_queue action needs a queue", file=file, line=line_of(node), field=f"{prefix}.queue")
    priority = DEFAULT_PRIORITY
    if "priority" in entry:
        p_node = entry["priority"][1]
        priority = whole_number(p_node, file=file, field=f"{prefix}.priority", minimum=PRIORITIES.start)
        if priority not in PRIORITIES:
            raise ConfigError(f"must be between {PRIORITIES.start} (first) and {PRIORITIES.stop - 1}, got {priority}",
                              file=file, line=line_of(p_node), field=f"{prefix}.priority")
    if "note" in entry:
        note = text(entry["note"][1], file=file, field=f"{prefix}.note")
    channel = None
    if "channel" in entry:
        c_node = entry["channel"][1]
        if kind != LINK_KIND:
            raise ConfigError(f"a {kind} action takes no channel (only {LINK_KIND} does; a message action's channel is "
                              "its kind)", file=file, line=line_of(c_node), field=f"{prefix}.channel")
        channel = text(c_node, file=file, field=f"{prefix}.channel")
        if channel not in LINK_CHANNELS:
            raise ConfigError(f"the link is sent by {' or '.join(LINK_CHANNELS)}, got {channel!r}", file=file,
                              line=line_of(c_node), field=f"{prefix}.channel")
    elif kind == LINK_KIND:
        raise ConfigError(f"a {LINK_KIND} action needs a channel ({' or '.join(LINK_CHANNELS)})", file=file,
                          line=line_of(node), field=f"{prefix}.channel")
    when = _condition(entry["when"][1], file=file, field=f"{prefix}.when") if "when" in entry else None
    return Action(step=step, kind=kind, day=day, when=when, every=every, until=until, template=template, queue=queue,
                  priority=priority, note=note, channel=channel)


def load_strategy(path: str | PathLike[str]) -> Strategy:
    """Read and validate a strategy file. Raises :class:`ConfigError` naming file, line and field."""
    file, root = compose_file(path)
    if root is None:
        raise ConfigError("the strategy file is empty; 'strategy' and 'segments' are required", file=file, line=1)
    top = mapping(root, file=file, field=None)
    reject_unknown(top, _TOP_KEYS, file=file, prefix=None)

    if "strategy" not in top:
        raise ConfigError("is required: strategy: {name: …, version: …}", file=file, line=line_of(root),
                          field="strategy")
    header_node = top["strategy"][1]
    header = mapping(header_node, file=file, field="strategy")
    reject_unknown(header, _HEADER_KEYS, file=file, prefix="strategy")
    _required(header, ("name", "version"), header_node, file=file, prefix="strategy")
    name = _code(header["name"][1], file=file, field="strategy.name", pattern=_NAME)
    version = whole_number(header["version"][1], file=file, field="strategy.version", minimum=1)
    description = text(header["description"][1], file=file, field="strategy.description") \
        if "description" in header else None

    otherwise = False
    if "otherwise" in top:
        o_node = top["otherwise"][1]
        value = text(o_node, file=file, field="otherwise")
        if value not in _OTHERWISE:
            raise ConfigError(f"the only value is {_OTHERWISE[0]!r}, got {value!r}", file=file, line=line_of(o_node),
                              field="otherwise")
        otherwise = True

    if "segments" not in top:
        raise ConfigError("is required: the list of segments", file=file, line=line_of(root), field="segments")
    seq = top["segments"][1]
    if not isinstance(seq, yaml.SequenceNode) or not seq.value:
        raise ConfigError("expected a non-empty list of segments", file=file, line=line_of(seq), field="segments")
    segments: list[Segment] = []
    seen: set[str] = set()
    for i, item in enumerate(seq.value):
        prefix = f"segments[{i}]"
        entry = mapping(item, file=file, field=prefix)
        reject_unknown(entry, _SEGMENT_KEYS, file=file, prefix=prefix)
        _required(entry, ("code", "path"), item, file=file, prefix=prefix)
        code_node = entry["code"][1]
        code = _code(code_node, file=file, field=f"{prefix}.code")
        if code in seen:
            raise ConfigError(f"duplicate segment code {code!r}", file=file, line=line_of(code_node),
                              field=f"{prefix}.code")
        seen.add(code)
        seg_description = text(entry["description"][1], file=file, field=f"{prefix}.description") \
            if "description" in entry else None
        when = _condition(entry["when"][1], file=file, field=f"{prefix}.when") if "when" in entry else None
        if when is None and i < len(seq.value) - 1:
            raise ConfigError("a catch-all segment (no 'when') must be the last: the segments after it could never be "
                              "chosen", file=file, line=line_of(item), field=f"{prefix}.when")
        path_node = entry["path"][1]
        if not isinstance(path_node, yaml.SequenceNode):
            raise ConfigError("expected a list of actions ([] for no treatment)", file=file, line=line_of(path_node),
                              field=f"{prefix}.path")
        path = tuple(_action(a, file=file, prefix=f"{prefix}.path[{j}]", step=j + 1)
                     for j, a in enumerate(path_node.value))
        segments.append(Segment(code=code, when=when, path=path, description=seg_description))

    last = segments[-1]
    if last.when is not None and not otherwise:
        raise ConfigError("the last segment must be a catch-all (no 'when'), or set 'otherwise: no_treatment' so that "
                          "accounts matching no segment get no treatment on purpose", file=file,
                          line=line_of(seq.value[-1]), field=f"segments[{len(segments) - 1}].when")
    if last.when is None and otherwise:
        raise ConfigError("'otherwise: no_treatment' can never apply: the last segment is a catch-all", file=file,
                          line=line_of(top["otherwise"][1]), field="otherwise")
    return Strategy(name=name, version=version, segments=tuple(segments), no_treatment_otherwise=otherwise,
                    description=description, file=file)
