"""The retention schedule: for each table holding personal data, its purpose, how long it is kept, the
event the period runs from and what happens when it has passed (pure: no database, no SQLAlchemy).

The schedule is a versioned YAML file (``schedule.yaml`` next to this module, or the bank's own via
``ARREARS_RETENTION_FILE``), checked when it is loaded; every error names the file, the line and the
field, and a schedule with an error is not used at all. docs/retention.md describes it.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

import yaml

from arrears.kit.errors import ConfigError
from arrears.kit.yamlfile import (
    NULL_TAG,
    STR_TAG,
    boolean,
    compose_file,
    line_of,
    mapping,
    reject_unknown,
    text,
    whole_number,
)

#: What happens to a row whose period has passed.
ACTIONS = ("erase", "anonymise", "keep")
#: The event a period runs from: the row's own date (``column``), the end of its case, or the
#: customer's last activity (docs/retention.md, "When the clock starts").
EVENTS = ("created", "case_closed", "last_activity")
#: Hold kinds that may keep a customer's data (``keep_while.holds``).
HOLD_KINDS = ("dispute", "complaint", "hardship", "bankruptcy", "deceased", "fraud", "legal")
#: The other reasons a customer's data is kept whatever its age.
KEEP_FLAGS = ("open_case", "active_plan", "legal_referral")


def default_schedule_path() -> Path:
    return Path(str(resources.files("arrears.retention").joinpath("schedule.yaml")))


def packs_dir() -> Path:
    return Path(str(resources.files("arrears.contact").joinpath("packs")))


@dataclass(frozen=True, slots=True)
class Span:
    """A length of time in whole years, months and days, with the source that sets it."""

    years: int = 0
    months: int = 0
    days: int = 0
    source: str = ""

    def before(self, day: date) -> date:
        """``day`` moved back by this span (years and months first, the 29th-31st clamped to the month's end)."""
        months = day.year * 12 + day.month - 1 - (self.years * 12 + self.months)
        year, month = divmod(months, 12)
        month += 1
        last = calendar.monthrange(year, month)[1]
        return date(year, month, min(day.day, last)) - timedelta(days=self.days)

    def describe(self) -> str:
        parts = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in
                 ((self.years, "year"), (self.months, "month"), (self.days, "day")) if n]
        return " ".join(parts) or "0 days"


@dataclass(frozen=True, slots=True)
class Period:
    """How long data is kept: the longest of its spans (each a legal minimum or the bank's choice)."""

    name: str
    spans: tuple[Span, ...]

    def cutoff(self, as_of: date) -> date:
        """The last event date whose data has passed this period on ``as_of``: data from an event on
        day ``E`` is kept while ``as_of`` is before ``E + period`` and is due on that day."""
        return min(span.before(as_of) for span in self.spans)

    def describe(self) -> str:
        return " / ".join(s.describe() for s in self.spans)


@dataclass(frozen=True, slots=True)
class TableRule:
    table: str
    purpose: str
    action: str
    line: int
    period: Period | None = None
    event: str | None = None
    #: the row's own date or time column (``created``); ``fk.column`` reads it one foreign key away
    column: str | None = None
    #: anonymise: column -> the value it is set to (None = NULL)
    set: tuple[tuple[str, Any], ...] = ()
    note: str = ""
    #: line of each field, for errors found when the schedule is checked against the store's tables
    lines: dict[str, int] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class KeepWhile:
    """A customer's data is kept, whatever its age, while any of these holds (legal holds)."""

    hold_kinds: frozenset[str] = frozenset()
    open_case: bool = True
    active_plan: bool = True
    legal_referral: bool = True


@dataclass(frozen=True, slots=True)
class Schedule:
    version: str
    file: str
    keep_while: KeepWhile
    tables: dict[str, TableRule]
    periods: dict[str, Period]


# --------------------------------------------------------------------------------------------
# Loading


_TOP = ("version", "keep_while", "periods", "tables")
_TABLE_KEYS = ("purpose", "action", "period", "from", "column", "set", "note")
_SPAN_KEYS = ("years", "months", "days", "source", "pack", "rule", "param")


