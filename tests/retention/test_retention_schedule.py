"""The retention schedule: every table holding personal data is listed, and a wrong file is refused with
its file, line and field (no store needed)."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Table
from typer.testing import CliRunner

from arrears.kit.errors import ConfigError
from arrears.kit.models import metadata
from arrears.retention.model import Span, default_schedule_path, load_schedule
from arrears.retention.service import check_schedule

#: Column names that on their own make a table's rows personal data (a person's name, identity, contact
#: details, free text about them, what was sent to them, where they connected from).
PERSONAL = {"name", "national_id", "birth_date", "value", "notes", "note", "recording_ref", "remote", "username",
            "payload", "raw", "detail", "terms_text", "review_note"}


def _leads_to_a_person(table: Table, seen: frozenset[str] = frozenset()) -> bool:
    """Independent of the code under test: follow foreign keys until customers or users."""
    for fk in table.foreign_keys:
        target = fk.column.table
        if target.name in ("customers", "users"):
            return True
        if target.name not in seen and _leads_to_a_person(target, seen | {table.name}):
            return True
    return False


def test_every_table_with_personal_data_is_in_the_shipped_schedule() -> None:
    schedule = load_schedule()
    unlisted = [t.name for t in metadata.sorted_tables
                if t.name not in schedule.tables
                and (t.name in ("customers", "users") or PERSONAL & {c.name for c in t.columns}
                     or _leads_to_a_person(t))]
    assert unlisted == [], f"give these tables a line in {default_schedule_path()}: {unlisted}"
    check_schedule(schedule, metadata)  # and the store agrees with every line of it
    for rule in schedule.tables.values():
        assert rule.purpose.strip()
        assert rule.action == "keep" or (rule.period is not None and all(s.source for s in rule.period.spans))


def test_the_contact_record_periods_come_from_the_policy_packs() -> None:
    schedule = load_schedule()
    spans = schedule.periods["contact_records"].spans
    assert {(s.years, s.days) for s in spans} == {(0, 731), (3, 0)}
    assert any("1006.100" in s.source for s in spans) and any("第六十八条" in s.source for s in spans)
    # the longest wins: three years, a day before the 731 days would have passed on 2026-12-07
    assert schedule.periods["contact_records"].cutoff(date(2026, 12, 7)) == date(2023, 12, 7)


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "bank-retention.yaml"
    path.write_text(body, encoding="utf-8")
    return path


GOOD_TABLE = """  interactions:
    purpose: contact records
    action: anonymise
    from: created
    column: started_at
    period: {years: 2, source: test}
    set: {notes: null}
