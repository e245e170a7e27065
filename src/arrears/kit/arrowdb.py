"""Bulk movement between the operational store and Arrow, for the batch engine.

Reads: PostgreSQL through ADBC (Arrow-native); SQLite through Python's own ``sqlite3`` in chunks —
deliberately not ADBC's SQLite driver, which links a second copy of SQLite into the process, and two
copies break each other's POSIX locks on the WAL file. Writes: PostgreSQL through COPY, SQLite
through ``executemany``; both inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlencode

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import URL, Connection, Engine, Table

#: Day number of 1970-01-01 in SQLite's julianday() (which counts from noon).
_SQLITE_EPOCH_JULIAN = 2440587.5


def epoch_days(column: str, dialect: str) -> str:
    """SQL for a DATE column as days since 1970-01-01 (what Arrow's date32 holds)."""
    if dialect == "sqlite":
        return f"CAST(julianday({column}) - {_SQLITE_EPOCH_JULIAN} AS INTEGER)"
    return f"({column} - DATE '1970-01-01')"


#: A (key, date) pair packed into one integer: key * 2**22 + (days since 1970 + 2**21). Reading
#: one Python int instead of two is what makes bulk reads through ``sqlite3`` cheaper. Every date up
#: to the year 7711 fits; a later one packs to NULL and the caller reads plain columns instead.
_DAY_BITS = 22
_DAY_OFFSET = 1 << (_DAY_BITS - 1)


def packed_key_day(key: str, column: str, dialect: str) -> str:
    """SQL packing integer ``key`` and DATE ``column`` into one BIGINT, NULL when the date won't fit."""
    days = epoch_days(column, dialect)
    shifted = f"(CAST({key} AS BIGINT) * {1 << _DAY_BITS})"
    return (f"CASE WHEN {days} BETWEEN {-_DAY_OFFSET} AND {_DAY_OFFSET - 1} "
            f"THEN {shifted} + ({days} + {_DAY_OFFSET}) END")


def unpack_key_day(packed: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, pa.Array] | None:
    """The (key int64, date32) columns of a packed column, or None if any value did not pack."""
    if packed.null_count:
        return None
    key = pc.shift_right(packed, _DAY_BITS)
    days = pc.subtract(pc.bit_wise_and(packed, (1 << _DAY_BITS) - 1), _DAY_OFFSET)
    return key, days.cast(pa.int32()).cast(pa.date32())


def libpq_uri(url: URL) -> str:
    """A SQLAlchemy PostgreSQL URL as libpq's connection URI. Query values are percent-encoded with %20
    for a space: SQLAlchemy writes ``+``, which libpq takes literally (``options=-c a=1 -c b=2`` would
    become one garbled setting)."""
    base = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    pairs = [(key, value) for key, values in url.query.items()
             for value in ((values,) if isinstance(values, str) else values)]
    return base + ("?" + urlencode(pairs, quote_via=quote) if pairs else "")


class ArrowReader:
    """Reads query results from the store as Arrow tables, over one connection for all its reads.

    Use as a context manager around a batch of reads. Date columns in a schema must be selected as
    integer day numbers (see :func:`epoch_days`), booleans as 0/1 integers.
    """

    def __init__(self, engine: Engine, *, chunk_rows: int = 250_000) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.chunk_rows = chunk_rows
        self._adbc: Any = None
        self._conn: Connection | None = None

    def __enter__(self) -> ArrowReader:
        if self.dialect == "postgresql":
            import adbc_driver_postgresql.dbapi as adbc

            self._adbc = adbc.connect(libpq_uri(self.engine.url))
        else:
            self._conn = self.engine.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._adbc is not None:
            self._adbc.close()
            self._adbc = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def read(self, sql: str, schema: pa.Schema) -> pa.Table:
        raw = self._read_adbc(sql) if self._adbc is not None else self._read_dbapi(sql, len(schema))
        columns = []
        for i, field in enumerate(schema):
            col = raw.column(i)
            if pa.types.is_date32(field.type):
                col = col.cast(pa.int32()).cast(pa.date32())
            elif pa.types.is_boolean(field.type) and not pa.types.is_boolean(col.type):
                col = pc.not_equal(col, 0)
            else:
                col = col.cast(field.type)
            columns.append(col)
        return pa.Table.from_arrays(columns, schema=schema)

    def _read_adbc(self, sql: str) -> pa.Table:
        with self._adbc.cursor() as cur:
            cur.execute(sql)
            table = cur.fetch_arrow_table()
        self._adbc.rollback()  # end the read transaction ADBC opened
        return table

    def _read_dbapi(self, sql: str, width: int) -> pa.Table:
        assert self._conn is not None, "use ArrowReader as a context manager"
        cursor = self._conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql)
            batches: list[pa.RecordBatch] = []
            names = [f"c{i}" for i in range(width)]
            while rows := cursor.fetchmany(self.chunk_rows):
                cols = list(zip(*rows, strict=True))
                batches.append(pa.record_batch([pa.array(c) for c in cols], names=names))
        finally:
            cursor.close()
        if not batches:
            return pa.table({f"c{i}": pa.array([], pa.int64()) for i in range(width)})
        return pa.Table.from_batches(_unify(batches))


def _unify(batches: list[pa.RecordBatch]) -> list[pa.RecordBatch]:
    # A chunk of all-NULL values infers type null; cast every chunk to the first concrete type seen.
    types: list[pa.DataType] = []
    for i in range(batches[0].num_columns):
        concrete = next((b.column(i).type for b in batches if not pa.types.is_null(b.column(i).type)), pa.int64())
        types.append(concrete)
    schema = pa.schema([(f"c{i}", t) for i, t in enumerate(types)])
    return [pa.record_batch([b.column(i).cast(t) for i, t in enumerate(types)], schema=schema) for b in batches]


def insert_arrow(conn: Connection, table: Table, data: pa.Table, *, chunk_rows: int = 50_000) -> int:
    """Insert every row of ``data`` (columns named as in ``table``) inside the caller's transaction."""
    if data.num_rows == 0:
        return 0
    names = data.column_names
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection  # psycopg connection, same transaction
        cols = ", ".join(f'"{n}"' for n in names)
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:  # type: ignore[union-attr]
            for batch in data.to_batches(chunk_rows):
                for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                    copy.write_row(row)
        return data.num_rows
    placeholders = ", ".join("?" for _ in names)
    sql = f'INSERT INTO "{table.name}" ({", ".join(names)}) VALUES ({placeholders})'
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        for batch in data.to_batches(chunk_rows):
            cursor.executemany(sql, zip(*(_sqlite_values(c) for c in batch.columns), strict=True))
    finally:
        cursor.close()
    return data.num_rows


def _sqlite_values(column: pa.Array) -> Sequence[Any]:
    if pa.types.is_date32(column.type):
        return [None if d is None else d.isoformat() for d in column.to_pylist()]
    return column.to_pylist()


def update_column_by_id(conn: Connection, table: Table, ids: Sequence[int], column: str, value: Any,
                        *, chunk: int = 5_000) -> int:
    """``UPDATE table SET column = value WHERE id IN ids`` in chunks, in the caller's transaction."""
    col = table.c[column]
    total = 0
    for start in range(0, len(ids), chunk):
        part = list(ids[start:start + chunk])
        total += conn.execute(table.update().where(table.c.id.in_(part)).values({col: value})).rowcount
    return total
