"""The retention job: erase or anonymise what has passed its period in the schedule, batch by batch.

Each batch is a transaction of its own with its audit record (``retention.erase`` /
``retention.anonymise``: the table, the number of rows, the date, the period and the schedule's
version — never a value), so a run killed part-way keeps what it finished and the next run
completes the rest; a second run on the same date finds nothing left. docs/retention.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import JSON, Engine, MetaData, String, Table, Text
from sqlalchemy.orm import Session

from arrears.auth.audit import record
from arrears.config import get_settings
from arrears.kit.errors import ConfigError
from arrears.retention import repository as repo
from arrears.retention.model import Schedule, TableRule, load_schedule
from arrears.retention.settings import RetentionSettings

#: Tables that are people: a row of a table that leads to one of them by foreign keys is about a person.
PERSON_TABLES = ("customers", "users")
#: Column names that name, identify, reach or describe a person, or hold free text or a copy of what
#: was sent or received (which may contain any of these).
PERSONAL_COLUMNS = frozenset({
    "name", "national_id", "birth_date", "value", "relation", "notes", "note", "review_note", "decision_note",
    "recording_ref", "remote", "username", "display_name", "payload", "raw", "detail", "terms_text", "pdf",
    "token_hash", "code_hash", "description", "last_error", "reason", "revoke_reason", "provider_ref",
})

#: Called after each batch's changes, inside its transaction (tests use it to stop a run part-way).
BatchHook = Callable[[str, int], None]


def personal_tables(metadata: MetaData) -> dict[str, str]:
    """Every table holding personal data, with why: a person's table, a column about a person, or a
    foreign-key path to a person."""
    out: dict[str, str] = {}
    for table in metadata.sorted_tables:
        if table.name in PERSON_TABLES:
            out[table.name] = "a table of people"
            continue
        cols = sorted(c.name for c in table.columns if c.name in PERSONAL_COLUMNS)
        if cols:
            out[table.name] = "column(s) " + ", ".join(cols)
            continue
        for person in PERSON_TABLES:
            if repo.fk_paths(metadata, table, person):
                out[table.name] = f"rows lead to {person} by foreign keys"
                break
    return out


def check_schedule(schedule: Schedule, metadata: MetaData) -> None:
    """Refuse a schedule that does not fit the store: an unknown table or column, a date column that is
    not a date, a table with personal data that is not listed; the error names file, line and field."""
    file = schedule.file
    for name, rule in schedule.tables.items():
        where = f"tables.{name}"
        table = metadata.tables.get(name)
        if table is None:
            raise ConfigError(f"no table {name!r} in the store", file=file, line=rule.line, field=where)
        if rule.action == "keep":
            continue
        try:
            repo.primary_key(table)
        except ValueError as exc:
            raise ConfigError(str(exc), file=file, line=rule.line, field=where) from None
        if rule.event == "created":
            _check_column(rule, table, file=file)
        elif rule.event == "case_closed" and name != "cases" and not repo.fk_paths(metadata, table, "cases"):
            raise ConfigError(f"table {name!r} does not lead to a case: 'from: case_closed' cannot apply", file=file,
                              line=rule.lines.get("from", rule.line), field=f"{where}.from")
        elif rule.event == "last_activity" and name != "customers" and not repo.fk_paths(metadata, table, "customers"):
            raise ConfigError(f"table {name!r} does not lead to a customer: 'from: last_activity' cannot apply",
                              file=file, line=rule.lines.get("from", rule.line), field=f"{where}.from")
        for col_name, value in rule.set:
            _check_anonymised(rule, table, col_name, value, file=file)
    missing = sorted(set(personal_tables(metadata)) - set(schedule.tables))
    if missing:
        raise ConfigError("tables holding personal data are not in the schedule: " + ", ".join(missing)
                          + " (give each a purpose, a period and an action, or 'keep' with its reason)",
                          file=file, line=1, field="tables")


def _check_column(rule: TableRule, table: Table, *, file: str) -> None:
    field = f"tables.{rule.table}.column"
    line = rule.lines.get("column", rule.line)
    assert rule.column is not None
    if "." in rule.column:
        fk_col, target = rule.column.split(".", 1)
        if fk_col not in table.c or not table.c[fk_col].foreign_keys:
            raise ConfigError(f"{fk_col!r} is not a foreign key of {rule.table!r}", file=file, line=line, field=field)
        (fk,) = table.c[fk_col].foreign_keys
        other = fk.column.table
        if target not in other.c:
            raise ConfigError(f"no column {target!r} in {other.name!r}", file=file, line=line, field=field)
        col = other.c[target]
    else:
        if rule.column not in table.c:
            raise ConfigError(f"no column {rule.column!r} in {rule.table!r}", file=file, line=line, field=field)
        col = table.c[rule.column]
    if not repo.is_date_column(col):
        raise ConfigError(f"column {rule.column!r} is not a date or a time", file=file, line=line, field=field)


def _check_anonymised(rule: TableRule, table: Table, name: str, value: object, *, file: str) -> None:
    field = f"tables.{rule.table}.set.{name}"
    line = rule.lines.get("set", rule.line)
    if name not in table.c:
        raise ConfigError(f"no column {name!r} in {rule.table!r}", file=file, line=line, field=field)
    col = table.c[name]
    if col.primary_key or col.foreign_keys:
        raise ConfigError("a key column cannot be anonymised (erase the row instead)", file=file, line=line,
                          field=field)
    if value is None and not col.nullable:
        raise ConfigError("the column cannot be empty (NOT NULL): give the value it is set to", file=file, line=line,
                          field=field)
    if value is not None and col.unique:
        raise ConfigError("a unique column can only be emptied (null)", file=file, line=line, field=field)
    if value == {} and not isinstance(col.type, JSON):
        raise ConfigError("{} fits a JSON column only", file=file, line=line, field=field)
    if isinstance(value, str) and not isinstance(col.type, (String, Text)):
        raise ConfigError("a text value fits a text column only", file=file, line=line, field=field)
    if isinstance(value, date) and not repo.is_date_column(col):
        raise ConfigError("a date fits a date column only", file=file, line=line, field=field)


def active_schedule(metadata: MetaData, path: Path | None = None) -> Schedule:
    """The bank's schedule (``ARREARS_RETENTION_FILE``) or the shipped one, checked against the store."""
    schedule = load_schedule(path or RetentionSettings().file)
    check_schedule(schedule, metadata)
    return schedule


