"""Database plumbing: declarative base with a naming convention, portable types, engines, sessions.

One transaction per request / command / chunk, owned by the entry point: services ``flush()``,
never ``commit()``; entry points use :func:`transaction`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Surrogate keys: BIGINT on PostgreSQL, INTEGER (= rowid alias, autoincrementing) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: use arrears.kit.clock.utc_now()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def in_check(column: str, values: tuple[str, ...]) -> str:
    """The SQL of a CHECK constraint keeping ``column`` to ``values`` (the same text on every backend)."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def is_sqlite(url_or_engine: str | Engine) -> bool:
    url = url_or_engine.url if isinstance(url_or_engine, Engine) else make_url(url_or_engine)
    return url.get_backend_name() == "sqlite"


#: Execution option naming how a SQLite transaction begins ("immediate" or the default, deferred).
SQLITE_BEGIN = "sqlite_begin"


def write_first(engine: Engine) -> Engine:
    """The same engine (same pool) whose transactions take SQLite's write lock at ``BEGIN``.

    In WAL mode a deferred transaction that has read and then wants to write fails at once with
    "database is locked" if another writer committed meanwhile; beginning ``IMMEDIATE`` waits for
    the lock (``busy_timeout``) instead. On PostgreSQL this changes nothing.
    """
    return engine.execution_options(**{SQLITE_BEGIN: "immediate"}) if engine.dialect.name == "sqlite" else engine


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the store's connection settings (SQLite: WAL, foreign keys, busy wait)."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy own transactions: pysqlite's implicit BEGIN handling is switched off
            # and BEGIN is emitted below, so a failed chunk really rolls back everything.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # ``sqlite_begin="immediate"`` (see :func:`write_first`) takes the write lock at BEGIN,
            # so a transaction that reads and then writes can never fail to upgrade its lock.
            immediate = conn.get_execution_options().get(SQLITE_BEGIN) == "immediate"
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commits if the block ends normally, rolls everything back otherwise."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session