def load_schedule(path: str | PathLike[str] | None = None, *, packs: Path | None = None) -> Schedule:
    """Read and check a schedule file (the shipped default when ``path`` is None)."""
    file, root = compose_file(path or default_schedule_path())
    if root is None:
        raise ConfigError("the schedule is empty", file=file, line=1)
    top = mapping(root, file=file, field=None)
    reject_unknown(top, _TOP, file=file, prefix=None)
    for key in ("version", "tables"):
        if key not in top:
            raise ConfigError(f"missing {key!r}", file=file, line=line_of(root), field=key)
    version_node = top["version"][1]
    if not isinstance(version_node, yaml.ScalarNode) or not version_node.value.strip():
        raise ConfigError("must be a version, e.g. \"2026-12-1\"", file=file, line=line_of(version_node),
                          field="version")
    keep = _keep_while(top["keep_while"][1], file=file) if "keep_while" in top else KeepWhile()
    periods: dict[str, Period] = {}
    if "periods" in top:
        for name, (_k, node) in mapping(top["periods"][1], file=file, field="periods").items():
            periods[name] = _period(node, name=name, file=file, field=f"periods.{name}", packs=packs)
    tables: dict[str, TableRule] = {}
    for name, (key_node, node) in mapping(top["tables"][1], file=file, field="tables").items():
        tables[name] = _table(name, key_node, node, periods=periods, file=file, packs=packs)
    if not tables:
        raise ConfigError("lists no table", file=file, line=line_of(top["tables"][1]), field="tables")
    return Schedule(version=str(version_node.value), file=file, keep_while=keep, tables=tables, periods=periods)


def _keep_while(node: yaml.Node, *, file: str) -> KeepWhile:
    entry = mapping(node, file=file, field="keep_while")
    reject_unknown(entry, ("holds", *KEEP_FLAGS), file=file, prefix="keep_while")
    kinds: set[str] = set()
    if "holds" in entry:
        seq = entry["holds"][1]
        if not isinstance(seq, yaml.SequenceNode):
            raise ConfigError("expected a list of hold kinds", file=file, line=line_of(seq), field="keep_while.holds")
        for item in seq.value:
            kind = text(item, file=file, field="keep_while.holds")
            if kind not in HOLD_KINDS:
                raise ConfigError(f"unknown hold kind {kind!r} (kinds: {', '.join(HOLD_KINDS)})", file=file,
                                  line=line_of(item), field="keep_while.holds")
            kinds.add(kind)
    flags = {k: boolean(entry[k][1], file=file, field=f"keep_while.{k}") for k in KEEP_FLAGS if k in entry}
    return KeepWhile(hold_kinds=frozenset(kinds), **flags)


def _period(node: yaml.Node, *, name: str, file: str, field: str, packs: Path | None) -> Period:
    """A period: one span, or ``longest_of`` a list of spans."""
    entry = mapping(node, file=file, field=field)
    if "longest_of" in entry:
        reject_unknown(entry, ("longest_of",), file=file, prefix=field)
        seq = entry["longest_of"][1]
        if not isinstance(seq, yaml.SequenceNode) or not seq.value:
            raise ConfigError("expected a non-empty list of periods", file=file, line=line_of(seq),
                              field=f"{field}.longest_of")
        spans = tuple(_span(item, file=file, field=f"{field}.longest_of[{i}]", packs=packs)
                      for i, item in enumerate(seq.value))
    else:
        spans = (_span(node, file=file, field=field, packs=packs),)
    return Period(name=name, spans=spans)


def _span(node: yaml.Node, *, file: str, field: str, packs: Path | None) -> Span:
    entry = mapping(node, file=file, field=field)
    reject_unknown(entry, _SPAN_KEYS, file=file, prefix=field)
    if "pack" in entry:
        for key in ("years", "months", "days"):
            if key in entry:
                raise ConfigError("a period read from a policy pack takes no years, months or days of its own",
                                  file=file, line=line_of(entry[key][0]), field=f"{field}.{key}")
        return _pack_span(entry, file=file, field=field, packs=packs)
    if "source" not in entry:
        raise ConfigError("missing the source of this period (the rule it comes from, or 'as configured by the "
                          "bank')", file=file, line=line_of(node), field=f"{field}.source")
    n = {k: whole_number(entry[k][1], file=file, field=f"{field}.{k}") for k in ("years", "months", "days")
         if k in entry}
    if not any(n.values()):
        raise ConfigError("a period needs years, months or days above 0", file=file, line=line_of(node), field=field)
    return Span(source=text(entry["source"][1], file=file, field=f"{field}.source"), **n)


def _pack_span(entry: dict[str, tuple[yaml.Node, yaml.Node]], *, file: str, field: str,
               packs: Path | None) -> Span:
    """A period read from a policy pack's rule parameter (the pack is the one source of the number): in
    years when the parameter's name ends in ``_years``, months in ``_months``, else days."""
    for key in ("rule", "param"):
        if key not in entry:
            raise ConfigError(f"a period read from a policy pack names its {key}", file=file,
                              line=line_of(entry["pack"][0]), field=f"{field}.{key}")
    pack = text(entry["pack"][1], file=file, field=f"{field}.pack")
    rule_id = text(entry["rule"][1], file=file, field=f"{field}.rule")
    param = text(entry["param"][1], file=file, field=f"{field}.param")
    where = line_of(entry["pack"][1])
    pack_file = (packs or packs_dir()) / f"{pack}.yaml"
    try:
        data = yaml.safe_load(pack_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read policy pack {pack!r} ({pack_file}): {exc}", file=file, line=where,
                          field=f"{field}.pack") from exc
    rules = [r for r in (data or {}).get("rules", []) if isinstance(r, dict) and r.get("id") == rule_id]
    if not rules:
        raise ConfigError(f"policy pack {pack!r} has no rule {rule_id!r}", file=file,
                          line=line_of(entry["rule"][1]), field=f"{field}.rule")
    value = (rules[0].get("params") or {}).get(param)
    unit = "years" if param.endswith("_years") else "months" if param.endswith("_months") else "days"
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"rule {rule_id!r} of policy pack {pack!r} has no whole number of {unit} {param!r}",
                          file=file, line=line_of(entry["param"][1]), field=f"{field}.param")
    source = f"policy pack {pack}, rule {rule_id}, {param}: {value} ({str(rules[0].get('source', '')).strip()})"
    return Span(source=source, **{unit: value})


