"""One daily cycle at a time per store.

Two cycles writing the same store at once would race on the same snapshots and cases; the second
one must stop at once with a plain message ("another cycle for 2026-12-07 is running"), not fail
later with a constraint error. The lock dies with the process that holds it, so a cycle killed
mid-way never blocks the next one:

- PostgreSQL: a session-level advisory lock (keyed by the store's schema, so stores sharing one
  database do not block each other) held on a connection of its own for the whole cycle;
  that connection's ``application_name`` carries the business date, so the refused run can say
  which cycle holds it.
- SQLite: an exclusive ``flock`` on a file next to the database file (``<store>.cycle.lock``),
  holding the business date and process id of the run.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from arrears.kit.errors import ArrearsError

_LOCK_KEY = "arrears.daily_cycle"
_APP_PREFIX = "arrears cycle "


class CycleRunning(ArrearsError):
    """Another cycle holds the store."""

    status = 409


def _message(held_for: str | None) -> str:
    which = f"for {held_for} " if held_for else ""
    return f"another cycle {which}is running on this store: wait for it to finish, then run again"


@contextmanager
def cycle_lock(engine: Engine, business_date: date) -> Iterator[None]:
    """Hold the store's cycle lock for the block, or raise :class:`CycleRunning` at once."""
    if engine.dialect.name == "postgresql":
        with _pg_lock(engine, business_date):
            yield
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield  # a private in-memory store: nobody else can write it
        return
    with _file_lock(Path(f"{database}.cycle.lock"), business_date):
        yield


@contextmanager
def _pg_lock(engine: Engine, business_date: date) -> Iterator[None]:
    with engine.connect() as conn:
        got = conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:k || current_schema()))"), {"k": _LOCK_KEY}).scalar()
        if not got:
            holder = conn.execute(text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objid::text::bigint = (hashtext(:k || current_schema())::bigint & 4294967295) "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1"),
                {"k": _LOCK_KEY}).scalar()
            conn.rollback()
            held_for = holder[len(_APP_PREFIX):] if holder and holder.startswith(_APP_PREFIX) else None
            raise CycleRunning(_message(held_for))
        conn.execute(text("SELECT set_config('application_name', :n, false)"),
                     {"n": f"{_APP_PREFIX}{business_date.isoformat()}"})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k || current_schema()))"), {"k": _LOCK_KEY})
            conn.execute(text("SELECT set_config('application_name', '', false)"))
            conn.commit()


@contextmanager
def _file_lock(path: Path, business_date: date) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            held_for = fh.read().split(" ", 1)[0].strip() or None
            raise CycleRunning(_message(held_for)) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{business_date.isoformat()} pid {os.getpid()}\n")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fh.flush()
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
