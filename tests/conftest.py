"""Shared fixtures: every store test runs on SQLite and on PostgreSQL, schema built by the migrations.

Entry points own their transactions (they commit), so a test gets a clean, migrated store rather
than a rolled-back transaction: SQLite as a fresh copy of a migrated template file, PostgreSQL as a
schema of its own (one per test worker) emptied after each test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from arrears.kit.db import make_engine
from arrears.kit.migrate import upgrade
from arrears.kit.models import metadata

# Password hashes at OWASP's lowest listed argon2id cost (t=5, 7 MiB, 1 lane) instead of the default
# (t=3, 64 MiB, 4 lanes, most of a second each on two busy cores): the suite hashes thousands. Set
# before the settings are first read (they are read lazily); the live servers of the browser tests inherit it.
for _name, _value in (("TIME_COST", "5"), ("MEMORY_KIB", "7168"), ("PARALLELISM", "1")):
    os.environ.setdefault(f"ARREARS_PASSWORD_HASH_{_name}", _value)

PG_BASE_URL = os.environ.get("ARREARS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _schema() -> str:
    # One schema per test process: parallel workers and concurrent runs never share tables.
    return f"arrears_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


def pg_schema_url(schema: str) -> str:
    """The test store's URL on PostgreSQL: its own schema, and commits that do not wait for the WAL to
    reach the disk (``synchronous_commit=off``: a commit is as visible to every other session as ever,
    only a crash of the server itself could lose the last ones — nothing a test store needs)."""
    sep = "&" if "?" in PG_BASE_URL else "?"
    return f"{PG_BASE_URL}{sep}options=-csearch_path%3D{schema}%20-csynchronous_commit%3Doff"


def _drop_stale_schemas(conn) -> None:  # type: ignore[no-untyped-def]
    """Schemas left by test processes that were killed before their clean-up ran."""
    names = conn.execute(text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'arrears_test_%'")).scalars()
    for name in list(names):
        pid = name.rsplit("_", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    schema = _schema()
    admin = make_engine(PG_BASE_URL)
    with admin.begin() as conn:
        _drop_stale_schemas(conn)
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = pg_schema_url(schema)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a clean, migrated store; the test may commit freely."""
    if request.param == "sqlite":
        path = tmp_path / "store.sqlite"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("pg_url")
    yield url
    engine = make_engine(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    eng = make_engine(store_url)
    yield eng
    eng.dispose()