"""


@pytest.mark.parametrize(("body", "line", "field", "says"), [
    ('version: "1"\ntables:\n  interactions:\n    purpose: x\n    action: shred\n', 5, "tables.interactions.action",
     "unknown action 'shred'"),
    ('version: "1"\ntables:\n  interactions:\n    purpose: x\n    action: erase\n    from: created\n    column: at\n',
     3, "tables.interactions.period", "missing 'period'"),
    ('version: "1"\ntables:\n' + GOOD_TABLE.replace("years: 2, source: test", "years: 2"), 8,
     "tables.interactions.period.source", "missing the source"),
    ('version: "1"\ntables:\n' + GOOD_TABLE.replace("from: created", "from: birthday"), 6,
     "tables.interactions.from", "unknown event 'birthday'"),
    ('version: "1"\nkeep_while:\n  holds: [dispute, holiday]\ntables:\n' + GOOD_TABLE, 3, "keep_while.holds",
     "unknown hold kind 'holiday'"),
    ('version: "1"\ntables:\n' + GOOD_TABLE.replace("period: {years: 2, source: test}",
                                                    "period: {pack: cn, rule: call_recording, param: nothing}"), 8,
     "tables.interactions.period.param", "no whole number of days 'nothing'"),
    ('version: "1"\ntables:\n' + GOOD_TABLE.replace("period: {years: 2, source: test}", "period: forever"), 8,
     "tables.interactions.period", "unknown period 'forever'"),
    ('version: "1"\ntables:\n  users:\n    purpose: staff\n    action: keep\n    period: {years: 1, source: x}\n', 6,
     "tables.users.period", "a table that is kept takes no 'period'"),
])
def test_a_wrong_schedule_names_its_file_line_and_field(tmp_path: Path, body: str, line: int, field: str,
                                                        says: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_schedule(path)
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(path), line, field)
    assert says in caught.value.detail


@pytest.mark.parametrize(("change", "line", "field", "says"), [
    (("interactions:", "interaktions:"), 3, "tables.interaktions", "no table 'interaktions'"),
    (("column: started_at", "column: began_at"), 7, "tables.interactions.column", "no column 'began_at'"),
    (("column: started_at", "column: outcome"), 7, "tables.interactions.column", "is not a date or a time"),
    (("set: {notes: null}", "set: {outcome: null}"), 9, "tables.interactions.set.outcome", "cannot be empty"),
    (("set: {notes: null}", "set: {case_id: null}"), 9, "tables.interactions.set.case_id", "key column"),
])
def test_a_schedule_that_does_not_fit_the_store_is_refused(tmp_path: Path, change: tuple[str, str], line: int,
                                                           field: str, says: str) -> None:
    path = _write(tmp_path, ('version: "1"\ntables:\n' + GOOD_TABLE).replace(*change))
    with pytest.raises(ConfigError) as caught:
        check_schedule(load_schedule(path), metadata)
    assert (caught.value.line, caught.value.field) == (line, field)
    assert says in caught.value.detail


def test_a_schedule_that_leaves_out_a_table_with_personal_data_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, 'version: "1"\ntables:\n' + GOOD_TABLE)
    with pytest.raises(ConfigError) as caught:
        check_schedule(load_schedule(path), metadata)
    assert caught.value.field == "tables" and "customers" in caught.value.detail
    assert "interactions" not in caught.value.detail.split(":", 1)[1].split("(")[0]


@settings(max_examples=200, deadline=None)
@given(day=st.dates(min_value=date(2001, 1, 1), max_value=date(2099, 12, 31)),
       years=st.integers(0, 5), months=st.integers(0, 24), days=st.integers(0, 800))
def test_a_span_counts_back_whole_years_and_months_then_days(day: date, years: int, months: int, days: int) -> None:
    back = Span(years=years, months=months).before(day)
    total = day.year * 12 + day.month - (back.year * 12 + back.month)
    assert total == years * 12 + months
    assert back.day == day.day or (back.day < day.day and (back + timedelta(days=1)).day == 1)  # clamped to the end
    assert Span(years=years, months=months, days=days).before(day) == back - timedelta(days=days)


def test_leap_day_two_years_on() -> None:
    assert Span(years=2).before(date(2026, 2, 28)) == date(2024, 2, 28)
    assert Span(years=2).before(date(2028, 2, 29)) == date(2026, 2, 28)


def test_the_command_line_checks_a_schedule_and_runs_the_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          sqlite_template: Path) -> None:
    from arrears.cli import app
    from arrears.config import get_settings

    shutil.copyfile(sqlite_template, tmp_path / "store.sqlite")  # migrated already
    monkeypatch.setenv("ARREARS_DATABASE_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        result = runner.invoke(app, ["retention", "check"])
        assert result.exit_code == 0, result.output
        assert "every table with personal data listed" in result.output
        result = runner.invoke(app, ["retention", "run", "--dry-run", "--as-of", "2026-12-07"])
        assert result.exit_code == 0, result.output
        assert "Retention: 0 rows would be removed on 2026-12-07" in " ".join(result.output.split())
        result = runner.invoke(app, ["cycle", "--date", "2026-12-07", "--retention"])
        assert result.exit_code == 0, result.output
        assert "Retention: 0 rows removed on 2026-12-07, each batch audited" in " ".join(result.output.split())
        bad = _write(tmp_path, 'version: "1"\ntables:\n' + GOOD_TABLE)
        result = runner.invoke(app, ["retention", "run", "--file", str(bad)])
        assert result.exit_code == 1
        assert f"{bad}, line 1, field 'tables'" in " ".join(result.output.split())
    finally:
        get_settings.cache_clear()