def _table(name: str, key_node: yaml.Node, node: yaml.Node, *, periods: dict[str, Period], file: str,
           packs: Path | None) -> TableRule:
    where = f"tables.{name}"
    entry = mapping(node, file=file, field=where)
    reject_unknown(entry, _TABLE_KEYS, file=file, prefix=where)
    lines = {k: line_of(v) for k, (_kn, v) in entry.items()}
    for key in ("purpose", "action"):
        if key not in entry:
            raise ConfigError(f"missing {key!r}", file=file, line=line_of(key_node), field=f"{where}.{key}")
    purpose = text(entry["purpose"][1], file=file, field=f"{where}.purpose")
    action = text(entry["action"][1], file=file, field=f"{where}.action")
    if action not in ACTIONS:
        raise ConfigError(f"unknown action {action!r} (actions: {', '.join(ACTIONS)})", file=file,
                          line=lines["action"], field=f"{where}.action")
    note = text(entry["note"][1], file=file, field=f"{where}.note") if "note" in entry else ""
    if action == "keep":
        for key in ("period", "from", "column", "set"):
            if key in entry:
                raise ConfigError(f"a table that is kept takes no {key!r}", file=file, line=lines[key],
                                  field=f"{where}.{key}")
        return TableRule(table=name, purpose=purpose, action=action, line=line_of(key_node), note=note, lines=lines)
    for key in ("period", "from"):
        if key not in entry:
            raise ConfigError(f"missing {key!r} (how long, and from which event)", file=file, line=line_of(key_node),
                              field=f"{where}.{key}")
    period_node = entry["period"][1]
    if isinstance(period_node, yaml.ScalarNode) and period_node.tag == STR_TAG:
        if period_node.value not in periods:
            raise ConfigError(f"unknown period {period_node.value!r} (periods: {', '.join(periods) or 'none'})",
                              file=file, line=lines["period"], field=f"{where}.period")
        period = periods[period_node.value]
    else:
        period = _period(period_node, name=name, file=file, field=f"{where}.period", packs=packs)
    event = text(entry["from"][1], file=file, field=f"{where}.from")
    if event not in EVENTS:
        raise ConfigError(f"unknown event {event!r} (events: {', '.join(EVENTS)})", file=file, line=lines["from"],
                          field=f"{where}.from")
    column = None
    if event == "created":
        if "column" not in entry:
            raise ConfigError("'from: created' needs the row's date or time column", file=file, line=lines["from"],
                              field=f"{where}.column")
        column = text(entry["column"][1], file=file, field=f"{where}.column")
    elif "column" in entry:
        raise ConfigError(f"'from: {event}' takes no column", file=file, line=lines["column"], field=f"{where}.column")
    values: tuple[tuple[str, Any], ...] = ()
    if action == "anonymise":
        if "set" not in entry:
            raise ConfigError("'anonymise' needs 'set': each column and the value it is set to (null: emptied)",
                              file=file, line=lines["action"], field=f"{where}.set")
        pairs = []
        for col, (_ck, value_node) in mapping(entry["set"][1], file=file, field=f"{where}.set").items():
            if isinstance(value_node, yaml.ScalarNode) and value_node.tag == NULL_TAG:
                pairs.append((col, None))
            elif isinstance(value_node, yaml.ScalarNode):
                pairs.append((col, yaml.safe_load(value_node.value) if value_node.tag != STR_TAG else value_node.value))
            elif isinstance(value_node, yaml.MappingNode) and not value_node.value:
                pairs.append((col, {}))
            else:
                raise ConfigError("must be null, a text, a date or {}", file=file, line=line_of(value_node),
                                  field=f"{where}.set.{col}")
        if not pairs:
            raise ConfigError("names no column", file=file, line=lines["set"], field=f"{where}.set")
        values = tuple(pairs)
    elif "set" in entry:
        raise ConfigError("only 'anonymise' takes 'set'", file=file, line=lines["set"], field=f"{where}.set")
    return TableRule(table=name, purpose=purpose, action=action, line=line_of(key_node), period=period, event=event,
                     column=column, set=values, note=note, lines=lines)