@dataclass
class TableResult:
    table: str
    action: str
    #: rows erased or anonymised (with --dry-run: that would be)
    rows: int = 0
    #: rows past their period kept because of a legal hold
    held: int = 0
    batches: int = 0
    cutoff: date | None = None
    period: str = ""


@dataclass
class RetentionReport:
    as_of: date
    dry_run: bool
    schedule_version: str
    tables: list[TableResult] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)


def run_retention(
    engine: Engine,
    *,
    as_of: date,
    actor: str,
    metadata: MetaData,
    schedule: Schedule | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
    on_batch: BatchHook | None = None,
) -> RetentionReport:
    """Erase or anonymise, table by table (rows that others point at after those others), what has passed
    its period on ``as_of``; ``dry_run`` only counts. Each batch commits with its audit record."""
    schedule = schedule or active_schedule(metadata)
    size = batch_size or RetentionSettings().batch_size
    zone = get_settings().timezone
    db = repo.Tables(metadata)
    report = RetentionReport(as_of=as_of, dry_run=dry_run, schedule_version=schedule.version)
    order = [t.name for t in reversed(metadata.sorted_tables) if t.name in schedule.tables]
    for name in order:
        rule = schedule.tables[name]
        if rule.action == "keep":
            report.tables.append(TableResult(table=name, action="keep"))
            continue
        assert rule.period is not None
        cutoff = rule.period.cutoff(as_of)
        result = TableResult(table=name, action=rule.action, cutoff=cutoff, period=rule.period.describe())
        report.tables.append(result)
        due = repo.due_rows(db, rule, as_of=as_of, cutoff=cutoff, zone=zone, keep=schedule.keep_while)
        kept = repo.due_rows(db, rule, as_of=as_of, cutoff=cutoff, zone=zone, keep=schedule.keep_while,
                             held_only=True)
        with Session(engine) as session:
            result.held = repo.count(session, kept)
            if dry_run:
                result.rows = repo.count(session, due)
                continue
        table = metadata.tables[name]
        while True:
            with Session(engine) as session, session.begin():
                keys = repo.next_batch(session, due, table, size)
                if not keys:
                    break
                changed = repo.apply(session, table, rule, keys)
                record(session, actor=actor, action=f"retention.{rule.action}", entity=name, detail={
                    "rows": changed, "as_of": as_of.isoformat(), "event": rule.event, "period": rule.period.describe(),
                    "on_or_before": cutoff.isoformat(), "columns": [c for c, _ in rule.set],
                    "schedule_version": schedule.version, "schedule": Path(schedule.file).name,
                })
                if on_batch is not None:
                    on_batch(name, changed)
            result.rows += changed
            result.batches += 1
    return report
